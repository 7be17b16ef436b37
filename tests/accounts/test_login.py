import html
from datetime import timedelta

import sqlalchemy as sa

from exam_app.accounts.models import LoginAttempt, Role, User
from exam_app.accounts.views import is_safe_next
from exam_app.clock import to_local, utcnow
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


def test_failures_make_the_next_attempt_wait_longer_each_time(client, create_user, app,
                                                                monkeypatch):
    # Was: five failures locked the account for 15 minutes. Now the client waits 1, 2,
    # 4... seconds after its third failure on the account, and logs in once it has.
    clock = [utcnow()]
    monkeypatch.setattr("exam_app.accounts.views.utcnow", lambda: clock[0])
    user = create_user(Role.GESTIONNAIRE)
    assert app.config["LOGIN_FREE_FAILURES_PER_ACCOUNT_CLIENT"] == 3
    for _ in range(3):
        assert _post_login(client, user.username, "faux").status_code == 401
    for wait in (1, 2, 4, 8):
        response = _post_login(client, user.username, PASSWORD)  # refused unchecked
        assert response.status_code == 429
        assert response.headers["Retry-After"] == str(wait)
        at = to_local(clock[0] + timedelta(seconds=wait)).strftime("%H:%M:%S")
        unit = "seconde" if wait == 1 else "secondes"
        assert (f"Trop de tentatives de connexion échouées. Réessayez dans {wait} {unit} "
                f"(à {at}). Depuis un navigateur où vous vous êtes déjà connecté, la "
                "connexion reste possible.") in html.unescape(response.get_data(as_text=True))
        clock[0] += timedelta(seconds=wait - 1)
        assert _post_login(client, user.username, PASSWORD).status_code == 429  # not yet
        clock[0] += timedelta(seconds=1)
        assert _post_login(client, user.username, "faux").status_code == 401
    clock[0] += timedelta(seconds=16)
    assert _post_login(client, user.username, PASSWORD).status_code == 302
    attempts = db_attempts()
    assert attempts == [False] * 7 + [True]  # the refused attempts were not even counted


def db_attempts() -> list[bool]:
    from exam_app.extensions import db

    return db.session.scalars(sa.select(LoginAttempt.succeeded).order_by(LoginAttempt.id)).all()


def test_the_wait_is_capped_and_failures_are_forgotten(client, create_user, app, monkeypatch):
    clock = [utcnow()]
    monkeypatch.setattr("exam_app.accounts.views.utcnow", lambda: clock[0])
    monkeypatch.setitem(app.config, "LOGIN_DELAY_CAP_SECONDS", 5)
    user = create_user(Role.GESTIONNAIRE)
    for _ in range(3):
        assert _post_login(client, user.username, "faux").status_code == 401
    waits = []
    for _ in range(5):
        response = _post_login(client, user.username, "faux")
        assert response.status_code == 429
        waits.append(int(response.headers["Retry-After"]))
        clock[0] += timedelta(seconds=waits[-1])
        assert _post_login(client, user.username, "faux").status_code == 401
    assert waits == [1, 2, 4, 5, 5]
    # A quarter of an hour after the last failure, the account starts afresh from here.
    clock[0] += timedelta(seconds=app.config["LOGIN_FAILURE_WINDOW_SECONDS"])
    for _ in range(3):
        assert _post_login(client, user.username, "faux").status_code == 401
    assert _post_login(client, user.username, PASSWORD).status_code == 429


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


def _login_from(client, username, password, ip):
    environ = {"REMOTE_ADDR": ip}
    token = csrf_token_from(client.get("/connexion", environ_base=environ).get_data(as_text=True))
    return client.post("/connexion", data={"username": username, "password": password,
                                           "csrf_token": token}, environ_base=environ)


def _logout(client):
    client.post("/deconnexion", data={"csrf_token": csrf_token_from(
        client.get("/", follow_redirects=True).get_data(as_text=True))})


def test_an_attacker_does_not_stop_the_owner_logging_in_from_a_known_browser(
        app, client, create_user, monkeypatch):
    clock = [utcnow()]
    monkeypatch.setattr("exam_app.accounts.views.utcnow", lambda: clock[0])
    monkeypatch.setitem(app.config, "LOGIN_FREE_FAILURES_PER_ACCOUNT", 6)
    user = create_user(Role.GESTIONNAIRE)
    owner = client
    assert _login_from(owner, user.username, PASSWORD, "10.0.0.1").status_code == 302
    assert owner.get_cookie("exam_app_device").http_only
    _logout(owner)
    # Exam day: someone fails on the gestionnaire's account from their own address, the
    # owner's (one address for everyone behind a proxy without PROXY_COUNT) and others.
    attacker = app.test_client()
    for ip in ("10.0.0.66", "10.0.0.1", "10.0.0.67"):
        for _ in range(3):
            assert _login_from(attacker, user.username, "devine", ip).status_code in (401, 429)
    for ip in ("10.0.0.66", "10.0.0.1", "10.0.0.99"):  # every client without the cookie waits
        response = _login_from(app.test_client(), user.username, PASSWORD, ip)
        assert response.status_code == 429, ip
    # The owner's browser is exempt from those counts: logged in at once, same address.
    response = _login_from(owner, user.username, PASSWORD, "10.0.0.1")
    assert response.status_code == 302
    assert owner.get("/").headers["Location"] == "/gestion/"


def test_another_clients_failures_do_not_slow_a_different_client(app, client, create_user,
                                                                 monkeypatch):
    now = utcnow()
    monkeypatch.setattr("exam_app.accounts.views.utcnow", lambda: now)
    user = create_user(Role.GESTIONNAIRE)
    attacker = app.test_client()
    statuses = [_login_from(attacker, user.username, "devine", "192.0.2.66").status_code
                for _ in range(6)]  # 5 failures used to lock the account for 15 minutes
    assert statuses == [401, 401, 401, 429, 429, 429]
    assert _login_from(attacker, user.username, PASSWORD, "192.0.2.66").status_code == 429
    # The owner, on a new browser (no device cookie) elsewhere: not slowed at all.
    assert _login_from(client, user.username, PASSWORD, "192.0.2.1").status_code == 302


def test_a_known_browser_has_its_own_count_and_a_forged_cookie_counts_for_nothing(
        app, client, create_user, monkeypatch):
    now = utcnow()
    monkeypatch.setattr("exam_app.accounts.views.utcnow", lambda: now)
    monkeypatch.setitem(app.config, "LOGIN_FREE_FAILURES_PER_DEVICE", 2)
    user = create_user(Role.GESTIONNAIRE)
    assert _login_from(client, user.username, PASSWORD, "10.0.0.1").status_code == 302
    _logout(client)
    # Someone else at this (shared) PC guessing: the cookie's own count slows them down.
    for _ in range(2):
        assert _login_from(client, user.username, "devine", "10.0.0.1").status_code == 401
    response = _login_from(client, user.username, PASSWORD, "10.0.0.1")
    assert response.status_code == 429
    page = html.unescape(response.get_data(as_text=True))
    assert "Réessayez dans 1 seconde" in page
    assert "Depuis un navigateur où vous vous êtes déjà connecté" not in page  # it is one
    # A cookie not signed by the app is no device cookie: the account's other counts apply.
    from itsdangerous import URLSafeSerializer

    forged = URLSafeSerializer("another-key", salt="exam_app.device.v1").dumps(
        [[user.username, "n", int(utcnow().timestamp())]])
    stranger = app.test_client()
    stranger.set_cookie("exam_app_device", forged)
    for _ in range(3):
        assert _login_from(stranger, user.username, "devine", "10.0.0.7").status_code == 401
    assert _login_from(stranger, user.username, PASSWORD, "10.0.0.7").status_code == 429
    # And the owner from elsewhere is not slowed by either.
    assert _login_from(app.test_client(), user.username, PASSWORD, "10.0.0.2").status_code == 302
