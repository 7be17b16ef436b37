"""The gestionnaire records a candidate's status and an E4 bénéfice through Chromium:
a wrong mark is refused on its field, then the bénéfice shows on the page and the list."""

from __future__ import annotations

import pytest

from exam_app.accounts.models import Role
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture()
def world(db, create_session, create_user, create_establishment, create_candidate):
    session = create_session(code="SAM2027", name="BTS SAM 2027", year=2027)
    school = create_establishment(uai="0690026D", name="Lycée Édouard-Herriot",
                                  is_ccf_allowed=True)
    create_candidate(session, number="02712345678", last_name="DUPRÉ", first_name="Élodie",
                     establishment=school, e5_form="ponctuel")
    create_user(Role.GESTIONNAIRE, username="gestion")
    db.session.commit()


def test_status_and_benefice_on_the_candidate_page(page, live_server, world, screenshot):
    page.goto(f"{live_server}/connexion")
    page.get_by_label("Identifiant").fill("gestion")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Se connecter").click()
    page.goto(f"{live_server}/gestion/sessions/SAM2027/candidats")
    with page.expect_navigation():
        page.get_by_role("link", name="DUPRÉ").click()

    page.get_by_label("Statut du candidat").select_option("scolaire")
    with page.expect_navigation():
        page.get_by_role("button", name="Enregistrer le statut").click()
    e5 = page.locator("form[data-unit=E5]")
    assert e5.locator("[data-current]").inner_text() == "Présente l'épreuve (CCF)"

    e4 = page.locator("form[data-unit=E4]")
    e4.get_by_label("Bénéfice de note").check()
    e4.get_by_label("Note conservée (/20)").fill("8")
    e4.get_by_label("Session d'obtention").fill("2025")
    e4.get_by_label("Motif ou demande").fill("demande du 12/01/2027")
    with page.expect_navigation():
        e4.get_by_role("button", name="Enregistrer l'E4").click()
    e4 = page.locator("form[data-unit=E4]")
    assert e4.locator(".field__error").all_inner_texts() == [
        "seule une note d'au moins 10 sur 20 se conserve."]
    e4.get_by_label("Note conservée (/20)").fill("14,5")
    with page.expect_navigation():
        e4.get_by_role("button", name="Enregistrer l'E4").click()
    assert page.locator("form[data-unit=E4] [data-current]").inner_text() == (
        "Bénéfice 2025 — 14,5 — demande du 12/01/2027")
    screenshot(page, "candidate-registration")
