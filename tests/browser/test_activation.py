"""A person activates their account in Chromium through their one-time link; the
gestionnaire sees who has activated on the people page."""

from __future__ import annotations

import pytest

from exam_app.accounts import tokens
from exam_app.accounts.models import Role, TokenPurpose
from exam_app.enrolment import people
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

BASE = "https://examens.example"
NEW_PASSWORD = "cheval orange escalier lune"


@pytest.fixture()
def juror(db, create_session, create_user):
    session = create_session(code="SAM2027", name="BTS SAM 2027", academie="Académie de Lyon")
    gestion = create_user(Role.GESTIONNAIRE, username="gestion", first_name="Claire",
                          last_name="Vasseur", email="gestion@ac-lyon.fr")
    nadia = people.save_person(session=session, actor=gestion, last_name="Benali",
                               first_name="Nadia", email="nadia.benali@ac-lyon.fr",
                               role="professionnel", company="Transports Rhône")
    issued = tokens.issue(user=nadia, purpose=TokenPurpose.ACTIVATION, max_age_seconds=86400,
                          actor=gestion, channel="csv")
    db.session.commit()
    return {"link": tokens.link(issued), "gestion": gestion}


def test_a_juror_activates_their_account_through_the_link(page, live_server, juror,
                                                          screenshot):
    page.goto(juror["link"].replace(BASE, live_server))
    assert page.locator("h1").inner_text() == "Activer mon compte"
    assert page.locator("#username").inner_text() == "nadia.benali@ac-lyon.fr"
    screenshot(page, "activation-form")
    page.get_by_label("Mot de passe", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Mot de passe (confirmation)").fill(NEW_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Activer mon compte").click()
    assert page.get_by_text("Votre compte est activé. Bienvenue !").is_visible()
    assert page.locator(".user-box__name").inner_text() == "Nadia Benali"
    screenshot(page, "activation-done")

    page.goto(juror["link"].replace(BASE, live_server))
    assert page.locator("#link-reason").inner_text() == (
        "Ce lien a déjà servi : il ne fonctionne qu'une fois.")
    screenshot(page, "activation-used")


def test_people_page_shows_who_has_activated(page, live_server, juror, screenshot):
    page.goto(f"{live_server}/connexion")
    page.get_by_label("Identifiant").fill("gestion")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Se connecter").click()
    page.goto(f"{live_server}/gestion/sessions/SAM2027/personnes")
    row = page.locator('tr[data-username="nadia.benali@ac-lyon.fr"]')
    assert row.locator(".account").inner_text().startswith("En attente d'activation")
    assert page.locator('tr[data-username="gestion"] .account').inner_text() == "Activé"
    assert page.get_by_role("button", name="Imprimer les lettres d'activation (PDF)").is_visible()
    screenshot(page, "people-activation")
