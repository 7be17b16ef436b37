"""The jurors' long poll and state read check their juror's login in their own query
(``accounts.session_login``, ``permissions.juror_passage_row``) instead of loading the
user through Flask-Login: a shortcut that may only say yes. Every login Flask-Login,
``roles_required`` or the scope check would refuse is refused as before."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role, RoleAssignment
from exam_app.juries import autosave_lone
from tests.conftest import statements_of

JSON = {"Accept": "application/json"}


def _juror_logged_in(client, login_as, create_passage):
    passage = create_passage()
    juror = passage.commission.members[0].user
    login_as(juror)
    return passage, juror


def _wait(client, passage_id, **kwargs):
    # A stale version: the poll answers at once (no wait in these tests).
    return client.get(f"/jury/passages/{passage_id}/attendre?depuis=stale",
                      headers={**JSON, **kwargs.pop("headers", {})}, **kwargs)


def test_the_long_poll_reads_its_juror_in_the_version_query(app, db, client, login_as,
                                                           create_passage, monkeypatch):
    passage, _ = _juror_logged_in(client, login_as, create_passage)
    passage_id, version = passage.id, passage.live_version
    db.session.commit()
    lean = []  # the statements run outside the session (juries/lean_read.py)
    run = autosave_lone._Compiled.run

    def counted(compiled, cursor, values):
        lean.append(compiled.sql)
        return run(compiled, cursor, values)

    monkeypatch.setattr(autosave_lone._Compiled, "run", counted)
    response, statements = statements_of(app, lambda: _wait(client, passage_id))
    assert (response.status_code, response.get_json()) == \
        (200, {"changed": True, "version": str(version)})
    # One statement in all, outside the ORM session: the version, with the token, the
    # role and the seat.
    assert statements == []
    [statement] = lean
    assert "session_token" in statement and "live_version" in statement \
        and "commission_member" in statement
    assert re.search(r'(FROM|JOIN) "?user"?\s', statement)


# ---- the state read, on every change by both jurors: the same shortcut -------------------


def _state(client, passage_id, **kwargs):
    return client.get(f"/jury/passages/{passage_id}/etat",
                      headers={**JSON, **kwargs.pop("headers", {})}, **kwargs)


def test_the_state_reads_its_juror_in_the_state_query(app, db, client, login_as,
                                                     create_passage):
    passage, juror = _juror_logged_in(client, login_as, create_passage)
    passage_id, juror_id = passage.id, juror.id
    db.session.commit()
    expected = _state(client, passage_id).get_json()  # warm
    response, statements = statements_of(app, lambda: _state(client, passage_id))
    state = response.get_json()
    assert response.status_code == 200 and state["me"] == juror_id
    assert state["passage"] == expected["passage"] and state["grids"] == expected["grids"]
    # No statement loads the user alone: the login is checked in the passage's statement.
    reading_users = [s for s in statements if re.search(r'(FROM|JOIN) "?user"?(\s|$)', s)]
    assert len(reading_users) == 1 and "session_token" in reading_users[0] \
        and "passage" in reading_users[0]


# ---- refusals: every login the ordinary way refuses, on both hot routes ------------------


ROUTES = pytest.mark.parametrize("route", [_wait, _state],
                                 ids=["long_poll", "state"])


@ROUTES
def test_an_ended_session_is_refused(route, db, client, login_as, create_passage):
    passage, juror = _juror_logged_in(client, login_as, create_passage)
    juror.rotate_session_token()  # a password change or a logout elsewhere
    db.session.commit()
    assert route(client, passage.id).status_code == 401


@ROUTES
def test_a_disabled_account_is_refused(route, db, client, login_as, create_passage):
    passage, juror = _juror_logged_in(client, login_as, create_passage)
    juror.is_enabled = False
    db.session.commit()
    assert route(client, passage.id).status_code == 401


@ROUTES
def test_failing_session_protection_is_refused(route, db, client, login_as, create_passage):
    passage, _ = _juror_logged_in(client, login_as, create_passage)
    with client.session_transaction() as session:
        session.permanent = False
    response = route(client, passage.id, headers={"User-Agent": "un autre navigateur"})
    assert response.status_code == 401


@ROUTES
def test_a_member_without_the_examinateur_role_is_refused(route, db, client, login_as,
                                                          create_passage):
    passage, juror = _juror_logged_in(client, login_as, create_passage)
    db.session.execute(sa.delete(RoleAssignment).where(RoleAssignment.user_id == juror.id,
                                                       RoleAssignment.role == Role.EXAMINATEUR))
    db.session.commit()
    assert route(client, passage.id).status_code == 403


@ROUTES
def test_a_juror_of_another_commission_is_refused(route, db, client, login_as, create_passage):
    passage = create_passage()
    _juror_logged_in(client, login_as, create_passage)  # on another commission
    db.session.commit()
    assert route(client, passage.id).status_code == 403
    assert route(client, passage.id + 1000).status_code == 404


# ---- the validation: both jurors validate every passage, the same shortcut ---------------


def _validation_ready(client, login_as, create_passage, db):
    """A juror logged in on a passage whose complete agreed grid has a mark (revision 1),
    and the page's CSRF token (taken while the login holds: it outlives it)."""
    from tests.juries.helpers import complete_grid, save

    passage, juror = _juror_logged_in(client, login_as, create_passage)
    complete_grid(passage)
    save(passage, juror, "mark", "12", 0, f"validation-login-{passage.id}")
    db.session.commit()
    html = client.get(f"/jury/passages/{passage.id}").get_data(as_text=True)
    return passage, juror, re.search(r'data-csrf="([^"]+)"', html).group(1)


def _validate(client, passage_id, token, **kwargs):
    return client.post(f"/jury/passages/{passage_id}/valider", json={"revision": 1},
                       headers={"X-CSRFToken": token, **JSON, **kwargs.pop("headers", {})},
                       **kwargs)


def test_the_validation_reads_its_juror_in_the_scope_query(app, db, client, login_as,
                                                         create_passage):
    from exam_app.audit.models import AuditEvent

    passage, juror, token = _validation_ready(client, login_as, create_passage, db)
    passage_id, juror_id, name = passage.id, juror.id, juror.display_name
    response, statements = statements_of(app, lambda: _validate(client, passage_id, token))
    answer = response.get_json()  # what the validation changed, with the juror's name
    assert (response.status_code, answer["validations"]) == \
        (200, [{"user_id": juror_id, "name": name, "revision": 1}])
    # No statement loads the user alone (Flask-Login's loader: a select whose first FROM
    # is the user table): the login is checked in the scope's statement.
    reading_users = [s for s in statements
                     if re.match(r'SELECT\b(?:(?!\bFROM\b).)*\bFROM "?user"?(\s|$)', s, re.S)]
    assert not reading_users, reading_users
    assert any("session_token" in s and "commission_member" in s for s in statements)
    # The audit names the juror as the loaded user would.
    event = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "mark.validate", AuditEvent.object_id == str(passage_id))).one()
    assert (event.actor_id, event.actor_label) == (juror_id, name)


def _end_session(db, juror):
    juror.rotate_session_token()


def _disable(db, juror):
    juror.is_enabled = False


def _drop_role(db, juror):
    db.session.execute(sa.delete(RoleAssignment).where(RoleAssignment.user_id == juror.id,
                                                       RoleAssignment.role == Role.EXAMINATEUR))


@pytest.mark.parametrize(("breaking", "status"), [(_end_session, 401), (_disable, 401),
                                                  (_drop_role, 403)],
                         ids=["ended_session", "disabled", "no_examinateur_role"])
def test_the_validation_refuses_what_the_ordinary_way_refuses(db, client, login_as,
                                                              create_passage, breaking, status):
    from exam_app.juries.models import Validation

    passage, juror, token = _validation_ready(client, login_as, create_passage, db)
    breaking(db, juror)
    db.session.commit()
    assert _validate(client, passage.id, token).status_code == status
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Validation)) == 0


def test_the_validation_refuses_failing_session_protection(db, client, login_as,
                                                           create_passage):
    passage, _, token = _validation_ready(client, login_as, create_passage, db)
    with client.session_transaction() as session:
        session.permanent = False
    response = _validate(client, passage.id, token, headers={"User-Agent": "un autre navigateur"})
    assert response.status_code == 401


def test_the_validation_refuses_a_juror_of_another_commission(db, client, login_as,
                                                              create_passage):
    other = create_passage()
    passage, _, token = _validation_ready(client, login_as, create_passage, db)
    assert _validate(client, other.id, token).status_code == 403
    assert _validate(client, passage.id + 1000, token).status_code == 404


# ---- the long poll's read outside the session (juries/lean_read.py) -----------------------


def test_the_lean_read_leaves_its_connection_as_the_pool_lends_it(app, db, create_passage):
    from exam_app.juries import lean_read

    passage = create_passage()
    juror = passage.commission.members[0].user
    db.session.commit()
    with app.app_context():
        assert lean_read.passage_version_for_login(
            passage.id, juror.id, juror.session_token) == passage.live_version
        assert lean_read.passage_version_for_login(passage.id, juror.id, "not-it") is None
        engine = _db_engine(app)
        with engine.connect() as connection:  # the same pooled connection, lent again
            driver = connection.connection.driver_connection
            assert connection.execute(sa.text("SELECT 1")).scalar() == 1
            if engine.dialect.name == "postgresql":
                assert driver.autocommit is False  # set back after the read:
                assert driver.info.transaction_status.name == "INTRANS"  # a transaction again


def test_a_failed_connection_answers_none_and_is_not_reused(app, db, create_passage,
                                                          monkeypatch):
    from exam_app.juries import lean_read

    passage = create_passage()
    juror = passage.commission.members[0].user
    db.session.commit()
    with app.app_context():
        engine = _db_engine(app)
        dbapi = engine.dialect.loaded_dbapi
        failed = []

        def dead(compiled, cursor, values):
            failed.append(cursor.connection)
            raise dbapi.OperationalError("server closed the connection unexpectedly")

        monkeypatch.setattr(autosave_lone._Compiled, "run", dead)
        assert lean_read.passage_version_for_login(passage.id, juror.id,
                                                   juror.session_token) is None
        monkeypatch.undo()
        with engine.connect() as connection:  # a new connection, not the failed one
            assert connection.connection.driver_connection is not failed[0]
        assert lean_read.passage_version_for_login(
            passage.id, juror.id, juror.session_token) == passage.live_version


def _db_engine(app):
    from exam_app.extensions import db as _db

    return _db.engine
