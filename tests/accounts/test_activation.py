"""Accounts that people activate themselves (issue 13, item 3): one-time activation and
reset links, e-mailed through a real SMTP server started by the test (aiosmtpd), or
handed out as a CSV file or printed letters; single use, expiring, replaced by a newer
link, audited without their secret."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from exam_app.accounts import tokens
from exam_app.accounts.models import AccountToken, Role, TokenPurpose, User
from exam_app.audit.models import AuditEvent
from exam_app.clock import utcnow
from exam_app.enrolment import people
from tests.conftest import PASSWORD, csrf_token_from

NEW_PASSWORD = "cheval orange escalier lune"
BASE = "https://examens.example"


@pytest.fixture()
def staff(db, create_session, create_user):
    """A session, its gestionnaire (activated) and two people imported (pending)."""
    session = create_session(code="SAM27", name="BTS SAM 2027")
    gestion = create_user(Role.GESTIONNAIRE, email="gestion@ac-test.fr")
    anne = people.save_person(session=session, actor=gestion, last_name="Roy",
                              first_name="Anne", email="anne.roy@ac-test.fr",
                              role="correcteur")
    paul = people.save_person(session=session, actor=gestion, last_name="Marchand",
                              first_name="Paul", email="p.marchand@example.fr",
                              role="professionnel", company="Transports Rhône")
    return {"session": session, "gestion": gestion, "anne": anne, "paul": paul}


def _people_url(staff) -> str:
    return f"/gestion/sessions/{staff['session'].code}/personnes"


def _hand_out(client, staff, action: str, *, scope: str = "all", ids=()):
    token = csrf_token_from(_text(client.get(_people_url(staff))))
    return client.post(_people_url(staff) + "/activation",
                       data={"csrf_token": token, "action": action, "scope": scope,
                             "person": [str(i) for i in ids]})


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _path(link: str) -> str:
    assert link.startswith(BASE + "/"), link
    return link.removeprefix(BASE)


def _choose(client, link: str, password: str = NEW_PASSWORD, confirm: str | None = None):
    page = client.get(_path(link))
    assert page.status_code == 200, _text(page)[:300]
    return client.post(_path(link), data={
        "csrf_token": csrf_token_from(_text(page)),
        "password": password, "confirm": password if confirm is None else confirm})


def _log_in(client, username: str, password: str) -> int:
    page = client.get("/connexion")
    return client.post("/connexion", data={
        "csrf_token": csrf_token_from(_text(page)),
        "username": username, "password": password}).status_code


def _flashes(client, staff) -> str:
    """The people page, its entities decoded (the messages flashed are shown there)."""
    return _text(client.get(_people_url(staff)))


# ---- e-mailed by the gestionnaire, used once --------------------------------------------

def test_emailed_activation_link_activates_the_account_once(app, client, db, staff,
                                                           login_as, mail_server):
    login_as(staff["gestion"])
    response = _hand_out(client, staff, "send")
    assert response.status_code == 302
    page = _flashes(client, staff)
    assert ("Lien d'activation envoyé à 2 personnes : Paul Marchand (p.marchand@example.fr), "
            "Anne Roy (anne.roy@ac-test.fr).") in page
    [message] = mail_server.to("anne.roy@ac-test.fr")
    assert message["From"] == "examens@ac-test.fr"
    assert message["Subject"] == "Activez votre compte — application des examens"
    body = mail_server.body(message)
    assert "Bonjour Anne Roy," in body
    assert "Votre identifiant : anne.roy@ac-test.fr" in body
    assert "session « BTS SAM 2027 »" in body
    [link] = mail_server.links("anne.roy@ac-test.fr")
    assert link.startswith(f"{BASE}/compte/activer/")
    assert len(mail_server.messages) == 2

    client.post("/deconnexion", data={"csrf_token": csrf_token_from(page)})
    form = _text(client.get(_path(link)))
    assert "Activer mon compte" in form and "anne.roy@ac-test.fr" in form
    response = _choose(client, link)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    home = _text(client.get("/", follow_redirects=True))
    assert "Votre compte est activé. Bienvenue !" in home
    anne = db.session.get(User, staff["anne"].id)
    assert anne.is_activated is True and anne.check_password(NEW_PASSWORD) is True

    again = client.get(_path(link))
    assert again.status_code == 410
    assert "Ce lien a déjà servi : il ne fonctionne qu'une fois." in _text(again)
    client.post("/deconnexion", data={"csrf_token": csrf_token_from(home)})
    assert _log_in(client, "anne.roy@ac-test.fr", NEW_PASSWORD) == 302


def test_people_page_shows_each_account_status(app, client, db, staff, login_as):
    tokens.issue(user=staff["anne"], purpose=TokenPurpose.ACTIVATION, max_age_seconds=3600,
                 actor=None, channel="csv", now=utcnow() - timedelta(hours=2))
    tokens.issue(user=staff["paul"], purpose=TokenPurpose.ACTIVATION, max_age_seconds=86400,
                 actor=None, channel="csv")
    login_as(staff["gestion"])
    page = _text(client.get(_people_url(staff)))

    def status(username):
        row = page.split(f'data-username="{username}"', 1)[1].split("</tr>", 1)[0]
        return row.split('class="account account--', 1)[1].split('"', 1)[0]

    assert status(staff["gestion"].username) == "activated"
    assert status("anne.roy@ac-test.fr") == "expired"
    assert status("p.marchand@example.fr") == "pending"
    assert "Lien expiré" in page and "En attente d'activation" in page and "Activé" in page
    assert "non envoyé par courriel" in page


def test_selected_people_only_get_a_link(app, client, db, staff, login_as, mail_server):
    login_as(staff["gestion"])
    _hand_out(client, staff, "send", scope="selected", ids=[staff["paul"].id])
    assert [m["To"] for m in mail_server.messages] == ["p.marchand@example.fr"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccountToken)) == 1


def test_mail_server_down_nothing_is_claimed_sent(app, client, db, staff, login_as,
                                                  mail_server):
    mail_server.stop()  # the port now refuses connections
    login_as(staff["gestion"])
    response = _hand_out(client, staff, "send")
    assert response.status_code == 302
    page = _flashes(client, staff)
    assert (f"Le serveur de courriel (127.0.0.1:{mail_server.port}) est injoignable ou a "
            "refusé la connexion (connexion refusée). Rien n'a été envoyé.") in page
    assert "Lien d'activation envoyé" not in page
    assert db.session.scalars(sa.select(AccountToken)).all() == []
    failed = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "activation_link.send_failed")).one()
    assert sorted(failed.after["users"]) == sorted([staff["anne"].id, staff["paul"].id])


def test_a_refused_address_is_reported_and_keeps_its_previous_link(app, client, db, staff,
                                                                   login_as, mail_server):
    earlier = tokens.issue(user=staff["paul"], purpose=TokenPurpose.ACTIVATION,
                           max_age_seconds=86400, actor=None, channel="csv")
    mail_server.refuse("p.marchand@example.fr")
    login_as(staff["gestion"])
    _hand_out(client, staff, "send")
    page = _flashes(client, staff)
    assert "Lien d'activation envoyé à 1 personne : Anne Roy (anne.roy@ac-test.fr)." in page
    assert ("Non envoyé à Paul Marchand : Adresse p.marchand@example.fr refusée par le serveur "
            "de courriel. Son lien précédent, s'il en avait un, reste valable.") in page
    assert [m["To"] for m in mail_server.messages] == ["anne.roy@ac-test.fr"]
    paul_tokens = db.session.scalars(sa.select(AccountToken).where(
        AccountToken.user_id == staff["paul"].id)).all()
    assert [(t.id, t.revoked_at, t.sent_at) for t in paul_tokens] == [(earlier.token_id, None,
                                                                        None)]
    anne_token = db.session.scalars(sa.select(AccountToken).where(
        AccountToken.user_id == staff["anne"].id)).one()
    assert anne_token.sent_at is not None


# ---- links refused ------------------------------------------------------------------------

def test_expired_replaced_and_unknown_links_are_refused_in_french(app, client, db, staff):
    old = tokens.issue(user=staff["anne"], purpose=TokenPurpose.ACTIVATION,
                       max_age_seconds=3600, actor=None, channel="csv")
    new = tokens.issue(user=staff["anne"], purpose=TokenPurpose.ACTIVATION,
                       max_age_seconds=3600, actor=None, channel="csv")
    expired = tokens.issue(user=staff["paul"], purpose=TokenPurpose.ACTIVATION,
                           max_age_seconds=3600, actor=None, channel="csv",
                           now=utcnow() - timedelta(hours=1, seconds=1))
    cases = [(tokens.link(old), 410, "Ce lien a été remplacé par un lien plus récent"),
             (tokens.link(expired), 410, "Ce lien a expiré."),
             (f"{BASE}/compte/activer/inconnu", 404, "Ce lien n'est pas valide")]
    csrf = csrf_token_from(_text(client.get("/connexion")))
    for link, status, text in cases:
        page = client.get(_path(link))
        assert (page.status_code, text in _text(page)) == (status, True), link
        post = client.post(_path(link), data={"password": NEW_PASSWORD,
                                              "confirm": NEW_PASSWORD, "csrf_token": csrf})
        assert post.status_code == status
    # An activation link does not open the reset page, nor the reverse.
    assert client.get(f"/compte/reinitialiser/{new.secret}").status_code == 404
    assert db.session.get(User, staff["paul"].id).is_activated is False
    assert _choose(client, tokens.link(new)).status_code == 302


def test_a_refused_password_leaves_the_link_open(app, client, db, staff):
    issued = tokens.issue(user=staff["anne"], purpose=TokenPurpose.ACTIVATION,
                          max_age_seconds=3600, actor=None, channel="csv")
    response = _choose(client, tokens.link(issued), password="Anne Roy 2027 anne roy")
    assert response.status_code == 422
    assert ("Le mot de passe ne doit contenir ni votre identifiant, ni votre prénom, ni votre "
            "nom.") in _text(response)
    response = _choose(client, tokens.link(issued), confirm="autre chose encore")
    assert response.status_code == 400
    assert "Les deux saisies du mot de passe diffèrent." in _text(response)
    token = db.session.get(AccountToken, issued.token_id)
    assert (token.used_at, db.session.get(User, staff["anne"].id).is_activated) == (None, False)
    assert _choose(client, tokens.link(issued)).status_code == 302


def test_using_a_link_is_one_serialised_decision(app, db, staff):
    """The conditional UPDATE decides: once one use is committed, another use of the same
    link (which had read it open) is refused, and the password stays the first one."""
    issued = tokens.issue(user=staff["anne"], purpose=TokenPurpose.ACTIVATION,
                          max_age_seconds=3600, actor=None, channel="csv")
    db.session.commit()
    real_find = tokens.find
    stale = real_find(secret=issued.secret, purpose=TokenPurpose.ACTIVATION)
    tokens.use(secret=issued.secret, purpose=TokenPurpose.ACTIVATION, password=NEW_PASSWORD)
    db.session.commit()
    calls = []

    def find_reading_it_open(**kwargs):  # the second use read the link before the first
        calls.append(1)
        return stale[:2] + (tokens.TokenState.OPEN,) if len(calls) == 1 else real_find(**kwargs)

    tokens.find = find_reading_it_open
    try:
        with pytest.raises(tokens.TokenUnusable) as refused:
            tokens.use(secret=issued.secret, purpose=TokenPurpose.ACTIVATION,
                       password="une autre phrase secrète")
    finally:
        tokens.find = real_find
    assert refused.value.state == tokens.TokenState.USED
    db.session.rollback()
    assert db.session.get(User, staff["anne"].id).check_password(NEW_PASSWORD) is True


# ---- CSV and letters --------------------------------------------------------------------

def test_csv_download_gives_new_links_that_replace_the_previous(app, client, db, staff,
                                                                login_as):
    login_as(staff["gestion"])
    response = _hand_out(client, staff, "csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "liens-activation-SAM27.csv" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig")),
                           delimiter=";"))
    assert rows[0] == ["Nom", "Prénom", "Courriel", "Identifiant", "Rôles",
                       "Lien d'activation", "Expire le"]
    assert [row[:5] for row in rows[1:]] == [
        ["Marchand", "Paul", "p.marchand@example.fr", "p.marchand@example.fr", "Examinateur"],
        ["Roy", "Anne", "anne.roy@ac-test.fr", "anne.roy@ac-test.fr", "Correcteur"]]
    assert all(re.fullmatch(r"\d\d/\d\d/20\d\d à \d\d h \d\d", row[6]) for row in rows[1:])
    assert {t.expires_at - t.created_at for t in db.session.scalars(sa.select(AccountToken))} \
        == {timedelta(days=7)}
    first_links = {row[1]: row[5] for row in rows[1:]}

    again = _hand_out(client, staff, "csv")
    rows = list(csv.reader(io.StringIO(again.get_data().decode("utf-8-sig")), delimiter=";"))
    assert first_links["Anne"] != rows[2][5]
    assert client.get(_path(first_links["Anne"])).status_code == 410
    client.post("/deconnexion", data={"csrf_token": csrf_token_from(_flashes(client, staff))})
    assert _choose(client, rows[2][5]).status_code == 302
    assert db.session.get(User, staff["anne"].id).is_activated is True


def test_letters_pdf_one_page_per_pending_person_with_name_and_link(app, client, db, staff,
                                                                    login_as):
    login_as(staff["gestion"])
    response = _hand_out(client, staff, "letters")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.get_data()))
    assert len(reader.pages) == 2
    texts = [" ".join(page.extract_text().split()) for page in reader.pages]
    assert "Paul Marchand" in texts[0] and "Anne Roy" in texts[1]
    assert "Identifiant p.marchand@example.fr" in texts[0]
    assert "Identifiant anne.roy@ac-test.fr" in texts[1]
    hashes = {t.user_id: t.token_hash for t in db.session.scalars(sa.select(AccountToken))}
    for text, user in zip(texts, [staff["paul"], staff["anne"]], strict=True):
        assert "Activation de votre compte" in text
        secret = text.replace(" ", "").split(f"{BASE}/compte/activer/", 1)[1][:43]
        assert tokens.hash_secret(secret) == hashes[user.id]


def test_letters_links_work(app, client, db, staff, login_as):
    login_as(staff["gestion"])
    response = _hand_out(client, staff, "letters", scope="selected", ids=[staff["anne"].id])
    reader = PdfReader(io.BytesIO(response.get_data()))
    [page] = reader.pages
    text = "".join(page.extract_text().split())
    secret = text.split(f"{BASE}/compte/activer/", 1)[1][:43]
    client.post("/deconnexion", data={"csrf_token": csrf_token_from(_flashes(client, staff))})
    assert _choose(client, f"{BASE}/compte/activer/{secret}").status_code == 302


def test_nothing_pending_is_said(app, client, db, staff, login_as):
    login_as(staff["gestion"])
    response = _hand_out(client, staff, "csv", scope="selected", ids=[staff["gestion"].id])
    assert response.status_code == 302
    assert "Aucune personne en attente d'activation parmi les personnes cochées" in \
        _flashes(client, staff)
    assert db.session.scalars(sa.select(AccountToken)).all() == []


def test_without_public_url_no_link_is_issued(app, client, db, staff, login_as):
    login_as(staff["gestion"])
    app.config["PUBLIC_URL"] = ""
    try:
        response = _hand_out(client, staff, "csv")
    finally:
        app.config["PUBLIC_URL"] = BASE
    assert response.status_code == 302
    assert "l'adresse publique du site (PUBLIC_URL) n'est pas configurée" in \
        _flashes(client, staff)
    assert db.session.scalars(sa.select(AccountToken)).all() == []


# ---- password reset -----------------------------------------------------------------------

def _forgot(client, address: str):
    page = client.get("/compte/mot-de-passe-oublie")
    return client.post("/compte/mot-de-passe-oublie", data={
        "csrf_token": csrf_token_from(_text(page)), "email": address})


def test_password_reset_by_email(app, client, db, staff, mail_server):
    login_page = _text(client.get("/connexion"))
    assert '<a href="/compte/mot-de-passe-oublie">Mot de passe oublié ?</a>' in login_page
    gestion = staff["gestion"]
    response = _forgot(client, "GESTION@ac-test.fr")
    assert response.status_code == 200
    said = _text(response)
    assert "Si un compte correspond à l'adresse « GESTION@ac-test.fr »" in said
    [message] = mail_server.to("gestion@ac-test.fr")
    assert message["Subject"] == "Réinitialisation de votre mot de passe — application des examens"
    [link] = mail_server.links("gestion@ac-test.fr")
    assert link.startswith(f"{BASE}/compte/reinitialiser/")
    token = db.session.scalars(sa.select(AccountToken)).one()
    assert token.expires_at - token.created_at == timedelta(hours=1)

    assert _choose(client, link).status_code == 302
    assert db.session.get(User, gestion.id).check_password(NEW_PASSWORD) is True
    assert client.get(_path(link)).status_code == 410
    client.post("/deconnexion", data={"csrf_token": csrf_token_from(
        _text(client.get("/", follow_redirects=True)))})
    assert _log_in(client, gestion.username, PASSWORD) == 401
    assert _log_in(client, gestion.username, NEW_PASSWORD) == 302


def test_reset_never_says_whether_the_address_exists(app, client, db, staff, mail_server):
    known = _text(_forgot(client, "gestion@ac-test.fr"))
    unknown = _text(_forgot(client, "personne@ac-test.fr"))
    assert known.replace("gestion@", "personne@") == unknown
    assert [m["To"] for m in mail_server.messages] == ["gestion@ac-test.fr"]


def test_reset_requests_are_spaced_and_throttled(app, client, db, staff, mail_server,
                                                 monkeypatch):
    from exam_app.accounts import throttle

    frozen = utcnow()
    monkeypatch.setattr(throttle, "utcnow", lambda: frozen)  # the waits, not the test's pace
    for _ in range(5):
        assert _forgot(client, "gestion@ac-test.fr").status_code == 200
    # One link per account at most every RESET_MIN_INTERVAL_SECONDS, whoever asks.
    assert len(mail_server.messages) == 1
    response = _forgot(client, "gestion@ac-test.fr")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert "Trop de demandes depuis ce poste. Réessayez dans 1 seconde." in \
        _text(response)


def test_reset_with_the_mail_server_down_says_so_for_every_address(app, client, db, staff,
                                                                    mail_server):
    mail_server.stop()
    for address in ("gestion@ac-test.fr", "personne@ac-test.fr"):
        response = _forgot(client, address)
        assert response.status_code == 503
        assert ("Le service d'envoi de courriels est momentanément indisponible : aucun "
                "courriel n'a été envoyé.") in _text(response)
    assert db.session.scalars(sa.select(AccountToken)).all() == []


def test_reset_without_mail_configured_points_to_the_gestionnaire(app, client, db):
    page = _text(client.get("/compte/mot-de-passe-oublie"))
    assert "L'envoi de courriels n'est pas configuré sur ce site" in page


# ---- audit ----------------------------------------------------------------------------------

def test_every_link_is_audited_without_its_secret(app, client, db, staff, login_as,
                                                  mail_server):
    login_as(staff["gestion"])
    _hand_out(client, staff, "send")
    csv_rows = _hand_out(client, staff, "csv").get_data().decode("utf-8-sig")
    secrets = [link.rsplit("/", 1)[1] for link in
               mail_server.links("anne.roy@ac-test.fr") + mail_server.links(
                   "p.marchand@example.fr")]
    secrets += [row.split(";")[5].rsplit("/", 1)[1] for row in csv_rows.splitlines()[1:]]
    client.post("/deconnexion", data={"csrf_token": csrf_token_from(_flashes(client, staff))})
    anne_link = [r.split(";")[5] for r in csv_rows.splitlines()[1:] if "Anne" in r][0]
    _choose(client, anne_link)
    events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
    actions = [e.action for e in events if "link" in e.action]
    assert actions == ["activation_link.issue", "activation_link.send"] * 2 + [
        "activation_link.issue"] * 2 + ["activation_link.hand_out", "activation_link.use"]
    dump = json.dumps([[e.before, e.after, e.reason] for e in events])
    assert len(secrets) == 4
    for secret in secrets:
        assert secret not in dump and tokens.hash_secret(secret) not in dump
    used = events[-1]
    assert (used.actor_id, used.after["activated"]) == (staff["anne"].id, True)


# ---- command line ---------------------------------------------------------------------------

def _invoke(app, db, *args):
    db.session.commit()  # the command runs in its own app context and session
    result = app.test_cli_runner().invoke(args=list(args))
    db.session.expire_all()
    return result


def test_activation_links_command_writes_the_csv(app, client, db, staff):
    result = _invoke(app, db, "activation-links", "--session", "SAM27")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout.lstrip("\ufeff")), delimiter=";"))
    assert [row[:3] for row in rows] == [["Nom", "Prénom", "Courriel"],
                                         ["Marchand", "Paul", "p.marchand@example.fr"],
                                         ["Roy", "Anne", "anne.roy@ac-test.fr"]]
    assert _choose(client, rows[2][5]).status_code == 302
    assert db.session.get(User, staff["anne"].id).is_activated is True
    assert [e.after["channel"] for e in db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "activation_link.hand_out"))] == ["csv"]


def test_activation_links_command_sends_and_reports_each_person(app, db, staff, mail_server):
    mail_server.refuse("anne.roy@ac-test.fr")
    result = _invoke(app, db, "activation-links", "--session", "SAM27", "--send")
    assert result.exit_code == 1
    assert result.stdout == (
        "envoyé\tp.marchand@example.fr\tPaul Marchand\n"
        "NON ENVOYÉ\tanne.roy@ac-test.fr\tAnne Roy\tAdresse anne.roy@ac-test.fr refusée par "
        "le serveur de courriel.\n")
    assert "1 courriel(s) non envoyé(s) sur 2." in result.stderr
    assert [m["To"] for m in mail_server.messages] == ["p.marchand@example.fr"]
    assert {t.user_id for t in db.session.scalars(sa.select(AccountToken))} == {
        staff["paul"].id}


def test_activation_links_command_with_the_server_down(app, db, staff, mail_server):
    mail_server.stop()
    result = _invoke(app, db, "activation-links", "--session", "SAM27", "--send")
    assert result.exit_code == 1
    assert "est injoignable ou a refusé la connexion (connexion refusée). Rien n'a été envoyé." \
        in result.stderr
    assert db.session.scalars(sa.select(AccountToken)).all() == []


def test_activation_links_command_prints_letters(app, db, staff, tmp_path):
    path = tmp_path / "lettres.pdf"
    result = _invoke(app, db, "activation-links", "--session", "SAM27", "--letters", str(path))
    assert result.exit_code == 0, result.output
    assert "2 lettre(s) d'activation écrites dans" in result.stderr
    assert len(PdfReader(path).pages) == 2


def test_create_user_without_password_gets_an_activation_link(app, client, db):
    result = _invoke(app, db, "create-user", "--username", "claire", "--first-name", "Claire",
                     "--last-name", "Vasseur", "--email", "c.vasseur@ac-test.fr", "--role",
                     "gestionnaire", "--activation-link")
    assert result.exit_code == 0, result.output
    first, second = result.stdout.splitlines()
    assert first == "Compte « claire » créé (gestionnaire)."
    assert second.startswith("Lien d'activation (valable 7 jours, à usage unique) : "
                             f"{BASE}/compte/activer/")
    user = db.session.scalar(sa.select(User).where(User.username == "claire"))
    assert user.is_activated is False
    assert _log_in(client, "claire", "") == 400
    assert _choose(client, second.rsplit(" ", 1)[1]).status_code == 302
    assert db.session.get(User, user.id).check_password(NEW_PASSWORD) is True


def test_create_user_sends_the_activation_link(app, db, mail_server):
    result = _invoke(app, db, "create-user", "--username", "claire", "--first-name", "Claire",
                     "--last-name", "Vasseur", "--email", "c.vasseur@ac-test.fr", "--role",
                     "gestionnaire", "--activation-link", "--send")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == "Lien d'activation envoyé à c.vasseur@ac-test.fr."
    [link] = mail_server.links("c.vasseur@ac-test.fr")
    token = db.session.scalars(sa.select(AccountToken)).one()
    assert tokens.hash_secret(link.rsplit("/", 1)[1]) == token.token_hash
    assert token.sent_at is not None
    mail_server.stop()
    result = _invoke(app, db, "create-user", "--username", "marc", "--first-name", "Marc",
                     "--last-name", "Blanc", "--email", "m.blanc@ac-test.fr", "--role",
                     "correcteur", "--activation-link", "--send")
    assert result.exit_code == 1
    assert "Rien n'a été envoyé." in result.stderr
    assert db.session.scalar(sa.select(User).where(User.username == "marc")) is None
