"""The live board of a day: per commission its counts, per passage its phase, its
overrun and its state. One plain mapping serves the page and its push updates
(``views_gestion.board`` and ``board_wait``), so both always agree."""

from __future__ import annotations

import json
import logging
import threading
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql, sqlite

from exam_app.clock import to_local, utcnow
from exam_app.dossiers.validity import nv_candidate_ids
from exam_app.enrolment.models import Candidate
from exam_app.extensions import db
from exam_app.juries import lifecycle, push
from exam_app.juries.models import BoardSnapshot, Commission, Passage
from exam_app.units import all_units

COUNTS = ("total", "finished", "running", "late", "absent", "nv", "final", "pending")

STATE_LABELS = {"upcoming": "À venir", "late": "En retard", "running": "En cours",
                "paused": "En pause", "awaiting": "Terminé — note en attente",
                "final": "Note définitive", "absent": "Absent", "nv": "NV",
                "due": "Candidat attendu"}


def day_passages(session_id: int, day: date) -> list[Passage]:
    """The passages of a session scheduled on a day of the session's time zone, by commission and time.

    With what the board reads (the commission and its place, the candidate, the timer),
    not the validations nor the candidate's centre and establishment, which the models
    load by default: the board is computed every second of a jury day."""
    start, end = lifecycle.day_bounds(day)
    candidate = orm.joinedload(Passage.candidate)
    commission = orm.joinedload(Passage.commission)
    return list(db.session.scalars(
        sa.select(Passage).join(Commission, Commission.id == Passage.commission_id)
        .where(Commission.session_id == session_id, Passage.scheduled_at >= start,
               Passage.scheduled_at < end)
        .options(orm.lazyload(Passage.validations), candidate.lazyload(Candidate.establishment),
                 candidate.lazyload(Candidate.centre),
                 # Its place, not its members (each with a user, roles, establishment:
                 # ten rows a commission for nothing the board shows).
                 commission.lazyload(Commission.members))
        .order_by(Commission.code, Passage.scheduled_at, Passage.id)))


def step_text(segment) -> str:
    """'Phase — step' as the passage screen shows it (the step alone names no more)."""
    if segment.step_label and segment.step_label != segment.phase_label:
        return f"{segment.phase_label} — {segment.step_label}"
    return segment.phase_label


def _passage_row(passage: Passage, *, nv: bool, now: datetime) -> dict:
    """One passage as the board shows it: time, candidate, phase, overrun, state."""
    status = lifecycle.status(passage, nv=nv)
    phase, overrun, live = "—", 0.0, None
    if status in ("running", "finished"):
        timer = lifecycle.timer_state(passage, now)
        planned = lifecycle.planned_segments(passage)
        overrun = sum(max(0.0, s.elapsed_seconds - s.allowed_seconds) for s in timer.segments)
        if timer.current is not None:
            segment = planned[timer.current]
            phase = step_text(segment)
            current = timer.segments[timer.current]
            if timer.status == "running":
                # The browser keeps counting: the current segment's elapsed and allowed time.
                live = {"elapsed": round(current.elapsed_seconds, 3),
                        "allowed": current.allowed_seconds,
                        "other_overrun": round(overrun - max(
                            0.0, current.elapsed_seconds - current.allowed_seconds), 3)}
        elif timer.status == "finished":
            phase = "Terminé"
        # A preparation (fixed segment) says when it ends by itself, then that the
        # candidate is due in front of the jury, as the juror's day does.
        where = lifecycle.progress(passage, now, state=timer) if status == "running" else None
        if where is not None and where[1] in ("fixed", "due"):
            phase = where[0]
        state = {"running": "running", "paused": "paused", "waiting": "due"}.get(timer.status, "")
        if not state:
            state = "final" if passage.is_final else "awaiting"
    elif status == "upcoming":
        state = "late" if passage.scheduled_at is not None and passage.scheduled_at < now \
            else "upcoming"
    else:
        state = status
    if passage.is_final and status not in ("absent", "nv"):
        state = "final"
    return {
        "id": passage.id, "commission_id": passage.commission_id,
        "time": f"{to_local(passage.scheduled_at):%H:%M}" if passage.scheduled_at else "",
        "candidate": f"{passage.candidate.full_name} ({passage.candidate.number})",
        "phase": phase, "overrun": round(overrun, 3), "live": live,
        "state": state, "state_label": STATE_LABELS[state],
        "mark": lifecycle.mark_text(passage.final_mark) or "",
    }


def board_view(*, session_id: int, day: date, now: datetime) -> dict:
    """The board of a day: totals, per commission counts, per passage rows."""
    # NV comes from the dossier: only units with a dossier have NV candidates.
    # (for the day's candidates only: the board's cost follows the day, not the session).
    passages = day_passages(session_id, day)
    shown = {p.candidate_id for p in passages}
    nv_sets = {unit.code: nv_candidate_ids(session_id=session_id, unit_code=unit.code,
                                           candidate_ids=shown)
               for unit in all_units() if unit.has_dossier
               and any(p.unit_code == unit.code for p in passages)}
    commissions: dict[int, dict] = {}
    rows = []
    for passage in passages:
        nv = passage.candidate_id in nv_sets.get(passage.unit_code, set())
        status = lifecycle.status(passage, nv=nv)
        commission = passage.commission
        place = commission.centre or commission.establishment
        entry = commissions.setdefault(passage.commission_id, {
            "id": commission.id, "code": commission.code,
            "place": place.name if place else "—",
            **{name: 0 for name in COUNTS}, "upcoming": 0})
        row = _passage_row(passage, nv=nv, now=now)
        entry["total"] += 1
        entry[status] += 1
        entry["late"] += int(row["state"] == "late")
        if status in ("finished", "running"):
            entry["final" if passage.is_final else "pending"] += 1
        rows.append(row)
    totals = {name: sum(c[name] for c in commissions.values()) for name in COUNTS}
    return {"server_time": int(now.timestamp() * 1000), "updated": f"{to_local(now):%H:%M:%S}",
            "totals": totals, "commissions": list(commissions.values()), "passages": rows}


# ---- one board for every browser showing it ------------------------------------------------

# A change wakes every browser showing the board at once (the live board is open in ten
# places on a jury day, served by several worker processes, maybe several instances), and
# they are answered at the same boundary of the clock (``views_gestion.board_wait``). A
# board computed at or after that instant holds every change until then: one computation
# serves them all. Within a process the browsers answered together wait for the first
# one's board; across processes and instances it is shared through the database
# (``BoardSnapshot``): the first to need it computes and stores it, the others read it.
# (On a jury day the board's version moves several times a second: two processes reading
# it a few milliseconds apart read two versions, so a board is shared by the instant it
# was computed at, and carries the version it was computed from.)
_shared: dict[tuple[int, date], tuple[str, datetime, str]] = {}
_shared_locks: dict[tuple[int, date], threading.Lock] = {}
_shared_guard = threading.Lock()


def shared_board_body(*, session_id: int, day: date, key, fresh_from: datetime) -> tuple[str, str]:
    """(version, board as JSON text) of the day: a board computed at or after
    ``fresh_from`` (by this process, another one or another instance), or computed now;
    ``version`` is the board version (``push.board_version`` of ``key``) read just before
    it was computed, so the board holds at least every change of that version. The text
    is the one stored for the other processes: the answers send it as it is (the board
    is encoded once a computation, not once an answer)."""
    cache_key = (session_id, day)
    with _shared_guard:
        lock = _shared_locks.setdefault(cache_key, threading.Lock())
    with lock:  # the browsers answered together wait for the first one's board
        cached = _shared.get(cache_key)
        if cached and cached[1] >= fresh_from:
            return cached[0], cached[2]
        try:
            version, computed_at, body = _shared_through_database(session_id, day, key,
                                                                  fresh_from)
        except sa.exc.DBAPIError:  # costs only the sharing: this process computes its own
            logging.getLogger(__name__).warning("board: no shared snapshot", exc_info=True)
            db.session.rollback()
            computed_at = utcnow()
            version = push.current_version(db.session.connection(), key)
            body = _encoded(board_view(session_id=session_id, day=day, now=computed_at))
        if not cached or computed_at >= cached[1]:
            _shared[cache_key] = (version, computed_at, body)
        return version, body


def shared_board_view(*, session_id: int, day: date, key, fresh_from: datetime) -> tuple[str, dict]:
    """``shared_board_body`` with the board decoded."""
    version, body = shared_board_body(session_id=session_id, day=day, key=key,
                                      fresh_from=fresh_from)
    return version, json.loads(body)


def _encoded(view: dict) -> str:
    return json.dumps(view, ensure_ascii=False, separators=(",", ":"))


def _shared_through_database(session_id: int, day: date, key,
                             fresh_from: datetime) -> tuple[str, datetime, str]:
    """(version, computed at, board as JSON text): the one stored if computed at or
    after ``fresh_from``, else this process's computation, stored for the others.

    On PostgreSQL the first process takes a transaction-level advisory lock of the
    session's day, on a connection of its own, and the others wait for it to store the
    board, then read it. SQLite's locks are the whole database's: there each process
    reads what is stored, and computes without waiting when it is not there yet."""
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(
                session_id, day.toordinal())))
        row = connection.execute(
            sa.select(BoardSnapshot.version, BoardSnapshot.computed_at, BoardSnapshot.body)
            .where(BoardSnapshot.session_id == session_id, BoardSnapshot.day == day)
        ).one_or_none()
        if row is not None and row.computed_at >= fresh_from:
            connection.rollback()
            return row.version, row.computed_at, row.body
        computed_at = utcnow()
        version = push.current_version(connection, key)  # first: the board is at least it
        body = _encoded(board_view(session_id=session_id, day=day, now=computed_at))
        values = {"session_id": session_id, "day": day, "version": version,
                  "computed_at": computed_at, "body": body}
        insert = (postgresql.insert if connection.dialect.name == "postgresql"
                  else sqlite.insert)(BoardSnapshot)
        connection.execute(insert.values(**values).on_conflict_do_update(
            index_elements=[BoardSnapshot.session_id, BoardSnapshot.day],
            set_={name: values[name] for name in ("version", "computed_at", "body")},
            where=BoardSnapshot.computed_at < computed_at))  # never replaced by an older one
        connection.commit()  # and the advisory lock is released
        return version, computed_at, body


def forget_shared_views() -> None:
    """Drop the shared boards (the test suite, between tests that reuse ids)."""
    with _shared_guard:
        _shared.clear()
