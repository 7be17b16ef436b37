"""The correcteurs of a session and the lots of anonymous copies they receive."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.e6.bareme import questions
from exam_app.e6.common import E6Error, E6Locked
from exam_app.e6.definition import E6
from exam_app.e6.lot_plan import plan_lots
from exam_app.e6.models import E6Copy, E6Corrector, E6Lot, E6Points, E6Sitting
from exam_app.enrolment.models import Candidate, ExamSession
from exam_app.extensions import db


def correctors(session_id: int) -> list[E6Corrector]:
    """The session's correcteurs, in enrolment order."""
    return list(db.session.scalars(
        sa.select(E6Corrector).where(E6Corrector.session_id == session_id)
        .order_by(E6Corrector.id)))


def enroll_corrector(*, session: ExamSession, user, establishment, actor,
                     now: datetime | None = None) -> E6Corrector:
    """Enrol a correcteur for the session, with the establishment they teach in."""
    from exam_app.accounts.models import Role

    if not user.has_role(Role.CORRECTEUR):
        raise E6Error("Cet utilisateur n'a pas le rôle correcteur.")
    if db.session.scalar(sa.select(E6Corrector.id).where(E6Corrector.session_id == session.id,
                                                         E6Corrector.user_id == user.id)):
        raise E6Error(f"{user.display_name} est déjà correcteur de cette session.")
    corrector = E6Corrector(session_id=session.id, user_id=user.id,
                            establishment_id=establishment.id if establishment else None)
    db.session.add(corrector)
    db.session.flush()
    record(actor=actor, action="e6.corrector.add", object_type="e6_corrector",
           object_id=corrector.id, session_id=session.id, now=now,
           after={"user": user.username,
                  "establishment": establishment.uai if establishment else None})
    return corrector


def remove_corrector(*, corrector: E6Corrector, actor, now: datetime | None = None) -> None:
    """Withdraw a correcteur who has no lot yet."""
    if db.session.scalar(sa.select(E6Lot.id).where(E6Lot.session_id == corrector.session_id,
                                                   E6Lot.corrector_id == corrector.user_id)):
        raise E6Locked("Ce correcteur a déjà un lot : il ne peut plus être retiré.")
    record(actor=actor, action="e6.corrector.remove", object_type="e6_corrector",
           object_id=corrector.id, session_id=corrector.session_id, now=now,
           before={"user": corrector.user.username})
    db.session.delete(corrector)
    db.session.flush()


def marks_entered(session_id: int) -> bool:
    """Whether any point is entered on a copy of the session."""
    return db.session.scalar(
        sa.select(E6Points.id).join(E6Copy, E6Copy.id == E6Points.copy_id)
        .where(E6Copy.session_id == session_id).limit(1)) is not None


def form_lots(*, session: ExamSession, actor, now: datetime | None = None) -> list[E6Lot]:
    """Form (or re-form, while no mark is entered) the lots of the session's copies."""
    now = now or utcnow()
    missing = []
    if not questions(session.id):
        missing.append("Le barème n'est pas défini.")
    no_attendance = db.session.scalar(
        sa.select(sa.func.count(Candidate.id))
        .outerjoin(E6Sitting, E6Sitting.candidate_id == Candidate.id)
        .where(Candidate.session_id == session.id, Candidate.sits_in(E6.code),
               E6Sitting.attendance.is_(None)))
    if no_attendance:
        missing.append(f"{no_attendance} candidat(s) sans présence enregistrée.")
    markers = correctors(session.id)
    if not markers:
        missing.append("Aucun correcteur n'est inscrit pour cette session.")
    if missing:
        raise E6Error("Les lots ne peuvent pas encore être formés.", details=missing)
    existing = list(db.session.scalars(sa.select(E6Lot).where(E6Lot.session_id == session.id)))
    if existing and marks_entered(session.id):
        raise E6Locked("Des notes sont déjà saisies : les lots ne peuvent plus être refaits.")
    rows = db.session.execute(
        sa.select(E6Copy, Candidate.establishment_id)
        .join(Candidate, Candidate.id == E6Copy.candidate_id)
        .where(E6Copy.session_id == session.id, Candidate.sits_in(E6.code))).all()
    if not rows:
        raise E6Error("Aucune copie : enregistrez d'abord la présence des candidats.")
    plan = plan_lots([(copy.id, establishment_id) for copy, establishment_id in rows],
                     [(m.user_id, m.establishment_id) for m in markers])
    copies_by_id = {copy.id: copy for copy, _ in rows}
    for copy in copies_by_id.values():
        copy.lot_id = None
    db.session.flush()
    for lot in existing:
        db.session.delete(lot)
    db.session.flush()
    lots = []
    for index, marker in enumerate(markers, start=1):
        lot = E6Lot(session_id=session.id, code=f"L{index:02d}", corrector_id=marker.user_id,
                    created_at=now)
        db.session.add(lot)
        db.session.flush()
        for copy_id in plan[marker.user_id]:
            copies_by_id[copy_id].lot_id = lot.id
        lots.append(lot)
    db.session.flush()
    record(actor=actor, action="e6.lots.form", object_type="exam_session", object_id=session.id,
           session_id=session.id, now=now,
           after={"lots": {lot.code: len(plan[lot.corrector_id]) for lot in lots}})
    return lots


def session_lots(session_id: int) -> list[E6Lot]:
    """The session's lots by code."""
    return list(db.session.scalars(
        sa.select(E6Lot).where(E6Lot.session_id == session_id).order_by(E6Lot.code)))


def lot_sizes(session_id: int) -> dict[int, int]:
    """Lot id -> number of copies."""
    return dict(db.session.execute(
        sa.select(E6Copy.lot_id, sa.func.count(E6Copy.id))
        .where(E6Copy.session_id == session_id, E6Copy.lot_id.is_not(None))
        .group_by(E6Copy.lot_id)).all())


def copies_without_lot_count(session_id: int) -> int:
    """How many of the session's anonymous copies are in no lot yet (one query)."""
    return db.session.scalar(
        sa.select(sa.func.count(E6Copy.id))
        .where(E6Copy.session_id == session_id, E6Copy.lot_id.is_(None))) or 0
