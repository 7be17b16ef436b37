"""Push: the other juror's passage page and the live board learn of a change at once.

How a change travels. Every state change of a passage takes ``lock_passage``,
whose UPDATE bumps ``passage.live_version``; every save of the agreed grid bumps
it with the agreed revision. The browser holds a *long poll* (``wait``) naming the
version it last saw; the request answers as soon as the version differs, or
after ``PUSH_WAIT_SECONDS`` unchanged, and the browser asks again at once.

Across gunicorn workers (and hosts) the database is the only channel: in each
process one watcher thread, running only while someone waits, reads the
versions of everything waited on (one primary-key ``IN`` query, plus one small
aggregate per board) every ``PUSH_TICK_SECONDS`` and wakes the waiters whose
version moved. The same code runs on SQLite and PostgreSQL; a change reaches a
waiter within one tick (0.2 s) plus a round trip.

Why long polls on gunicorn's gthread worker, and not SSE or gevent (measured in
BENCHMARKS.md, ``bench/push.py``): a waiting request holds one thread, but a
thread blocked on an ``Event`` costs no CPU and ~120 KB (measured), and gthread creates its
threads only as requests need them; the production command runs 4 workers x 128
threads for ~240 jurors + the board. ``PUSH_MAX_WAITERS`` waiters per process at
most (112 of 128 threads): 16 threads per worker always serve ordinary requests
(as many as the whole of today's 4 x 4), and a waiter over the cap is answered at
once with ``retry_ms`` (that page polls every 2 s instead), so streams can never
starve the autosave. A long poll ends after 22-30 s, so none outlives nginx's
read timeout or holds a graceful reload back for long, and it holds no database
connection while it waits. gevent would hold more streams per worker, but it
serialises CPU work (a PDF being rendered would stall every juror of that
worker) and SQLite's busy wait would block its hub; a separate async server
would be a second process to deploy and route; SSE on gthread would pin a thread
per open page for as long as the page stays open.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from exam_app.juries.models import Commission, Passage

# ---- versions: what a waiter compares ---------------------------------------------


def passage_versions(connection, passage_ids: list[int]) -> dict[int, int]:
    """The live version of each passage (absent ids are left out)."""
    if not passage_ids:
        return {}
    rows = connection.execute(sa.select(Passage.id, Passage.live_version)
                              .where(Passage.id.in_(passage_ids)))
    return {row.id: row.live_version for row in rows}


def board_version(connection, session_id: int, start: datetime, end: datetime) -> str:
    """A token of a day's passages of a session: it changes when any of them changes
    (each bump adds one to the sum), is moved in or out of the day, or is deleted."""
    row = connection.execute(
        sa.select(sa.func.count(Passage.id), sa.func.coalesce(sa.func.sum(Passage.live_version), 0),
                  sa.func.coalesce(sa.func.sum(Passage.id), 0))
        .join(Commission, Commission.id == Passage.commission_id)
        .where(Commission.session_id == session_id, Passage.scheduled_at >= start,
               Passage.scheduled_at < end)).one()
    return f"{row[0]}.{row[1]}.{row[2]}"


@dataclass(frozen=True)
class PassageKey:
    passage_id: int


@dataclass(frozen=True)
class BoardKey:
    session_id: int
    start: datetime
    end: datetime


def current_version(connection, key: PassageKey | BoardKey) -> str:
    """The key's version as text (a passage's live version, a board's token)."""
    if isinstance(key, PassageKey):
        return str(passage_versions(connection, [key.passage_id]).get(key.passage_id))
    return board_version(connection, key.session_id, key.start, key.end)


# ---- the waiters and the watcher -------------------------------------------------


@dataclass(eq=False)
class _Waiter:
    key: PassageKey | BoardKey
    since: str
    event: threading.Event = field(default_factory=threading.Event)
    seen: str | None = None  # the version the watcher read when it woke this waiter


class Hub:
    """The process's waiters and its watcher thread (started on the first wait, it
    stops when nobody waits)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[_Waiter] = set()
        self._watcher: threading.Thread | None = None
        self.ticks = 0  # watcher rounds, for the tests and the benchmark

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiters)

    def wait(self, app, key, since: str, *, timeout: float) -> str | bool | None:
        """Block until ``key``'s version differs from ``since``: that version, as the
        watcher read it (the waiter need not read it again); False when ``timeout``
        passes first; None, at once, when the process already has its cap of waiters."""
        waiter = _Waiter(key, since)
        with self._lock:
            if len(self._waiters) >= app.config["PUSH_MAX_WAITERS"]:
                return None
            self._waiters.add(waiter)
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch, args=(app,),
                                                 name="push-watcher", daemon=True)
                self._watcher.start()
        try:
            return waiter.seen if waiter.event.wait(timeout) else False
        finally:
            with self._lock:
                self._waiters.discard(waiter)

    def _watch(self, app) -> None:
        tick = app.config["PUSH_TICK_SECONDS"]
        while True:
            time.sleep(tick)
            with self._lock:
                waiters = list(self._waiters)
                if not waiters:
                    self._watcher = None
                    return
            try:
                self._wake(app, waiters)
            except Exception:  # noqa: BLE001 - a failed round (database restarting): the next one retries
                app.logger.warning("push: the versions could not be read", exc_info=True)

    def _wake(self, app, waiters: list[_Waiter]) -> None:
        from exam_app.extensions import db

        with app.app_context(), db.engine.connect() as connection:
            passages = passage_versions(connection, sorted({
                w.key.passage_id for w in waiters if isinstance(w.key, PassageKey)}))
            boards = {key: board_version(connection, key.session_id, key.start, key.end)
                      for key in {w.key for w in waiters if isinstance(w.key, BoardKey)}}
        self.ticks += 1
        for waiter in waiters:
            key = waiter.key
            now = (str(passages.get(key.passage_id)) if isinstance(key, PassageKey)
                   else boards[key])
            if now != waiter.since:
                waiter.seen = now
                waiter.event.set()


def hub_for(app) -> Hub:
    """The app's hub: its watcher reads that app's database (one app per process in
    production; the tests serve several)."""
    return app.extensions.setdefault("push_hub", Hub())
