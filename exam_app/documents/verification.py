"""The registry of document kinds that a QR code can verify.

Each feature that prints a document registers, in ``create_app``, a function
``check(payload) -> Verification`` for its kind. ``/verifier/<token>`` reads
the token and asks the registered check; it never reveals more than the
printed document already shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from exam_app.documents.qr import TokenPayload


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
    _CHECKS[kind] = check


def verify(payload: TokenPayload | None) -> Verification:
    if payload is None or payload.kind not in _CHECKS:
        return Verification(Status.NOT_AUTHENTIC)
    return _CHECKS[payload.kind](payload)
