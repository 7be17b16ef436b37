"""`flask db upgrade` from an empty database yields exactly the models' schema."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from exam_app import create_app
from exam_app.extensions import db


@pytest.fixture()
def empty_database_url(tmp_path):
    """A brand-new empty database on the same backend as the suite."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path}/migrations.db"
        return
    url = sa.engine.make_url(base)
    name = f"exam_app_migr_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _app_for(url: str):
    return create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url})


def test_upgrade_from_empty_matches_models(empty_database_url):
    app = _app_for(empty_database_url)
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
        db.engine.dispose()
    assert diff == []


def test_upgrade_installs_append_only_audit_trail(empty_database_url):
    app = _app_for(empty_database_url)
    with app.app_context():
        upgrade()
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO audit_event (at, actor_label, action, object_type) "
                "VALUES (CURRENT_TIMESTAMP, 'x', 'test', 'test')"
            )
        for statement in ("UPDATE audit_event SET action = 'rewritten'",
                          "DELETE FROM audit_event"):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), \
                    db.engine.begin() as conn:
                conn.exec_driver_sql(statement)
        db.engine.dispose()


def test_downgrade_to_base_removes_every_table(empty_database_url):
    app = _app_for(empty_database_url)
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        tables = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
        db.engine.dispose()
    assert tables == set()
