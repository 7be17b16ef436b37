"""Logout ends the session (issue 12, item 7): a copy of the session cookie taken before
logout opens nothing after it."""

from __future__ import annotations

from exam_app.accounts.models import Role
from tests.conftest import csrf_token_from


def _cookie(client) -> str:
    cookie = client.get_cookie(client.application.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    return cookie.value


def _logout(client) -> None:
    token = csrf_token_from(client.get("/gestion/etablissements").get_data(as_text=True))
    assert client.post("/deconnexion", data={"csrf_token": token}).status_code == 302


def test_a_cookie_copied_before_logout_no_longer_opens_after_it(client, login_as, create_user):
    login_as(create_user(Role.GESTIONNAIRE))
    assert client.get("/gestion/etablissements").status_code == 200
    copied = _cookie(client)
    _logout(client)
    client.set_cookie(client.application.config["SESSION_COOKIE_NAME"], copied)
    response = client.get("/gestion/etablissements")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/connexion")


def test_logout_ends_the_users_other_sessions_and_a_new_login_works(app, client, login_as,
                                                                    create_user):
    user = create_user(Role.GESTIONNAIRE)
    other = app.test_client()
    login_as(user)
    page = other.get("/connexion")
    other.post("/connexion", data={"username": user.username, "password": "motdepasse-test",
                                   "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert other.get("/gestion/etablissements").status_code == 200
    _logout(client)
    assert other.get("/gestion/etablissements").status_code == 302
    login_as(user)
    assert client.get("/gestion/etablissements").status_code == 200


def test_logout_without_a_session_still_answers(client, db):
    page = client.get("/connexion")
    response = client.post("/deconnexion",
                           data={"csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert response.status_code == 302
