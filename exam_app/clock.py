"""Time: the server clock decides, in UTC; people read the session's time zone.

Services take ``now`` as a keyword argument defaulting to :func:`utcnow` so
that tests inject a clock instead of sleeping.

Every date and time shown or printed is converted to the *display zone*: the
time zone of the session the request (or the printed document) is about. Loaders
and the print renderer set it with :func:`use_zone`; otherwise a resolver
registered by ``create_app`` finds it (the session named in the URL, else the
latest session); without an application context it is Europe/Paris.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

import sqlalchemy as sa
from flask import g, has_app_context
from sqlalchemy.types import TypeDecorator

DEFAULT_ZONE = "Europe/Paris"
PARIS = ZoneInfo(DEFAULT_ZONE)

_resolver: Callable[[], str | None] | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def set_zone_resolver(resolver: Callable[[], str | None] | None) -> None:
    """Register how to find the display zone when no loader has set it (create_app)."""
    global _resolver
    _resolver = resolver


def use_zone(name: str | None) -> None:
    """Show every date and time of this request (app context) in the zone ``name``."""
    if has_app_context() and name:
        g.display_zone = name


@contextmanager
def zone(name: str | None) -> Iterator[None]:
    """Within the block, the display zone is ``name`` (a printed document's session)."""
    if not has_app_context() or not name:
        yield
        return
    missing = object()
    previous = g.get("display_zone", missing)
    g.display_zone = name
    try:
        yield
    finally:
        if previous is missing:
            g.pop("display_zone", None)
        else:
            g.display_zone = previous


def display_zone_name() -> str:
    """The name of the zone dates and times are shown in (see the module docstring)."""
    if not has_app_context():
        return DEFAULT_ZONE
    name = g.get("display_zone")
    if name is None:
        name = (_resolver() if _resolver else None) or DEFAULT_ZONE
        g.display_zone = name
    return name


def local_zone() -> ZoneInfo:
    """The display zone, to read a local date or time typed in a form."""
    name = display_zone_name()
    return ZoneInfo(name) if name in known_zones() else PARIS


def to_local(value: datetime | None, tz: str | None = None) -> datetime | None:
    """``value`` in the zone ``tz`` (default: the display zone)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(ZoneInfo(tz) if tz else local_zone())


def from_local(day: date, at: time = time(0, 0)) -> datetime:
    """The UTC instant of a local date and time in the display zone."""
    return datetime.combine(day, at, local_zone()).astimezone(UTC)


def local_naive_to_utc(value: datetime) -> datetime:
    """A naive local date-time typed in a form (display zone) as a UTC instant."""
    return value.replace(tzinfo=local_zone()).astimezone(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored as naive UTC and always read back timezone-aware.

    SQLite has no time zones; storing naive UTC everywhere keeps both
    backends identical and comparisons exact.
    """

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)
