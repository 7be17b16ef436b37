"""The registry of document kinds that a QR code can verify.

Each kind of printed document has a function ``check(payload) -> Verification``;
they are all registered in one place, ``exam_app.register_verification_checks``
(called by ``create_app``). ``/verifier/<token>`` reads the token and asks the
registered check; it never reveals more than the printed document already shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from exam_app.audit.models import AuditEvent
from exam_app.extensions import db
from exam_app.formatting import local_datetime
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
    # Superseded: the labels of the printed fields that changed (never their values:
    # the page is public), and why, where the audit trail recorded it.
    changes: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    # Signed before tokens carried field digests: what changed cannot be told.
    legacy: bool = False


Check = Callable[[TokenPayload], Verification]
MAX_REASONS = 8  # lines of "why" on a verification page
_CHECKS: dict[str, Check] = {}


def register(kind: str, check: Check) -> None:
    """Make ``check`` answer for the documents of ``kind``."""
    _CHECKS[kind] = check


def verify(payload: TokenPayload | None) -> Verification:
    """What the registered check says of this token (not authentic when none answers)."""
    if payload is None or payload.kind not in _CHECKS:
        return Verification(Status.NOT_AUTHENTIC)
    return _CHECKS[payload.kind](payload)


def superseded(payload: TokenPayload, title: str, facts, *, content: Any,
               fields: Mapping[str, str], events: Iterable[AuditEvent] = (),
               actions: Mapping[str, str] | None = None,
               changed_at: datetime | None = None) -> Verification:
    """A superseded document's verification: which fields changed (from the token's field
    digests), when (the first audited change after it was printed, or ``changed_at``) and
    why (each audited change named in ``actions``, with its recorded reason)."""
    changes = payload.changed_fields(content, fields)
    events = sorted(events, key=lambda e: e.at)
    when = min([moment for moment in [changed_at, events[0].at if events else None] if moment],
               default=None)
    return Verification(Status.SUPERSEDED, title, tuple(facts), changed_at=when,
                        changes=tuple(changes or ()), reasons=explain(events, actions or {}),
                        legacy=changes is None)


def explain(events: Iterable[AuditEvent], actions: Mapping[str, str]) -> tuple[str, ...]:
    """'<what> le <when>[ : <reason>]' for each event whose action is named in ``actions``."""
    lines: list[str] = []
    for event in events:
        label = actions.get(event.action)
        if label is None:
            continue
        line = f"{label} le {local_datetime(event.at)}"
        if event.reason:
            line += f" : {event.reason.strip()}"
        if line not in lines:
            lines.append(line)
    if len(lines) > MAX_REASONS:
        more = len(lines) - MAX_REASONS + 1
        lines = [*lines[:MAX_REASONS - 1], f"… et {more} autres modifications"]
    return tuple(lines)


def without_changed(result: Verification, fact: str, fields: Iterable[str],
                    shown: str) -> Verification:
    """``result`` whose ``fact`` reads ``shown`` when one of ``fields`` changed (or cannot be
    told): a public page never shows a value that was not printed."""
    if result.status is not Status.SUPERSEDED or not (result.legacy
                                                      or set(fields) & set(result.changes)):
        return result
    facts = tuple((label, shown if label == fact else value) for label, value in result.facts)
    return replace(result, facts=facts)


def events_since(since: datetime | None, objects: Mapping[str, Iterable]) -> list[AuditEvent]:
    """The audited events about these objects (object type -> ids) after ``since``."""
    clauses = [sa.and_(AuditEvent.object_type == object_type,
                       AuditEvent.object_id.in_([str(i) for i in ids]))
               for object_type, ids in objects.items() if ids]
    if since is None or not clauses:
        return []
    return list(db.session.scalars(sa.select(AuditEvent).where(
        sa.or_(*clauses), AuditEvent.at > since).order_by(AuditEvent.at, AuditEvent.id)))


def changed_since(*, object_type: str, object_ids, since: datetime | None) -> datetime | None:
    """The first audited change of these objects after ``since`` (None when unknown)."""
    ids = [str(i) for i in object_ids]
    if since is None or not ids:
        return None
    return db.session.scalar(
        sa.select(sa.func.min(AuditEvent.at)).where(
            AuditEvent.object_type == object_type, AuditEvent.object_id.in_(ids),
            AuditEvent.at > since))
