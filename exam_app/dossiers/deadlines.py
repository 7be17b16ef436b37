"""Deposit deadlines: the session's deadline per unit, individual extensions,
and the check that a dossier may still be changed."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.dossiers.common import DepositError, dossier_unit, get_or_create_dossier
from exam_app.dossiers.models import DepositDeadline, Dossier
from exam_app.enrolment import sessions
from exam_app.enrolment.models import Candidate, ExamSession, UnitCalendar
from exam_app.extensions import db


def session_deadline(*, session_id: int, unit_code: str) -> datetime | None:
    """The session's deposit deadline for the unit (None: not set yet)."""
    return db.session.scalar(
        sa.select(DepositDeadline.deadline_at).where(
            DepositDeadline.session_id == session_id, DepositDeadline.unit_code == unit_code)
    )


def effective_deadline(*, candidate: Candidate, unit_code: str,
                       dossier: Dossier | None = None) -> datetime | None:
    """The dossier's extension when granted, else the session's deadline for the unit."""
    if dossier is not None and dossier.extended_until is not None:
        return dossier.extended_until
    return session_deadline(session_id=candidate.session_id, unit_code=unit_code)


def is_open(deadline: datetime | None, now: datetime) -> bool:
    """Whether a deposit is still possible (no deadline yet: open)."""
    return deadline is None or now <= deadline


def check_open(*, candidate: Candidate, unit_code: str, dossier: Dossier | None,
               now: datetime) -> None:
    """Refuse (409 ``late``) any change of a dossier after its deadline."""
    deadline = effective_deadline(candidate=candidate, unit_code=unit_code, dossier=dossier)
    from exam_app.formatting import local_datetime, zone_label

    if not is_open(deadline, now):
        raise DepositError(
            f"Le délai de dépôt est dépassé (date limite : {local_datetime(deadline)}, "
            f"{zone_label()}) : le dossier ne peut plus être modifié. Les fichiers déjà déposés "
            "sont conservés.",
            status=409, code="late")
    opens = deposit_opens_at(session_id=candidate.session_id, unit_code=unit_code)
    if opens is not None and now < opens:
        raise DepositError(
            f"Le dépôt n'est pas encore ouvert : il ouvre le {local_datetime(opens)} "
            f"({zone_label()}).", status=409, code="not_open")


def deposit_opens_at(*, session_id: int, unit_code: str) -> datetime | None:
    """When the session opens deposits for the unit (None: open from the start)."""
    return db.session.scalar(
        sa.select(UnitCalendar.deposit_opens_at).where(
            UnitCalendar.session_id == session_id, UnitCalendar.unit_code == unit_code))


def time_left_label(delta: timedelta | None) -> str:
    """'3 j 4 h', '2 h 05 min', '12 min' or 'délai dépassé'."""
    if delta is None:
        return ""
    if delta.total_seconds() <= 0:
        return "délai dépassé"
    days, rest = divmod(int(delta.total_seconds()), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} j {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def set_deadline(*, session: ExamSession, unit_code: str, deadline_at: datetime, actor,
                 now: datetime | None = None) -> DepositDeadline:
    """Set (or move) the deposit deadline of a unit for a session."""
    now = now or utcnow()
    dossier_unit(unit_code)
    # The same checks as the session's dates page (deadline before the orals, ...).
    sessions.check_deadline(session=session, unit_code=unit_code, deadline_at=deadline_at)
    row = db.session.scalar(sa.select(DepositDeadline).where(
        DepositDeadline.session_id == session.id, DepositDeadline.unit_code == unit_code))
    before = {"deadline_at": row.deadline_at} if row else None
    if row is None:
        row = DepositDeadline(session_id=session.id, unit_code=unit_code, deadline_at=deadline_at)
        db.session.add(row)
    row.deadline_at = deadline_at
    row.updated_at = now
    db.session.flush()
    record(actor=actor, action="dossier.deadline_set", object_type="deposit_deadline",
           object_id=row.id, session_id=session.id, before=before,
           after={"unit": unit_code, "deadline_at": deadline_at}, now=now)
    return row


def grant_extension(*, candidate: Candidate, unit_code: str, until: datetime | None, reason: str,
                    actor, now: datetime | None = None) -> Dossier:
    """Grant (or withdraw, with ``until=None``) an individual extension, with its reason."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise DepositError("Indiquez le motif de la dérogation.", status=400)
    dossier = get_or_create_dossier(candidate=candidate, unit_code=unit_code, now=now)
    before = {"extended_until": dossier.extended_until, "reason": dossier.extension_reason}
    dossier.extended_until = until
    dossier.extension_reason = reason if until else None
    db.session.flush()
    record(actor=actor, action="dossier.extension", object_type="dossier", object_id=dossier.id,
           session_id=candidate.session_id, before=before,
           after={"extended_until": until, "unit": unit_code}, reason=reason, now=now)
    return dossier
