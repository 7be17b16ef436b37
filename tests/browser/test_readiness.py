"""What a gestionnaire sees first (the readiness board) and the chef de centre's rooms page,
in Chromium: the text a person reads, the refusal on its field, and no sideways scroll on
a tablet."""

from __future__ import annotations

import pytest

from exam_app.accounts.models import Role
from exam_app.enrolment.models import CentreRoom
from exam_app.extensions import db
from tests.conftest import PASSWORD, build_user

pytestmark = pytest.mark.browser


def _login(page, live_server, user) -> None:
    page.goto(f"{live_server}/connexion")
    page.get_by_label("Identifiant").fill(user.username)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Se connecter").click()


@pytest.fixture()
def small_session(create_session, create_centre, create_candidate, create_commission):
    session = create_session(code="SAM2027", name="BTS SAM 2027")
    lyon = create_centre(session, code="LYO01", name="Lycée Ampère — centre d'examen")
    lyon.rooms = [CentreRoom(name="B12", capacity=30, workstations=0),
                  CentreRoom(name="Salle informatique 2", capacity=18, workstations=14)]
    for n in range(3):
        create_candidate(session, centre=lyon if n else None)
    create_commission(session, unit_code="E4", centre=lyon)
    inactive = build_user(Role.EXAMINATEUR)
    inactive.password_hash = "!" + "0" * 32
    db.session.commit()
    return {"session": session, "lyon": lyon}


def test_the_board_is_the_first_thing_a_gestionnaire_sees(page, live_server, small_session,
                                                          screenshot):
    page.set_viewport_size({"width": 768, "height": 1024})
    gestionnaire = build_user(Role.GESTIONNAIRE)
    db.session.commit()
    _login(page, live_server, gestionnaire)
    page.goto(f"{live_server}/gestion/")
    board = page.locator("section.readiness")
    assert board.get_by_role("heading").inner_text() == "À faire avant l'étape suivante"
    items = board.locator(".readiness__item")
    assert [items.nth(i).locator(".readiness__count").inner_text()
            for i in range(items.count())] == ["1", "1", "1", "3", "2"]
    assert items.nth(0).locator("strong").inner_text() == "candidat sans centre d'examen"
    # The board comes before the key figures.
    assert page.evaluate("document.querySelector('.readiness').compareDocumentPosition("
                         "document.querySelector('.kpis')) & Node.DOCUMENT_POSITION_FOLLOWING")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    screenshot(page, "readiness-board")
    board.get_by_role("link", name="Voir les candidats sans centre").click()
    assert page.locator("p[role=status]").inner_text() == "1 candidat"


def test_the_chef_de_centre_edits_the_rooms(page, live_server, small_session, screenshot):
    page.set_viewport_size({"width": 1024, "height": 900})
    chef = build_user(Role.CHEF_CENTRE, centre=small_session["lyon"])
    db.session.commit()
    _login(page, live_server, chef)
    page.goto(f"{live_server}/centre/")
    page.get_by_role("link", name="Salles et postes informatiques (2 salles)").click()
    add = page.locator("form").filter(has=page.get_by_role("button", name="Ajouter la salle"))
    add.get_by_label("Nom de la salle").fill("Amphi")
    add.get_by_label("Places").fill("0")
    add.get_by_role("button", name="Ajouter la salle").click()
    error = page.locator("#new-capacity-error")
    assert error.inner_text() == "La capacité doit être d'au moins 1 place."
    screenshot(page, "rooms-refused")
    add = page.locator("form").filter(has=page.get_by_role("button", name="Ajouter la salle"))
    add.get_by_label("Places").fill("120")
    add.get_by_role("button", name="Ajouter la salle").click()
    assert page.locator(".flash--success").inner_text() == "Salle ajoutée."
    assert page.get_by_role("heading", name="Salles du centre (3)").is_visible()
    screenshot(page, "rooms")
