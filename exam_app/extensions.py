"""Flask extensions, created unbound and initialised in ``create_app``."""

from __future__ import annotations

import logging
import time
import weakref

import click
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.sql.dml import Insert

# Named constraints so that Alembic can drop and alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "accounts.login"
login_manager.login_message = "Veuillez vous connecter pour accéder à cette page."
login_manager.login_message_category = "info"
login_manager.needs_refresh_message = "Votre session a expiré : reconnectez-vous."
login_manager.session_protection = "strong"


def init_migrations(app, *, directory: str) -> None:
    """Flask-Migrate for ``app``, set up on first use: it imports Alembic (about 1.4 s and
    10 MB), which web workers never need. ``flask db ...`` and Flask-Migrate's functions
    (``app.extensions["migrate"]``) find it as if ``Migrate(app, db)`` had run."""
    app.extensions["migrate"] = _LazyMigrateConfig(app, directory)
    app.cli.add_command(_LazyMigrateGroup(name="db", help="Perform database migrations."))


class _LazyMigrateConfig:
    """Stands for Flask-Migrate's app config until something reads it."""

    def __init__(self, app, directory: str):
        self._app, self._directory = app, directory

    def _loaded(self):
        from flask_migrate import Migrate

        Migrate(self._app, db, directory=self._directory)  # replaces this entry
        return self._app.extensions["migrate"]

    def __getattr__(self, name):
        return getattr(self._loaded(), name)


class _LazyMigrateGroup(click.Group):
    """``flask db``: Flask-Migrate's command group, imported when invoked."""

    @staticmethod
    def _group() -> click.Group:
        from flask_migrate.cli import db as group

        return group

    def make_context(self, info_name, args, parent=None, **extra):
        return self._group().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx):
        return self._group().invoke(ctx)

    def list_commands(self, ctx):
        return self._group().list_commands(ctx)

    def get_command(self, ctx, name):
        return self._group().get_command(ctx, name)


@event.listens_for(Engine, "connect")
def _sqlite_for_concurrent_writers(dbapi_connection, connection_record):
    """SQLite under several gunicorn workers: WAL lets readers run during a write, and a
    writer waits (busy_timeout) instead of failing at once with "database is locked"."""
    import sqlite3

    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection before handing it out only when it has sat unused in
    the pool for ``idle_seconds`` or more; one that fails the ping is replaced at once
    (SQLAlchemy retries the checkout with a new connection), so a restarted database or
    a connection the server ended while idle never reaches a request.

    The pool's own ``pre_ping`` pings at every checkout: one more round trip for every
    request (a quarter of the jury's long poll on PostgreSQL), although a connection
    used a moment ago is known to be alive. A connection that dies while in use, or
    within ``idle_seconds`` of its last use, fails its request's statement instead, as
    it would after a ping; SQLAlchemy then invalidates the pool's older connections, so
    the next requests get fresh ones."""
    if idle_seconds < 0:
        return
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _note_idle(dbapi_connection, record):
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, proxy):
        since = record.info.get("idle_since")  # None: just connected
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            raise DisconnectionError("dead pooled connection") from error


# ---- planner statistics after bulk loads ------------------------------------------------

# Each engine's threshold (rows inserted into one table by one transaction); weak keys:
# the tests make and drop many apps.
_ANALYZE_AFTER: weakref.WeakKeyDictionary[Engine, int] = weakref.WeakKeyDictionary()
_INSERTED = "inserted_rows"  # Session.info key: {table name: rows inserted}


def analyze_after_bulk_loads(engine: Engine, rows: int) -> None:
    """After a transaction that inserted ``rows`` or more into a table (an import, the
    demo, a planning run) commits, refresh that table's planner statistics (``ANALYZE``).

    Without them the planner guesses: PostgreSQL takes a table it never analysed for a
    few rows until autovacuum's next round (up to a minute later; measured: the session
    dashboard's counts over 5,000 freshly imported candidates took 1.35 s, nested loops
    over every registration, and 56 ms analysed right after the load), and SQLite never analyses by
    itself (its planner then ignores the covering indexes). Rows are counted as the ORM
    flushes them and as Core ``INSERT`` statements run through the session with a list
    of rows; a rollback forgets them. The ``ANALYZE`` runs after the commit on a
    connection of its own; its failure is logged, never the request's. ``rows`` <= 0
    turns this off."""
    if rows > 0:
        _ANALYZE_AFTER[engine] = rows
    else:
        _ANALYZE_AFTER.pop(engine, None)
    if not event.contains(Session, "after_flush", _count_flushed):
        event.listen(Session, "after_flush", _count_flushed)
        event.listen(Session, "do_orm_execute", _count_core_inserts)
        event.listen(Session, "after_commit", _analyze_loaded)
        event.listen(Session, "after_transaction_end", _forget_inserted)


def _count(session: Session, table: str, rows: int) -> None:
    counts = session.info.setdefault(_INSERTED, {})
    counts[table] = counts.get(table, 0) + rows


def _count_flushed(session: Session, flush_context) -> None:
    for instance in session.new:  # still the flushed objects, in after_flush
        table = getattr(type(instance), "__table__", None)
        if table is not None:
            _count(session, table.name, 1)


def _count_core_inserts(state) -> None:
    statement, rows = state.statement, state.parameters
    if isinstance(statement, Insert) and isinstance(rows, list | tuple) and rows:
        _count(state.session, statement.table.name, len(rows))


def _forget_inserted(session: Session, transaction) -> None:
    """The transaction ended (after its commit's ``_analyze_loaded``, or a rollback, or
    a close): its counts go with it; a savepoint's stay with the transaction."""
    if transaction.parent is None:
        session.info.pop(_INSERTED, None)


def _analyze_loaded(session: Session) -> None:
    if session.get_nested_transaction() is not None:  # a savepoint released: not committed
        return
    counts = session.info.pop(_INSERTED, None)
    if not counts:
        return
    engine = session.get_bind()
    engine = getattr(engine, "engine", engine)
    rows = _ANALYZE_AFTER.get(engine)
    tables = sorted(t for t, n in counts.items() if rows and n >= rows)
    if not tables:
        return
    quote = engine.dialect.identifier_preparer.quote
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":  # never hang a request on a lock
                connection.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
                connection.exec_driver_sql("SET LOCAL statement_timeout = '60s'")
            elif engine.dialect.name == "sqlite":  # sampled, as PostgreSQL's: bounded time
                connection.exec_driver_sql("PRAGMA analysis_limit = 1000")
            for table in tables:  # names from the models' metadata, quoted
                connection.exec_driver_sql(f"ANALYZE {quote(table)}")
            connection.commit()
    except Exception:  # noqa: BLE001 - the load is committed; the statistics come later
        logging.getLogger(__name__).warning("ANALYZE after a bulk load failed: %s",
                                            ", ".join(tables), exc_info=True)


def begin_read_snapshot() -> None:
    """From here to the end of the request's transaction, every read sees the database
    as it was at the first one: a long read in several statements (a streamed export)
    never mixes two states of the data. Call it first in the transaction (end the
    current one before: ``db.session.rollback()``).

    PostgreSQL: REPEATABLE READ (a snapshot for the transaction). SQLite: the driver
    opens no transaction for reads, each statement would see the latest commit; an
    explicit BEGIN makes WAL keep the first read's snapshot until the rollback that ends
    the request."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN")
