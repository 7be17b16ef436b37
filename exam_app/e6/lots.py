"""The correcteurs of a session and the lots of anonymous copies they receive."""

from __future__ import annotations

from dataclasses import dataclass
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
    """How many of the session's anonymous copies are in no lot yet (one query), read from
    the (session, lot) index: only the lot-less copies' entries, however many copies the
    session has (the session's copies less those in its lots read both in full)."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(E6Copy)
        .where(E6Copy.session_id == session_id, E6Copy.lot_id.is_(None))) or 0


@dataclass(frozen=True)
class LotConflict:
    """A copy whose candidate now belongs to the establishment of its lot's correcteur
    (the candidate's establishment changed after the lots were formed)."""

    copy_id: int
    number: str  # the anonymous number: the page names no candidate
    lot_id: int
    lot_code: str
    corrector: str
    marked: bool  # points already entered on the copy


def lot_conflicts(session_id: int) -> list[LotConflict]:
    """Re-check every copy in a lot against its correcteur's establishment, as it is now
    (one query; form_lots checked it once, the candidate's establishment may change)."""
    marked = sa.exists().where(E6Points.copy_id == E6Copy.id)
    rows = db.session.execute(
        sa.select(E6Copy.id, E6Copy.anonymous_number, E6Lot.id, E6Lot.code, E6Lot.corrector_id,
                  marked)
        .join(Candidate, Candidate.id == E6Copy.candidate_id)
        .join(E6Lot, E6Lot.id == E6Copy.lot_id)
        .join(E6Corrector, sa.and_(E6Corrector.session_id == E6Lot.session_id,
                                   E6Corrector.user_id == E6Lot.corrector_id))
        .where(E6Copy.session_id == session_id,
               E6Corrector.establishment_id == Candidate.establishment_id)
        .order_by(E6Lot.code, E6Copy.anonymous_number)).all()
    names = {m.user_id: m.user.display_name for m in correctors(session_id)} if rows else {}
    return [LotConflict(copy_id, number, lot_id, code, names.get(corrector_id, ""), bool(m))
            for copy_id, number, lot_id, code, corrector_id, m in rows]


def move_conflicting_copy(*, copy: E6Copy, actor, now: datetime | None = None) -> E6Lot:
    """Move a copy out of its correcteur's own establishment, into the smallest open lot of
    a correcteur from another establishment; only while no point is entered on it."""
    now = now or utcnow()
    # Serialised: the copy's row is re-read under lock, and its version guards the UPDATE.
    db.session.refresh(copy, with_for_update=True)
    conflict = next((c for c in lot_conflicts(copy.session_id) if c.copy_id == copy.id), None)
    if conflict is None:
        raise E6Error("Cette copie n'est pas (ou plus) dans le lot d'un correcteur de son "
                      "établissement.")
    if conflict.marked:
        raise E6Locked(f"Des points sont déjà saisis sur la copie {copy.anonymous_number} : "
                       "elle ne peut plus changer de lot. Faites-la corriger à nouveau par "
                       "la commission d'entente.")
    establishment_id = db.session.scalar(
        sa.select(Candidate.establishment_id).where(Candidate.id == copy.candidate_id))
    allowed = {m.user_id for m in correctors(copy.session_id)
               if m.establishment_id != establishment_id}
    sizes = lot_sizes(copy.session_id)
    targets = [lot for lot in session_lots(copy.session_id)
               if lot.state == "open" and lot.corrector_id in allowed and lot.id != copy.lot_id]
    if not targets:
        raise E6Error(f"Aucun lot ouvert d'un correcteur d'un autre établissement ne peut "
                      f"recevoir la copie {copy.anonymous_number} : inscrivez un correcteur "
                      "d'un autre établissement.")
    target = min(targets, key=lambda lot: (sizes.get(lot.id, 0), lot.code))
    record(actor=actor, action="e6.copy.move", object_type="e6_copy", object_id=copy.id,
           session_id=copy.session_id, now=now,
           before={"lot": conflict.lot_code}, after={"lot": target.code},
           reason="Le candidat relève désormais de l'établissement du correcteur.")
    copy.lot_id = target.id
    db.session.flush()
    return target
