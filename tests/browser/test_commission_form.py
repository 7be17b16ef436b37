"""The gestionnaire forms a commission through Chromium: a teacher in the professional's
seat is refused on its field until the replacement's reason is given."""

from __future__ import annotations

import pytest

from exam_app.accounts.models import Role
from exam_app.enrolment.models import PersonProfile
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture()
def setup(db, create_session, create_centre, create_user, create_establishment):
    session = create_session(code="SAM2027", name="BTS SAM 2027", academie="Académie de Lyon")
    create_centre(session, code="LYO01", name="Lycée Jean-Monnet")
    school = create_establishment(uai="0690026D", name="Lycée Édouard-Herriot")
    create_user(Role.GESTIONNAIRE, username="gestion", first_name="Claire", last_name="Vasseur")
    people = {}
    for key, first, last, profile in (
            ("teacher", "Hugo", "Martin", {"establishment_id": school.id, "company": ""}),
            ("other", "Léa", "Bernard", {"establishment_id": school.id, "company": ""}),
            ("pro", "Inès", "Petit", {"company": "Clinique du Parc"})):
        user = create_user(Role.EXAMINATEUR, first_name=first, last_name=last,
                           email=f"{first.lower()}@exemple.fr")
        db.session.add(PersonProfile(user_id=user.id, **profile))
        people[key] = user
    db.session.commit()
    return people


def test_commission_form_refuses_a_teacher_as_professional_then_records_the_replacement(
        page, live_server, setup, screenshot):
    page.goto(f"{live_server}/connexion")
    page.get_by_label("Identifiant").fill("gestion")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Se connecter").click()
    page.goto(f"{live_server}/gestion/sessions/SAM2027/commissions")
    with page.expect_navigation():
        page.get_by_role("link", name="Nouvelle commission").click()
    page.get_by_label("Code de la commission").fill("E4-LYO01")
    page.get_by_label("Centre d'examen (forme ponctuelle)").select_option(label="LYO01 — Lycée Jean-Monnet")
    page.get_by_label("Jours de passage").fill("12/05/2027, 13/05/2027")
    page.get_by_label("Enseignant", exact=True).select_option(label="Martin Hugo (hugo@exemple.fr)")
    page.get_by_label("Professionnel", exact=True).select_option(
        label="Bernard Léa (léa@exemple.fr)")
    with page.expect_navigation():
        page.get_by_role("button", name="Former la commission").click()
    error = page.locator("#professional_id-error")
    assert error.inner_text().startswith("Léa Bernard n'a pas le profil de professionnel")
    assert page.get_by_label("Professionnel", exact=True).get_attribute("aria-invalid") == "true"
    screenshot(page, "commission-form-error")

    page.get_by_label("Motif du remplacement du professionnel par un enseignant").fill(
        "Aucun professionnel disponible ce jour-là")
    with page.expect_navigation():
        page.get_by_role("button", name="Former la commission").click()
    assert page.get_by_text("Commission E4-LYO01 formée.").is_visible()
    row = page.get_by_role("row", name="E4-LYO01")
    assert "Léa Bernard (enseignant(e) en remplacement du professionnel)" in row.inner_text()
    assert "12/05/2027, 13/05/2027" in row.inner_text()
    screenshot(page, "commission-list")
