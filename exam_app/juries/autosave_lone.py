"""The autosave's lone-field path: the usual save (one new op on one text or level
field, by a logged-in juror, to a writable grid), done on a pooled DBAPI connection
with statements compiled once, outside the ORM session.

A debounced keystroke of either juror is one such save. Measured in process
(``bench/autosave_profile.py``), the ORM session's transaction, commit and
teardown and SQLAlchemy's per-statement execution cost more than the statements
themselves; here the same statements (``autosave._context_query`` with the login,
then ``autosave_fast``'s compare-and-set, op record and revision bump, fused into
one statement on PostgreSQL) run on the driver's cursor, with the columns' own
bind and result conversions. Every decision is the one ``autosave.save_fields``
makes with the fast store, on the same rows, in the same order.

On PostgreSQL a save is two round trips: the context's read, then the fused
statement, on a connection in autocommit, one of the path's few own (``_own_pool``:
no ping at checkout). Five before: the pool's ping, and BEGIN and COMMIT around the
two statements. Nothing is lost by it: under READ COMMITTED
each statement of the former transaction read its own snapshot anyway and the read
took no lock, so the one decision is still the fused statement, which re-reads
under the row locks what it decides on and is all or nothing by itself
(``_fused_pg(whole=True)``: where the transaction's rollback undid a partial save,
the statement fails). A connection the server ends meanwhile is dropped and the
ordinary path answers (a lost answer of the fused statement too: its op id makes
the ordinary path's replay answer what was stored). When all of the path's own
connections are in use (a worker of many threads), one of the app's pool serves,
in autocommit for the save (three round trips, with its ping).

It is a shortcut that can only say yes: anything else (several ops, the mark,
whose changes are audited, a replayed op id, a stale version, a refusal of any
kind, validations to clear, a dossier whose validity needs its files) rolls back
whatever it did and answers None, and the caller goes the ordinary way
(``views_api._autosave``), which answers as it always did. The ordinary path is
its reference: ``tests/juries/test_autosave_equivalence.py`` plays the same
script through both and compares the answers and the rows.
"""

from __future__ import annotations

import functools
import os
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from exam_app.clock import utcnow
from exam_app.dossiers import validity
from exam_app.extensions import db
from exam_app.juries import autosave
from exam_app.juries.autosave_fast import statements
from exam_app.juries.errors import JuryError
from exam_app.juries.grids import clean_value
from exam_app.juries.models import AGREED, Attendance


class _Compiled:
    """A statement compiled once for a dialect, run on a DBAPI cursor, with the bind
    and result conversions of its columns' types (as SQLAlchemy applies them)."""

    def __init__(self, statement, dialect, column_keys: list[str] | None = None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        self.compiled, self.sql = compiled, compiled.string
        self.order = list(compiled.positiontup) if dialect.positional else None
        self.binds = {compiled.bind_names[bind]: processor for bind in compiled.binds.values()
                      if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect))}
        columns = list(statement.exported_columns) if hasattr(statement, "exported_columns") else []
        self.dialect, self.names = dialect, [column.key for column in columns]
        self.types = [column.type.dialect_impl(dialect) for column in columns]
        # The result conversions, from the first result's driver types (as SQLAlchemy's
        # own: PostgreSQL's numeric conversion depends on the type the server sends).
        self.results: list[Callable | None] | None = None

    def run(self, cursor, values: Mapping[str, Any]) -> dict | None:
        """Execute; the first row as a dict of converted values (None: no row, or no
        result columns)."""
        params = self.compiled.construct_params(dict(values))
        for name, processor in self.binds.items():
            params[name] = processor(params[name])
        cursor.execute(self.sql, params if self.order is None
                       else tuple(params[name] for name in self.order))
        if not self.names:
            return None
        row = cursor.fetchone()
        if row is None:
            return None
        if self.results is None:
            self.results = [kind.result_processor(self.dialect, described[1])
                            for kind, described in zip(self.types, cursor.description,
                                                       strict=True)]
        return self._converted(row)

    def run_all(self, cursor, values: Mapping[str, Any]) -> list[dict]:
        """Execute; every row, as ``run`` gives the first."""
        first = self.run(cursor, values)
        if first is None:
            return []
        return [first, *(self._converted(row) for row in cursor.fetchall())]

    def _converted(self, row) -> dict:
        if self.results is None:
            raise RuntimeError("no result conversions before the first row")
        return {name: value if processor is None else processor(value)
                for name, processor, value in zip(self.names, self.results, row, strict=True)}


@dataclass(frozen=True)
class _Statements:
    context: _Compiled
    cas: _Compiled
    insert_op: _Compiled
    bump: _Compiled
    fused: _Compiled | None


@functools.cache
def _statements(dialect_name: str) -> _Statements:
    dialect = db.engine.dialect
    assert dialect.name == dialect_name
    fast = statements()
    return _Statements(
        context=_Compiled(autosave._context_query(login=True), dialect),
        cas=_Compiled(fast.cas, dialect),
        insert_op=_Compiled(fast.insert_op, dialect,
                            column_keys=["op_id", "user_id", "passage_id", "result", "created_at"]),
        bump=_Compiled(fast.bump, dialect),
        fused=_Compiled(fast.fused_pg_whole, dialect) if dialect_name == "postgresql" else None)


def _require_settled_valid(context, now) -> None:
    """``_NotTaken`` unless the dossier is known valid without reading its files (when
    NV would exclude the interview): the ordinary path decides the rest."""
    if context.nv_excludes_interview:
        settled = validity.settled_without_files(
            decision=context.dossier_decision, extended_until=context.dossier_extended_until,
            session_deadline=context.deposit_deadline, now=now)
        if settled is None or settled == validity.UnitValidity.NV:
            raise _NotTaken


class _NotTaken(Exception):
    """The save is not the lone path's: roll back, the ordinary path answers."""


def enabled(config: Mapping) -> bool:
    """The lone path runs with the fast store (the default), not with the reference."""
    return config.get("JURY_AUTOSAVE_STORE", "fast") == "fast"


def lone_op(body: Any) -> dict | None:
    """The body's one op when it is the lone path's kind (one op, a new id, a field
    other than the mark, an integer base); None otherwise, nothing read."""
    ops = body.get("ops") if isinstance(body, dict) else None
    if not isinstance(ops, list) or len(ops) != 1 or not isinstance(ops[0], dict):
        return None
    [op] = ops
    op_id, name, base = str(op.get("op", "")), op.get("field"), op.get("base")
    if not op_id or len(op_id) > 64 or not isinstance(name, str) or name == "mark" \
            or not isinstance(base, int) or isinstance(base, bool):
        return None
    return op


def save(*, passage_id: int, user_id: int, token: str, grid_key: str,
         op: dict) -> tuple[dict, int | None, int | None] | None:
    """Save ``op`` (from ``lone_op``) for the login ``user_id``/``token`` and commit:
    (the op's result, the agreed revision and the passage's live version after it), as
    ``save_fields`` answers a new op; None when the ordinary path must answer (nothing
    of this attempt is kept)."""
    dialect_name = db.engine.dialect.name
    compiled = _statements(dialect_name)
    args = {"passage_id": passage_id, "user_id": user_id, "token": token,
            "grid_key": grid_key, "op": op}
    if compiled.fused is not None:
        return _save_autocommit(compiled, **args)
    return _save_in_transaction(_save, compiled, args)


def _save_in_transaction(runner: Callable, compiled, args: dict):
    """SQLite: ``runner(cursor, compiled, **args)`` in one transaction on a pooled
    driver connection, committed; rolled back (None) when it is not taken, refused or
    conflicts (the ordinary path answers), rolled back and raised on anything else."""
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            answer = runner(cursor, compiled, **args)
        finally:
            cursor.close()
        connection.commit()
        return answer
    except (_NotTaken, JuryError, db.engine.dialect.dbapi.IntegrityError):
        connection.rollback()
        return None
    except BaseException:
        connection.rollback()
        raise
    finally:
        connection.close()


def _save_autocommit(compiled, *, runner: Callable | None = None,
                     **save_args) -> tuple[dict, int | None, int | None] | None:
    """PostgreSQL: ``save`` on a connection in autocommit, each statement its own
    transaction (see the module's docstring): one of the path's few own, else one of
    the app's pool. ``runner``: the save on a cursor (default ``_save``; the mark's
    lean save, ``autosave_mark``, runs its own on these connections)."""
    runner = runner or _save
    pool = _own_pool(db.engine)
    try:
        fairy = pool.connect() if pool is not None else None
    except sa.exc.TimeoutError:
        fairy = None  # all in use in this process
    if fairy is not None:
        fairy.driver_connection.autocommit = True  # kept: they serve only this path
        return _run_autocommit(compiled, fairy, fairy.invalidate, runner, save_args)
    # SQLAlchemy sets autocommit on the driver's connection now and resets it when the
    # connection goes back to the pool.
    connection = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    return _run_autocommit(compiled, connection, connection.invalidate, runner, save_args,
                           dbapi_connection=connection.connection)


def _run_autocommit(compiled, connection, invalidate, runner: Callable, save_args: dict, *,
                    dbapi_connection=None) -> tuple[dict, int | None, int | None] | None:
    dbapi = db.engine.dialect.dbapi
    try:
        cursor = (dbapi_connection or connection).cursor()
        try:
            return runner(cursor, compiled, **save_args)
        finally:
            cursor.close()
    except (_NotTaken, JuryError, dbapi.IntegrityError, dbapi.DataError):
        return None  # nothing kept: the fused statement is all or nothing
    except dbapi.OperationalError:
        invalidate()  # dead, or the server ended it: not reused
        return None
    finally:
        connection.close()


# The path's own connections on PostgreSQL, per engine and process (a worker forked
# from a process that had some makes its own): OWN_POOL_SIZE at most, never more
# (beyond, the app's pool serves), so a worker holds at most that many connections
# more than the app's pool allows it.
OWN_POOL_SIZE = 4
_OWN_POOLS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _own_pool(engine) -> sa.pool.QueuePool | None:
    """The engine's pool for this path: the app pool's connection maker and events,
    without the ping at checkout (a dead connection fails the path's first statement
    instead, and the ordinary path answers), and without waiting when all are in use.
    None when the app's pool is not a QueuePool."""
    main = engine.pool
    if not isinstance(main, sa.pool.QueuePool):
        return None
    pid, pool = _OWN_POOLS.get(engine, (None, None))
    if pid != os.getpid():
        # QueuePool.recreate()'s arguments, with the size, the overflow, the wait and
        # the ping of this path (pinned with SQLAlchemy).
        pool = sa.pool.QueuePool(
            main._creator, pool_size=OWN_POOL_SIZE, max_overflow=0, timeout=0,  # noqa: SLF001
            pre_ping=False, recycle=main._recycle, echo=main.echo,  # noqa: SLF001
            reset_on_return=main._reset_on_return,  # noqa: SLF001
            _dispatch=main.dispatch, dialect=main._dialect)  # noqa: SLF001
        _OWN_POOLS[engine] = (os.getpid(), pool)
        sa.event.listen(engine, "engine_disposed", lambda _engine: pool.dispose())
    return pool


def _save(cursor, compiled: _Statements, *, passage_id: int, user_id: int, token: str,
          grid_key: str, op: dict) -> tuple[dict, int | None, int | None]:
    row = compiled.context.run(cursor, {"passage_id": passage_id, "user_id": user_id,
                                        "token": token, "grid_key": grid_key})
    if row is None:
        raise _NotTaken  # no such seat or login: the ordinary path's 401/403/404
    now = utcnow()
    context = autosave.context_from(row, grid_key)
    agreed = grid_key == AGREED
    # What autosave._check_writable refuses, and what needs more than this path does.
    if context.finalized or context.attendance == Attendance.ABSENT.value \
            or context.grid_id is None or (context.grid_revealed and not agreed) \
            or (agreed and context.has_validations):
        raise _NotTaken
    _require_settled_valid(context, now)
    op_id, name = str(op["op"]), op["field"]
    value = clean_value(name=name, value=op.get("value"), unit_code=context.unit_code,
                        mark_step=context.mark_step)  # JuryInvalid: not taken
    params = {"in_grid": context.grid_id, "field_name": name, "base": op["base"],
              "new_value": value, "now": now, "by_user": user_id, "in_passage": passage_id}
    if compiled.fused is not None:  # PostgreSQL: FastStore.write's fused statement
        written = compiled.fused.run(cursor, {**params, "op_id": op_id, "is_agreed": agreed})
        version, revision = written["version"], written["revision"]
        if version is None or not written["recorded"] or (agreed and revision is None):
            raise _NotTaken  # stale base (a conflict); the rest fails the statement
        return _result(op_id, name, version, value), revision, written["live_version"]
    written = compiled.cas.run(cursor, params)
    if written is None:
        raise _NotTaken
    result = _result(op_id, name, written["version"], value)
    compiled.insert_op.run(cursor, {"op_id": op_id, "user_id": user_id, "passage_id": passage_id,
                                    "result": result, "created_at": now})
    if not agreed:
        return result, None, None
    bumped = compiled.bump.run(cursor, {"in_passage": passage_id})
    if bumped is None:
        raise _NotTaken  # final since the compare-and-set
    return result, bumped["agreed_revision"], bumped["live_version"]


def _result(op_id: str, name: str, version: int, value: str) -> dict:
    """An applied op's result, as ``autosave._Save.apply`` builds it."""
    return {"op": op_id, "field": name, "status": "ok", "version": version, "value": value}

