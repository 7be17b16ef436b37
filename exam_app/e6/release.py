"""The levée d'anonymat: what still blocks it, the release itself, and the
anonymous number <-> candidate table kept by the académie."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.e6.bareme import questions
from exam_app.e6.common import E6Error, E6Locked
from exam_app.e6.definition import E6
from exam_app.e6.lots import session_lots
from exam_app.e6.models import E6Copy, E6Lot, E6Release, E6Sitting
from exam_app.enrolment.models import Candidate, ExamSession
from exam_app.extensions import db


def is_released(session_id: int) -> bool:
    """Whether the session's anonymity is lifted."""
    return db.session.scalar(sa.select(E6Release.id).where(E6Release.session_id == session_id)) \
        is not None


def lifting_blockers(session_id: int) -> list[str]:
    """Everything that prevents the levée d'anonymat, in French (empty when ready)."""
    blockers = []
    if not questions(session_id):
        blockers.append("Le barème n'est pas défini.")
    no_attendance = db.session.scalar(
        sa.select(sa.func.count(Candidate.id))
        .outerjoin(E6Sitting, E6Sitting.candidate_id == Candidate.id)
        .where(Candidate.session_id == session_id, Candidate.sits_in(E6.code),
               E6Sitting.attendance.is_(None)))
    if no_attendance:
        blockers.append(f"{no_attendance} candidat(s) sans présence enregistrée.")
    unassigned = db.session.scalar(sa.select(sa.func.count(E6Copy.id)).join(
        Candidate, Candidate.id == E6Copy.candidate_id).where(
        E6Copy.session_id == session_id, E6Copy.lot_id.is_(None), Candidate.sits_in(E6.code)))
    if unassigned:
        blockers.append(f"{unassigned} copie(s) dans aucun lot.")
    lots = session_lots(session_id)
    if not lots:
        blockers.append("Aucun lot n'est formé.")
    for lot in lots:
        if lot.state != "final":
            blockers.append(f"Lot {lot.code} ({lot.corrector.display_name}) : "
                            f"{lot.state_label.lower()}, pas encore définitif.")
    return blockers


def lift_anonymity(*, session: ExamSession, actor, now: datetime | None = None) -> E6Release:
    """Join marks to candidates, once every lot is final; refused with the list otherwise."""
    now = now or utcnow()
    if is_released(session.id):
        raise E6Locked("L'anonymat est déjà levé pour cette session.")
    blockers = lifting_blockers(session.id)
    if blockers:
        raise E6Error("La levée d'anonymat est refusée : tous les lots doivent être définitifs.",
                      details=blockers)
    release = E6Release(session_id=session.id, lifted_at=now,
                        lifted_by_id=getattr(actor, "id", None))
    db.session.add(release)
    db.session.flush()
    record(actor=actor, action="e6.anonymity.lift", object_type="exam_session",
           object_id=session.id, session_id=session.id, now=now,
           after={"copies": db.session.scalar(sa.select(sa.func.count(E6Copy.id)).where(
               E6Copy.session_id == session.id))})
    return release


def release_of(session_id: int) -> E6Release | None:
    """The session's levée d'anonymat, if any."""
    return db.session.scalar(sa.select(E6Release).where(E6Release.session_id == session_id))


def correspondence(session_id: int, *, page: int = 1, per_page: int | None = None,
                   search: str = "") -> tuple[list[tuple[E6Copy, Candidate, E6Lot | None]], int]:
    """The anonymous number <-> candidate table (the gestionnaire only): the rows of
    ``page`` (``per_page`` a page, all when None) by anonymous number, and how many match.
    ``search``: the start of an anonymous number, of a candidate number or of a name."""
    where = [E6Copy.session_id == session_id]
    term = search.strip()
    if term:
        like = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(sa.or_(E6Copy.anonymous_number.ilike(like, escape="\\"),
                            Candidate.number.ilike(like, escape="\\"),
                            Candidate.last_name.ilike(like, escape="\\")))
    count = sa.select(sa.func.count(E6Copy.id)).where(*where)
    # Without a search the copies alone are counted (every copy has its candidate): the
    # session's number index answers, no join row by row.
    total = db.session.scalar(count.join(Candidate, Candidate.id == E6Copy.candidate_id)
                              if term else count)
    query = (sa.select(E6Copy, Candidate, E6Lot)
             .join(Candidate, Candidate.id == E6Copy.candidate_id)
             .outerjoin(E6Lot, E6Lot.id == E6Copy.lot_id)
             .where(*where)
             # The table shows numbers and names: not the copies' points.
             .options(sa.orm.joinedload(Candidate.establishment), sa.orm.lazyload(E6Copy.points))
             .order_by(E6Copy.anonymous_number))
    if per_page is not None:
        query = query.limit(per_page).offset((max(page, 1) - 1) * per_page)
    return [tuple(row) for row in db.session.execute(query).all()], total
