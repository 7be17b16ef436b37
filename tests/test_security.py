"""Error pages in French, expired sessions and forms, cookie flags, and configuration
from the environment (secret key, database URL)."""

from __future__ import annotations

import html
import os
import stat
import time

import pytest
from itsdangerous import TimestampSigner

from exam_app import config as settings
from exam_app import create_app
from exam_app.accounts.models import Role
from tests.conftest import PASSWORD, csrf_token_from

FORBIDDEN_MESSAGE = "Vous n'avez pas le droit d'accéder à cette page."


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


# ---- error pages --------------------------------------------------------------------------

# One page each role may not open, with the role that may.
FORBIDDEN = {
    Role.GESTIONNAIRE: "/candidat/",
    Role.CHEF_CENTRE: "/gestion/utilisateurs",
    Role.EXAMINATEUR: "/centre/",
    Role.CORRECTEUR: "/jury/",
    Role.CANDIDAT: "/correction/",
    Role.JURY_DELIBERATION: "/gestion/utilisateurs",
    Role.COORDINATEUR_CCF: "/jury/",
}


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_forbidden_page_is_a_french_403(client, login_as, create_user, create_centre,
                                        create_candidate, role):
    user = create_user(role, centre=create_centre(), candidate=create_candidate())
    login_as(user)
    response = client.get(FORBIDDEN[role])
    assert response.status_code == 403
    page = _text(response)
    assert "<title>Accès refusé — Examens BTS SAM</title>" in page
    assert "Erreur 403" in page
    assert FORBIDDEN_MESSAGE in page
    assert user.display_name in page  # still logged in, with the normal header


def test_forbidden_json_request_gets_a_json_403(client, login_as, create_user):
    login_as(create_user(Role.CORRECTEUR))
    response = client.get("/gestion/utilisateurs", headers={"Accept": "application/json"})
    assert response.status_code == 403
    assert response.get_json() == {"error": "forbidden", "message": FORBIDDEN_MESSAGE,
                                   "field": None, "details": []}


def test_unknown_page_is_a_french_404(client, db):
    response = client.get("/nulle-part")
    assert response.status_code == 404
    page = _text(response)
    assert "<title>Page introuvable — Examens BTS SAM</title>" in page
    assert "Cette page n'existe pas ou a été déplacée." in page
    assert 'href="/connexion"' in page  # anonymous: back to the login page


def test_wrong_method_is_a_french_405(client, db):
    response = client.get("/deconnexion")
    assert response.status_code == 405
    assert "Cette action n'est pas possible sur cette page." in _text(response)


def test_internal_error_is_a_french_500_and_rolls_back(app, tmp_path):
    failing = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/e.db",
                          "SESSION_COOKIE_SECURE": False})

    @failing.route("/boum")
    def boom():
        raise RuntimeError("boum")

    response = failing.test_client().get("/boum")
    assert response.status_code == 500
    page = _text(response)
    assert "<title>Erreur interne — Examens BTS SAM</title>" in page
    assert "Une erreur inattendue s'est produite. Rien n'a été enregistré" in page
    assert "RuntimeError" not in page


def test_security_headers_are_set(client, db):
    headers = client.get("/connexion").headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Content-Security-Policy"].startswith("default-src 'self'; ")
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"]


# ---- expired session and forms -------------------------------------------------------------


@pytest.fixture()
def later(monkeypatch):
    """Move the signing clock (session cookie, CSRF token) forward by some seconds."""

    def move(seconds: int) -> None:
        monkeypatch.setattr(TimestampSigner, "get_timestamp",
                            lambda self: int(time.time()) + seconds)

    return move


def test_session_slides_while_active_and_expires_when_idle(app, client, login_as, create_user,
                                                          later):
    # An exam day with a late start is longer than the idle limit: every request re-signs
    # the cookie, so an active user (an open jury screen polls) stays logged in.
    idle = app.config["PERMANENT_SESSION_LIFETIME"]
    login_as(create_user(Role.GESTIONNAIRE))
    assert client.get_cookie("session").expires is not None  # permanent: the browser keeps it
    for step in (1, 2, 3):
        later(step * (idle - 60))
        assert client.get("/gestion/etablissements").status_code == 200
    assert 3 * (idle - 60) > 10 * 3600  # longer than any exam day
    later(4 * (idle - 60) + 120)  # idle a little over the limit since the last request
    response = client.get("/gestion/etablissements")
    assert response.status_code == 302
    assert response.headers["Location"] == "/connexion?next=%2Fgestion%2Fetablissements"
    assert "Votre session a expiré : reconnectez-vous." in _text(
        client.get(response.headers["Location"]))


def test_session_cookie_is_re_signed_at_most_once_a_minute(app, client, login_as, create_user,
                                                           later):
    # The jury's frequent requests (long polls, saves) do not each re-sign the cookie: an
    # unchanged session is sent again only once its signature is a minute old.
    assert app.config["SESSION_REFRESH_SECONDS"] == 60
    login_as(create_user(Role.GESTIONNAIRE))

    def sets_cookie() -> bool:
        response = client.get("/gestion/etablissements")
        assert response.status_code == 200
        return any(h.startswith("session=") for h in response.headers.getlist("Set-Cookie"))

    assert [sets_cookie(), sets_cookie()] == [False, False]  # signed a moment ago
    later(59)
    assert sets_cookie() is False
    later(61)
    assert [sets_cookie(), sets_cookie()] == [True, False]  # re-signed once, then fresh
    later(61 + 3599)
    assert sets_cookie() is True  # an hour later: slid again, still logged in


def test_a_session_cookie_is_verified_once_then_remembered_until_it_expires(
        app, client, login_as, create_user, later, monkeypatch):
    from itsdangerous import URLSafeTimedSerializer

    login_as(create_user(Role.GESTIONNAIRE))
    verified = []
    real = URLSafeTimedSerializer.loads

    def counted(self, *args, **kwargs):
        verified.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(URLSafeTimedSerializer, "loads", counted)
    for _ in range(3):
        assert client.get("/gestion/etablissements").status_code == 200
    assert len(verified) <= 1  # the same cookie: verified at most once in this process
    later(app.config["PERMANENT_SESSION_LIFETIME"] + 60)  # idle past the limit
    response = client.get("/gestion/etablissements")
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]


def test_a_tampered_session_cookie_is_refused_every_time(app, client, login_as, create_user):
    login_as(create_user(Role.GESTIONNAIRE))
    assert client.get("/gestion/etablissements").status_code == 200
    value = client.get_cookie("session").value
    forged = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    client.set_cookie("session", forged)
    for _ in range(2):
        response = client.get("/gestion/etablissements")
        assert response.status_code == 302 and "/connexion" in response.headers["Location"]


def test_a_remembered_session_is_copied_for_each_request(app):
    from exam_app.accounts.session_cookie import SlidingSessionInterface

    interface = app.session_interface
    assert isinstance(interface, SlidingSessionInterface)
    cookie = interface.get_signing_serializer(app).dumps(
        {"_flashes": [("info", "Un.")], "_user_id": "1:x"})
    with app.test_request_context(headers={"Cookie": f"session={cookie}"}):
        from flask import request

        first = interface.open_session(app, request)
        first["_flashes"].append(("info", "Deux."))  # what flash() does
        second = interface.open_session(app, request)
    assert second["_flashes"] == [("info", "Un.")]


def test_a_changed_session_is_always_sent(app, client, login_as, create_user):
    login_as(create_user(Role.GESTIONNAIRE))
    client.get("/gestion/etablissements")
    with client.session_transaction() as session:  # what a flash message does
        session["_flashes"] = [("info", "Modifié.")]
    response = client.get("/gestion/etablissements")
    assert any(h.startswith("session=") for h in response.headers.getlist("Set-Cookie"))


def test_expired_session_answers_a_script_with_a_json_401(app, client, login_as, create_user,
                                                          later):
    # The jury screen's poll (GET) and autosave (POST, CSRF checked first) must tell an
    # expired login from an outage.
    login_as(create_user(Role.EXAMINATEUR))
    assert client.get("/jury/").status_code == 200
    later(app.config["PERMANENT_SESSION_LIFETIME"] + 60)
    poll = client.get("/jury/passages/1/etat", headers={"Accept": "application/json"})
    save = client.post("/jury/passages/1/grilles/commune/champs", json={"ops": []},
                       headers={"X-CSRFToken": "stale", "Accept": "application/json"})
    assert [(r.status_code, r.get_json()["error"]) for r in (poll, save)] == [
        (401, "session_expired"), (401, "session_expired")]
    # A fetch of an HTML fragment (any type accepted) still goes to the login page.
    assert client.get("/jury/", headers={"Accept": "*/*"}).status_code == 302


def test_stale_page_token_answers_a_script_with_a_json_400(client, login_as, create_user):
    login_as(create_user(Role.EXAMINATEUR))
    save = client.post("/jury/passages/1/grilles/commune/champs", json={"ops": []},
                       headers={"X-CSRFToken": "stale", "Accept": "application/json"})
    assert (save.status_code, save.get_json()["error"]) == (400, "csrf")


def test_first_visit_asks_to_log_in_not_expired(client, db):
    response = client.get("/gestion/etablissements")
    assert response.headers["Location"] == "/connexion?next=%2Fgestion%2Fetablissements"
    page = _text(client.get(response.headers["Location"]))
    assert "Veuillez vous connecter pour accéder à cette page." in page
    assert "expiré" not in page


def test_expired_form_is_refused_in_french_and_nothing_happens(app, client, create_user, later):
    user = create_user(Role.GESTIONNAIRE)
    token = csrf_token_from(client.get("/connexion").get_data(as_text=True))
    later(app.config["WTF_CSRF_TIME_LIMIT"] + 60)
    response = client.post("/connexion", data={"username": user.username, "password": PASSWORD,
                                               "csrf_token": token})
    assert response.status_code == 400
    assert ("Le formulaire a expiré ou n'est pas valide (jeton de sécurité manquant). Rechargez la "
            "page et recommencez : rien n'a été enregistré.") in _text(response)
    assert client.get("/").status_code == 302  # not logged in


def test_tampered_session_cookie_is_ignored(client, login_as, create_user):
    login_as(create_user(Role.GESTIONNAIRE))
    cookie = client.get_cookie("session")
    client.set_cookie("session", cookie.value[:-4] + "AAAA")
    response = client.get("/gestion/etablissements")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/connexion")


# ---- cookies ------------------------------------------------------------------------------


def _fresh_app(tmp_path, monkeypatch, **env):
    for name in ("SECRET_KEY", "DATABASE_URL", "SESSION_COOKIE_SECURE", "STORAGE_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    return create_app()


def test_cookies_are_secure_httponly_and_samesite_by_default(tmp_path, monkeypatch):
    app = _fresh_app(tmp_path, monkeypatch)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["REMEMBER_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["REMEMBER_COOKIE_SAMESITE"] == "Lax"
    response = app.test_client().get("/connexion", base_url="https://localhost")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("session=")
    assert "; Secure" in cookie
    assert "; HttpOnly" in cookie
    assert "; SameSite=Lax" in cookie
    assert "Expires=" not in cookie  # a browser-session cookie; the server still ends it


@pytest.mark.parametrize(("value", "expected"), [("0", False), ("false", False), ("non", False),
                                                 ("1", True), ("oui", True), ("", True)])
def test_secure_cookie_flag_comes_from_the_environment(tmp_path, monkeypatch, value, expected):
    app = _fresh_app(tmp_path, monkeypatch, SESSION_COOKIE_SECURE=value)
    assert app.config["SESSION_COOKIE_SECURE"] is expected
    assert app.config["REMEMBER_COOKIE_SECURE"] is expected


# ---- secret key ---------------------------------------------------------------------------


def test_secret_key_is_generated_once_into_instance(tmp_path, monkeypatch):
    first = _fresh_app(tmp_path, monkeypatch)
    key_file = tmp_path / "instance" / "secret_key"
    key = key_file.read_text()
    assert len(key) == 64
    assert int(key, 16) > 0
    assert first.config["SECRET_KEY"] == key
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    second = _fresh_app(tmp_path, monkeypatch)
    assert second.config["SECRET_KEY"] == key


def test_secret_key_from_the_environment_writes_no_file(tmp_path, monkeypatch):
    app = _fresh_app(tmp_path, monkeypatch, SECRET_KEY="clé-de-production")
    assert app.config["SECRET_KEY"] == "clé-de-production"
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_secret_key_given_in_config_writes_no_file(tmp_path, monkeypatch):
    for name in ("SECRET_KEY", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"SECRET_KEY": "donnée"})
    assert app.config["SECRET_KEY"] == "donnée"
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_two_workers_starting_together_agree_on_the_key(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    (tmp_path / "secret_key").write_text("deja-ecrit\n")
    assert settings.load_secret_key(str(tmp_path)) == "deja-ecrit"


def test_no_secret_key_constant_in_the_code():
    from pathlib import Path

    package = Path(settings.__file__).parent
    for path in package.rglob("*.py"):
        text = path.read_text()
        assert 'SECRET_KEY"] = "' not in text, path
        assert "SECRET_KEY = '" not in text and 'SECRET_KEY = "' not in text, path


# ---- database URL and storage ------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://exam:pw@db.example:5432/exam", "postgresql+psycopg://exam:pw@db.example:5432/exam"),
        ("postgresql://exam@127.0.0.1/exam", "postgresql+psycopg://exam@127.0.0.1/exam"),
        ("postgresql+psycopg://exam@127.0.0.1/exam", "postgresql+psycopg://exam@127.0.0.1/exam"),
        ("sqlite:////var/lib/exam/exam.db", "sqlite:////var/lib/exam/exam.db"),
    ],
)
def test_database_url_is_rewritten_for_the_psycopg_driver(tmp_path, monkeypatch, url, expected):
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SECRET_KEY", "x")
    values = settings.from_environment(str(tmp_path / "instance"))
    assert values["SQLALCHEMY_DATABASE_URI"] == expected


def test_database_and_storage_default_next_to_instance(tmp_path, monkeypatch):
    for name in ("DATABASE_URL", "STORAGE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", "x")
    values = settings.from_environment(str(tmp_path / "instance"))
    assert values["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/instance/exam_app.db"
    assert values["STORAGE_DIR"] == f"{tmp_path}/storage"
    monkeypatch.setenv("STORAGE_DIR", "/srv/exam/fichiers")
    assert settings.from_environment(str(tmp_path / "instance"))["STORAGE_DIR"] == "/srv/exam/fichiers"


def test_app_reads_database_url_from_the_environment(tmp_path, monkeypatch):
    app = _fresh_app(tmp_path, monkeypatch, DATABASE_URL="postgres://exam@db.example/exam",
                     SECRET_KEY="x")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://exam@db.example/exam"


# ---- NUL bytes (PostgreSQL text cannot hold them) -----------------------------------------


def test_nul_byte_in_a_form_is_a_clear_400(client, db):
    token = csrf_token_from(client.get("/connexion").get_data(as_text=True))
    response = client.post("/connexion", data={"username": "a\x00b", "password": "x",
                                               "csrf_token": token})
    assert response.status_code == 400
    assert "La requête n'a pas pu être comprise." in _text(response)


def test_nul_byte_in_the_url_is_a_clear_400(client, login_as, create_user, create_session):
    session = create_session()
    login_as(create_user(Role.GESTIONNAIRE))
    assert client.get(f"/gestion/sessions/{session.code}/candidats?q=a%00b").status_code == 400
    assert client.get("/gestion/sessions/a%00b/").status_code == 400
    assert client.get("/verifier/a%00b").status_code == 400
    assert client.get(f"/gestion/sessions/{session.code}/candidats?q=ab").status_code == 200


def test_wsgi_module_builds_the_app_from_the_environment(tmp_path, monkeypatch):
    import importlib
    import sys

    for name in ("SECRET_KEY", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("DATABASE_URL", "postgres://exam@db.example/exam")
    monkeypatch.delitem(sys.modules, "wsgi", raising=False)
    wsgi = importlib.import_module("wsgi")
    assert wsgi.app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://exam@db.example/exam"
    assert wsgi.app.config["SESSION_COOKIE_SECURE"] is True
    assert (tmp_path / "instance" / "secret_key").exists()
