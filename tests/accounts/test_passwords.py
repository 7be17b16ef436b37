"""The password policy (issue 12, item 8): 12 characters, not common, not derived from the
account or the app; applied by create-user and by the "Changer mon mot de passe" page."""

from __future__ import annotations

import html

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import LoginAttempt, Role, User
from exam_app.accounts.passwords import password_problem
from exam_app.accounts.services import create_user as create_user_service
from exam_app.audit.models import AuditEvent
from exam_app.clock import utcnow
from exam_app.demo import demo_password
from tests.conftest import PASSWORD, csrf_token_from

SHORT = "Le mot de passe doit contenir au moins 12 caractères."
COMMON = "Ce mot de passe est trop courant ou trop facile à deviner"
ACCOUNT = "Le mot de passe ne doit contenir ni votre identifiant, ni votre prénom, ni votre nom."
APP = "Le mot de passe ne doit pas contenir « exam » ni « bts »."
CONTEXT = {"username": "claire.vasseur", "first_name": "Claire", "last_name": "Vasseur"}


@pytest.mark.parametrize(("password", "message"), [
    ("password", SHORT),
    ("12345678", SHORT),
    ("onze-carac", SHORT),
    ("password1234", COMMON),
    ("123456789012", COMMON),
    ("azertyuiop12", COMMON),
    ("qwertyuiop123", COMMON),
    ("aaaaaaaaaaaaaaaa", COMMON),
    ("claire.vasseur", ACCOUNT),
    ("Claire.Vasseur2027!", ACCOUNT),
    ("VASSEUR-lyon-2027", ACCOUNT),
    ("élodie-claire-x9", ACCOUNT),
    ("examens-lyon-2027", APP),
    ("mon-BTS-de-l-annee", APP),
    ("x" * 201, "Le mot de passe fait 200 caractères au plus."),
])
def test_refused_passwords_say_why_in_french(password, message):
    problem = password_problem(password, **CONTEXT)
    assert problem is not None and problem.startswith(message), problem


@pytest.mark.parametrize("password", ["un-long-mot-de-passe", "correct horse battery staple",
                                      "Tr0ub4dor&3xyz", "girafe-piano-orage-77",
                                      "longue phrase " * 10])
def test_strong_passwords_are_accepted(password):
    assert password_problem(password, **CONTEXT) is None


def test_the_demo_password_passes_the_policy():
    assert password_problem(demo_password(), username="gestion", first_name="Claire",
                            last_name="Vasseur") is None


@pytest.mark.parametrize("password", ["password", "12345678", "gestionnaire1"])
def test_create_user_refuses_what_the_issue_found_accepted(db, password):
    with pytest.raises(ValueError):
        create_user_service(username="gestionnaire1", password=password, first_name="Claire",
                            last_name="Vasseur", roles=[(Role.GESTIONNAIRE, {})])
    with pytest.raises(ValueError, match=ACCOUNT):
        create_user_service(username="gestionnaire1", password="gestionnaire1-abc",
                            first_name="Claire", last_name="Vasseur")
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


# ---- the "Changer mon mot de passe" page ---------------------------------------------------

URL = "/compte/mot-de-passe"
NEW = "girafe-piano-orage-77"


def _change(client, current=PASSWORD, new=NEW, confirm=None):
    token = csrf_token_from(client.get(URL).get_data(as_text=True))
    return client.post(URL, data={"csrf_token": token, "current_password": current,
                                  "new_password": new, "confirm": new if confirm is None
                                  else confirm})


def _login(client, username, password):
    page = client.get("/connexion")
    return client.post("/connexion", data={
        "username": username, "password": password,
        "csrf_token": csrf_token_from(page.get_data(as_text=True))})


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_every_logged_in_user_has_the_page(client, login_as, create_user, create_centre,
                                           create_candidate, role):
    login_as(create_user(role, centre=create_centre(), candidate=create_candidate()))
    home = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert f'href="{URL}"' in home
    page = client.get(URL)
    assert page.status_code == 200
    assert "Changer mon mot de passe" in html.unescape(page.get_data(as_text=True))


def test_anonymous_is_sent_to_login(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/connexion")


def test_change_needs_the_csrf_token(client, login_as, create_user):
    user = create_user(Role.CORRECTEUR)
    login_as(user)
    response = client.post(URL, data={"current_password": PASSWORD, "new_password": NEW,
                                      "confirm": NEW})
    assert response.status_code == 400
    assert user.check_password(PASSWORD)


def test_password_change_works_audits_and_ends_the_other_sessions(app, client, login_as,
                                                                  create_user):
    user = create_user(Role.GESTIONNAIRE)
    login_as(user)
    other = app.test_client()
    assert _login(other, user.username, PASSWORD).status_code == 302
    response = _change(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "Votre mot de passe a été changé" in html.unescape(
        client.get("/", follow_redirects=True).get_data(as_text=True))
    assert client.get("/gestion/etablissements").status_code == 200  # this session goes on
    assert other.get("/gestion/etablissements").status_code == 302  # the other one ended
    assert user.check_password(NEW) and not user.check_password(PASSWORD)
    event = db_event("user.password_change")
    assert (event.actor_id, event.object_id) == (user.id, str(user.id))
    fresh = app.test_client()
    assert _login(fresh, user.username, PASSWORD).status_code == 401
    assert _login(fresh, user.username, NEW).status_code == 302


def db_event(action: str) -> AuditEvent:
    from exam_app.extensions import db

    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)).one()


@pytest.mark.parametrize(("current", "new", "confirm", "status", "message"), [
    ("faux-mot-de-passe", NEW, None, 422, "Le mot de passe actuel est incorrect."),
    (PASSWORD, "password1234", None, 422, COMMON),
    (PASSWORD, "court", None, 422, SHORT),
    (PASSWORD, PASSWORD, None, 422, "Le nouveau mot de passe doit être différent de l'actuel."),
    (PASSWORD, NEW, "autre-chose-encore", 400, "Les deux saisies du nouveau mot de passe diffèrent."),
])
def test_refused_changes_say_why_and_change_nothing(client, login_as, create_user, current, new,
                                                    confirm, status, message):
    user = create_user(Role.EXAMINATEUR)
    login_as(user)
    response = _change(client, current, new, confirm)
    assert response.status_code == status
    assert message in html.unescape(response.get_data(as_text=True))
    assert user.check_password(PASSWORD)
    assert client.get(URL).status_code == 200  # still logged in


def test_a_change_refuses_the_users_own_names(client, login_as, create_user):
    user = create_user(Role.EXAMINATEUR, username="paul.martin", first_name="Paul",
                       last_name="Martin")
    login_as(user)
    response = _change(client, new="Martin-2027-lyon!")
    assert response.status_code == 422
    assert ACCOUNT in html.unescape(response.get_data(as_text=True))


def test_wrong_current_passwords_are_throttled_like_logins(app, client, login_as, create_user,
                                                           monkeypatch):
    from exam_app.extensions import db

    user = create_user(Role.EXAMINATEUR)
    login_as(user)
    # The browser logged in (a device cookie): its own failures count, 2 free here.
    monkeypatch.setitem(app.config, "LOGIN_FREE_FAILURES_PER_DEVICE", 2)
    now = utcnow()  # a fixed clock: the waits are seconds
    monkeypatch.setattr("exam_app.accounts.views.utcnow", lambda: now)
    assert _change(client, current="faux-1").status_code == 422
    assert _change(client, current="faux-2").status_code == 422
    response = _change(client)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert user.check_password(PASSWORD)
    failures = db.session.scalar(sa.select(sa.func.count(LoginAttempt.id)).where(
        LoginAttempt.username == user.username, LoginAttempt.succeeded.is_(False)))
    assert failures == 2


# ---- the set_password service (create-user, set-password, the change page, the demo) ----


def test_set_password_applies_the_policy_ends_sessions_and_audits(db, create_user):
    from exam_app.accounts.services import set_password

    user = create_user(Role.GESTIONNAIRE, username="claire.vasseur", first_name="Claire",
                       last_name="Vasseur")
    actor = create_user(Role.GESTIONNAIRE)
    token = user.session_token
    set_password(user=user, password=NEW, actor=actor)
    assert (user.check_password(NEW), user.check_password(PASSWORD)) == (True, False)
    assert user.session_token != token
    event = db_event("user.password_set")
    assert (event.actor_id, event.object_id, event.after) == (
        actor.id, str(user.id), {"username": "claire.vasseur"})


@pytest.mark.parametrize(("password", "message"), [
    ("court", SHORT), ("password1234", COMMON), ("Vasseur-lyon-2027", ACCOUNT),
    ("examens-lyon-2027", APP)])
def test_set_password_refuses_on_the_password_field_and_changes_nothing(db, create_user,
                                                                        password, message):
    from exam_app.accounts.services import set_password
    from exam_app.errors import Invalid

    user = create_user(Role.GESTIONNAIRE, first_name="Claire", last_name="Vasseur")
    token = user.session_token
    with pytest.raises(Invalid) as refused:
        set_password(user=user, password=password)
    assert refused.value.message.startswith(message) and refused.value.field == "password"
    assert (user.check_password(PASSWORD), user.session_token) == (True, token)
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id))) == 0


def test_create_user_sets_its_password_without_a_second_audit_event(db):
    user = create_user_service(username="claire.vasseur", password=NEW, first_name="Claire",
                               last_name="Vasseur")
    assert user.check_password(NEW) is True
    assert db.session.scalars(sa.select(AuditEvent.action)).all() == ["user.create"]
