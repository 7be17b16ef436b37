"""The passage state read's lean path: the JSON both jurors poll (``GET .../etat``), from
ONE Core statement, without loading ORM objects.

The reference (``views_api._state_statement`` then ``views_api._state``) loads the
passage with its commission, session, members and their users, candidate, timer
segments, pauses and validations in one joined query (rows repeated per member,
segment, pause and validation, a hundred columns each), reads the grids in a second
statement and, for a unit with a fixed segment (the E5 preparation), the commission's
other passages in preparation in a third; then builds the answer through the
lifecycle's helpers, planning the timer twice. It is read on every change of a passage
by both jurors and every few seconds by every page: the costliest of the hot requests.

Here one statement reads, for a passage of one of the juror's commissions and the login
of the session cookie (``permissions.juror_login_conditions``: the same check as the
reference's ``juror_login_passage_row``):

- the passage's columns, its session's NV rule, the candidate's extra time and the
  dossier's settling values (``validity.settling_columns``'), the passage alone in FROM
  and the rest in scalar subqueries (cheaper to plan than joins, see ``_statement``);
- its segments, pauses, validations, the commission's members with their names, the
  grids with their fields and the commission's other started, unended passages with
  their timers, each as one JSON aggregate (a correlated subquery: PostgreSQL's
  ``json_agg``, ordered in the aggregate; SQLite's ``json_group_array``, sorted here).

Then the answer is built as ``_state`` builds it, with the same pure helpers
(``timer.compute``, ``validity.candidate_validity``, ``lifecycle.mark_text``). The rare
cases the reference handles with a write or an error answer None, and the route goes the
reference way: no row (the login or the seat not found), a fixed segment whose time is up
(``lifecycle.close_due_fixed`` writes its end), a passage without its agreed grid.
``tests/juries/test_state_lean.py`` compares both answers, byte for byte, over varied
passages at a frozen clock. ``JURY_STATE_PATH=reference`` turns this path off.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from fractions import Fraction

import sqlalchemy as sa
from flask import url_for
from sqlalchemy import orm
from sqlalchemy.dialects.postgresql import aggregate_order_by

from exam_app.accounts.models import Role, User
from exam_app.clock import utcnow
from exam_app.dossiers import validity
from exam_app.dossiers.models import DepositDeadline, Dossier
from exam_app.enrolment.models import Attendance, Candidate, ExamSession
from exam_app.extensions import db
from exam_app.juries import timer
from exam_app.juries.lifecycle import has_fixed_segments, mark_text
from exam_app.juries.models import (
    AGREED,
    Commission,
    CommissionMember,
    Grid,
    GridField,
    Passage,
    PassageSegment,
    TimerPause,
    Validation,
)
from exam_app.permissions import juror_login_conditions


def enabled(config: Mapping) -> bool:
    """The lean path runs unless ``JURY_STATE_PATH`` (the app's config, else the
    environment) is "reference"."""
    path = config.get("JURY_STATE_PATH") or os.environ.get("JURY_STATE_PATH") or "fast"
    return path == "fast"


def _list(sqlite: bool, values: list, order: list):
    """A JSON array of one JSON array per row (``values``): ordered by ``order`` on
    PostgreSQL, in the rows' order on SQLite (sorted by the caller)."""
    if sqlite:
        return sa.func.json_group_array(sa.func.json_array(*values))
    return sa.func.json_agg(aggregate_order_by(sa.func.json_build_array(*values), *order))


def _nested(sqlite: bool, subquery):
    """A scalar subquery's JSON inside another JSON value (SQLite passes it as text)."""
    return sa.func.json(subquery) if sqlite else subquery


def _timer_columns(sqlite: bool, passage) -> tuple:
    """The segments (index, allowed, start, end) and the pauses (start, id, segment,
    end, reason) of ``passage`` (the table or an alias), as two JSON subqueries."""
    segments = sa.select(_list(sqlite, [PassageSegment.index, PassageSegment.allowed_seconds,
                                        PassageSegment.started_at, PassageSegment.ended_at],
                               [PassageSegment.index])) \
        .where(PassageSegment.passage_id == passage.id).scalar_subquery()
    pauses = sa.select(_list(sqlite, [TimerPause.started_at, TimerPause.id,
                                      TimerPause.segment_index, TimerPause.ended_at,
                                      TimerPause.reason],
                             [TimerPause.started_at, TimerPause.id])) \
        .where(TimerPause.passage_id == passage.id).scalar_subquery()
    return segments, pauses


@functools.cache
def _statement(sqlite: bool):
    """The one statement, built once per dialect (bind parameters ``p_passage``,
    ``p_user``, ``p_token``)."""
    segments, pauses = _timer_columns(sqlite, Passage)
    validations = sa.select(_list(sqlite, [Validation.id, Validation.user_id,
                                           Validation.revision], [Validation.id])) \
        .where(Validation.passage_id == Passage.id).scalar_subquery()
    # The members in the commission's order (``Commission.members``: by role).
    members = sa.select(_list(sqlite, [CommissionMember.member_role, CommissionMember.id,
                                       CommissionMember.user_id, User.first_name,
                                       User.last_name],
                              [CommissionMember.member_role, CommissionMember.id])) \
        .join(User, User.id == CommissionMember.user_id) \
        .where(CommissionMember.commission_id == Passage.commission_id).scalar_subquery()
    # Each grid's fields as the answer shows them: {name: {"value", "version"}}.
    pair = (sa.func.json_object if sqlite else sa.func.json_build_object)(
        "value", GridField.value, "version", GridField.version)
    fields = sa.select((sa.func.json_group_object if sqlite else sa.func.json_object_agg)(
        GridField.name, pair)).where(GridField.grid_id == Grid.id).scalar_subquery()
    grids = sa.select(_list(sqlite, [Grid.id, Grid.key, Grid.revealed_at.is_not(None),
                                     _nested(sqlite, fields)], [Grid.id])) \
        .where(Grid.passage_id == Passage.id).scalar_subquery()
    # The commission's other started, unended passages, with their timers (the
    # preparations list, for a unit with a fixed segment).
    other = orm.aliased(Passage)
    other_segments, other_pauses = _timer_columns(sqlite, other)
    others = sa.select(_list(sqlite, [other.started_at, other.id, Candidate.last_name,
                                      Candidate.first_name, other.unit_code,
                                      other.variant_code, Candidate.extra_time,
                                      _nested(sqlite, other_segments),
                                      _nested(sqlite, other_pauses)],
                             [other.started_at, other.id])) \
        .join(Candidate, Candidate.id == other.candidate_id) \
        .where(other.commission_id == Passage.commission_id, other.id != Passage.id,
               other.started_at.is_not(None), other.ended_at.is_(None)).scalar_subquery()
    # The passage's own row alone in FROM, everything else in scalar subqueries of one
    # table each: PostgreSQL plans the statement on every run (psycopg drops its prepared
    # statements at each ROLLBACK, which ends every request), and joins cost it far more
    # to plan than subqueries (about 1.6 against 0.6 ms on the bench's machine).
    session_id = sa.select(Commission.session_id) \
        .where(Commission.id == Passage.commission_id).correlate_except(Commission) \
        .scalar_subquery()
    candidate_session = sa.select(Candidate.session_id) \
        .where(Candidate.id == Passage.candidate_id).correlate_except(Candidate) \
        .scalar_subquery()
    # ``validity.settling_columns``' values: the dossier's decision and extension (one
    # JSON pair), the session's deadline.
    dossier = sa.select((sa.func.json_array if sqlite else sa.func.json_build_array)(
        Dossier.decision, Dossier.extended_until)) \
        .where(Dossier.candidate_id == Passage.candidate_id,
               Dossier.unit_code == Passage.unit_code).scalar_subquery()
    deadline = sa.select(DepositDeadline.deadline_at) \
        .where(DepositDeadline.session_id == candidate_session,
               DepositDeadline.unit_code == Passage.unit_code).scalar_subquery()
    user_id, token = sa.bindparam("p_user", type_=sa.Integer), sa.bindparam("p_token",
                                                                            type_=sa.String)
    return (
        sa.select(Passage.id, Passage.candidate_id, Passage.unit_code, Passage.variant_code,
                  Passage.attendance, Passage.started_at, Passage.ended_at,
                  Passage.final_mark, Passage.finalized_at, Passage.agreed_revision,
                  Passage.live_version, session_id.label("session_id"),
                  sa.select(ExamSession.nv_excludes_interview)
                  .where(ExamSession.id == session_id).scalar_subquery()
                  .label("nv_excludes_interview"),
                  sa.select(Candidate.extra_time).where(Candidate.id == Passage.candidate_id)
                  .scalar_subquery().label("extra_time"),
                  _nested(sqlite, dossier).label("dossier"),
                  deadline.label("dossier_session_deadline"),
                  segments.label("segments"), pauses.label("pauses"),
                  validations.label("validations"), members.label("members"),
                  grids.label("grids"), others.label("others"))
        .where(Passage.id == sa.bindparam("p_passage", type_=sa.Integer),
               *juror_login_conditions(user_id, token, Role.EXAMINATEUR)))


@functools.cache
def _plan(unit_code: str, variant_code: str, extra_time: str | None,
          seconds_per_minute: int) -> tuple[timer.PlannedSegment, ...]:
    """``lifecycle.plan_for``'s plan (units are data: registered once, never changed)."""
    fraction = Fraction(extra_time) if extra_time else Fraction(0)
    return tuple(timer.plan(unit_code, variant_code, extra_time=fraction,
                            seconds_per_minute=seconds_per_minute))


def _utc(value: str | None) -> datetime | None:
    """A naive UTC timestamp from JSON (PostgreSQL's ISO text, SQLite's stored text)
    as ``clock.UTCDateTime`` reads it."""
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _json(value):
    """A JSON column's value: parsed by psycopg on PostgreSQL, text on SQLite."""
    return json.loads(value) if isinstance(value, str) else value


def _rows(value, sqlite: bool) -> list:
    """A JSON aggregate's rows (NULL over no row on PostgreSQL); sorted on SQLite, whose
    aggregate does not order (every row leads with its sort key)."""
    value = _json(value)
    if value is None:
        return []
    if sqlite:
        value.sort(key=lambda row: (row[0], row[1]))
    return value


def _timer(segments, pauses, sqlite: bool) -> tuple[list, list]:
    runs = [timer.SegmentRun(index, allowed, _utc(started), _utc(ended))
            for index, allowed, started, ended in _rows(segments, sqlite)]
    stops = [timer.PauseRun(index, _utc(started), _utc(ended), reason)
             for started, _, index, ended, reason in _rows(pauses, sqlite)]
    return runs, stops


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def state_for_juror(passage_id: int, user_id: int, token: str, *,
                    seconds_per_minute: int = 60) -> dict | None:
    """The state ``views_api._state`` answers, for the login (``user_id``, session
    ``token``) of a session cookie; None when the reference must answer (see above)."""
    sqlite = db.session.get_bind().dialect.name == "sqlite"
    row = db.session.connection().execute(
        _statement(sqlite), {"p_passage": passage_id, "p_user": user_id, "p_token": token},
    ).one_or_none()
    if row is None:
        return None
    grids: dict[str, tuple[bool, dict]] = {}
    for _, key, revealed, fields in _rows(row.grids, sqlite):
        grids.setdefault(key, (bool(revealed), fields or {}))
    if AGREED not in grids:
        return None
    planned = _plan(row.unit_code, row.variant_code, row.extra_time, seconds_per_minute)
    runs, stops = _timer(row.segments, row.pauses, sqlite)
    decision, extended_until = _json(row.dossier) or (None, None)
    nv = validity.candidate_validity(
        candidate_id=row.candidate_id, session_id=row.session_id, unit_code=row.unit_code,
        settled=(decision, _utc(extended_until),
                 row.dossier_session_deadline)) == validity.UnitValidity.NV
    names = {uid: f"{first} {last}".strip()
             for _, _, uid, first, last in _rows(row.members, sqlite)}
    now = utcnow()  # after every query, as the reference reads it
    current = next((run for run in runs if run.ended_at is None), None)
    if current is not None and current.index < len(planned) and planned[current.index].fixed:
        due = timer.fixed_due_at(current, stops)
        if due is not None and due <= now:
            return None  # the reference writes its end (``close_due_fixed``)
    state = timer.compute(planned, runs, stops, now)
    absent, final = row.attendance == Attendance.ABSENT, row.finalized_at is not None
    if nv:
        status = "nv"
    elif absent:
        status = "absent"
    elif final or row.ended_at is not None:
        status = "finished"
    else:
        status = "running" if row.started_at is not None else "upcoming"
    mine = f"juror:{user_id}"  # grids.grid_key_for
    own = grids.get(mine)
    other_grids = [g for key, g in grids.items() if key not in (AGREED, mine)]
    both_revealed = own is not None and own[0] and bool(other_grids) and all(
        g[0] for g in other_grids)
    return {
        "server_time": _ms(now),
        "version": row.live_version,
        "passage": {
            "id": row.id, "status": status, "nv": nv,
            "blocked": bool(row.nv_excludes_interview) and nv,
            "absent": absent, "final": final, "final_mark": mark_text(row.final_mark),
            "revision": row.agreed_revision,
        },
        "timer": {
            "status": state.status, "current": state.current,
            "pause_reason": state.pause_reason, "awaiting": state.awaiting,
            "segments": [{
                "index": p.index, "phase": p.phase_label, "step": p.step_label,
                "jury_present": p.jury_present, "fixed": p.fixed,
                "allowed": s.allowed_seconds, "elapsed": round(s.elapsed_seconds, 3),
                "started_at": _ms(s.started_at), "ended_at": _ms(s.ended_at),
                "due_at": _ms(s.due_at),
            } for p, s in zip(planned, state.segments, strict=True)],
        },
        "preparations": (_preparations(row.others, sqlite, now, seconds_per_minute)
                         if has_fixed_segments(row.unit_code) else []),
        "grids": {
            "agreed": grids[AGREED][1],
            "own": own[1] if own else None,
            "own_revealed": own is not None and own[0],
            "other": other_grids[0][1] if both_revealed else None,
            "other_revealed": bool(other_grids) and other_grids[0][0],
        },
        "validations": [{"user_id": uid, "name": names.get(uid, "?"), "revision": revision}
                        for _, uid, revision in _rows(row.validations, sqlite)],
        "members": [{"id": uid, "name": name} for uid, name in names.items()],
        "me": user_id,
    }


def _preparations(others, sqlite: bool, now: datetime, seconds_per_minute: int) -> list[dict]:
    """``lifecycle.other_preparations`` from the statement's rows, as ``_state`` shows them."""
    found = []
    for (_, other_id, last_name, first_name, unit_code, variant_code, extra_time, segments,
         pauses) in _rows(others, sqlite):
        planned = _plan(unit_code, variant_code, extra_time, seconds_per_minute)
        runs, stops = _timer(segments, pauses, sqlite)
        state = timer.compute(planned, runs, stops, now)
        item = {"id": other_id, "name": f"{last_name} {first_name}", "due_at": None,
                "ended_at": None}
        if state.status == "waiting" and planned[state.awaiting - 1].fixed:
            item.update(kind="due", ended_at=state.segments[state.awaiting - 1].ended_at)
        elif state.current is not None and planned[state.current].fixed:
            item.update(kind="paused" if state.status == "paused" else "fixed",
                        due_at=state.current_segment.due_at)
        else:
            continue
        found.append({**item, "url": url_for("juries.passage_page", passage_id=other_id),
                      "due_at": _ms(item["due_at"]), "ended_at": _ms(item["ended_at"])})
    return found
