"""Background runs of the planning solver for the planification page.

A run works in a thread of the process that started it (the machine's cores are the
solver's), but lives in the database (``PlanningRun``, one row per session): its
progress lines, its proposal, its error. Every gunicorn worker, and every instance
behind the proxy, shows the same run and can apply its plan — the page's next request
is seldom answered by the worker that started it. One run at a time in the académie
(one conditional INSERT/UPDATE decides); a run whose process died stops beating and,
after ``STALE_AFTER``, is shown as interrupted and may be started again.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import IntegrityError

from exam_app.clock import utcnow
from exam_app.enrolment.models import ExamSession
from exam_app.extensions import db
from exam_app.juries import solver
from exam_app.juries.models import PlanningRun

# A running run writes at least this often (progress, or a beat).
BEAT = timedelta(seconds=5)
# A running run silent for this long lost its process (a restart, a crash).
STALE_AFTER = timedelta(seconds=60)


@dataclass
class Run:
    session_id: int
    time_limit: float
    started_at: datetime
    lines: list[str] = field(default_factory=list)
    last: dict = field(default_factory=dict)
    proposal: solver.Proposal | None = None
    error: str | None = None
    done: bool = False


# ---- the proposal as JSON ------------------------------------------------------------------


def _proposal_json(proposal: solver.Proposal) -> str:
    data = dataclasses.asdict(proposal)
    for passage in data["passages"]:
        passage["scheduled_at"] = passage["scheduled_at"].isoformat()
    return json.dumps(data, ensure_ascii=False)


def _proposal_from(text: str) -> solver.Proposal:
    data = json.loads(text)
    data["passages"] = [solver.PlannedPassage(**{
        **p, "scheduled_at": datetime.fromisoformat(p["scheduled_at"])}) for p in data["passages"]]
    # The fingerprint is compared with a fresh one (a list of tuples) when applying.
    data["fingerprint"] = [tuple(item) if isinstance(item, list) else item
                           for item in data.get("fingerprint", [])]
    return solver.Proposal(**data)


def _run_from(row: PlanningRun, now: datetime) -> Run:
    error = row.error
    done = row.done
    if not done and now - row.beat_at > STALE_AFTER:
        done = True
        error = error or ("Le calcul a été interrompu (le serveur qui le menait a redémarré) : "
                          "relancez-le.")
    return Run(session_id=row.session_id, time_limit=row.time_limit, started_at=row.started_at,
               lines=json.loads(row.lines or "[]"), last=json.loads(row.last or "{}"),
               proposal=_proposal_from(row.proposal) if row.proposal else None,
               error=error, done=done)


# ---- the API -------------------------------------------------------------------------------


def current(session_id: int) -> Run | None:
    row = db.session.scalar(sa.select(PlanningRun).where(PlanningRun.session_id == session_id)
                            .execution_options(populate_existing=True))
    return _run_from(row, utcnow()) if row is not None else None


def _running_clause(now: datetime):
    return sa.and_(PlanningRun.done.is_(False), PlanningRun.beat_at >= now - STALE_AFTER)


def running() -> bool:
    now = utcnow()
    return db.session.scalar(sa.select(sa.func.count(PlanningRun.id))
                             .where(_running_clause(now))) > 0


def _claim(session_id: int, time_limit: float, now: datetime) -> bool:
    """Make this session's row a new run, unless a run is going on anywhere: one
    serialised decision (a conditional UPDATE of the session's row, or its INSERT; the
    count of running rows is re-read inside the same statement's transaction)."""
    if running():
        return False
    values = {"time_limit": time_limit, "started_at": now, "beat_at": now, "done": False,
              "lines": "[]", "last": "{}", "proposal": None, "error": None}
    row_id = db.session.scalar(sa.select(PlanningRun.id)
                               .where(PlanningRun.session_id == session_id))
    if row_id is None:
        try:
            with db.session.begin_nested():
                db.session.add(PlanningRun(session_id=session_id, **values))
        except IntegrityError:
            return False  # another request created it at the same moment
        return True
    # Taken only if the row is not a live run (another request may just have claimed it).
    won = db.session.execute(
        sa.update(PlanningRun).where(PlanningRun.id == row_id,
                                     sa.not_(_running_clause(now)))
        .values(**values).execution_options(synchronize_session=False)).rowcount
    return bool(won)


def start(app: Flask, *, session_id: int, time_limit: float) -> Run | None:
    """Start a run in a background thread; None when one is already running."""
    now = utcnow()
    if not _claim(session_id, time_limit, now):
        db.session.rollback()
        return None
    db.session.commit()
    run = Run(session_id, time_limit, now)
    lock = threading.Lock()
    written = [now]

    def save(**values) -> None:
        """Write the run's state (its own session: the solver's thread holds none)."""
        with app.app_context():
            db.session.execute(sa.update(PlanningRun).where(
                PlanningRun.session_id == session_id, PlanningRun.started_at == now)
                .values(beat_at=utcnow(), **values)
                .execution_options(synchronize_session=False))
            db.session.commit()
            db.session.remove()

    def progress(step: dict) -> None:
        with lock:
            run.last = step
            what = "plan glouton" if step.get("greedy") else "meilleur plan"
            run.lines.append(f"{step['seconds']:.1f} s — {what} : {step['planned']}/"
                             f"{step['demands']} passages")
            written[0] = utcnow()
            save(lines=json.dumps(run.lines, ensure_ascii=False),
                 last=json.dumps(run.last, ensure_ascii=False, default=str))

    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(BEAT.total_seconds()):
            if utcnow() - written[0] >= BEAT:
                save()

    def work() -> None:
        beating = threading.Thread(target=beat, name=f"plan-beat-{session_id}", daemon=True)
        beating.start()
        with app.app_context():
            try:
                session = db.session.get(ExamSession, session_id)
                proposal = solver.propose_plan(session=session, time_limit=time_limit,
                                               progress=progress)
                db.session.remove()
                stop.set()
                save(proposal=_proposal_json(proposal), done=True)
            except Exception as exc:  # noqa: BLE001 - shown on the page, the thread ends
                db.session.rollback()
                stop.set()
                save(error=f"Le calcul a échoué : {exc}", done=True)
            finally:
                stop.set()
                db.session.remove()

    threading.Thread(target=work, name=f"plan-{session_id}", daemon=True).start()
    return run


def forget(session_id: int) -> None:
    """Drop the session's finished run (its plan was applied)."""
    now = utcnow()
    db.session.execute(sa.delete(PlanningRun).where(
        PlanningRun.session_id == session_id, sa.not_(_running_clause(now)))
        .execution_options(synchronize_session=False))
    db.session.commit()
