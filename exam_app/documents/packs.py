"""Print packs: every document of a centre for one day, as one PDF or a ZIP.

The documents' HTML is built in the app (one query per document); the PDF
rendering, which is CPU-bound, runs in a ``ProcessPoolExecutor`` of
``PRINT_PACK_WORKERS`` processes (2: both cores), then pypdf merges the
results. The web request only creates the job; a thread runs it (``start``),
and the command line runs the same ``run`` synchronously.
"""

from __future__ import annotations

import io
import multiprocessing
import threading
import zipfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from pypdf import PdfWriter
from sqlalchemy.exc import IntegrityError

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.documents import attendance, bordereau, common, convocation, evaluation
from exam_app.documents.models import PackState, PrintPack
from exam_app.documents.pdf import render_pdf
from exam_app.enrolment.models import Centre
from exam_app.extensions import db
from exam_app.juries.models import Commission

# In print order: what the candidates get, what the room needs, what the jury fills.
KINDS = {
    "convocation": "Convocations",
    "emargement": "Listes d'émargement",
    "fiche": "Fiches d'évaluation",
    "bordereau": "Bordereaux de notation",
}
# A running job that has not moved for this long died with its process: it may restart.
STALE_AFTER = timedelta(minutes=10)


class PackError(Exception):
    pass


def normalise_kinds(kinds) -> str:
    chosen = [k for k in KINDS if k in set(kinds)]
    if not chosen or len(chosen) != len(set(kinds)):
        raise PackError("Choisissez au moins un type de document parmi ceux proposés.")
    return ",".join(chosen)


def pack_documents(centre: Centre, day: date, kinds: list[str], *,
                   now: datetime | None = None) -> list[common.Printed]:
    """The documents of the pack, in print order (needs a request context for URLs)."""
    now = now or utcnow()
    passages = attendance.day_passages(centre.id, day)
    printed: list[common.Printed] = []
    if "convocation" in kinds:
        printed += [convocation.build(p, now=now) for p in passages]
    if "emargement" in kinds:
        printed += [attendance.build(centre, day, room, half, now=now)
                    for room, half in attendance.sheets(centre.id, day)]
    if "fiche" in kinds:
        printed += [evaluation.build(p, now=now) for p in passages]
    if "bordereau" in kinds:
        commission_ids = sorted({p.commission_id for p in passages})
        commissions = db.session.scalars(sa.select(Commission).where(
            Commission.id.in_(commission_ids)).order_by(Commission.code)) if commission_ids else []
        printed += [bordereau.build(c, now=now) for c in commissions]
    return printed


def render_all(htmls: list[str], *, workers: int,
               on_done: Callable[[int], None] | None = None) -> list[bytes]:
    """Render each HTML to PDF bytes, in order; ``on_done(count)`` after each one."""
    if workers <= 1 or len(htmls) <= 1:
        pdfs = []
        for html in htmls:
            pdfs.append(render_pdf(html))
            if on_done:
                on_done(len(pdfs))
        return pdfs
    # forkserver: never fork a process that runs threads (the web server's).
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pdfs = []
        for pdf in pool.map(render_pdf, htmls, chunksize=1):
            pdfs.append(pdf)
            if on_done:
                on_done(len(pdfs))
        return pdfs


def merge(pdfs: list[bytes]) -> bytes:
    writer = PdfWriter()
    for pdf in pdfs:
        writer.append(io.BytesIO(pdf))
    out = io.BytesIO()
    writer.write(out)
    writer.close()
    return out.getvalue()


def zip_of(printed: list[common.Printed], pdfs: list[bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for n, (doc, pdf) in enumerate(zip(printed, pdfs, strict=True), start=1):
            archive.writestr(f"{n:03d}-{doc.filename}", pdf)
    return out.getvalue()


def build_pack(centre: Centre, day: date, kinds: list[str], *, fmt: str = "pdf",
               workers: int = 2, on_total: Callable[[int], None] | None = None,
               on_done: Callable[[int], None] | None = None) -> bytes:
    """The pack's bytes (needs a request context for the verification URLs)."""
    printed = pack_documents(centre, day, kinds)
    if not printed:
        raise PackError("Aucun document à imprimer pour ce centre ce jour-là "
                        "(aucun passage planifié).")
    if on_total:
        on_total(len(printed))
    pdfs = render_all([doc.html for doc in printed], workers=workers, on_done=on_done)
    return zip_of(printed, pdfs) if fmt == "zip" else merge(pdfs)


# ---- jobs -------------------------------------------------------------------


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
    stale = job.state == PackState.RUNNING.value and now - job.updated_at > STALE_AFTER
    if job.state == PackState.FAILED.value or stale:
        job.state, job.done, job.total, job.error = PackState.PENDING.value, 0, 0, None
        job.requested_by_id, job.updated_at = (actor.id if actor else None), now
        db.session.flush()
        return job, True
    return job, False


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


def run(app, job_id: int, *, base_url: str = "") -> None:
    """Render a job to STORAGE_DIR/packs/, updating its progress; never raises."""
    base = app.config.get("PUBLIC_URL") or base_url or "http://localhost/"
    with app.test_request_context("/", base_url=base):
        job = db.session.get(PrintPack, job_id)
        if job is None or job.state != PackState.PENDING.value:
            return
        job.state, job.started_at, job.updated_at = PackState.RUNNING.value, utcnow(), utcnow()
        db.session.commit()

        def on_total(total: int) -> None:
            job.total = total
            db.session.commit()

        def on_done(count: int) -> None:
            job.done, job.updated_at = count, utcnow()
            db.session.commit()

        try:
            data = build_pack(job.centre, job.day, job.kind_list, fmt=job.fmt,
                              workers=app.config.get("PRINT_PACK_WORKERS", 2),
                              on_total=on_total, on_done=on_done)
            relative = f"packs/pack-{job.id}-{job.centre.code}-{job.day.isoformat()}.{job.fmt}"
            path = Path(app.config["STORAGE_DIR"]) / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            tmp.write_bytes(data)
            tmp.replace(path)
            job.result_path, job.state = relative, PackState.DONE.value
            job.finished_at = job.updated_at = utcnow()
            db.session.commit()
        except Exception as exc:  # noqa: BLE001 - the job records any failure for the user
            db.session.rollback()
            job = db.session.get(PrintPack, job_id)
            job.state, job.updated_at = PackState.FAILED.value, utcnow()
            job.error = (str(exc) if isinstance(exc, PackError) else
                         "Erreur inattendue pendant la génération : relancez la demande.")
            app.logger.exception("print pack %s failed", job_id)
            db.session.commit()


def start(app, job_id: int, *, base_url: str = "") -> threading.Thread | None:
    """Run the job in a background thread (inline when PRINT_PACK_INLINE, for tests)."""
    if app.config.get("PRINT_PACK_INLINE"):
        run(app, job_id, base_url=base_url)
        return None
    thread = threading.Thread(target=run, args=(app, job_id), kwargs={"base_url": base_url},
                              name=f"print-pack-{job_id}", daemon=True)
    thread.start()
    return thread
