"""The long-poll request shared by the passage page and the live board (see
``juries/push.py`` for the model and why)."""

from __future__ import annotations

import random

from flask import current_app, request

from exam_app.extensions import db
from exam_app.juries import push

# A browser over the process's cap of waiters polls again after this long.
RETRY_MS = 2000


def wait_for(key: push.PassageKey | push.BoardKey, version: str | None = None) -> dict:
    """Answer at once when ``key``'s version (``version`` when the caller read it with
    its scope check) differs from the ``depuis`` argument, else wait for a change or
    ``PUSH_WAIT_SECONDS``: {"changed", "version"[, "retry_ms"]}."""
    since = request.args.get("depuis", "")[:100]
    if version is None:
        version = push.current_version(db.session.connection(), key)
    if version != since:
        return {"changed": True, "version": version}
    # No database connection is held while waiting: the pool serves the other requests.
    db.session.close()
    app = current_app._get_current_object()
    # Spread over the last quarter of the wait: pages opened together (a room at 8:00, a
    # restart) do not all ask again in the same instant every time.
    timeout = app.config["PUSH_WAIT_SECONDS"] * random.uniform(0.75, 1.0)  # noqa: S311
    seen = push.hub_for(app).wait(app, key, since, timeout=timeout)
    if seen is None:
        return {"changed": False, "version": version, "retry_ms": RETRY_MS}
    if seen is False:
        return {"changed": False, "version": version}
    # The version the watcher read when it woke us (at most a tick old): reading it again
    # would cost a connection, a query and a rollback per answer, for the same answer (the
    # page reads the state, or the board, afresh next anyway).
    return {"changed": True, "version": seen}


def no_store(response):
    """A push answer: never cached, never buffered by nginx (``X-Accel-Buffering``)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response
