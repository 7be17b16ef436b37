"""PostgreSQL's JIT compilation is off on the app's connections (``DATABASE_JIT``, default
off): the session dashboard's counts over 5,000 candidates spent 45 ms compiling a
statement that ran in 6. Options given in SQLALCHEMY_ENGINE_OPTIONS' connect_args are
kept beside it; ``DATABASE_JIT=1`` leaves the server's setting."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from exam_app import create_app

NOWHERE = "postgresql+psycopg://nobody@127.0.0.1:1/none"  # never connected to here


def _options(tmp_path, **config) -> dict:
    app = create_app({"SQLALCHEMY_DATABASE_URI": NOWHERE, "SECRET_KEY": "x",
                      "STORAGE_DIR": str(tmp_path / "storage")} | config)
    return app.config["SQLALCHEMY_ENGINE_OPTIONS"]


def test_postgresql_connections_are_opened_with_jit_off(tmp_path, monkeypatch):
    monkeypatch.delenv("PGOPTIONS", raising=False)
    assert _options(tmp_path)["connect_args"] == {"options": "-c jit=off"}


def test_connect_options_given_are_kept_beside_jit_off(tmp_path, monkeypatch):
    monkeypatch.setenv("PGOPTIONS", "-c lock_timeout=4000")  # replaced by them, as libpq does
    options = _options(tmp_path, SQLALCHEMY_ENGINE_OPTIONS={
        "connect_args": {"options": "-c statement_timeout=9000", "connect_timeout": 3}})
    assert options["connect_args"] == {"options": "-c statement_timeout=9000 -c jit=off",
                                       "connect_timeout": 3}


def test_the_urls_options_and_pgoptions_are_kept_beside_jit_off(tmp_path, monkeypatch):
    """connect_args' options replace the URL's ``?options=`` and libpq's PGOPTIONS: both
    are carried into them (the URL's first, as libpq takes it before PGOPTIONS)."""
    monkeypatch.setenv("PGOPTIONS", "-c lock_timeout=4000")
    assert _options(tmp_path)["connect_args"] == {"options": "-c lock_timeout=4000 -c jit=off"}
    url = NOWHERE + "?options=-c%20statement_timeout%3D9000"
    assert _options(tmp_path, SQLALCHEMY_DATABASE_URI=url)["connect_args"] == {
        "options": "-c statement_timeout=9000 -c jit=off"}


@pytest.mark.parametrize("on", [True, "1", "true", "oui"])
def test_database_jit_on_leaves_the_connection_options_alone(tmp_path, on):
    assert "connect_args" not in _options(tmp_path, DATABASE_JIT=on)


@pytest.mark.parametrize("off", [False, "0", "false", "non", ""])
def test_database_jit_off_however_it_is_written(tmp_path, monkeypatch, off):
    monkeypatch.delenv("PGOPTIONS", raising=False)
    assert _options(tmp_path, DATABASE_JIT=off)["connect_args"] == {"options": "-c jit=off"}


def test_sqlite_gets_no_postgresql_options(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db",
                      "SECRET_KEY": "x", "STORAGE_DIR": str(tmp_path / "storage")})
    assert "connect_args" not in app.config["SQLALCHEMY_ENGINE_OPTIONS"]


@pytest.mark.postgres
def test_the_server_sees_jit_off_on_the_apps_connections(tmp_path):
    url = os.environ["TEST_DATABASE_URL"]
    plain = sa.create_engine(url)  # the server's own setting
    with plain.connect() as connection:
        server = connection.execute(sa.text("SHOW jit")).scalar()
    plain.dispose()
    for jit, expected in ((False, "off"), (True, server)):
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x",
                          "STORAGE_DIR": str(tmp_path / "storage"), "DATABASE_JIT": jit})
        with app.app_context():
            from exam_app.extensions import db

            with db.engine.connect() as connection:
                assert connection.execute(sa.text("SHOW jit")).scalar() == expected
            db.engine.dispose()
