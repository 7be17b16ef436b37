"""Shared fixtures: app, db (emptied after each test), client, login_as, builders.

The database is TEST_DATABASE_URL when set (CI sets it to PostgreSQL), else a
temporary SQLite file.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import tempfile
import uuid
from collections import Counter
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import date
from itertools import count
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask, has_app_context
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

os.environ.setdefault("INSTANCE_PATH", tempfile.mkdtemp(prefix="exam_app-instance-"))
# No app of the suite starts the print packs' stale-job watcher (one per process, at the
# first request) unless a test asks for it (test_pack_queue, the two-instance test): an
# app built with create_app's defaults left one polling its deleted database, logging a
# traceback every 10 s, and Python 3.11 formats a traceback with ast.parse, which broke
# another thread's ast.parse at once ("AST constructor recursion depth mismatch").
os.environ["PRINT_PACK_POLL_SECONDS"] = "0"

from exam_app import create_app  # noqa: E402
from exam_app.accounts.models import Role, RoleAssignment, User  # noqa: E402
from exam_app.audit.models import APPEND_ONLY_DDL, APPEND_ONLY_DROP  # noqa: E402
from exam_app.enrolment.models import Candidate, Centre, Establishment, ExamSession  # noqa: E402
from exam_app.extensions import db as _db  # noqa: E402
from exam_app.juries.models import Commission, CommissionMember, MemberRole  # noqa: E402

PASSWORD = "motdepasse-test"


def database_url(tmp_dir: str) -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_dir}/test.db"


def testing_app(database_uri: str, storage_dir: Path, **config) -> Flask:
    """An app in TESTING mode on ``database_uri`` (``config`` overrides)."""
    return create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_uri,
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "STORAGE_DIR": str(storage_dir),
        # QR codes point at the site's configured address only (printing/signing.py).
        "PUBLIC_URL": "https://examens.example",
        # No background watcher of stale print packs (tests call take_over_stale).
        "PRINT_PACK_POLL_SECONDS": 0,
        **config,
    })


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app")
    app = testing_app(database_url(str(tmp)), tmp / "storage")
    with app.app_context():
        _db.drop_all()
        _drop_leftover_tables()
        _db.create_all()
    yield app
    with app.app_context():
        _db.session.remove()
        _db.drop_all()
        _db.engine.dispose()


def _drop_leftover_tables() -> None:
    """Drop tables a previous run (or an older schema) left in a shared test database."""
    inspector = sa.inspect(_db.engine)
    names = inspector.get_table_names()
    if not names:
        return
    with _db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            quoted = ", ".join(f'"{n}"' for n in names)
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quoted} CASCADE")
            conn.exec_driver_sql("DROP FUNCTION IF EXISTS audit_event_append_only() CASCADE")
        else:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            for name in names:
                conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')


def empty_database() -> None:
    """Remove every row, the append-only audit trail included (tests only)."""
    _db.session.remove()
    tables = [t.name for t in reversed(_db.metadata.sorted_tables)]
    with _db.engine.begin() as conn:
        dialect = conn.dialect.name
        # DELETE, children first, rather than TRUNCATE: on PostgreSQL, TRUNCATE gives every
        # table new files, about 0.4 s per test where the DELETEs of a test's few rows take
        # milliseconds. The append-only triggers of audit_event are lifted meanwhile.
        for statement in APPEND_ONLY_DROP.get(dialect, []):
            conn.exec_driver_sql(statement)
        for table in tables:
            conn.exec_driver_sql(f'DELETE FROM "{table}"')
        if dialect == "postgresql":  # ids restart at 1, as SQLite's do once a table is empty
            conn.exec_driver_sql(
                "SELECT setval(c.oid, 1, false) FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE c.relkind = 'S' AND n.nspname = current_schema()")
        for statement in APPEND_ONLY_DDL.get(dialect, []):
            conn.exec_driver_sql(statement)


@pytest.fixture()
def db(app):
    with app.app_context():
        yield _db
        empty_database()
    # Ids restart with the next test: nothing computed for this one may be reused.
    from exam_app.juries import board

    board.forget_shared_views()


class IsolatedClient(FlaskClient):
    """Each request runs in its own app context, as in production.

    Before a request the test's pending rows are committed so the view sees
    them; after it the test's objects are expired so the test sees what the
    view wrote. Each request, redirects included, gets a fresh ``g``.
    """

    def open(self, *args, **kwargs):
        if has_app_context():
            _db.session.commit()
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        if has_app_context():
            _db.session.expire_all()
        return response


@pytest.fixture()
def client(app, db):
    app.test_client_class = IsolatedClient
    return app.test_client()


def statements_of(app: Flask, call):
    """(what ``call()`` returns, the SQL statements it ran on the app's engine, in order)."""
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = _db.engine
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        result = call()
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    return result, statements


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.fixture()
def login_as(client):
    """Log the test client in as ``user`` through the real login form."""

    def login(user: User, password: str = PASSWORD):
        page = client.get("/connexion")
        if page.status_code == 302:  # already logged in as someone
            client.post("/deconnexion", data={"csrf_token": _token_for_logout(client)})
            page = client.get("/connexion")
        response = client.post(
            "/connexion",
            data={"username": user.username, "password": password,
                  "csrf_token": csrf_token_from(page.get_data(as_text=True))},
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client

    return login


def _token_for_logout(client) -> str:
    page = client.get("/", follow_redirects=True)
    return csrf_token_from(page.get_data(as_text=True))


# ---- builders -------------------------------------------------------------

_seq = count(1)
_password_hash_cache: dict[str, str] = {}
# Users built by the fixtures get a scrypt hash with a 32 times smaller cost, so that each
# login of a test costs milliseconds, not a tenth of a second. The app's own hashing
# (User.set_password: the CLI, the demo, password changes) keeps werkzeug's strong
# parameters: tests/accounts/test_login.py checks them.
TEST_PASSWORD_HASH_METHOD = "scrypt:1024:8:1"


def _hash(password: str) -> str:
    if password not in _password_hash_cache:
        _password_hash_cache[password] = generate_password_hash(
            password, method=TEST_PASSWORD_HASH_METHOD)
    return _password_hash_cache[password]


@pytest.fixture()
def create_session(db):
    def build(**values) -> ExamSession:
        n = next(_seq)
        session = ExamSession(**{"code": f"S{n}", "name": f"BTS SAM test {n}", "year": 2027,
                                 "academie": "Académie de test", **values})
        db.session.add(session)
        db.session.flush()
        return session

    return build


@pytest.fixture()
def create_establishment(db):
    def build(**values) -> Establishment:
        n = next(_seq)
        establishment = Establishment(**{"uai": f"{n:07d}A", "name": f"Lycée {n}", **values})
        db.session.add(establishment)
        db.session.flush()
        return establishment

    return build


@pytest.fixture()
def create_centre(db, create_session):
    def build(session: ExamSession | None = None, **values) -> Centre:
        n = next(_seq)
        centre = Centre(**{"session": session or create_session(), "code": f"C{n}",
                           "name": f"Centre {n}", "city": "Lyon", **values})
        db.session.add(centre)
        db.session.flush()
        return centre

    return build


@pytest.fixture()
def create_candidate(db, create_session, create_establishment):
    def build(session: ExamSession | None = None, *, e5_form: str = "ponctuel",
              **values) -> Candidate:
        n = next(_seq)
        candidate = Candidate(**{
            "session": session or create_session(),
            "number": f"{n:011d}",
            "last_name": f"NOM{n}",
            "first_name": f"Prénom{n}",
            "birth_date": date(2005, 3, 14),
            "establishment": values.pop("establishment", None) or create_establishment(),
            **values,
        })
        candidate.set_form("E5", e5_form)
        candidate.refresh_search_text()
        db.session.add(candidate)
        db.session.flush()
        return candidate

    return build


def set_registration(candidate: Candidate, unit_code: str, kind) -> None:
    """The candidate's registration for the unit made ``kind`` (a ``RegistrationKind``
    other than SIT: no form; a bénéfice keeps 12/20 of 2025), the row added if missing."""
    from exam_app.enrolment.models import RegistrationKind, UnitRegistration

    row = candidate.registration(unit_code)
    if row is None:
        row = UnitRegistration(unit_code=unit_code, kind=kind)
        candidate.unit_forms.append(row)
    row.kind, row.form = kind, None
    if kind == RegistrationKind.BENEFICE:
        row.kept_mark, row.kept_year = 12, 2025


def build_user(*roles: Role, username: str | None = None, password: str = PASSWORD,
               centre=None, candidate=None, establishment=None, **values) -> User:
    """A user with ``roles`` in the current app context's database (flushed); a CCF
    coordinator's establishment is ``establishment``, else the candidate's."""
    n = next(_seq)
    user = User(**{"username": username or f"user{n}", "first_name": f"Prénom{n}",
                   "last_name": f"Nom{n}", **values})
    user.password_hash = _hash(password)
    user.session_token = f"token{n}"
    for role in roles:
        scope = {}
        if role == Role.CHEF_CENTRE:
            scope["centre_id"] = centre.id
        if role == Role.CANDIDAT:
            scope["candidate_id"] = candidate.id
        if role == Role.COORDINATEUR_CCF:
            scope["establishment_id"] = (establishment or candidate.establishment).id
        user.roles.append(RoleAssignment(role=role.value, **scope))
    _db.session.add(user)
    _db.session.flush()
    return user


@pytest.fixture()
def create_user(db):
    return build_user


@pytest.fixture()
def create_commission(db, create_session, create_user):
    def build(session: ExamSession | None = None, *, unit_code: str = "E4",
              form: str = "ponctuel", centre=None, teacher=None, professional=None,
              teacher_establishment=None) -> Commission:
        n = next(_seq)
        commission = Commission(session=session or create_session(), unit_code=unit_code,
                                form=form, code=f"{unit_code}-{n}", centre=centre)
        teacher = teacher or create_user(Role.EXAMINATEUR)
        professional = professional or create_user(Role.EXAMINATEUR)
        commission.members = [
            CommissionMember(user=teacher, member_role=MemberRole.TEACHER.value,
                             establishment=teacher_establishment),
            CommissionMember(user=professional, member_role=MemberRole.PROFESSIONAL.value),
        ]
        db.session.add(commission)
        db.session.flush()
        return commission

    return build


def _hash_each_password_once(monkeypatch) -> None:
    from functools import lru_cache

    from exam_app.accounts import models as account_models

    monkeypatch.setattr(account_models, "generate_password_hash",
                        lru_cache(maxsize=None)(account_models.generate_password_hash))


@pytest.fixture()
def fast_password_hashing(monkeypatch):
    """Hash each distinct password once (scrypt is slow on purpose; the demo makes ~40 users)."""
    _hash_each_password_once(monkeypatch)


# ---- the shared demo -----------------------------------------------------------------
#
# Loading the demo (150 candidates, dossiers of generated PDFs, E6 marks) takes from
# seconds to a minute. Tests that only read it share one load per test run, in its own
# database (the ``db`` fixture empties the main one after each test): they use
# ``demo_db``. A test that changes the demo works on ``demo_copy``.


@dataclass(frozen=True)
class LoadedDemo:
    app: Flask  # TESTING app on the demo's own database
    database_url: str
    storage_dir: Path
    exit_code: int  # of `flask demo`
    output: str  # what it printed
    logins: list  # what demo.load() returned
    loaded_before: bool  # demo.is_loaded() on the fresh database, before `flask demo`


@dataclass(frozen=True)
class DemoCopy:
    database_url: str
    storage_dir: Path
    apps: list[Flask] = field(default_factory=list)

    def app(self, **config) -> Flask:
        """An app (TESTING unless ``config`` says otherwise) on the copy."""
        app = testing_app(self.database_url, self.storage_dir, **config)
        self.apps.append(app)
        return app


@contextmanager
def scratch_database(tmp_dir: Path, name: str, *, template: str | None = None):
    """A new database on the suite's backend: a SQLite file in ``tmp_dir``, or a PostgreSQL
    database beside TEST_DATABASE_URL's, dropped afterwards. ``template``: the URL of an
    earlier scratch database to copy."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        path = tmp_dir / f"{name}.db"
        if template:
            _copy_sqlite(sa.engine.make_url(template).database, path)
        yield f"sqlite:///{path}"
        return
    url = sa.engine.make_url(base)
    database = f"{url.database}_{name}_{uuid.uuid4().hex[:8]}"
    copy = f' TEMPLATE "{sa.engine.make_url(template).database}"' if template else ""
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{database}"{copy}')
        yield url.set(database=database).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.dispose()


def _copy_sqlite(source: str, target: Path) -> None:
    # The backup API copies a WAL database consistently.
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


@pytest.fixture(scope="session")
def loaded_demo(tmp_path_factory):
    """The demo, loaded once per run by `flask demo` into its own database."""
    from exam_app import demo

    tmp = tmp_path_factory.mktemp("demo")
    with scratch_database(tmp, "demo") as url:
        demo_app = testing_app(url, tmp / "storage")
        with demo_app.app_context():
            _db.create_all()
            loaded_before = demo.is_loaded()
        returned = []
        real_load = demo.load

        def load(**kwargs):
            returned.append(real_load(**kwargs))
            return returned[-1]

        with pytest.MonkeyPatch.context() as patch, demo_app.app_context():
            _hash_each_password_once(patch)
            patch.setattr(demo, "load", load)
            result = demo_app.test_cli_runner().invoke(args=["demo"])
        assert result.exit_code == 0, result.output
        try:
            yield LoadedDemo(app=demo_app, database_url=url, storage_dir=tmp / "storage",
                             exit_code=result.exit_code, output=result.output,
                             logins=returned[0],
                             loaded_before=loaded_before)
        finally:
            with demo_app.app_context():
                _db.engine.dispose()


def _refuse_commit():
    raise AssertionError("the shared demo is read-only: use the demo_copy fixture to change it")


@pytest.fixture()
def demo_db(loaded_demo):
    """The shared demo's database, read-only: a commit fails; what a test flushed is
    rolled back."""
    with loaded_demo.app.app_context(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(_db.session, "commit", _refuse_commit)
        yield _db
        _db.session.rollback()


@pytest.fixture()
def demo_copy(loaded_demo, tmp_path):
    """A copy of the shared demo (database and stored files) that a test may change."""
    with loaded_demo.app.app_context():
        _db.engine.dispose()  # PostgreSQL copies a database nobody is connected to
    storage = tmp_path / "storage"
    if loaded_demo.storage_dir.exists():
        shutil.copytree(loaded_demo.storage_dir, storage)
    with scratch_database(tmp_path, "democopy", template=loaded_demo.database_url) as url:
        copy = DemoCopy(database_url=url, storage_dir=storage)
        yield copy
        for app in copy.apps:
            with app.app_context():
                _db.engine.dispose()


# ---- what was skipped, and why ------------------------------------------------------


def on_postgresql() -> bool:
    return (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgresql")


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres") and not on_postgresql():
        pytest.skip("PostgreSQL only: set TEST_DATABASE_URL=postgresql+psycopg://… to run it")


def _skip_reason(report) -> str:
    # pytest gives (path, line, "Skipped: reason") for a skip.
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else longrepr
    return str(reason).removeprefix("Skipped: ")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """End the run with what was skipped and why (after pytest's short summary)."""
    result = yield
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if r.skipped]
    terminalreporter.write_sep("=", "skipped, and why")
    if not skipped:
        terminalreporter.write_line("Nothing skipped.")
        return result
    reasons = Counter(_skip_reason(r) for r in skipped)
    terminalreporter.write_line(
        f"Skipped: {len(skipped)} test{'s' if len(skipped) > 1 else ''} — reasons:", yellow=True)
    for reason, n in reasons.most_common():
        terminalreporter.write_line(f"  {n:>4} × {reason}", yellow=True)
    if any("navigateur" in reason for reason in reasons):
        terminalreporter.write_line("  (REQUIRE_BROWSER=1 turns skipped browser tests into "
                                    "failures, as CI does.)")
    return result


# A real SMTP server (aiosmtpd) for the tests of e-mailed links: tests/mail_server.py.
from tests.mail_server import mail_server  # noqa: E402, F401
