"""The planification page in Chromium: start the solver, watch it finish, read the
plan, apply it."""

from __future__ import annotations

from datetime import date

import pytest

from exam_app.accounts.models import Role
from exam_app.extensions import db
from exam_app.juries.models import CommissionDay
from tests.browser.test_readiness import _login
from tests.conftest import build_user

pytestmark = pytest.mark.browser


def test_a_gestionnaire_plans_the_session_and_applies_it(page, live_server, screenshot,
                                                         create_session, create_centre,
                                                         create_candidate, create_commission):
    session = create_session(code="SAM2027", name="BTS SAM 2027")
    centre = create_centre(session, code="LYO01", name="lycée Ampère")
    commission = create_commission(session, unit_code="E4", centre=centre)
    commission.days = [CommissionDay(day=date(2027, 5, 18))]
    for _ in range(4):
        create_candidate(session, centre=centre, e5_form="ccf")
    gestionnaire = build_user(Role.GESTIONNAIRE)
    db.session.commit()
    _login(page, live_server, gestionnaire)
    page.goto(f"{live_server}/gestion/sessions/SAM2027/commissions")
    page.get_by_role("link", name="Planifier toute la session").click()
    page.get_by_label("Temps de calcul maximal (secondes)").fill("5")
    page.get_by_role("button", name="Lancer la planification").click()
    # The page fetches the run's progress every 2 s until it ends (no reload, no meta
    # refresh: WCAG 2.2.1); the start button stays disabled while the run goes on.
    assert page.locator("meta[http-equiv=refresh]").count() == 0
    page.evaluate("window.__samePage = true")
    page.get_by_text("Plan complet :").wait_for(timeout=30_000)
    assert page.evaluate("window.__samePage === true")
    assert page.get_by_role("button", name="Lancer la planification").is_enabled()
    assert "4/4 passages planifiés, 1 journée de commission (au moins 1)" in page.locator(
        "p[role=status]").inner_text()
    rows = page.locator("table caption:text('Plan proposé') >> xpath=.. >> tbody tr")
    assert rows.count() == 4
    assert rows.nth(0).locator("td").nth(1).inner_text() == commission.code
    screenshot(page, "planification")
    page.get_by_role("button", name="Appliquer ce plan (4 passages)").click()
    assert page.locator(".flash--success").inner_text() == "Plan appliqué : 4 passages écrits."
