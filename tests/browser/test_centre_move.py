"""The gestionnaire moves candidates without centre through Chromium: filter the list,
tick, choose the centre, read the confirmation, move (issue 13, item 4)."""

from __future__ import annotations

import pytest

from exam_app.accounts.models import Role
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture()
def world(db, create_session, create_user, create_establishment, create_centre,
          create_candidate):
    session = create_session(code="SAM2027", name="BTS SAM 2027", academie="Académie de Lyon")
    lyon = create_centre(session, code="LYO01", name="Lycée Ampère")
    create_centre(session, code="STE01", name="Lycée Fauriel")
    herriot = create_establishment(uai="0690026D", name="Lycée Édouard-Herriot")
    weil = create_establishment(uai="0421788R", name="Lycée Simone-Weil")
    create_candidate(session, last_name="DUPRÉ", first_name="Élodie", establishment=herriot)
    create_candidate(session, last_name="LEFÈVRE", first_name="Chloé", establishment=herriot)
    create_candidate(session, last_name="MARTIN", first_name="Hugo", establishment=weil)
    create_candidate(session, last_name="ROY", first_name="Anne", establishment=weil, centre=lyon)
    create_user(Role.GESTIONNAIRE, username="gestion", first_name="Claire", last_name="Vasseur")
    db.session.commit()


def test_filter_select_confirm_and_move(page, live_server, world, screenshot):
    page.goto(f"{live_server}/connexion")
    page.get_by_label("Identifiant").fill("gestion")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Se connecter").click()
    block = page.locator('[data-blocker="without_centre"]')
    assert block.locator(".readiness__label").inner_text() == "candidats sans centre d'examen"
    assert block.locator(".readiness__count").inner_text() == "3"
    # Said once: the readiness board names them, no second panel repeats it.
    assert page.get_by_text("sans centre d'examen").count() == 1
    screenshot(page, "dashboard-without-centre")
    page.goto(f"{live_server}/gestion/sessions/SAM2027/centres/table")
    assert page.get_by_label("Centre de Lycée Simone-Weil").is_visible()
    screenshot(page, "centre-table")

    page.goto(f"{live_server}/gestion/sessions/SAM2027/candidats")
    page.get_by_label("Centre", exact=True).select_option(label="Sans centre")
    page.get_by_label("Établissement").select_option(label="Lycée Édouard-Herriot")
    with page.expect_navigation():
        page.get_by_role("button", name="Filtrer").click()
    assert page.locator("tbody tr td:nth-child(3)").all_inner_texts() == ["DUPRÉ", "LEFÈVRE"]
    page.get_by_label("Choisir DUPRÉ Élodie").check()
    page.get_by_label("Choisir LEFÈVRE Chloé").check()
    page.get_by_label("Vers le centre").select_option(label="STE01 — Lycée Fauriel")
    screenshot(page, "candidates-filtered-for-move")
    with page.expect_navigation():
        page.get_by_role("button", name="Déplacer…").click()
    assert page.get_by_role("heading", name="Confirmer le déplacement vers Lycée Fauriel "
                                            "(STE01)").is_visible()
    assert "2 candidat(s) changeront de centre." in page.locator("main").inner_text()
    screenshot(page, "candidates-move-confirm")
    with page.expect_navigation():
        page.get_by_role("button", name="Déplacer 2 candidat(s)").click()
    assert page.get_by_role("status").first.inner_text() == (
        "2 candidat(s) déplacé(s) vers Lycée Fauriel ; 0 passage(s) retiré(s) à replanifier ; "
        "0 document(s) imprimé(s) remplacé(s).")
    # Back on the filtered list: no Herriot candidate is left without a centre.
    assert page.get_by_text("Aucun candidat ne correspond à ces critères.").is_visible()
