"""The CCF route run by an establishment (issue 14, §2): its CCF commissions formed from
its own teachers and a professional, situations A and B planned for its candidates, and
the lock that follows the transmission of its marks to the académie.

The transmission itself (which needs every result: ``results``) is decided in
``exam_app.ccf.services``; this module holds what the jury day must obey: while an
establishment's CCF marks are transmitted, every state change of one of its CCF
passages is refused (``require_open``, called by ``locking.lock_passage`` under the
passage's lock), and so is every planning change of its CCF commissions.

Same contract as every service: keyword-only arguments, flush and audit, never commit.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from exam_app.clock import utcnow
from exam_app.e5.definition import E5
from exam_app.enrolment.models import Candidate, Establishment, ExamSession, PersonProfile
from exam_app.errors import Invalid
from exam_app.extensions import db
from exam_app.juries import commissions
from exam_app.juries.errors import JuryError, JuryInvalid
from exam_app.juries.models import CcfTransmission, Commission, Passage
from exam_app.units import UnitForm

TRANSMITTED = ("Les notes de CCF de cet établissement ont été transmises à l'académie : "
               "elles sont verrouillées. Seule la division des examens peut les rouvrir.")


def is_ccf(commission: Commission) -> bool:
    return commission.form == UnitForm.CCF.value and commission.establishment_id is not None


def transmission(session_id: int, establishment_id: int) -> CcfTransmission | None:
    """The establishment's transmission row for the session (None before the first)."""
    return db.session.scalar(sa.select(CcfTransmission).where(
        CcfTransmission.session_id == session_id,
        CcfTransmission.establishment_id == establishment_id))


def transmission_row(session_id: int, establishment_id: int) -> CcfTransmission:
    """The establishment's row, created on first use (a concurrent creation is read back)."""
    row = transmission(session_id, establishment_id)
    if row is not None:
        return row
    try:
        with db.session.begin_nested():
            db.session.add(CcfTransmission(session_id=session_id,
                                           establishment_id=establishment_id, count=0))
    except IntegrityError:
        pass
    return transmission(session_id, establishment_id)


def is_transmitted(session_id: int, establishment_id: int) -> bool:
    return db.session.scalar(sa.select(CcfTransmission.id).where(
        CcfTransmission.session_id == session_id,
        CcfTransmission.establishment_id == establishment_id,
        CcfTransmission.transmitted_at.is_not(None))) is not None


def require_open(commission: Commission, *, lock: bool = False) -> None:
    """Refuse a change to a CCF commission's passages once its establishment's marks are
    transmitted (a ponctuel commission is never concerned).

    ``lock`` (planning, which adds passages the transmission's passage locks cannot
    see): the transmission row is locked first on PostgreSQL, so a transmission racing
    the planning either commits first (and is read here) or waits and then reads the new
    passage. SQLite serialises writers already."""
    if not is_ccf(commission):
        return
    if lock and db.session.get_bind().dialect.name != "sqlite":
        row = transmission_row(commission.session_id, commission.establishment_id)
        db.session.execute(sa.select(CcfTransmission.id).where(CcfTransmission.id == row.id)
                           .with_for_update())
    if is_transmitted(commission.session_id, commission.establishment_id):
        raise JuryError(TRANSMITTED, code="transmitted")


# ---- the establishment's people and candidates ---------------------------------------------


def establishment_teachers(establishment: Establishment) -> list:
    """The establishment's teachers who may sit (examinateurs whose profile names it)."""
    from exam_app.accounts.models import User

    teachers, _ = commissions.juror_choices()
    ids = set(db.session.scalars(sa.select(PersonProfile.user_id).where(
        PersonProfile.establishment_id == establishment.id)))
    return [u for u in teachers if isinstance(u, User) and u.id in ids]


def ccf_candidates(session: ExamSession, establishment: Establishment) -> list[Candidate]:
    """The establishment's candidates who sit E5 in CCF this session, by name."""
    return list(db.session.scalars(
        sa.select(Candidate).where(Candidate.session_id == session.id,
                                   Candidate.establishment_id == establishment.id,
                                   Candidate.sits_in(E5.code, UnitForm.CCF))
        .order_by(Candidate.last_name, Candidate.first_name, Candidate.number)))


def ccf_commissions(session: ExamSession, establishment: Establishment) -> list[Commission]:
    """The establishment's E5 CCF commissions of the session, by code."""
    return list(db.session.scalars(
        sa.select(Commission).where(Commission.session_id == session.id,
                                    Commission.form == UnitForm.CCF.value,
                                    Commission.establishment_id == establishment.id)
        .order_by(Commission.code)))


def ccf_passages(session: ExamSession, establishment: Establishment) -> list[Passage]:
    """Every passage of the establishment's CCF commissions."""
    return list(db.session.scalars(
        sa.select(Passage).join(Commission, Commission.id == Passage.commission_id)
        .where(Commission.session_id == session.id, Commission.form == UnitForm.CCF.value,
               Commission.establishment_id == establishment.id)
        .order_by(Passage.scheduled_at, Passage.id)))


# ---- forming a commission ------------------------------------------------------------------


def create_commission(*, session: ExamSession, establishment: Establishment, actor, code: str,
                      days: list[date], jurors: commissions.Jurors,
                      now: datetime | None = None) -> Commission:
    """The coordinator forms an E5 CCF commission of the establishment: one of its own
    teachers, and a professional (or another of its teachers replacing one, with the
    reason). Every other check is the commissions service's."""
    if not establishment.is_ccf_allowed:
        raise Invalid(f"{establishment.name} n'est pas habilité à organiser le CCF.",
                      field="code")
    own = {u.id for u in establishment_teachers(establishment)}
    if jurors.teacher_id and jurors.teacher_id not in own:
        raise Invalid("Choisissez un enseignant de l'établissement.", field="teacher_id")
    if jurors.replacement_reason and jurors.professional_id \
            and jurors.professional_id not in own:
        raise Invalid("Le remplaçant du professionnel est un enseignant de l'établissement.",
                      field="professional_id")
    return commissions.create_commission(
        session=session, actor=actor, code=code, unit_code=E5.code, form=UnitForm.CCF.value,
        days=days, jurors=jurors, establishment_id=establishment.id, now=now)


# ---- planning a situation ------------------------------------------------------------------

SITUATIONS = {v.code: v for v in E5.variants_for(UnitForm.CCF)}


def plan_situation(*, commission: Commission, candidate: Candidate, variant_code: str,
                   day: date | None, start: time | None, actor,
                   now: datetime | None = None) -> Passage:
    """Plan (or move, while not started) a candidate's situation A or B in one of the
    establishment's CCF commissions, on one of its days at ``start`` (the session's
    local time). The two situations are held on different days (DOMAIN.md)."""
    from exam_app.juries.planning import assign_candidates, move_passage

    now = now or utcnow()
    if not is_ccf(commission):
        raise JuryInvalid("Cette commission n'est pas une commission de CCF.")
    if variant_code not in SITUATIONS:
        raise JuryInvalid("Choisissez la situation A ou B.", field="variant_code")
    if candidate.session_id != commission.session_id \
            or candidate.establishment_id != commission.establishment_id:
        raise JuryInvalid("Ce candidat n'est pas un candidat de l'établissement.")
    if day is None or start is None:
        raise JuryInvalid("Indiquez la date et l'heure de la situation.", field="day")
    if commission.days and day not in commission.day_list:
        raise JuryInvalid(
            f"La commission {commission.code} ne siège pas le {day:%d/%m/%Y} : choisissez "
            "l'un de ses jours (" + ", ".join(f"{d:%d/%m/%Y}" for d in commission.day_list)
            + ").", field="day")
    require_open(commission)
    scheduled = datetime.combine(day, start, ZoneInfo(commission.session.timezone)) \
        .astimezone(ZoneInfo("UTC"))
    others = db.session.scalars(sa.select(Passage).where(
        Passage.candidate_id == candidate.id, Passage.unit_code == E5.code)).all()
    zone = ZoneInfo(commission.session.timezone)
    for other in others:
        if other.variant_code != variant_code and other.scheduled_at is not None \
                and other.scheduled_at.astimezone(zone).date() == day:
            raise JuryInvalid("Les situations A et B se tiennent à des dates différentes : "
                              f"l'autre situation de {candidate.full_name} est déjà prévue le "
                              f"{day:%d/%m/%Y}.", field="day")
    passage = next((p for p in others if p.variant_code == variant_code), None)
    if passage is not None and passage.commission_id != commission.id:
        raise JuryInvalid(f"Cette situation de {candidate.full_name} est déjà prévue dans la "
                          f"commission {passage.commission.code}.")
    if passage is None:
        [passage] = assign_candidates(commission=commission, numbers=[candidate.number],
                                      variant_code=variant_code, actor=actor, now=now)
    move_passage(passage=passage, scheduled_at=scheduled, actor=actor, now=now)
    return passage
