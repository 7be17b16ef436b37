"""Recording audit events. Services call :func:`record`; it flushes, never commits."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from exam_app.audit.models import AuditEvent
from exam_app.clock import utcnow
from exam_app.extensions import db


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def record(
    *,
    actor,
    action: str,
    object_type: str,
    object_id: Any = None,
    session_id: int | None = None,
    before: dict | None = None,
    after: dict | None = None,
    reason: str | None = None,
    ip: str | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Append one event to the audit trail."""
    event = AuditEvent(
        at=now or utcnow(),
        actor_id=getattr(actor, "id", None),
        actor_label=getattr(actor, "display_name", None) or "système",
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        session_id=session_id,
        before=_jsonable(before),
        after=_jsonable(after),
        reason=reason,
        ip=ip,
    )
    db.session.add(event)
    db.session.flush()
    return event
