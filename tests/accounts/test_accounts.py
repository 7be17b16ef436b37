"""Accounts beyond the login form: scopes, several roles, disabled accounts, throttling by IP."""

from __future__ import annotations

import html

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import LoginAttempt, Role, User
from exam_app.accounts.services import create_user, load_user_from_cookie, normalise_username
from exam_app.audit.models import AuditEvent
from exam_app.clock import utcnow
from tests.conftest import PASSWORD, csrf_token_from


def _post_login(client, username, password, ip="127.0.0.1"):
    environ = {"REMOTE_ADDR": ip}
    token = csrf_token_from(client.get("/connexion", environ_base=environ).get_data(as_text=True))
    return client.post("/connexion", data={"username": username, "password": password,
                                           "csrf_token": token}, environ_base=environ)


def test_username_is_matched_ignoring_case_and_spaces(client, create_user):
    create_user(Role.GESTIONNAIRE, username="claire.vasseur")
    response = _post_login(client, "  Claire.VASSEUR ", PASSWORD)
    assert response.status_code == 302
    assert normalise_username("  Claire.VASSEUR ") == "claire.vasseur"


def test_disabling_an_account_ends_its_open_sessions(client, db, create_user, login_as):
    user = create_user(Role.GESTIONNAIRE)
    login_as(user)
    assert client.get("/gestion/etablissements").status_code == 200
    user.is_enabled = False
    db.session.commit()
    response = client.get("/gestion/etablissements")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/connexion")


def test_load_user_from_cookie_refuses_bad_values(db, create_user):
    user = create_user(Role.CORRECTEUR)
    assert load_user_from_cookie(user.get_id()) == user
    for value in ("", "abc", f"{user.id}", f"{user.id}:", f"{user.id}:wrong", "999999:token",
                  f"x{user.id}:{user.session_token}"):
        assert load_user_from_cookie(value) is None, value


def test_one_client_failing_on_many_accounts_waits_before_trying_more(client, app,
                                                                       monkeypatch, create_user):
    # Was: 30 failures from one address locked every account from it for 15 minutes (behind
    # a proxy, everyone). Now that client waits a few seconds; a browser the owner logged in
    # from, and any other client, log in at once.
    monkeypatch.setitem(app.config, "LOGIN_FREE_FAILURES_PER_CLIENT", 4)
    now = utcnow()  # a fixed clock: the waits are seconds
    monkeypatch.setattr("exam_app.accounts.views.utcnow", lambda: now)
    user = create_user(Role.GESTIONNAIRE)
    owner = app.test_client()
    assert _post_login(owner, user.username, PASSWORD).status_code == 302  # a known browser
    owner.post("/deconnexion", data={"csrf_token": csrf_token_from(
        owner.get("/", follow_redirects=True).get_data(as_text=True))})
    for n in range(4):
        assert _post_login(client, f"inconnu{n}", "x").status_code == 401
    response = _post_login(client, user.username, PASSWORD)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert "Trop de tentatives de connexion échouées. Réessayez dans 1 seconde" in html.unescape(
        response.get_data(as_text=True))
    assert client.get("/").status_code == 302
    assert _post_login(owner, user.username, PASSWORD).status_code == 302  # same address
    other = app.test_client()
    response = _post_login(other, user.username, PASSWORD, ip="10.1.2.3")
    assert response.status_code == 302


def test_login_attempts_are_recorded(client, db, create_user):
    user = create_user(Role.GESTIONNAIRE)
    _post_login(client, user.username, "faux")
    _post_login(client, user.username, PASSWORD)
    rows = db.session.execute(sa.select(LoginAttempt.username, LoginAttempt.ip,
                                        LoginAttempt.succeeded).order_by(LoginAttempt.id)).all()
    assert rows == [(user.username, "127.0.0.1", False), (user.username, "127.0.0.1", True)]
    assert db.session.scalar(sa.select(User.last_login_at).where(User.id == user.id)) is not None


def test_user_with_several_roles_chooses_a_space(client, create_user, create_centre, login_as):
    centre = create_centre()
    user = create_user(Role.CHEF_CENTRE, Role.EXAMINATEUR, Role.GESTIONNAIRE, centre=centre,
                       first_name="Nadia")
    login_as(user)
    response = client.get("/")
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert "<h1>Bonjour Nadia</h1>" in page
    assert "Vous avez plusieurs rôles : choisissez votre espace." in page
    # In ROLE_HOMES order, whatever the order the roles were given in.
    assert page.index('href="/gestion/"') < page.index('href="/centre/"') < page.index('href="/jury/"')
    for url in ("/gestion/", "/centre/", "/jury/"):
        assert client.get(url).status_code in (200, 302)
    assert client.get("/correction/").status_code == 403


def test_user_without_role_is_told_to_ask_for_one(client, create_user, login_as):
    login_as(create_user())
    response = client.get("/")
    assert response.status_code == 200
    assert ("Aucun rôle ne vous est attribué pour le moment. Contactez la division des examens."
            in html.unescape(response.get_data(as_text=True)))


def test_create_user_service_normalises_scopes_and_audits(db, create_centre, create_user):
    centre = create_centre()
    actor = create_user(Role.GESTIONNAIRE)
    user = create_user_service(username=" Chef.Lyon ", roles=[(Role.CHEF_CENTRE, {"centre_id": centre.id})],
                               actor=actor)
    assert user.username == "chef.lyon"
    assert user.centre_ids() == frozenset({centre.id})
    assert user.candidate_ids() == frozenset()
    event = db.session.scalars(sa.select(AuditEvent)).one()
    assert (event.action, event.actor_id, event.after) == (
        "user.create", actor.id, {"username": "chef.lyon", "roles": ["chef_centre"]})


def create_user_service(**values):
    return create_user(password="un-long-mot-de-passe", first_name="A", last_name="B", **values)


@pytest.mark.parametrize(("values", "message"), [
    ({"username": "  "}, "Identifiant vide."),
    ({"password": "court"}, "Le mot de passe doit contenir au moins 12 caractères."),
    ({"first_name": " "}, "Le prénom et le nom sont obligatoires."),
    ({"last_name": ""}, "Le prénom et le nom sont obligatoires."),
    ({"username": "x" * 121}, r"Identifiant \(120\), prénom et nom \(100\) : trop long."),
    ({"email": "claire@"}, "« claire@ » n'est pas une adresse électronique."),
])
def test_create_user_service_refuses_bad_input(db, values, message):
    with pytest.raises(ValueError, match=message):
        create_user(**{"username": "x", "password": "un-long-mot-de-passe", "first_name": "A",
                       "last_name": "B", **values})
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_database_refuses_a_scoped_role_without_its_scope(db):
    from exam_app.accounts.models import RoleAssignment

    user = User(username="x", first_name="A", last_name="B", password_hash="h", session_token="t")
    user.roles.append(RoleAssignment(role=Role.CHEF_CENTRE.value))
    db.session.add(user)
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_overlong_login_fields_get_french_messages(client, db):
    token = csrf_token_from(client.get("/connexion").get_data(as_text=True))
    response = client.post("/connexion", data={"username": "a" * 121, "password": "b" * 201,
                                               "csrf_token": token})
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert "L'identifiant fait 120 caractères au plus." in page
    assert "Le mot de passe fait 200 caractères au plus." in page
    assert db.session.scalar(sa.select(sa.func.count(LoginAttempt.id))) == 0
