"""Flask extensions, created unbound and initialised in ``create_app``."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading

import click
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

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
_threads_holding_writers: set[int] = set()


class _SerialisedSqlite(sqlite3.Connection):
    """A SQLite connection whose write transactions queue on an OS lock beside the file.

    SQLite's own wait for the write lock (``busy_timeout``) sleeps 1, 2, 5, 10, 15,
    20, 25... up to 100 ms between tries instead of waking at the release, and
    the waiter that sleeps loses the lock to whoever asks next. Here every write
    transaction of the app first takes an exclusive ``flock`` on ``<database>-writers``
    (blocking: the kernel wakes the waiter as soon as it is released), then
    ``BEGIN IMMEDIATE``; the ``flock`` is released right after the COMMIT or ROLLBACK.
    SQLite's own lock stays the one that decides (a writer outside the app still
    waits in the busy handler); the ``flock`` only orders the app's writers and
    wakes them promptly. A process that dies releases it with its file descriptor.
    """

    _writers_path: str | None = None
    _writers_fd: int | None = None
    _writers_pid: int | None = None
    _holds_writers = False
    _holder_thread: int | None = None
    wrote = False  # this transaction has written (or began with BEGIN IMMEDIATE)

    def begin_immediate(self) -> None:
        """Start a write transaction now: queue on the writers' lock, then take
        SQLite's write lock without writing anything (only outside a transaction)."""
        self._acquire_writers()
        try:
            sqlite3.Connection.execute(self, "BEGIN IMMEDIATE")
        except BaseException:
            self._release_writers()
            raise
        self.wrote = True

    def _acquire_writers(self) -> None:
        if self._writers_path is None:
            return
        if self._writers_fd is not None and self._writers_pid != os.getpid():
            self._writers_fd = None  # inherited across a fork: never share the lock
            self._holds_writers = False
        if self._writers_fd is None:
            self._writers_fd = os.open(self._writers_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._writers_pid = os.getpid()
        if not self._holds_writers and threading.get_ident() not in _threads_holding_writers:
            # (A thread that holds it through another connection does not wait for
            # itself: that second connection waits in SQLite's busy handler, as before.)
            fcntl.flock(self._writers_fd, fcntl.LOCK_EX)
            self._holds_writers = True
            self._holder_thread = threading.get_ident()
            _threads_holding_writers.add(self._holder_thread)

    def _release_writers(self) -> None:
        self.wrote = False
        if self._holds_writers:
            _threads_holding_writers.discard(self._holder_thread)
            if self._writers_pid == os.getpid():
                fcntl.flock(self._writers_fd, fcntl.LOCK_UN)
        self._holds_writers = False

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release_writers()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release_writers()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release_writers()
            if self._writers_fd is not None and self._writers_pid == os.getpid():
                os.close(self._writers_fd)
            self._writers_fd = None


@event.listens_for(Engine, "do_connect")
def _sqlite_serialised_connection(dialect, conn_rec, cargs, cparams):
    """SQLite connections are ``_SerialisedSqlite`` (unless the caller chose a factory)."""
    if dialect.name == "sqlite":
        cparams.setdefault("factory", _SerialisedSqlite)


@event.listens_for(Engine, "connect")
def _sqlite_for_concurrent_writers(dbapi_connection, connection_record):
    """SQLite under several gunicorn workers: WAL lets readers run during a write, and a
    writer waits (busy_timeout) instead of failing at once with "database is locked"."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        path = next((row[2] for row in cursor.execute("PRAGMA database_list")
                     if row[1] == "main"), "")
        cursor.close()
        # The writers' flock is opt-in (SQLITE_WRITERS_FLOCK=1): measured on a loaded
        # machine it lowered the contended p99 but not the median, and a writer blocked
        # in flock has no timeout, unlike SQLite's busy handler. BEGIN IMMEDIATE (below)
        # applies either way.
        if (isinstance(dbapi_connection, _SerialisedSqlite) and path
                and os.environ.get("SQLITE_WRITERS_FLOCK") == "1"):
            dbapi_connection._writers_path = path + "-writers"


@event.listens_for(Engine, "before_cursor_execute")
def _sqlite_write_begins_immediate(conn, cursor, statement, parameters, context, executemany):
    """An INSERT, UPDATE or DELETE that opens a transaction on SQLite opens it with
    ``BEGIN IMMEDIATE``, behind the writers' lock (see ``_SerialisedSqlite``)."""
    if conn.dialect.name != "sqlite":
        return
    dbapi_connection = conn.connection.dbapi_connection
    if not isinstance(dbapi_connection, _SerialisedSqlite):
        return
    if not dbapi_connection.in_transaction and (dbapi_connection.wrote
                                                or dbapi_connection._holds_writers):
        dbapi_connection._release_writers()  # the transaction ended by other means
    if context is None or not (context.isinsert or context.isupdate or context.isdelete):
        return
    if not dbapi_connection.in_transaction:
        dbapi_connection.begin_immediate()
    else:
        dbapi_connection.wrote = True


def sqlite_write_lock() -> bool:
    """On SQLite, hold the database's write lock from now to the end of the session's
    transaction, writing nothing; True when it is held, False on another database
    (or when SQLite's lock cannot be known to be held: the caller then writes).

    Outside a transaction: ``BEGIN IMMEDIATE`` (behind the writers' lock), so the
    reads that follow see the latest commit. Inside one that has written: the lock
    is already held since that write. Inside one that has not (a SAVEPOINT opened
    it): False, so the caller's no-op UPDATE takes the lock as before.
    """
    connection = db.session.connection()
    dbapi_connection = connection.connection.dbapi_connection
    if not isinstance(dbapi_connection, _SerialisedSqlite):
        return False
    if not dbapi_connection.in_transaction:
        dbapi_connection.begin_immediate()
        return True
    return dbapi_connection.wrote
