"""The registry of document kinds that a QR code can verify.

Each kind of printed document has a function ``check(payload) -> Verification``;
they are all registered in one place, ``exam_app.register_verification_checks``
(called by ``create_app``). ``/verifier/<token>`` reads the token and asks the
registered check; it never reveals more than the printed document already shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa

from exam_app.audit.models import AuditEvent
from exam_app.extensions import db
from exam_app.printing.signing import TokenPayload


class Status(StrEnum):
    AUTHENTIC = "authentique"
    SUPERSEDED = "remplace"
    NOT_AUTHENTIC = "non_authentique"


@dataclass(frozen=True)
class Verification:
    status: Status
    title: str = ""
    # What the printed document already shows (label -> value), safe to display.
    facts: tuple[tuple[str, str], ...] = field(default=())
    changed_at: datetime | None = None


Check = Callable[[TokenPayload], Verification]
_CHECKS: dict[str, Check] = {}


def register(kind: str, check: Check) -> None:
    """Make ``check`` answer for the documents of ``kind``."""
    _CHECKS[kind] = check


def verify(payload: TokenPayload | None) -> Verification:
    """What the registered check says of this token (not authentic when none answers)."""
    if payload is None or payload.kind not in _CHECKS:
        return Verification(Status.NOT_AUTHENTIC)
    return _CHECKS[payload.kind](payload)


def changed_since(*, object_type: str, object_ids, since: datetime | None) -> datetime | None:
    """The first audited change of these objects after ``since`` (None when unknown)."""
    ids = [str(i) for i in object_ids]
    if since is None or not ids:
        return None
    return db.session.scalar(
        sa.select(sa.func.min(AuditEvent.at)).where(
            AuditEvent.object_type == object_type, AuditEvent.object_id.in_(ids),
            AuditEvent.at > since))
