"""Login throttling: slow a password guesser down without locking the owner out.

Nothing is ever locked. Each attempt is counted against keys (``ThrottleScope``):

- without a device cookie: the account from this client (``pair``), the account from
  every such client (``account``) and the client address for every account (``client``);
- with a valid device cookie for the account (a browser its owner logged in from,
  OWASP's "device cookies"): that cookie alone (``device``).

A key's first ``free`` failures cost nothing; from then on each failure makes the next
attempt on that key wait 2^(failures - free) seconds, capped (``delay_cap_seconds``). A
refused attempt is answered at once (429, ``Retry-After``), without checking the
password, and is not counted. A key's failures are forgotten ``forget_after_seconds``
after its last one; a success clears its ``pair`` and ``device`` keys.

So an attacker who fails on someone's account slows down their own client on it, then,
from many clients, every client without a device cookie; the owner logs in from a
browser they already used (the cookie exempts it from the keys the attacker fills), and
a browser shared by everyone behind a misconfigured proxy is only slowed, never locked.

Counting is pessimistic and serialised: ``claim`` locks the keys' rows (PostgreSQL
``FOR UPDATE``; SQLite's write lock, taken by the upsert that starts the claim), counts
the attempt as a failure and sets the wait before the password is checked, and the
caller commits at once; ``settle`` takes back that failure on a success. Parallel
attempts therefore queue on the rows, and no more than ``free`` of them ever get through
without a wait, whatever the number of gunicorn workers.
"""

from __future__ import annotations

import ipaddress
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from itsdangerous import BadSignature, URLSafeSerializer

from exam_app.accounts.models import LoginThrottle, ThrottleScope
from exam_app.clock import utcnow
from exam_app.extensions import db

DEVICE_COOKIE = "exam_app_device"
DEVICE_SALT = "exam_app.device.v1"
DEVICE_ENTRIES_MAX = 8  # accounts remembered by one browser (exam centres share PCs)


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures each key forgives, and how long the waits grow."""

    free_per_pair: int = 3
    free_per_account: int = 10
    free_per_client: int = 30
    free_per_device: int = 5
    delay_cap_seconds: int = 300
    forget_after_seconds: int = 900

    @classmethod
    def from_config(cls, config: Mapping) -> ThrottlePolicy:
        return cls(
            free_per_pair=int(config["LOGIN_FREE_FAILURES_PER_ACCOUNT_CLIENT"]),
            free_per_account=int(config["LOGIN_FREE_FAILURES_PER_ACCOUNT"]),
            free_per_client=int(config["LOGIN_FREE_FAILURES_PER_CLIENT"]),
            free_per_device=int(config["LOGIN_FREE_FAILURES_PER_DEVICE"]),
            delay_cap_seconds=int(config["LOGIN_DELAY_CAP_SECONDS"]),
            forget_after_seconds=int(config["LOGIN_FAILURE_WINDOW_SECONDS"]),
        )

    def free(self, scope: ThrottleScope) -> int:
        return {ThrottleScope.PAIR: self.free_per_pair,
                ThrottleScope.ACCOUNT: self.free_per_account,
                ThrottleScope.CLIENT: self.free_per_client,
                ThrottleScope.DEVICE: self.free_per_device}[scope]

    def delay(self, scope: ThrottleScope, failures: int) -> int:
        """Seconds the next attempt on a key waits after its ``failures``-th failure."""
        over = failures - self.free(scope)
        if over < 0:
            return 0
        # 2**over overflows nothing here: past the cap the exponent no longer matters.
        return min(self.delay_cap_seconds, 2 ** min(over, 32))


class LoginThrottled(Exception):
    """An attempt refused before its password was checked: retry at ``retry_at``."""

    def __init__(self, retry_at: datetime, now: datetime):
        self.retry_at = retry_at
        self.retry_after_seconds = max(1, math.ceil((retry_at - now).total_seconds()))
        self.known_browser = False  # the attempt came with the account's device cookie
        super().__init__(self.retry_after_seconds)


@dataclass
class Claim:
    """The keys an attempt was counted against, and the wait it set on each."""

    keys: list[tuple[ThrottleScope, str]]
    blocked_until: dict[tuple[ThrottleScope, str], datetime | None] = field(default_factory=dict)


def client_key(address: str | None) -> str | None:
    """The client a request comes from: its IPv4 address, or the /64 of its IPv6 one
    (a single subscriber usually holds a whole /64)."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def throttle_keys(*, username: str, client: str | None,
                  device: str | None) -> list[tuple[ThrottleScope, str]]:
    """The keys an attempt counts against (see the module docstring)."""
    if device:
        return [(ThrottleScope.DEVICE, device)]
    keys = [(ThrottleScope.ACCOUNT, username)]
    if client:
        keys += [(ThrottleScope.PAIR, f"{username} {client}"), (ThrottleScope.CLIENT, client)]
    return keys


def _locked_rows(keys: list[tuple[ThrottleScope, str]]) -> dict:
    """The keys' rows, created if missing, locked until the end of the transaction."""
    ordered = sorted(set(keys))  # one order for everyone: no deadlock between two claims
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    for scope, key in ordered:
        # The first statement is a write: on SQLite it takes the database's write lock
        # for the rest of the transaction (WAL + busy_timeout make the next one wait).
        db.session.execute(insert(LoginThrottle).values(scope=scope.value, key=key, failures=0)
                           .on_conflict_do_nothing(index_elements=["scope", "key"]))
    wanted = sa.tuple_(LoginThrottle.scope, LoginThrottle.key).in_(
        [(scope.value, key) for scope, key in ordered])
    statement = sa.select(LoginThrottle).where(wanted)
    if dialect == "postgresql":
        statement = statement.with_for_update()
    rows = db.session.scalars(statement.execution_options(populate_existing=True)).all()
    return {(ThrottleScope(row.scope), row.key): row for row in rows}


def claim(*, keys: list[tuple[ThrottleScope, str]], policy: ThrottlePolicy,
          now: datetime | None = None) -> Claim:
    """Count one attempt against ``keys`` before its password is checked; raise
    ``LoginThrottled`` (nothing counted) when one of them must still wait. The caller
    commits right away, so that the rows are not held during the password check."""
    now = now or utcnow()
    rows = _locked_rows(keys)
    forget = timedelta(seconds=policy.forget_after_seconds)
    waits = []
    for row in rows.values():
        if row.last_failure_at is not None and now - row.last_failure_at >= forget:
            row.failures, row.blocked_until = 0, None
        if row.blocked_until is not None and row.blocked_until > now:
            waits.append(row.blocked_until)
    if waits:
        raise LoginThrottled(max(waits), now)
    _purge_stale(now - forget, keep=[row.id for row in rows.values()])
    result = Claim(keys=list(rows))
    for scope_key, row in rows.items():
        row.failures += 1
        row.last_failure_at = now
        delay = policy.delay(scope_key[0], row.failures)
        row.blocked_until = now + timedelta(seconds=delay) if delay else None
        result.blocked_until[scope_key] = row.blocked_until
    db.session.flush()
    return result


PURGE_BATCH = 100


def _purge_stale(before: datetime, *, keep: list[int]) -> None:
    """Forget a few keys whose last failure is older than the window (their count would
    restart at 0 anyway), so that names tried once do not pile up. On PostgreSQL, rows
    another claim holds are skipped rather than waited for (no lock-order deadlock)."""
    stale = (sa.select(LoginThrottle.id)
             .where(sa.or_(LoginThrottle.last_failure_at < before,
                           LoginThrottle.last_failure_at.is_(None)),  # cleared by a success
                    LoginThrottle.id.not_in(keep))
             .limit(PURGE_BATCH))
    if db.session.get_bind().dialect.name == "postgresql":
        stale = stale.with_for_update(skip_locked=True)
    db.session.execute(sa.delete(LoginThrottle).where(LoginThrottle.id.in_(stale.scalar_subquery()))
                       .execution_options(synchronize_session=False))


def settle(claim_: Claim, *, succeeded: bool) -> None:
    """After the password check: a failure stays counted; a success takes it back (and
    clears the account's own ``pair`` and ``device`` keys)."""
    if not succeeded:
        return
    rows = _locked_rows(claim_.keys)
    for scope_key, row in rows.items():
        if scope_key[0] in (ThrottleScope.PAIR, ThrottleScope.DEVICE):
            row.failures, row.last_failure_at, row.blocked_until = 0, None, None
            continue
        # Shared keys (the account from anywhere, the client for everyone): only this
        # attempt's own count comes off, and its wait unless a later attempt set another.
        row.failures = max(0, row.failures - 1)
        if row.blocked_until == claim_.blocked_until.get(scope_key):
            row.blocked_until = None
    db.session.flush()


# ---- device cookies ------------------------------------------------------------------
# One signed cookie per browser lists the accounts that logged in from it, each with a
# random nonce (the ``device`` key its failures count against) and the time it was issued.

def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=DEVICE_SALT)


def _entries(secret_key: str, cookie: str | None, *, now: datetime,
             max_age_seconds: int) -> list[list]:
    if not cookie or len(cookie) > 4096:
        return []
    try:
        data = _serializer(secret_key).loads(cookie)
    except BadSignature:
        return []
    if not isinstance(data, list):
        return []
    fresh = []
    for entry in data:
        if (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
                and isinstance(entry[1], str) and isinstance(entry[2], int)
                and 0 <= now.timestamp() - entry[2] <= max_age_seconds):
            fresh.append(entry)
    return fresh


def device_for(secret_key: str, cookie: str | None, *, username: str,
               max_age_seconds: int, now: datetime | None = None) -> str | None:
    """The nonce of ``username`` in an authentic, unexpired device cookie, or None."""
    now = now or utcnow()
    for name, nonce, _issued in _entries(secret_key, cookie, now=now,
                                         max_age_seconds=max_age_seconds):
        if name == username:
            return "d:" + nonce
    return None


def remember_device(secret_key: str, cookie: str | None, *, username: str,
                    max_age_seconds: int, now: datetime | None = None) -> str:
    """The device cookie after ``username`` logged in from this browser: a new nonce for
    the account (first in the list), the other accounts kept, the oldest dropped."""
    now = now or utcnow()
    kept = [entry for entry in _entries(secret_key, cookie, now=now,
                                        max_age_seconds=max_age_seconds)
            if entry[0] != username]
    entries = [[username, secrets.token_urlsafe(16), int(now.timestamp())], *kept]
    return _serializer(secret_key).dumps(entries[:DEVICE_ENTRIES_MAX])
