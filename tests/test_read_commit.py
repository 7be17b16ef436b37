"""A request whose transaction only read ends with COMMIT on PostgreSQL
(``extensions.commit_read_only_transactions``), so psycopg keeps its prepared statements
(a ROLLBACK makes it forget them); anything that wrote, unflushed changes, an open
savepoint or an error still end with ROLLBACK, and what they changed is dropped."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from exam_app.enrolment.models import Establishment
from exam_app.extensions import db as _db
from tests.conftest import database_url
from tests.conftest import testing_app as make_app


@pytest.fixture()
def served(db, tmp_path, request):
    """An app of its own (its routes added before any request) on the test database,
    recording how each request's transactions end (``DATABASE_COMMIT_READS``: the
    test's parameter, else on)."""
    app = make_app(database_url(str(tmp_path)), tmp_path / "storage",
                   DATABASE_COMMIT_READS=getattr(request, "param", True))
    with app.app_context():
        if _db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL only: SQLite has no prepared statements to keep")
    ends = []

    def read():
        return {"name": _db.session.scalars(sa.select(Establishment.name)).first()}

    def prepared():
        _db.session.scalars(sa.select(Establishment.name).where(Establishment.uai == "0690001A"))
        return {"prepared": _db.session.scalar(sa.text(
            "SELECT count(*) FROM pg_prepared_statements"))}

    def unflushed():
        _db.session.scalars(sa.select(Establishment)).first().name = "Changé, non enregistré"
        return {}

    def core_write():
        _db.session.execute(sa.update(Establishment).values(name="Écrit, non validé"))
        return {}

    def savepoint():
        _db.session.begin_nested()
        _db.session.scalars(sa.select(Establishment)).first().city = "Autre"
        _db.session.flush()
        return {}

    def raw_write():
        # A write the engine's events never see (a DBAPI cursor on the session's
        # connection): the server's transaction id still says it wrote.
        cursor = _db.session.connection().connection.cursor()
        cursor.execute("UPDATE establishment SET name = 'Écrit en douce'")
        return {}

    def lost_connection():
        from sqlalchemy.exc import OperationalError

        _db.session.scalars(sa.select(Establishment.name)).first()
        try:
            _db.session.execute(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))
        except OperationalError:
            return {"error": "connexion perdue"}, 503
        return {}

    def failing():
        _db.session.scalars(sa.select(Establishment.name)).first()
        raise RuntimeError("after a read")

    for view in (read, prepared, unflushed, core_write, savepoint, raw_write, lost_connection,
                 failing):
        app.add_url_rule(f"/t/{view.__name__}", view.__name__, view)
    with app.app_context():
        engine = _db.engine
        event.listen(engine, "commit", lambda conn: ends.append("commit"))
        event.listen(engine, "rollback", lambda conn: ends.append("rollback"))
    app.config["PROPAGATE_EXCEPTIONS"] = False
    establishment = Establishment(uai="0690001A", name="Lycée du Parc", city="Lyon")
    db.session.add(establishment)
    db.session.commit()
    app.ends = ends
    yield app
    with app.app_context():
        _db.session.remove()
        _db.engine.dispose()


def _get(app, path: str):
    """One request in its own app context, as in production."""
    app.ends.clear()
    return app.test_client().get(path)


def _stored(db) -> tuple[str, str]:
    db.session.rollback()
    row = db.session.execute(sa.select(Establishment.name, Establishment.city)).one()
    return tuple(row)


def test_a_read_ends_with_commit(served):
    response = _get(served, "/t/read")
    assert response.get_json() == {"name": "Lycée du Parc"}
    assert served.ends == ["commit"]


def test_a_reads_statements_stay_prepared_on_its_connection(served):
    """psycopg prepares a statement at its fifth run on a connection; ROLLBACK made it
    forget them all (``DEALLOCATE ALL``), so a pooled connection serving reads kept none."""
    counts = [_get(served, "/t/prepared").get_json()["prepared"] for _ in range(8)]
    assert counts[-1] >= 1, counts


@pytest.mark.parametrize("served", [False], indirect=True)
def test_without_it_rollbacks_keep_no_prepared_statement(served):
    """What the COMMIT is for: with a ROLLBACK at each request's end, psycopg never keeps
    a prepared statement on the connection."""
    counts = [_get(served, "/t/prepared").get_json()["prepared"] for _ in range(8)]
    assert served.ends == ["rollback"] and counts == [0] * 8


@pytest.mark.parametrize("path", ["unflushed", "core_write", "savepoint", "raw_write"])
def test_what_a_request_changed_without_committing_is_rolled_back(served, db, path):
    _get(served, f"/t/{path}")
    assert "commit" not in served.ends and "rollback" in served.ends
    assert _stored(db) == ("Lycée du Parc", "Lyon")


def test_a_request_that_failed_is_rolled_back(served):
    assert _get(served, "/t/failing").status_code == 500
    assert "commit" not in served.ends and "rollback" in served.ends


def test_a_connection_lost_in_a_handled_error_leaves_the_answer_and_the_next_request(served):
    """The view caught the error and answered: the teardown never turns that into a 500,
    and the next request gets a working connection."""
    response = _get(served, "/t/lost_connection")
    assert (response.status_code, response.get_json()) == (503, {"error": "connexion perdue"})
    assert "commit" not in served.ends
    assert _get(served, "/t/read").get_json() == {"name": "Lycée du Parc"}
