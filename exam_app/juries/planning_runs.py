"""Background runs of the planning solver for the planification page.

One run at a time per process (the machine's cores are the solver's), kept in memory
with its progress lines and its proposal until applied or replaced. A run is local to
the worker process that started it: the page tells the gestionnaire to start again
when the worker that holds it is gone (restart), nothing is lost in the database.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask

from exam_app.clock import utcnow
from exam_app.enrolment.models import ExamSession
from exam_app.extensions import db
from exam_app.juries import solver


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


_lock = threading.Lock()
_runs: dict[int, Run] = {}


def current(session_id: int) -> Run | None:
    return _runs.get(session_id)


def running() -> bool:
    return any(not r.done for r in _runs.values())


def start(app: Flask, *, session_id: int, time_limit: float) -> Run | None:
    """Start a run in a background thread; None when one is already running."""
    with _lock:
        if running():
            return None
        run = Run(session_id, time_limit, utcnow())
        _runs[session_id] = run

    def progress(step: dict) -> None:
        run.last = step
        what = "plan glouton" if step.get("greedy") else "meilleur plan"
        run.lines.append(f"{step['seconds']:.1f} s — {what} : {step['planned']}/"
                         f"{step['demands']} passages")

    def work() -> None:
        with app.app_context():
            try:
                session = db.session.get(ExamSession, session_id)
                run.proposal = solver.propose_plan(session=session, time_limit=time_limit,
                                                   progress=progress)
            except Exception as exc:  # noqa: BLE001 - shown on the page, the thread ends
                run.error = f"Le calcul a échoué : {exc}"
            finally:
                db.session.remove()
                run.done = True

    threading.Thread(target=work, name=f"plan-{session_id}", daemon=True).start()
    return run


def forget(session_id: int) -> None:
    with _lock:
        run = _runs.get(session_id)
        if run is not None and run.done:
            del _runs[session_id]
