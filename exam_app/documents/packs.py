"""Print packs: every document of a centre for one day, as one PDF or a ZIP.

The documents' HTML is built in the app (a few queries per batch of
documents); the PDF rendering, which is CPU-bound, runs in a
``ProcessPoolExecutor`` of ``PRINT_PACK_WORKERS`` processes (2: both cores).
Each task renders a chunk of documents into one PDF file in a temporary
directory (fonts embedded once per chunk); the parent only waits, moves the
progress, and at the end merges the few chunk files into the output file with
pypdf. Nothing holds all the PDFs in memory. The web request only creates the
job; a thread runs it (``start``), and the command line runs the same
``write_pack`` synchronously.

One global limit (issue 12, item 5: twelve packs at once each started a
pool, 25 processes and 2.5 GB): a pack renders only while it holds one of
``PRINT_PACK_SLOTS`` slots (1 by default), so at most that many pools run at
once; the others wait, their job shown "En attente". A slot is an exclusive
``flock`` on ``STORAGE_DIR/packs/slots/<n>.lock``: it holds across the
threads of one process (each acquisition opens the file anew) and across
gunicorn workers and the command line (every process on this machine shares
STORAGE_DIR), and the kernel frees it when its holder dies. Several hosts give
each its own ``PRINT_PACK_SLOT_DIR`` (each host renders on its own cores).

The queue is the ``print_pack`` table, shared by every instance (issue 16, item 5):
a request on any instance writes the job and that process runs it at once; its
runner beats (``updated_at``) every ``PRINT_PACK_HEARTBEAT_SECONDS`` while it waits
for a slot and while it renders. Every process looks every
``PRINT_PACK_POLL_SECONDS`` for jobs whose runner stopped beating (its process or
host died: ``PRINT_PACK_STALE_SECONDS``) and takes each over with a conditional
UPDATE on the beat it read, so exactly one process restarts it; a runner that
finds it no longer owns its job (taken over meanwhile) drops its file. The same
code runs on SQLite (one host) and PostgreSQL (several).
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import resource
import tempfile
import threading
import zipfile
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from pypdf import PdfWriter
from sqlalchemy.exc import IntegrityError

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.documents import attendance, bordereau, convocation, evaluation
from exam_app.documents.models import PackState, PrintPack
from exam_app.enrolment.models import Centre, ExamSession
from exam_app.extensions import db
from exam_app.juries.models import Commission, Passage
from exam_app.printing import document
from exam_app.printing.signing import PublicUrlMissing

# In print order: what the candidates get, what the room needs, what the jury fills.
# Documents a candidate receives: each is a tagged PDF in a ZIP pack (one file per
# document). A merged PDF pack is for the printer and stays untagged.
TAGGED_KINDS = frozenset({"convocation"})

KINDS = {
    "convocation": "Convocations",
    "emargement": "Listes d'émargement",
    "fiche": "Fiches d'évaluation",
    "bordereau": "Bordereaux de notation",
}
# Documents per rendering task, at most: a chunk's laid-out pages stay in the
# worker's memory until its file is written.
CHUNK_MAX = 16


# While waiting for a slot, a job's ``updated_at`` moves this often (so it is not stale),
# unless PRINT_PACK_HEARTBEAT_SECONDS says otherwise.
WAIT_HEARTBEAT = timedelta(seconds=20)


class PackError(Exception):
    pass


class DayWithoutPassages(PackError):
    """The day asked for has no passage at the centre: an error on the form's day field."""


class PackSlots:
    """At most ``count`` packs rendering at once, across threads and processes (see above)."""

    def __init__(self, directory: Path, count: int):
        self.directory = Path(directory)
        self.count = max(1, int(count))
        self.directory.mkdir(parents=True, exist_ok=True)

    @classmethod
    def for_app(cls, app) -> PackSlots:
        return cls(Path(app.config.get("PRINT_PACK_SLOT_DIR")
                        or Path(app.config["STORAGE_DIR"]) / "packs" / "slots"),
                   app.config.get("PRINT_PACK_SLOTS", 1))

    def try_acquire(self) -> int | None:
        """A held slot's file descriptor, or None when every slot is taken."""
        for n in range(self.count):
            fd = os.open(self.directory / f"{n}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return fd
        return None

    @contextlib.contextmanager
    def held(self, *, poll: float = 0.25, on_wait: Callable[[], None] | None = None):
        """Wait for a slot (calling ``on_wait`` now and then), hold it inside the block."""
        fd = self.try_acquire()
        while fd is None:
            if on_wait is not None:
                on_wait()
            threading.Event().wait(poll)
            fd = self.try_acquire()
        try:
            yield
        finally:
            os.close(fd)  # drops the flock


def normalise_kinds(kinds) -> str:
    chosen = [k for k in KINDS if k in set(kinds)]
    if not chosen or len(chosen) != len(set(kinds)):
        raise PackError("Choisissez au moins un type de document parmi ceux proposés.")
    return ",".join(chosen)


def pack_documents(centre: Centre, day: date, kinds: list[str], *,
                   now: datetime | None = None) -> list[document.Printed]:
    """The documents of the pack, in print order (needs a request context for URLs)."""
    now = now or utcnow()
    passages = attendance.day_passages(centre.id, day)
    printed: list[document.Printed] = []
    if "convocation" in kinds:
        # Once the plan is published, only the published passages as they were published.
        printed += [convocation.build(p, now=now) for p in passages
                    if convocation.printable(p) is None]
    if "emargement" in kinds:
        # The day's passages read once for all the sheets (not once per sheet).
        printed += [attendance.build(centre, day, room, half, now=now, passages=passages)
                    for room, half in attendance.sheets(centre.id, day, passages=passages)]
    if "fiche" in kinds:
        printed += list(evaluation.build_many(passages, now=now))
    if "bordereau" in kinds:
        commission_ids = sorted({p.commission_id for p in passages})
        commissions = db.session.scalars(sa.select(Commission).where(
            Commission.id.in_(commission_ids)).order_by(Commission.code)) if commission_ids else []
        printed += [bordereau.build(c, now=now) for c in commissions]
    return printed


# ---- rendering ----------------------------------------------------------------


@dataclass
class RenderStats:
    documents: int
    pages: int  # pages of the merged PDF (0 for a ZIP)
    worker_peak_rss_mb: float  # the largest peak RSS of the processes that rendered


def chunks(total: int, workers: int) -> list[range]:
    """Consecutive ranges of documents: CHUNK_MAX at most, smaller towards the end
    so that the workers finish together (guided scheduling)."""
    out, start = [], 0
    while start < total:
        size = max(1, min(CHUNK_MAX, (total - start) // (2 * max(workers, 1))))
        out.append(range(start, start + size))
        start += size
    return out


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _render_chunk(htmls: list[str], path: str) -> tuple[int, float]:
    """(pages, peak RSS in MB) of this process after rendering ``htmls`` into ``path``."""
    from exam_app.printing.pdf import render_pdfs_to_file  # WeasyPrint: on the first render

    return render_pdfs_to_file(htmls, path), _peak_rss_mb()


def _render_each(htmls: list[str], tagged: list[bool] | None = None
                 ) -> tuple[list[bytes], float]:
    from exam_app.printing.pdf import render_pdf  # WeasyPrint: on the first render

    tagged = tagged or [False] * len(htmls)
    return [render_pdf(html, tagged=t) for html, t in zip(htmls, tagged, strict=True)], \
        _peak_rss_mb()


def _pool(workers: int) -> ProcessPoolExecutor:
    # forkserver: never fork a process that runs threads (the web server's). The
    # server imports WeasyPrint and this module once, so each worker starts ready (the
    # web workers themselves import WeasyPrint only when they render).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["exam_app.documents.packs", "exam_app.printing.pdf"])
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


def _run_tasks(function, tasks: list[tuple], sizes: list[int], workers: int,
               on_done: Callable[[int], None] | None, on_result: Callable[[int, object], None]
               ) -> float:
    """Run ``function(*task)`` for each task (in a pool when workers > 1); results
    reach ``on_result(index, result)`` in task order, progress moves as tasks end.
    Returns the largest peak RSS (MB) reported by the tasks."""
    peak, done = 0.0, 0
    if workers <= 1 or len(tasks) <= 1:
        for index, task in enumerate(tasks):
            result, rss = function(*task)
            peak = max(peak, rss)
            on_result(index, result)
            done += sizes[index]
            if on_done:
                on_done(done)
        return peak
    with _pool(workers) as pool:
        futures = [pool.submit(function, *task) for task in tasks]
        index_of = {future: n for n, future in enumerate(futures)}
        pending, ready, next_index = set(futures), {}, 0
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                result, rss = future.result()
                peak = max(peak, rss)
                ready[index_of[future]] = result
                done += sizes[index_of[future]]
            while next_index in ready:
                on_result(next_index, ready.pop(next_index))
                next_index += 1
            if on_done:
                on_done(done)
    return peak


def render_to_file(htmls: list[str], output: Path, *, workers: int,
                   on_done: Callable[[int], None] | None = None) -> RenderStats:
    """Render the documents into one PDF file ``output``, in order; ``on_done(count)``
    as chunks of documents are rendered."""
    output = Path(output)
    with tempfile.TemporaryDirectory(prefix="pack-", dir=output.parent) as tmp:
        parts = chunks(len(htmls), workers)
        paths = [str(Path(tmp) / f"{n:05d}.pdf") for n in range(len(parts))]
        pages = [0] * len(parts)

        def keep(index: int, count: int) -> None:
            pages[index] = count

        peak = _run_tasks(_render_chunk, [([htmls[i] for i in part], path)
                                          for part, path in zip(parts, paths, strict=True)],
                          [len(part) for part in parts], workers, on_done, keep)
        merge(paths, output)
    return RenderStats(documents=len(htmls), pages=sum(pages), worker_peak_rss_mb=peak)


def merge(paths: list[str], output: Path) -> None:
    """Concatenate PDF files into ``output``."""
    writer = PdfWriter()
    for path in paths:
        writer.append(path)
    with open(output, "wb") as out:
        writer.write(out)
    writer.close()


def zip_to_file(printed: list[document.Printed], output: Path, *, workers: int,
                on_done: Callable[[int], None] | None = None) -> RenderStats:
    """One PDF per document in a ZIP file ``output``, numbered in print order."""
    parts = chunks(len(printed), workers)
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        def write(index: int, pdfs: list[bytes]) -> None:
            for n, pdf in zip(parts[index], pdfs, strict=True):
                archive.writestr(f"{n + 1:03d}-{printed[n].filename}", pdf)

        peak = _run_tasks(_render_each, [([printed[i].html for i in part],
                                          [printed[i].kind in TAGGED_KINDS for i in part])
                                         for part in parts],
                          [len(part) for part in parts], workers, on_done, write)
    return RenderStats(documents=len(printed), pages=0, worker_peak_rss_mb=peak)


def write_pack(centre: Centre, day: date, kinds: list[str], output: Path, *, fmt: str = "pdf",
               workers: int = 2, on_total: Callable[[int], None] | None = None,
               on_done: Callable[[int], None] | None = None) -> RenderStats:
    """Write the pack to ``output`` (needs a request context for the verification URLs)."""
    printed = pack_documents(centre, day, kinds)
    if not printed:
        raise PackError("Aucun document à imprimer pour ce centre ce jour-là "
                        "(aucun passage planifié).")
    if on_total:
        on_total(len(printed))
    if fmt == "zip":
        return zip_to_file(printed, output, workers=workers, on_done=on_done)
    htmls = [doc.html for doc in printed]
    del printed
    return render_to_file(htmls, output, workers=workers, on_done=on_done)


def build_pack(centre: Centre, day: date, kinds: list[str], *, fmt: str = "pdf",
               workers: int = 2, on_total: Callable[[int], None] | None = None,
               on_done: Callable[[int], None] | None = None) -> bytes:
    """The pack's bytes (needs a request context for the verification URLs)."""
    with tempfile.TemporaryDirectory(prefix="pack-") as tmp:
        output = Path(tmp) / f"pack.{fmt}"
        write_pack(centre, day, kinds, output, fmt=fmt, workers=workers, on_total=on_total,
                   on_done=on_done)
        return output.read_bytes()


# ---- jobs -------------------------------------------------------------------


def check_day_has_passages(centre: Centre, day: date) -> None:
    """Refuse, before any job exists, a pack for a day without passages at the centre."""
    if not attendance.day_passages(centre.id, day):
        raise DayWithoutPassages(f"Aucun passage n'est planifié au centre {centre.code} le "
                        f"{day.strftime('%d/%m/%Y')} : il n'y a rien à imprimer ce jour-là. "
                        "Choisissez un jour d'épreuves.")


def request_pack(*, centre: Centre, day: date, kinds, fmt: str, actor,
                 now: datetime | None = None) -> tuple[PrintPack, bool]:
    """The job for this pack, and whether it must be (re)started.

    A pending, running or finished job for the same pack is returned as is;
    a failed or stale one is reset. The unique constraint settles races.
    """
    now = now or utcnow()
    if fmt not in ("pdf", "zip"):
        raise PackError("Format inconnu : choisissez PDF ou ZIP.")
    key = normalise_kinds(kinds)
    where = (PrintPack.centre_id == centre.id, PrintPack.day == day, PrintPack.kinds == key,
             PrintPack.fmt == fmt)
    job = db.session.scalar(sa.select(PrintPack).where(*where))
    if job is None:
        try:
            with db.session.begin_nested():
                job = PrintPack(centre_id=centre.id, day=day, kinds=key, fmt=fmt,
                                requested_by_id=actor.id if actor else None, created_at=now,
                                updated_at=now)
                db.session.add(job)
        except IntegrityError:
            job = db.session.scalar(sa.select(PrintPack).where(*where))
            return job, False
        db.session.flush()
        record(actor=actor, action="pack.request", object_type="print_pack", object_id=job.id,
               session_id=centre.session_id, now=now,
               after={"day": day.isoformat(), "kinds": key, "fmt": fmt})
        return job, True
    # A job waiting for a slot moves its updated_at (WAIT_HEARTBEAT): one that does not
    # move, pending or running, died with its process.
    stale = (job.state in (PackState.RUNNING.value, PackState.PENDING.value)
             and now - job.updated_at > _seconds(current_app, "PRINT_PACK_STALE_SECONDS", 120))
    if job.state == PackState.FAILED.value or stale:
        job.state, job.done, job.total, job.error = PackState.PENDING.value, 0, 0, None
        job.requested_by_id, job.updated_at = (actor.id if actor else None), now
        db.session.flush()
        return job, True
    return job, False


# Audited actions that change nothing a pack prints.
UNPRINTED_ACTIONS = ("pack.", "timer.", "auth.", "account.")


def last_requests(job_ids: list[int]) -> dict[int, datetime]:
    """Each pack's last request or regeneration (the audit trail's), for « Demandé le »."""
    from exam_app.audit.models import AuditEvent

    if not job_ids:
        return {}
    rows = db.session.execute(sa.select(AuditEvent.object_id, sa.func.max(AuditEvent.at)).where(
        AuditEvent.object_type == "print_pack",
        AuditEvent.object_id.in_([str(i) for i in job_ids]),
        AuditEvent.action.in_(("pack.request", "pack.regenerate"))).group_by(AuditEvent.object_id))
    return {int(object_id): at for object_id, at in rows}


def changed_since_generation(job: PrintPack) -> datetime | None:
    """When the session's data last changed after the finished pack was asked for (any
    audited change recorded after its last request, but the timers' and the packs' own),
    or None: the file is up to date. The audit trail's order (ids) decides, not clocks."""
    from exam_app.audit.models import AuditEvent

    if job.state != PackState.DONE.value:
        return None
    asked = db.session.scalar(sa.select(sa.func.max(AuditEvent.id)).where(
        AuditEvent.object_type == "print_pack", AuditEvent.object_id == str(job.id),
        AuditEvent.action.in_(("pack.request", "pack.regenerate"))))
    if asked is None:
        return None
    return db.session.scalar(sa.select(sa.func.max(AuditEvent.at)).where(
        AuditEvent.session_id == job.centre.session_id, AuditEvent.id > asked,
        *[~AuditEvent.action.startswith(prefix) for prefix in UNPRINTED_ACTIONS]))


def regenerate(*, job: PrintPack, actor, now: datetime | None = None) -> bool:
    """Start a finished pack again (the data changed); False while it runs."""
    now = now or utcnow()
    if job.state in (PackState.PENDING.value, PackState.RUNNING.value):
        return False
    job.state, job.done, job.total, job.error = PackState.PENDING.value, 0, 0, None
    job.requested_by_id, job.updated_at = (actor.id if actor else None), now
    db.session.flush()
    record(actor=actor, action="pack.regenerate", object_type="print_pack", object_id=job.id,
           session_id=job.centre.session_id, now=now)
    return True


def result_file(app, job: PrintPack) -> Path | None:
    if not job.result_path:
        return None
    path = Path(app.config["STORAGE_DIR"]) / job.result_path
    return path if path.is_file() else None


def _seconds(app, name: str, default: float) -> timedelta:
    return timedelta(seconds=float(app.config.get(name) or default))


@contextlib.contextmanager
def _beating(app, job_id: int):
    """While the block runs, the job's ``updated_at`` moves every heartbeat (its own
    session, in a thread): a long chunk of documents never makes a live job look dead."""
    every = _seconds(app, "PRINT_PACK_HEARTBEAT_SECONDS", 20).total_seconds()
    stop = threading.Event()

    def beat():
        while not stop.wait(every):
            with app.app_context():
                db.session.execute(sa.update(PrintPack).where(
                    PrintPack.id == job_id, PrintPack.state == PackState.RUNNING.value)
                    .values(updated_at=utcnow()).execution_options(synchronize_session=False))
                db.session.commit()
                db.session.remove()

    thread = threading.Thread(target=beat, name=f"print-pack-beat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def take_over_stale(app, now: datetime | None = None) -> list[int]:
    """The jobs whose runner stopped beating, each taken over by this process (reset to
    pending by a conditional UPDATE on the state and beat read: of several processes
    looking at once, one wins each job). The caller runs them."""
    now = now or utcnow()
    limit = now - _seconds(app, "PRINT_PACK_STALE_SECONDS", 120)
    rows = db.session.execute(sa.select(PrintPack.id, PrintPack.state, PrintPack.updated_at)
                              .where(PrintPack.state.in_((PackState.PENDING.value,
                                                          PackState.RUNNING.value)),
                                     PrintPack.updated_at < limit)
                              .order_by(PrintPack.id)).all()
    taken = []
    for job_id, state, beat in rows:
        won = db.session.execute(
            sa.update(PrintPack).where(PrintPack.id == job_id, PrintPack.state == state,
                                       PrintPack.updated_at == beat)
            .values(state=PackState.PENDING.value, done=0, total=0, error=None,
                    updated_at=now)
            .execution_options(synchronize_session=False)).rowcount
        if won:
            taken.append(job_id)
    db.session.commit()
    if taken:
        app.logger.warning("print packs %s taken over (their runner stopped)", taken)
    return taken


_watcher_pid: int | None = None
_watcher_lock = threading.Lock()
_watcher_stop = threading.Event()  # set: the watcher ends (tests)


def ensure_watcher(app) -> None:
    """Start this process's watcher of stale jobs (once per process: after gunicorn forks,
    each worker starts its own at its first request)."""
    global _watcher_pid
    every = float(app.config.get("PRINT_PACK_POLL_SECONDS") or 0)
    if every <= 0 or app.config.get("PRINT_PACK_INLINE") or _watcher_pid == os.getpid():
        return
    with _watcher_lock:
        if _watcher_pid == os.getpid():
            return
        _watcher_pid = os.getpid()
    stop = _watcher_stop

    def watch():
        while not stop.wait(every):
            try:
                with app.app_context():
                    taken = take_over_stale(app)
                    db.session.remove()
            except Exception:  # noqa: BLE001 - the database may be away: look again later
                app.logger.exception("print packs: looking for stale jobs failed")
                continue
            for job_id in taken:
                start(app, job_id)

    threading.Thread(target=watch, name="print-pack-watcher", daemon=True).start()


def run(app, job_id: int) -> None:
    """Render a job to STORAGE_DIR/packs/, updating its progress; never raises."""
    # The QR codes take PUBLIC_URL (signing.public_url), not this context's host; without
    # it, outside debug, the job fails with signing's French message.
    with app.test_request_context("/", base_url=app.config.get("PUBLIC_URL") or None):
        job = db.session.get(PrintPack, job_id)
        if job is None or job.state != PackState.PENDING.value:
            return
        db.session.commit()  # wait outside any transaction
        last_beat = [utcnow()]
        every = _seconds(app, "PRINT_PACK_HEARTBEAT_SECONDS", WAIT_HEARTBEAT.total_seconds())

        def waiting() -> None:
            # Beats only while the job is still this process's to run (pending, with
            # the beat it last wrote): one taken over meanwhile is left to its new runner.
            if utcnow() - last_beat[0] >= every:
                now = utcnow()
                mine = db.session.execute(
                    sa.update(PrintPack).where(PrintPack.id == job_id,
                                               PrintPack.state == PackState.PENDING.value)
                    .values(updated_at=now).execution_options(synchronize_session=False)
                ).rowcount
                db.session.commit()
                last_beat[0] = now
                if not mine:
                    raise _NotMine

        try:
            with PackSlots.for_app(app).held(on_wait=waiting):
                _run_holding_a_slot(app, job, job_id)
        except _NotMine:
            return


class _NotMine(Exception):
    """The job is no longer this runner's (done, or taken over by another process)."""


def _run_holding_a_slot(app, job: PrintPack, job_id: int) -> None:
    """The rest of ``run``, once this job holds a rendering slot."""
    # Claimed by a conditional UPDATE: a job restarted as stale while this thread
    # waited for its slot is rendered once, by whichever thread claims it first.
    now = utcnow()
    claimed = db.session.execute(
        sa.update(PrintPack).where(PrintPack.id == job_id,
                                   PrintPack.state == PackState.PENDING.value)
        .values(state=PackState.RUNNING.value, started_at=now, updated_at=now)
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if not claimed:
        return
    db.session.refresh(job)
    # This run's mark: every later write names it, so that a run taken over meanwhile
    # (it stopped beating) writes nothing over its successor's.
    mine = (PrintPack.id == job_id, PrintPack.state == PackState.RUNNING.value,
            PrintPack.started_at == now)

    def update(**values) -> None:
        won = db.session.execute(sa.update(PrintPack).where(*mine).values(**values)
                                 .execution_options(synchronize_session=False)).rowcount
        db.session.commit()
        if not won:
            raise _NotMine

    def on_total(total: int) -> None:
        update(total=total)

    def on_done(count: int) -> None:
        update(done=count, updated_at=utcnow())

    tmp = None
    try:
        relative = f"packs/pack-{job.id}-{job.centre.code}-{job.day.isoformat()}.{job.fmt}"
        path = Path(app.config["STORAGE_DIR"]) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        # Its own temporary name: two runners of one job (one taken over) never mix bytes.
        tmp = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.part")
        with _beating(app, job_id):
            write_pack(job.centre, job.day, job.kind_list, tmp, fmt=job.fmt,
                       workers=app.config.get("PRINT_PACK_WORKERS", 2),
                       on_total=on_total, on_done=on_done)
        finished = utcnow()
        won = db.session.execute(sa.update(PrintPack).where(*mine).values(
            result_path=relative, state=PackState.DONE.value, finished_at=finished,
            updated_at=finished).execution_options(synchronize_session=False)).rowcount
        if not won:
            raise _NotMine
        tmp.replace(path)  # before the commit: a pack said done has its file
        db.session.commit()
    except _NotMine:
        db.session.rollback()
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        app.logger.warning("print pack %s: taken over by another process, result dropped",
                           job_id)
    except Exception as exc:  # noqa: BLE001 - the job records any failure for the user
        if tmp is not None:
            tmp.unlink(missing_ok=True)  # a partial pack is never left behind
        db.session.rollback()
        error = (str(exc) if isinstance(exc, PackError | PublicUrlMissing) else
                 "Erreur inattendue pendant la génération : relancez la demande.")
        app.logger.exception("print pack %s failed", job_id)
        db.session.execute(sa.update(PrintPack).where(*mine).values(
            state=PackState.FAILED.value, updated_at=utcnow(), error=error)
            .execution_options(synchronize_session=False))
        db.session.commit()


def start(app, job_id: int) -> threading.Thread | None:
    """Run the job in a background thread (inline when PRINT_PACK_INLINE, for tests)."""
    if app.config.get("PRINT_PACK_INLINE"):
        run(app, job_id)
        return None
    thread = threading.Thread(target=run, args=(app, job_id),
                              name=f"print-pack-{job_id}", daemon=True)
    thread.start()
    return thread


# ---- readiness: convocations still to print ------------------------------------------

def unprinted_convocation_counts(session: ExamSession) -> list[tuple[int, str, int]]:
    """Per centre of the session: (centre id, name, planned passages whose convocation is
    in no finished pack of that centre and day), for the centres that have some.

    Two queries whatever the number of candidates: the (centre, day) pairs printed, then
    one count of the passages outside them (days in the session's time zone)."""
    zone = ZoneInfo(session.timezone)
    printed = db.session.execute(
        sa.select(PrintPack.centre_id, PrintPack.day).distinct()
        .join(Centre, Centre.id == PrintPack.centre_id)
        .where(Centre.session_id == session.id, PrintPack.state == PackState.DONE.value,
               PrintPack.kinds.contains("convocation"))).all()
    query = (sa.select(Centre.id, Centre.name, sa.func.count(Passage.id))
             .join(Commission, Commission.centre_id == Centre.id)
             .join(Passage, Passage.commission_id == Commission.id)
             .where(Centre.session_id == session.id, Passage.scheduled_at.is_not(None)))
    covered = []
    for centre_id, day in printed:
        start = datetime.combine(day, time(0), zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
        covered.append(sa.and_(Centre.id == centre_id, Passage.scheduled_at >= start,
                               Passage.scheduled_at < end))
    if covered:
        query = query.where(~sa.or_(*covered))
    return [tuple(row) for row in db.session.execute(
        query.group_by(Centre.id, Centre.name).order_by(Centre.name))]


def exam_days(centre: Centre) -> list[tuple[date, int]]:
    """The days on which the centre has planned passages, in its session's time zone, each
    with its number of passages, earliest first: the days there is something to print."""
    zone = ZoneInfo(centre.session.timezone)
    times = db.session.scalars(
        sa.select(Passage.scheduled_at).join(Commission, Commission.id == Passage.commission_id)
        .where(Commission.centre_id == centre.id, Passage.scheduled_at.is_not(None)))
    counts: dict[date, int] = {}
    for at in times:
        day = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(zone).date()
        counts[day] = counts.get(day, 0) + 1
    return sorted(counts.items())
