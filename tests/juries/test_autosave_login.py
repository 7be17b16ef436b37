"""The autosave checks its juror's login in its own query (``accounts.session_login``,
``autosave.save_context_for_login``) instead of loading the user through Flask-Login:
a shortcut that may only say yes. Every login Flask-Login or ``roles_required`` would
refuse is refused as before, and nothing of the refused save is stored."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role, RoleAssignment
from exam_app.audit.models import AuditEvent
from exam_app.juries.models import AGREED, ClientOperation, Grid, GridField
from tests.conftest import statements_of

JSON = {"Accept": "application/json"}


def _juror_logged_in(client, login_as, create_passage):
    passage = create_passage()
    juror = passage.commission.members[0].user
    login_as(juror)
    html = client.get(f"/jury/passages/{passage.id}").get_data(as_text=True)
    return passage, juror, re.search(r'data-csrf="([^"]+)"', html).group(1)


def _save(client, passage_id, token, value="12", op="op-login-1", **kwargs):
    return client.post(f"/jury/passages/{passage_id}/grilles/commune/champs",
                       json={"ops": [{"op": op, "field": "mark", "value": value, "base": 0}]},
                       headers={"X-CSRFToken": token, **JSON, **kwargs.pop("headers", {})},
                       **kwargs)


def _nothing_stored(db, passage) -> bool:
    mark = db.session.scalar(sa.select(GridField.version).join(Grid).where(
        Grid.passage_id == passage.id, Grid.key == AGREED, GridField.name == "mark"))
    ops = db.session.scalar(sa.select(sa.func.count()).select_from(ClientOperation))
    return (mark, ops) == (0, 0)


@pytest.mark.parametrize("mark_path", ["reference", "fast"])
def test_autosave_reads_its_juror_in_the_save_query_and_audits_them(app, db, client, login_as,
                                                                    create_passage, monkeypatch,
                                                                    mark_path):
    """``mark_path``: the mark's lean save (``autosave_mark``) runs its statements on the
    driver's cursor, outside SQLAlchemy's events: none of them is seen here."""
    monkeypatch.setitem(app.config, "JURY_MARK_SAVE_PATH", mark_path)
    if mark_path == "fast":  # also in CI's pass on the reference paths (the store's too)
        monkeypatch.setitem(app.config, "JURY_AUTOSAVE_STORE", "fast")
    passage, juror, token = _juror_logged_in(client, login_as, create_passage)
    passage_id, juror_id, name = passage.id, juror.id, juror.display_name
    db.session.commit()
    response, statements = statements_of(app, lambda: _save(client, passage_id, token))
    reading_users = [s for s in statements if re.search(r'(FROM|JOIN) "?user"?\s', s)]
    [event] = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "mark.change"))
    assert (response.status_code, response.get_json()["results"][0]["status"]) == (200, "ok")
    if mark_path == "reference":
        # One statement reads the user: the save's context (token, role and seat at once).
        assert len(reading_users) == 1 and "session_token" in reading_users[0] \
            and "passage" in reading_users[0]
    else:
        assert statements == []  # its one context query checked the login (the same query)
    assert (event.actor_id, event.actor_label, event.after) == (juror_id, name, {"mark": "12"})


def test_autosave_with_an_ended_session_is_refused_and_stores_nothing(db, client, login_as,
                                                                      create_passage):
    passage, juror, token = _juror_logged_in(client, login_as, create_passage)
    juror.rotate_session_token()  # a password change or a logout elsewhere
    response = _save(client, passage.id, token)
    assert (response.status_code, response.get_json()["error"]) == (401, "login_required")
    assert _nothing_stored(db, passage)


def test_autosave_by_a_disabled_account_is_refused_and_stores_nothing(db, client, login_as,
                                                                      create_passage):
    passage, juror, token = _juror_logged_in(client, login_as, create_passage)
    juror.is_enabled = False  # not authenticated for Flask-Login (is_active)
    response = _save(client, passage.id, token)
    assert response.status_code == 401
    assert _nothing_stored(db, passage)


def test_autosave_failing_session_protection_is_refused_and_stores_nothing(db, client, login_as,
                                                                           create_passage):
    passage, juror, token = _juror_logged_in(client, login_as, create_passage)
    # A session that is not permanent, replayed from another browser: Flask-Login's
    # strong protection drops the login (a permanent one is only marked not fresh).
    with client.session_transaction() as session:
        session.permanent = False
    response = _save(client, passage.id, token, headers={"User-Agent": "un autre navigateur"})
    assert response.status_code == 401
    assert _nothing_stored(db, passage)


def test_autosave_by_a_member_without_the_examinateur_role_is_refused(db, client, login_as,
                                                                      create_passage):
    passage, juror, token = _juror_logged_in(client, login_as, create_passage)
    db.session.execute(sa.delete(RoleAssignment).where(RoleAssignment.user_id == juror.id,
                                                       RoleAssignment.role == Role.EXAMINATEUR))
    response = _save(client, passage.id, token)
    assert response.status_code == 403
    assert _nothing_stored(db, passage)


def test_autosave_by_a_juror_of_another_commission_is_refused(db, client, login_as,
                                                              create_passage):
    passage = create_passage()
    token = _juror_logged_in(client, login_as, create_passage)[2]  # on another commission
    response = _save(client, passage.id, token)
    assert response.status_code == 403
    assert _nothing_stored(db, passage)
