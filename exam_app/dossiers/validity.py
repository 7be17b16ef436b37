"""Whether a candidate's dossier makes a unit valid — the contract other features read.

The jury day (no scoring when NV), the documents (NV on the bordereau) and
exports ask only these two functions; the dossier feature decides the answer
from deposits, deadlines and the conformity control:

- a unit the candidate does not sit (bénéfice, dispense, not registered) is
  NOT_REQUIRED: no dossier is asked for, it is never NV;
- a unit without dossier pieces (E6) is VALID;
- a decision *conforme* makes it VALID;
- a decision *non conforme* makes it NV when one of its reasons is configured
  as NV for the session; with only non-NV reasons the unit stays VALID (the
  reason is recorded and shown, the candidate is interviewed);
- without a decision: NV once the (possibly extended) deadline has passed
  without a complete dossier; PENDING otherwise.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class UnitValidity(StrEnum):
    PENDING = "pending"  # deadline not passed, or the control not yet decided
    VALID = "valid"  # dossier conforme (or the unit has no dossier, e.g. E6)
    NV = "nv"  # "non valide": no dossier at the deadline, or decided non conforme
    NOT_REQUIRED = "not_required"  # the candidate does not sit the unit

    @property
    def label(self) -> str:
        return VALIDITY_LABELS[self]


VALIDITY_LABELS = {
    UnitValidity.PENDING: "En attente",
    UnitValidity.VALID: "Valide",
    UnitValidity.NV: "NV (non valide)",
    UnitValidity.NOT_REQUIRED: "Sans objet (épreuve non présentée)",
}


def _decide(*, decision: str | None, decision_reasons, deadline: datetime | None,
            now: datetime, complete, nv_reasons) -> UnitValidity:
    """The rules above. ``complete`` and ``nv_reasons`` are callables, called only
    when the answer depends on them (the files; the session's NV reasons)."""
    from exam_app.dossiers.models import Decision

    if decision == Decision.COMPLIANT:
        return UnitValidity.VALID
    if decision == Decision.NON_COMPLIANT:
        if set(decision_reasons or []) & nv_reasons():
            return UnitValidity.NV
        return UnitValidity.VALID
    if deadline is not None and now > deadline and not complete():
        return UnitValidity.NV
    return UnitValidity.PENDING


def _validity(view, nv_reasons: set[str]) -> UnitValidity:
    dossier = view.dossier
    return _decide(decision=dossier.decision if dossier is not None else None,
                   decision_reasons=dossier.decision_reasons if dossier is not None else None,
                   deadline=view.deadline, now=view.now, complete=lambda: view.complete,
                   nv_reasons=lambda: nv_reasons)


def settled_without_files(*, decision: str | None, extended_until: datetime | None,
                          session_deadline: datetime | None,
                          now: datetime) -> UnitValidity | None:
    """The validity when the dossier row and the deadline alone decide it, else None.

    A dossier decided *conforme* is VALID, and an undecided one whose
    (possibly extended) deadline has not passed is PENDING, whatever its
    files. Hot paths (every autosave) read these columns in their own query
    and call ``unit_validity`` only when this returns None.
    """
    from exam_app.dossiers.models import Decision

    if decision == Decision.COMPLIANT:
        return UnitValidity.VALID
    if decision is None:
        deadline = extended_until if extended_until is not None else session_deadline
        if deadline is None or now <= deadline:
            return UnitValidity.PENDING
    return None


def _nv_reasons(session_id: int) -> set[str]:
    from exam_app.dossiers.conformity import reasons_for

    return {r.code for r in reasons_for(session_id) if r.makes_nv}


def unit_validity(*, candidate_id: int, unit_code: str, now: datetime | None = None) -> UnitValidity:
    """The validity of one candidate's unit."""
    from exam_app.dossiers.state import dossier_view
    from exam_app.enrolment.models import Candidate
    from exam_app.extensions import db
    from exam_app.units import get_unit

    if not get_unit(unit_code).has_dossier:
        return UnitValidity.VALID
    candidate = db.session.get(Candidate, candidate_id)
    if candidate is None:
        raise LookupError(f"no candidate {candidate_id}")
    if not candidate.sits(unit_code):
        return UnitValidity.NOT_REQUIRED
    view = dossier_view(candidate=candidate, unit_code=unit_code, now=now)
    return _validity(view, _nv_reasons(candidate.session_id))


def settling_columns(candidate_id, unit_code) -> list:
    """The dossier's decision and extension and the session's deadline for one candidate's
    unit, as three labelled scalar subqueries to add to the caller's own query (one
    statement for a passage and its dossier's state). ``candidate_id`` and ``unit_code``:
    values, or the caller's columns (e.g. ``Passage.candidate_id``)."""
    import sqlalchemy as sa

    from exam_app.dossiers.models import DepositDeadline, Dossier
    from exam_app.enrolment.models import Candidate

    dossier = sa.and_(Dossier.candidate_id == candidate_id, Dossier.unit_code == unit_code)
    return [
        sa.select(Dossier.decision).where(dossier).scalar_subquery().label("dossier_decision"),
        sa.select(Dossier.extended_until).where(dossier).scalar_subquery()
        .label("dossier_extended_until"),
        sa.select(DepositDeadline.deadline_at).join(
            Candidate, Candidate.session_id == DepositDeadline.session_id)
        .where(Candidate.id == candidate_id, DepositDeadline.unit_code == unit_code)
        .scalar_subquery().label("dossier_session_deadline"),
    ]


def candidate_validity(*, candidate_id: int, session_id: int, unit_code: str,
                       now: datetime | None = None, settled: tuple | None = None) -> UnitValidity:
    """The validity of ONE candidate's unit, reading only that candidate's rows.

    ``settled``: the (decision, extended_until, session_deadline) the caller read with
    ``settling_columns``; without it, read here (one statement). Then, only when they
    do not settle it: the decision's reasons and the session's NV reasons (a decision
    *non conforme*, two statements), or the names of the deposited files' pieces (no
    decision after the deadline, one statement). Same answer as ``unit_validity``.
    """
    import sqlalchemy as sa

    from exam_app.clock import utcnow
    from exam_app.dossiers.models import Dossier, DossierFile
    from exam_app.extensions import db
    from exam_app.units import get_unit

    unit = get_unit(unit_code)
    if not unit.has_dossier:
        return UnitValidity.VALID
    now = now or utcnow()
    if settled is None:
        settled = tuple(db.session.execute(
            sa.select(*settling_columns(candidate_id, unit_code))).one())
    decision, extended_until, session_deadline = settled
    answer = settled_without_files(decision=decision, extended_until=extended_until,
                                   session_deadline=session_deadline, now=now)
    if answer is not None:
        return answer
    dossier = sa.and_(Dossier.candidate_id == candidate_id, Dossier.unit_code == unit_code)

    def decision_reasons():
        return db.session.scalar(sa.select(Dossier.decision_reasons).where(dossier))

    def complete() -> bool:
        pieces = db.session.scalars(sa.select(DossierFile.piece_code).join(Dossier)
                                    .where(dossier)).all()
        return all(pieces.count(piece.code) >= piece.min_count for piece in unit.pieces)

    return _decide(decision=decision,
                   decision_reasons=decision_reasons() if decision is not None else None,
                   deadline=extended_until if extended_until is not None else session_deadline,
                   now=now, complete=complete, nv_reasons=lambda: _nv_reasons(session_id))


def nv_candidate_ids(*, session_id: int, unit_code: str, now: datetime | None = None,
                     candidate_ids: set[int] | None = None) -> set[int]:
    """All candidates of a session whose unit is NV, in a fixed number of queries (for
    lists, bordereaux and the results module): same answer as ``unit_validity``.

    Reads the dossier rows' columns only (no ORM objects): the decision and the
    deadline settle most candidates (``settled_without_files``); the session's NV
    reasons are read only for a *non conforme* decision, and the deposited pieces
    only for the undecided dossiers past their deadline.
    ``candidate_ids`` limits the answer (and the query) to those candidates.
    """
    import sqlalchemy as sa

    from exam_app.clock import utcnow
    from exam_app.dossiers.deadlines import session_deadline
    from exam_app.dossiers.models import Dossier, DossierFile
    from exam_app.enrolment.models import Candidate
    from exam_app.extensions import db
    from exam_app.units import get_unit

    unit = get_unit(unit_code)
    if not unit.has_dossier:
        return set()
    now = now or utcnow()
    deadline = session_deadline(session_id=session_id, unit_code=unit_code)
    # Some candidates: read by their key, the session's kept here (with the session in the
    # query, SQLite walks the session's index instead of the few keys).
    which = (Candidate.session_id == session_id if candidate_ids is None
             else Candidate.id.in_(sorted(candidate_ids)))
    rows = [row for row in db.session.execute(
        sa.select(Candidate.id, Candidate.session_id, Dossier.id.label("dossier_id"),
                  Dossier.decision, Dossier.decision_reasons, Dossier.extended_until)
        .outerjoin(Dossier, sa.and_(Dossier.candidate_id == Candidate.id,
                                    Dossier.unit_code == unit_code))
        .where(which, Candidate.sits_in(unit_code))) if row.session_id == session_id]
    unsettled = [row for row in rows if settled_without_files(
        decision=row.decision, extended_until=row.extended_until, session_deadline=deadline,
        now=now) is None]
    if not unsettled:
        return set()
    reasons: list[set[str]] = []

    def nv_reasons() -> set[str]:
        if not reasons:
            reasons.append(_nv_reasons(session_id))
        return reasons[0]

    past_deadline = [row.dossier_id for row in unsettled
                     if row.decision is None and row.dossier_id is not None]
    pieces: dict[int, list[str]] = {}
    if past_deadline:
        for dossier_id, piece_code in db.session.execute(
                sa.select(DossierFile.dossier_id, DossierFile.piece_code)
                .where(DossierFile.dossier_id.in_(past_deadline))):
            pieces.setdefault(dossier_id, []).append(piece_code)

    def complete(dossier_id) -> bool:
        found = pieces.get(dossier_id, [])
        return all(found.count(piece.code) >= piece.min_count for piece in unit.pieces)

    return {row.id for row in unsettled if _decide(
        decision=row.decision, decision_reasons=row.decision_reasons,
        deadline=row.extended_until if row.extended_until is not None else deadline, now=now,
        complete=lambda row=row: complete(row.dossier_id), nv_reasons=nv_reasons)
        is UnitValidity.NV}


def conformity_decided(*, candidate_id: int, unit_code: str) -> bool:
    """Whether the conformity control has decided the candidate's dossier for the unit
    (a unit without dossier pieces has nothing to decide: True)."""
    import sqlalchemy as sa

    from exam_app.dossiers.models import Dossier
    from exam_app.extensions import db
    from exam_app.units import get_unit

    if not get_unit(unit_code).has_dossier:
        return True
    return db.session.scalar(sa.select(Dossier.decision).where(
        Dossier.candidate_id == candidate_id, Dossier.unit_code == unit_code)) is not None
