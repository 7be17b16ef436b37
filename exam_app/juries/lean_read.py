"""One-statement reads of the jury's hottest requests, outside the ORM session.

The passage page's long poll (``/attendre``) is asked again after every answer,
by both jurors of every room, and each save of the agreed grid answers both: at
an académie's jury day it is the most frequent request. Its only read is one
row (the passage's live version, with the login and the seat checked in the
same statement). Through the ORM session that read cost more than itself: the
pool's ping, BEGIN, the statement and ROLLBACK (four round trips on
PostgreSQL), the session's checkout and teardown, SQLAlchemy's ORM execution.

Here the same statement, compiled once (``autosave_lone``'s compiled statements,
with the columns' own bind and result conversions), runs on a pooled DBAPI
connection: on PostgreSQL in autocommit, where a lone SELECT is its own
transaction and sees one snapshot as inside BEGIN ... ROLLBACK (one round trip);
on SQLite as the driver runs a SELECT, outside any transaction (the driver
opens none for a read). Nothing is written, so nothing can be half done.

It can only say yes: no row (no such login or seat, an unknown passage) or a
failed connection answers None, and the caller goes the ordinary way
(Flask-Login's loader, ``roles_required``, the scope check), whose answers
(401, 403, 404) stay the only ones. A connection that failed is invalidated,
never reused.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.extensions import db
from exam_app.juries.autosave_lone import _Compiled
from exam_app.juries.models import Passage
from exam_app.permissions import juror_login_statement


def read_one(compiled: _Compiled, values: Mapping[str, Any]) -> dict | None:
    """The first row of ``compiled`` for ``values`` as a dict, read on a pooled
    connection outside the session (autocommit on PostgreSQL); None when there is no
    row or the connection failed."""
    engine = db.engine
    dbapi = engine.dialect.dbapi
    postgres = engine.dialect.name == "postgresql"
    fairy = engine.raw_connection()
    try:
        driver = fairy.driver_connection
        if postgres:
            driver.autocommit = True
        try:
            cursor = fairy.cursor()
            try:
                return compiled.run(cursor, values)
            finally:
                cursor.close()
        finally:
            if postgres and not driver.closed:
                driver.autocommit = False
    except dbapi.OperationalError:
        fairy.invalidate()  # dead, or the server ended it: not reused
        return None
    finally:
        fairy.close()


@functools.cache
def _version_for_login(dialect_name: str) -> _Compiled:
    """The passage's live version for a juror's login (bind parameters ``passage_id``,
    ``user_id``, ``token``): the statement ``views_api.passage_wait`` reads through the
    session, compiled once for the dialect."""
    dialect = db.engine.dialect
    assert dialect.name == dialect_name
    return _Compiled(juror_login_statement(_version_statement(), Role.EXAMINATEUR), dialect)


@functools.cache
def _version_statement():
    return sa.select(Passage.live_version)


def passage_version_for_login(passage_id: int, user_id: int, token: str) -> int | None:
    """The live version of a passage of one of the login's commissions (``user_id``
    with session ``token``, an enabled examinateur with a seat on its commission), or
    None (then the caller goes the ordinary way)."""
    row = read_one(_version_for_login(db.engine.dialect.name),
                   {"passage_id": passage_id, "user_id": user_id, "token": token})
    return None if row is None else row["live_version"]
