"""Internship periods a candidate declares, and the working days they cover."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.dossiers.common import DepositError, lock_candidate
from exam_app.dossiers.models import InternshipPeriod
from exam_app.enrolment.models import Candidate, CandidateStatus
from exam_app.extensions import db
from exam_app.units import ExamUnit, all_units

# The dossier piece that proves the internship (E4: "Attestations de stage ou
# certificats de travail").
INTERNSHIP_PIECE = "attestations_stage"

# Who must show the 14-week (70-day) internship. The training guide
# (../shared/reference/000_bd0200772ee67884.txt, "5. Les stages en milieu
# professionnel") says "La formation comporte 14 semaines de stage, ce qui
# correspond à 70 journées": a requirement of the training that students follow
# (statut scolaire, and distance learners, who follow the same training and its
# internships). Its certification section asks, in the E4 dossier only, for "les
# attestations de stage ou les certificats de travail attestant l'exécution du
# contrat de travail": apprentices, continuing-education trainees and individual
# candidates prove their experience by their work certificates, with no 70-day
# minimum. The E5 dossier (fiches projet, veille, non-plagiat) holds no attestation.
# An unknown status (imported before statuses) keeps the check, as before.
INTERNSHIP_STATUSES = frozenset({CandidateStatus.SCOLAIRE, CandidateStatus.DISTANCE, None})


def internship_minimum_applies(*, status: CandidateStatus | None, unit: ExamUnit) -> bool:
    """Whether the session's minimum internship length is checked for this candidate's
    dossier of this unit (the unit asks for the attestations and the status for an
    internship)."""
    return (status in INTERNSHIP_STATUSES
            and any(piece.code == INTERNSHIP_PIECE for piece in unit.pieces))


def internship_required(candidate: Candidate) -> bool:
    """Whether the candidate must show the minimum internship for a unit they sit."""
    return any(internship_minimum_applies(status=candidate.status, unit=unit)
               and candidate.sits(unit.code) for unit in all_units())


def working_days(start: date, end: date) -> set[date]:
    """Monday-to-Friday days from ``start`` to ``end`` included."""
    days = set()
    current = start
    while current <= end:
        if current.weekday() < 5:
            days.add(current)
        current += timedelta(days=1)
    return days


def internship_days(periods: list[InternshipPeriod]) -> int:
    """Working days (Monday to Friday) covered by the periods, overlaps counted once.

    14 weeks of 5 days make the 70 days the regulation requires.
    """
    covered: set[date] = set()
    for period in periods:
        covered |= working_days(period.start_date, period.end_date)
    return len(covered)


def internships(candidate_id: int) -> list[InternshipPeriod]:
    """The candidate's declared periods, oldest first."""
    return list(db.session.scalars(sa.select(InternshipPeriod).where(
        InternshipPeriod.candidate_id == candidate_id).order_by(InternshipPeriod.start_date)))


# Periods one candidate may declare (a two-year course has a handful; issue 12, item 5).
MAX_PERIODS = 30


def add_internship(*, candidate: Candidate, organisation: str, start_date: date, end_date: date,
                   actor, max_periods: int = MAX_PERIODS,
                   now: datetime | None = None) -> InternshipPeriod:
    """Declare an internship period (at most ``max_periods`` per candidate)."""
    now = now or utcnow()
    organisation = (organisation or "").strip()
    if not organisation:
        raise DepositError("Indiquez l'organisation d'accueil.", status=400)
    if end_date < start_date:
        raise DepositError("La date de fin précède la date de début.", status=400)
    if (end_date - start_date).days > 3 * 366:
        raise DepositError("Une période de stage ne peut dépasser trois ans.", status=400)
    lock_candidate(candidate.id)  # the count and the insert are one decision
    count = db.session.scalar(sa.select(sa.func.count()).select_from(InternshipPeriod).where(
        InternshipPeriod.candidate_id == candidate.id))
    if count >= max_periods:
        raise DepositError(
            f"Vous avez déjà déclaré {count} périodes de stage, le maximum : supprimez-en "
            "une (ou regroupez des périodes) avant d'en ajouter une autre.", status=409,
            code="too_many_periods")
    period = InternshipPeriod(candidate_id=candidate.id, organisation=organisation[:200],
                              start_date=start_date, end_date=end_date, created_at=now)
    db.session.add(period)
    db.session.flush()
    record(actor=actor, action="dossier.internship_added", object_type="internship_period",
           object_id=period.id, session_id=candidate.session_id,
           after={"organisation": period.organisation, "start": start_date, "end": end_date},
           now=now)
    return period


def remove_internship(*, period: InternshipPeriod, candidate: Candidate, actor,
                      now: datetime | None = None) -> None:
    """Remove a declared internship period (audited)."""
    before = {"organisation": period.organisation, "start": period.start_date,
              "end": period.end_date}
    db.session.delete(period)
    db.session.flush()
    record(actor=actor, action="dossier.internship_removed", object_type="internship_period",
           object_id=period.id, session_id=candidate.session_id, before=before, now=now)
