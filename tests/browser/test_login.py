"""Log in through the real form in Chromium, as each role, and see its home page."""

from __future__ import annotations

import pytest

from exam_app.accounts.models import Role
from exam_app.clock import utcnow
from exam_app.formatting import long_date
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture()
def people(db, create_session, create_centre, create_establishment, create_candidate,
           create_user, create_commission):
    session = create_session(code="SAM2027", name="BTS SAM 2027", academie="Académie de Lyon")
    centre = create_centre(session, code="LYO01", name="Lycée Jean-Monnet", address="12 rue du Plat",
                           postal_code="69002", city="Lyon")
    lycee = create_establishment(uai="0690026D", name="Lycée Édouard-Herriot")
    candidate = create_candidate(session, number="02712345678", last_name="DUPRÉ",
                                 first_name="Élodie", establishment=lycee, centre=centre)
    users = {
        Role.GESTIONNAIRE: create_user(Role.GESTIONNAIRE, username="gestion",
                                       first_name="Claire", last_name="Vasseur"),
        Role.CHEF_CENTRE: create_user(Role.CHEF_CENTRE, username="centre1", centre=centre,
                                      first_name="Patrick", last_name="Lemoine"),
        Role.EXAMINATEUR: create_user(Role.EXAMINATEUR, username="jury1",
                                      first_name="Nadia", last_name="Benali"),
        Role.CORRECTEUR: create_user(Role.CORRECTEUR, username="correcteur1",
                                     first_name="Hugo", last_name="Roussel"),
        Role.CANDIDAT: create_user(Role.CANDIDAT, username="candidat1", candidate=candidate,
                                   first_name="Élodie", last_name="Dupré"),
        Role.JURY_DELIBERATION: create_user(Role.JURY_DELIBERATION, username="deliberation1",
                                            first_name="Claire", last_name="Duval"),
        Role.COORDINATEUR_CCF: create_user(Role.COORDINATEUR_CCF, username="ccf1",
                                           establishment=lycee, first_name="Sylvie",
                                           last_name="Marchand"),
    }
    create_commission(session, centre=centre, teacher=users[Role.EXAMINATEUR])
    db.session.commit()
    return users


HOMES = {
    Role.GESTIONNAIRE: ("/gestion/sessions/SAM2027/", "BTS SAM 2027 — Académie de Lyon"),
    Role.CHEF_CENTRE: ("/centre/", "Lycée Jean-Monnet"),
    # The examinateur's home is today's passages, dated in Paris time.
    Role.EXAMINATEUR: ("/jury/", None),
    Role.CORRECTEUR: ("/correction/", "Correction de l'E6"),
    Role.CANDIDAT: ("/candidat/", "Mon espace candidat"),
    Role.JURY_DELIBERATION: ("/deliberation", "Jury de délibération"),
    # The coordinator of one establishment goes straight to its CCF page.
    Role.COORDINATEUR_CCF: ("/ccf/sessions/SAM2027/etablissements/{lycee}",
                            "CCF de l'E5 — Lycée Édouard-Herriot — BTS SAM 2027"),
}


def _log_in(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server}/connexion")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Se connecter").click()


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_each_role_logs_in_and_sees_its_home(page, live_server, people, screenshot, role):
    user = people[role]
    path, heading = HOMES[role]
    path = path.format(lycee=user.establishment_ids() and min(user.establishment_ids()))
    if heading is None:
        heading = f"Ma journée — {long_date(utcnow())}"
    _log_in(page, live_server, user.username, PASSWORD)
    assert page.url == f"{live_server}{path}"
    assert page.locator("h1").first.inner_text() == heading
    assert page.locator(".user-box__name").inner_text() == user.display_name
    assert page.get_by_role("button", name="Se déconnecter").is_visible()
    screenshot(page, f"home-{role.value}")


def test_candidate_home_shows_their_identity(page, live_server, people):
    _log_in(page, live_server, "candidat1", PASSWORD)
    assert page.get_by_role("heading", name="Élodie DUPRÉ").is_visible()
    assert "02712345678" in page.locator("main").inner_text()


def test_logout_returns_to_the_login_page(page, live_server, people, screenshot):
    _log_in(page, live_server, "gestion", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Se déconnecter").click()
    assert page.url == f"{live_server}/connexion"
    assert page.get_by_role("status").inner_text() == "Vous êtes déconnecté."
    assert page.locator("h1").inner_text() == "Connexion"
    screenshot(page, "logout")
    page.goto(f"{live_server}/gestion/etablissements")
    assert page.url == f"{live_server}/connexion?next=%2Fgestion%2Fetablissements"
    assert page.get_by_role("status").inner_text() == (
        "Veuillez vous connecter pour accéder à cette page.")


def test_wrong_password_shows_the_french_message(page, live_server, people, screenshot):
    _log_in(page, live_server, "gestion", "pas-le-bon")
    assert page.url == f"{live_server}/connexion"
    assert page.get_by_role("alert").inner_text() == "Identifiant ou mot de passe incorrect."
    assert page.get_by_label("Identifiant").input_value() == "gestion"
    assert page.get_by_label("Mot de passe").input_value() == ""
    assert page.locator(".user-box__name").count() == 0
    screenshot(page, "login-wrong-password")


def test_empty_form_asks_for_both_fields(page, live_server, people):
    page.goto(f"{live_server}/connexion")
    with page.expect_navigation():
        page.get_by_role("button", name="Se connecter").click()
    errors = page.locator(".field__error").all_inner_texts()
    assert errors == ["Saisissez votre identifiant.", "Saisissez votre mot de passe."]


def test_login_follows_next_to_the_asked_page(page, live_server, people):
    page.goto(f"{live_server}/gestion/etablissements")
    page.get_by_label("Identifiant").fill("gestion")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")  # keyboard only
    assert page.url == f"{live_server}/gestion/etablissements"
    assert page.locator("h1").inner_text() == "Établissements"


def test_forbidden_page_answers_in_french(page, live_server, people, screenshot):
    _log_in(page, live_server, "candidat1", PASSWORD)
    response = page.goto(f"{live_server}/gestion/etablissements")
    assert response.status == 403
    assert page.locator("h1").inner_text() == "Accès refusé"
    assert "Vous n'avez pas le droit d'accéder à cette page." in page.locator("main").inner_text()
    screenshot(page, "error-403")


def test_skip_link_is_the_first_tab_stop_and_moves_focus_to_main(page, live_server, people):
    _log_in(page, live_server, "gestion", PASSWORD)
    page.goto(f"{live_server}/gestion/etablissements")  # a page without autofocus
    page.keyboard.press("Tab")
    focused = page.evaluate("[document.activeElement.className, document.activeElement.innerText]")
    assert focused == ["skip-link", "Aller au contenu"]
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "contenu"


def test_the_browser_finds_the_site_icon_and_asks_for_no_favicon_ico(live_server, page):
    """Issue 17: /favicon.ico answered 404 on every page; the pages name an SVG icon."""
    requested = []
    page.on("response", lambda response: requested.append((response.url, response.status)))
    page.goto(f"{live_server}/connexion")
    page.wait_for_timeout(500)
    assert [status for url, status in requested if url.endswith("/favicon.ico")] == []
    icon = page.get_attribute("link[rel=icon]", "href")
    assert icon.startswith("/static/favicon.svg")
    response = page.request.get(f"{live_server}{icon}")
    assert response.status == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
