from datetime import timedelta

import sqlalchemy as sa

from exam_app.accounts.models import LoginAttempt, Role, User
from exam_app.accounts.services import LoginThrottled, authenticate
from exam_app.accounts.views import is_safe_next
from exam_app.clock import utcnow
from tests.conftest import PASSWORD, csrf_token_from


def _login_page_token(client) -> str:
    return csrf_token_from(client.get("/connexion").get_data(as_text=True))


def _post_login(client, username, password, **extra):
    return client.post("/connexion", data={"username": username, "password": password,
                                           "csrf_token": _login_page_token(client), **extra})


def test_password_is_hashed_with_scrypt(db):
    user = User(username="a", first_name="A", last_name="B")
    user.set_password("un mot de passe")
    assert user.password_hash.startswith("scrypt:")
    # werkzeug's strong parameters (N=2**15, r=8, p=1); only the fixtures' users are cheaper.
    assert user.password_hash.split("$")[0] == "scrypt:32768:8:1"
    assert "un mot de passe" not in user.password_hash
    assert user.check_password("un mot de passe") is True
    assert user.check_password("autre chose") is False


def test_login_redirects_each_role_to_its_home(client, create_user, create_centre,
                                               create_candidate):
    centre = create_centre()
    candidate = create_candidate()
    expected = {
        Role.GESTIONNAIRE: "/gestion/",
        Role.CHEF_CENTRE: "/centre/",
        Role.EXAMINATEUR: "/jury/",
        Role.CORRECTEUR: "/correction/",
        Role.CANDIDAT: "/candidat/",
    }
    for role, home in expected.items():
        user = create_user(role, centre=centre, candidate=candidate)
        response = _post_login(client, user.username, PASSWORD)
        assert response.status_code == 302
        assert response.headers["Location"] == "/"
        assert client.get("/").headers["Location"] == home
        client.post("/deconnexion", data={
            "csrf_token": csrf_token_from(client.get(home, follow_redirects=True)
                                          .get_data(as_text=True))})


def test_login_with_wrong_password_says_so_in_french(client, create_user):
    user = create_user(Role.GESTIONNAIRE)
    response = _post_login(client, user.username, "mauvais")
    assert response.status_code == 401
    assert "Identifiant ou mot de passe incorrect." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still anonymous: sent to login
    assert client.get("/").headers["Location"].startswith("/connexion")


def test_login_with_unknown_user_gives_the_same_message(client, db):
    response = _post_login(client, "personne", "x")
    assert response.status_code == 401
    assert "Identifiant ou mot de passe incorrect." in response.get_data(as_text=True)


def test_login_without_csrf_token_is_refused(client, create_user):
    user = create_user(Role.GESTIONNAIRE)
    response = client.post("/connexion", data={"username": user.username, "password": PASSWORD})
    assert response.status_code == 400
    assert "jeton de sécurité manquant" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_login_is_throttled_after_repeated_failures(client, create_user, app):
    user = create_user(Role.GESTIONNAIRE)
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert _post_login(client, user.username, "faux").status_code == 401
    response = _post_login(client, user.username, PASSWORD)
    assert response.status_code == 429
    assert "Trop de tentatives de connexion échouées" in response.get_data(as_text=True)


def test_throttle_window_expires(db, create_user):
    user = create_user(Role.GESTIONNAIRE)
    start = utcnow()
    kwargs = {"ip": "10.0.0.1", "max_failures": 3, "max_failures_per_ip": 100,
              "window_seconds": 900}
    for _ in range(3):
        assert authenticate(username=user.username, password="x", now=start, **kwargs) is None
    try:
        authenticate(username=user.username, password=PASSWORD, now=start, **kwargs)
        raise AssertionError("expected LoginThrottled")
    except LoginThrottled as exc:
        assert exc.retry_after_minutes == 16
    later = start + timedelta(seconds=901)
    assert authenticate(username=user.username, password=PASSWORD, now=later, **kwargs) == user
    attempts = db.session.scalars(sa.select(LoginAttempt.succeeded)
                                  .order_by(LoginAttempt.id)).all()
    assert attempts == [False, False, False, True]


def test_login_follows_a_safe_next_only(client, create_user):
    user = create_user(Role.GESTIONNAIRE)
    response = _post_login(client, user.username, PASSWORD, next="/gestion/etablissements")
    assert response.headers["Location"] == "/gestion/etablissements"
    client.post("/deconnexion", data={"csrf_token": csrf_token_from(
        client.get("/gestion/etablissements").get_data(as_text=True))})
    response = _post_login(client, user.username, PASSWORD, next="https://evil.example/")
    assert response.headers["Location"] == "/"


def test_is_safe_next_rejects_other_sites():
    assert is_safe_next("/gestion/") is True
    for target in ("", None, "//evil.example", "https://evil.example/x", "/\\evil.example",
                   "javascript:alert(1)", "gestion"):
        assert is_safe_next(target) is False, target


def test_logout_needs_post_with_token(client, create_user, login_as):
    user = create_user(Role.GESTIONNAIRE)
    login_as(user)
    assert client.get("/deconnexion").status_code == 405
    assert client.post("/deconnexion").status_code == 400
    assert client.get("/gestion/etablissements").status_code == 200
    token = csrf_token_from(client.get("/gestion/etablissements").get_data(as_text=True))
    assert client.post("/deconnexion", data={"csrf_token": token}).status_code == 302
    assert client.get("/gestion/etablissements").status_code == 302


def test_password_change_ends_open_sessions(client, db, create_user, login_as):
    user = create_user(Role.GESTIONNAIRE)
    login_as(user)
    assert client.get("/gestion/etablissements").status_code == 200
    user.set_password("un nouveau mot de passe")
    db.session.commit()
    response = client.get("/gestion/etablissements")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/connexion")


def test_disabled_user_cannot_log_in(client, db, create_user):
    user = create_user(Role.GESTIONNAIRE, is_enabled=False)
    assert _post_login(client, user.username, PASSWORD).status_code == 401


def test_anonymous_is_sent_to_login_with_next(client, db):
    response = client.get("/gestion/etablissements")
    assert response.status_code == 302
    assert response.headers["Location"] == "/connexion?next=%2Fgestion%2Fetablissements"


def test_pages_carry_security_headers(client, db):
    response = client.get("/connexion")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_unknown_page_is_a_french_404(client, db):
    response = client.get("/nulle-part")
    assert response.status_code == 404
    assert "Page introuvable" in response.get_data(as_text=True)


def test_json_clients_get_json_errors(client, db):
    response = client.get("/nulle-part", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.get_json() == {"error": "not_found", "field": None, "details": [],
                                   "message": "Cette page n'existe pas ou a été déplacée."}
