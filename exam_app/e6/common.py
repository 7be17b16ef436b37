"""What every E6 service module shares: the refusal classes, the unit's maximum
mark, and the parsing and rounding of decimal points.

Service functions take keyword-only arguments, flush and audit, never commit.
They raise :class:`E6Error` (a French message, optionally with the list of what
is missing in ``details``) when an operation is refused; nothing is written then.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from exam_app.e6.definition import E6
from exam_app.errors import Conflict, ServiceError


class E6Error(ServiceError):
    """A refused E6 operation: ``message`` for the user, ``details`` lists what is missing."""


class E6Locked(E6Error, Conflict):
    """Refused because the object is locked: a validated or final lot, formed lots,
    a lifted anonymity (409)."""

    code = "locked"


class StaleCopy(E6Error, Conflict):
    """The copy changed since the client loaded it (another tab, a replayed save)."""


class LotPlanError(E6Error):
    """The copies cannot be shared out among the enrolled correcteurs."""


def max_mark() -> Decimal:
    """The unit's maximum mark (20), from its definition."""
    return Decimal(E6.max_mark)


def parse_decimal(value, *, what: str) -> Decimal:
    """'12,5' / '12.5' / '+1,5' / '−2' / 12.5 -> Decimal; anything else is a French error."""
    if isinstance(value, bool) or value is None:
        raise E6Error(f"{what} : nombre attendu.")
    text = str(value).strip().replace(",", ".").replace("\u202f", "").replace(" ", "")
    text = text.replace("\u2212", "-")
    if not re.fullmatch(r"[+-]?\d{1,3}(\.\d{1,3})?", text):
        raise E6Error(f"{what} : « {str(value).strip()[:20]} » n'est pas un nombre (ex. 12,5).")
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regexp already checked
        raise E6Error(f"{what} : nombre invalide.") from None


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """Whether ``value`` is a whole number of ``step``."""
    return (value / step) == (value / step).to_integral_value()


def round_to_step(value: Decimal, step: Decimal) -> Decimal:
    """The nearest multiple of ``step`` (halves up), to the hundredth."""
    steps = (value / step).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return (steps * step).quantize(Decimal("0.01"))


def require_results_open(session_id: int) -> None:
    """Refused once the session's délibération is closed: the results are locked."""
    from exam_app.deliberation.services import ResultsLocked, ensure_results_open

    try:
        ensure_results_open(session_id)
    except ResultsLocked as exc:
        raise E6Locked(exc.message) from None
