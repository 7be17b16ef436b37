"""A pooled connection is pinged before use only after it sat idle
(``extensions.ping_idle_connections``): no round trip for a connection used a moment
ago, and a connection that fails its ping is replaced before any request sees it."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from exam_app.extensions import ping_idle_connections
from tests.conftest import database_url

IDLE = 0.2


@pytest.fixture()
def engine(tmp_path, app):
    url = database_url(str(tmp_path))
    engine = sa.create_engine(url, pool_size=1, max_overflow=0)
    ping_idle_connections(engine, IDLE)
    pings = []
    real_ping = engine.dialect.do_ping

    def counted(dbapi_connection):
        pings.append(dbapi_connection)
        return real_ping(dbapi_connection)

    engine.dialect.do_ping = counted
    engine.pings = pings
    yield engine
    engine.dispose()


def _use(engine):
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT 1")).scalar() == 1
        return connection.connection.driver_connection


def test_a_connection_used_a_moment_ago_is_not_pinged(engine):
    first = _use(engine)  # a new connection: never pinged
    for _ in range(5):
        assert _use(engine) is first
    assert engine.pings == []


def test_a_connection_idle_for_a_while_is_pinged_once_then_used(engine):
    first = _use(engine)
    time.sleep(IDLE + 0.05)
    assert _use(engine) is first
    assert engine.pings == [first]
    assert _use(engine) is first  # used again at once: no second ping
    assert engine.pings == [first]


def test_a_connection_that_fails_its_ping_is_replaced_before_use(engine):
    first = _use(engine)
    time.sleep(IDLE + 0.05)
    dbapi = engine.dialect.loaded_dbapi
    failed = []

    def dead(dbapi_connection):
        failed.append(dbapi_connection)
        raise dbapi.OperationalError("server closed the connection unexpectedly")

    engine.dialect.do_ping = dead
    second = _use(engine)  # the checkout retried with a fresh connection
    assert failed == [first]
    assert second is not first


def test_a_connection_the_server_ended_while_idle_never_reaches_a_request(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no server to end a connection")
    with engine.connect() as connection:
        pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    other = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
    with other.connect() as killer:
        assert killer.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    other.dispose()
    time.sleep(IDLE + 0.05)
    with engine.connect() as connection:  # pinged, found dead, replaced
        assert connection.execute(sa.text("SELECT pg_backend_pid()")).scalar() != pid


def test_postgresql_workers_keep_ten_connections_and_open_five_more_at_most(tmp_path):
    from exam_app import create_app

    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"  # never connected to here
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x",
                      "STORAGE_DIR": str(tmp_path / "storage")})
    with app.app_context():
        from exam_app.extensions import db

        pool = db.engine.pool
        assert (pool.size(), pool._max_overflow) == (10, 5)  # noqa: SLF001
    given = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x",
                        "STORAGE_DIR": str(tmp_path / "storage"),
                        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 3}})
    with given.app_context():
        from exam_app.extensions import db

        assert (db.engine.pool.size(), db.engine.pool._max_overflow) == (3, 5)  # noqa: SLF001
