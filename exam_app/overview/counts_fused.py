"""The session dashboard's counts with one pass over the session's candidates (fast path).

The reference is ``readiness.session_counts``: ``enrolment.dashboard_counts`` and one
query per blocker of the board, each from the feature that owns its data. Four of those
go over every candidate of the session (places and E5 forms, undecided dossiers,
unplanned orals, unseated E6 candidates), so the page grew with the session. Here those
four are one aggregate: the session's candidates read once, in the order of their index
(session, centre, establishment: no sort), each candidate's registrations, dossiers and
E6 sitting joined once, every count a column of the group. Measured: as fast as the
reference's statements at 5,000 candidates on SQLite (each candidate's joins are the
cost, not the passes), 3.5x faster on PostgreSQL, and a few ms less at any size (the
statement is built once). The other blockers (accounts,
commissions, convocations, lots) are the reference's own queries, which do not go over
the candidates.

Same interface and results as the reference (``DASHBOARD_COUNTS_PATH=reference`` selects
it); tests/overview/test_counts_fused.py compares them in varied states.
"""

from __future__ import annotations

import functools
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from exam_app.accounts import services as accounts
from exam_app.clock import utcnow
from exam_app.documents import packs
from exam_app.dossiers.common import units_with_dossier
from exam_app.dossiers.models import DepositDeadline, Dossier
from exam_app.e6 import lots
from exam_app.e6.models import E6Sitting
from exam_app.enrolment import services as enrolment
from exam_app.enrolment.models import Candidate, Centre, ExamSession, RegistrationKind, UnitForm
from exam_app.enrolment.models import UnitRegistration as Registration
from exam_app.extensions import db
from exam_app.juries import planning
from exam_app.overview.readiness import Counts
from exam_app.units import ExamUnit


def session_counts(session: ExamSession, *,
                   now: datetime | None = None) -> tuple[dict, Counts]:
    """``enrolment.dashboard_counts(session)`` and the board's ``Counts``, as
    ``readiness.session_counts`` gives them."""
    query, dossier_units = _statement()
    groups = db.session.execute(query, {"session_id": session.id,
                                        "now": now or utcnow()}).all()
    places = enrolment.dashboard_counts_of(session, [g[:5] for g in groups])
    unseated: dict[int, int] = {}
    unplanned = 0
    undecided_counts = [0] * len(dossier_units)
    for group in groups:
        centre_id, _, _, _, _, not_seated, not_planned, *not_decided = group
        if centre_id is not None:  # the reference counts the candidates of a centre
            unseated[centre_id] = unseated.get(centre_id, 0) + not_seated
        unplanned += not_planned
        undecided_counts = [a + b for a, b in zip(undecided_counts, not_decided, strict=True)]
    unseated_rows = []
    if any(unseated.values()):  # the reference orders them by the centre's name
        names = db.session.execute(sa.select(Centre.id, Centre.name)
                                   .where(Centre.session_id == session.id)
                                   .order_by(Centre.name, Centre.id)).all()
        unseated_rows = [(centre_id, name, unseated[centre_id]) for centre_id, name in names
                         if unseated.get(centre_id)]
    board = Counts(
        without_centre=places["without_centre"],
        not_activated=accounts.staff_not_activated_count(),
        undecided=dict(zip(dossier_units, undecided_counts, strict=True)),
        incomplete_commissions=planning.incomplete_commissions_count(session.id),
        unplanned=unplanned,
        unprinted=packs.unprinted_convocation_counts(session),
        unseated=unseated_rows,
        copies_without_lot=lots.copies_without_lot_count(session.id),
    )
    return places, board


@functools.cache
def _statement() -> tuple[sa.Select, tuple[str, ...]]:
    """The aggregate (built once per process: building it costs more than running it at
    150 candidates), with the units whose dossiers it counts, in its columns' order.
    Parameters: ``session_id``, ``now``. Columns per (centre, establishment): candidates,
    ponctuel, CCF, unseated, unplanned, then undecided dossiers per unit."""
    session_id = sa.bindparam("session_id", type_=Candidate.session_id.type)
    now = sa.bindparam("now", type_=Dossier.extended_until.type)
    registrations: dict[str, type[Registration]] = {}

    def registration(unit_code: str):
        """The candidate's registration for the unit (None columns without one)."""
        if unit_code not in registrations:
            registrations[unit_code] = aliased(Registration, name=f"reg_{unit_code.lower()}")
        return registrations[unit_code]

    def sits(unit: ExamUnit, form: UnitForm | str) -> sa.ColumnElement[bool]:
        """``Candidate.sits_in(unit.code, form)`` on the joined registration (one row at
        most per candidate and unit: its primary key)."""
        row = registration(unit.code)
        if not unit.has_several_forms:
            if UnitForm(form) not in unit.forms:
                return sa.false()
            return sa.or_(row.kind.is_(None), row.kind == RegistrationKind.SIT)
        return sa.and_(row.kind == RegistrationKind.SIT, row.form == UnitForm(form))

    def counted(condition) -> sa.ColumnElement[int]:
        return sa.func.count(sa.case((condition, 1)))

    form_row = registration(enrolment.form_unit_code())
    # Undecided dossiers (dossiers.dashboards.undecided_after_deadline_counts): no
    # decision although the deadline (extension, else the session's) has passed.
    dossiers, undecided = {}, []
    for unit in units_with_dossier():
        dossier = dossiers[unit.code] = aliased(Dossier, name=f"dossier_{unit.code.lower()}")
        deadline = (sa.select(DepositDeadline.deadline_at)
                    .where(DepositDeadline.session_id == session_id,
                           DepositDeadline.unit_code == unit.code)
                    .scalar_subquery())
        undecided.append(counted(sa.and_(
            dossier.decision.is_(None),
            sa.func.coalesce(dossier.extended_until, deadline) < now)))
    # Unplanned (juries.planning.unplanned_candidates_count): a situation of an oral
    # unit the candidate sits in their form without a passage with a time.
    missing = planning.unplanned_conditions(sits)
    # Unseated (e6.sitting.unseated_counts): no E6 sitting with a room; a candidate has
    # one sitting at most (unique), so: none joined, or one without a room.
    sitting = aliased(E6Sitting, name="sitting")
    query = sa.select(
        Candidate.centre_id, Candidate.establishment_id, sa.func.count(Candidate.id),
        *enrolment.form_count_columns(form_row.form),
        counted(sitting.room_id.is_(None)),
        counted(sa.or_(*missing)) if missing else sa.literal(0),
        *undecided,
    ).select_from(Candidate)
    for unit_code, row in registrations.items():
        query = query.outerjoin(row, sa.and_(row.candidate_id == Candidate.id,
                                             row.unit_code == unit_code))
    for unit_code, dossier in dossiers.items():
        query = query.outerjoin(dossier, sa.and_(dossier.candidate_id == Candidate.id,
                                                 dossier.unit_code == unit_code))
    query = query.outerjoin(sitting, sitting.candidate_id == Candidate.id)
    return (query.where(Candidate.session_id == session_id)
            .group_by(Candidate.centre_id, Candidate.establishment_id), tuple(dossiers))

