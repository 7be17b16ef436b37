"""Through Chromium: the gestionnaire changes the session's CCF combination rule once
marks exist (a reason is asked on the field, then saved), and a candidate with a
bénéfice and a dispense sees them in their space as the results print them."""

from __future__ import annotations

import pytest

from exam_app.accounts.models import Role
from exam_app.audit.services import record
from tests.conftest import PASSWORD, build_user
from tests.registration_helpers import register

pytestmark = pytest.mark.browser


@pytest.fixture()
def world(db, create_session, create_user, create_candidate):
    session = create_session(code="SAM2027", name="BTS SAM 2027", year=2027)
    gestion = create_user(Role.GESTIONNAIRE, username="gestion")
    record(actor=gestion, action="mark.final", object_type="passage", object_id=1,
           session_id=session.id)
    kept = create_candidate(session, number="02712345678", last_name="DUPRÉ",
                            first_name="Élodie", e5_form="ccf")
    register(kept, "E4", "benefice")
    register(kept, "E6", "dispense")
    build_user(Role.CANDIDAT, username="elodie", candidate=kept)
    db.session.commit()


def _login(page, live_server, username):
    page.goto(f"{live_server}/connexion")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Se connecter").click()


def test_ccf_rule_changed_with_a_reason(page, live_server, world, screenshot):
    _login(page, live_server, "gestion")
    page.goto(f"{live_server}/gestion/sessions/SAM2027/parametres")
    rule = page.get_by_label("Note globale arrêtée en situation B", exact=False)
    rule.check()
    with page.expect_navigation():
        page.get_by_role("button", name="Enregistrer les règles").click()
    error = page.locator("#reason-error")
    assert error.inner_text().startswith(
        "Règle déjà appliquée (combinaison des situations de CCF (E5))")
    screenshot(page, "results-ccf-rule-refused")
    page.get_by_label("Note globale arrêtée en situation B", exact=False).check()
    page.get_by_label("Motif du changement").fill("Décision du jury académique")
    with page.expect_navigation():
        page.get_by_role("button", name="Enregistrer les règles").click()
    assert "Règles enregistrées : combinaison des situations de CCF (E5)." in \
        page.locator("body").inner_text()
    assert page.get_by_label("Note globale arrêtée en situation B", exact=False).is_checked()
    screenshot(page, "results-ccf-rule-saved")


def test_candidate_space_shows_the_kept_mark_and_the_dispense(page, live_server, world,
                                                              screenshot):
    _login(page, live_server, "elodie")
    page.goto(f"{live_server}/candidat/")
    rows = page.locator("table tbody tr")
    texts = [rows.nth(i).inner_text().replace("\t", " | ") for i in range(rows.count())]
    assert [t.split(" | ")[-1] for t in texts if "Bénéfice" in t or "Dispensé" in t] == [
        "Bénéfice 2025 — 14,5", "Dispensé"]
    screenshot(page, "results-candidate-space")
