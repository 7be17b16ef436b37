"""The gestionnaire publishes the plan, signals a lost commission-day through Chromium,
sees who moves from where to where, applies it and sees the candidates to inform."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.clock import local_zone
from exam_app.juries import solver
from exam_app.juries.models import CommissionDay, Passage
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

DAYS = (date(2027, 5, 18), date(2027, 5, 19))


@pytest.fixture()
def planned(db, create_session, create_centre, create_commission, create_candidate,
            create_user):
    session = create_session(code="SAM2027", name="BTS SAM 2027")
    centre = create_centre(session, name="Lycée Quinet")
    gestionnaire = create_user(Role.GESTIONNAIRE, username="gestion")
    for _ in range(1):
        commission = create_commission(session, unit_code="E4", centre=centre)
        commission.days = [CommissionDay(day=d) for d in DAYS]
    for _ in range(8):
        create_candidate(session, e5_form="ccf", centre=centre)
    db.session.flush()
    proposal = solver.propose_plan(session=session, time_limit=5, units=("E4",))
    solver.apply_plan(session=session, proposal=proposal, actor=gestionnaire)
    db.session.commit()
    busiest = Counter((p.commission.code, p.scheduled_at.astimezone(local_zone()).date())
                      for p in db.session.scalars(sa.select(Passage)))
    return busiest.most_common(1)[0]


def test_absence_shows_the_diff_then_the_candidates_to_inform(page, live_server, planned,
                                                              screenshot, db):
    (code, day), count = planned
    before = {p.id: p.scheduled_at for p in db.session.scalars(sa.select(Passage))}
    page.goto(f"{live_server}/connexion")
    page.get_by_label("Identifiant").fill("gestion")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Se connecter").click()
    page.goto(f"{live_server}/gestion/sessions/SAM2027/planification")
    with page.expect_navigation():
        page.get_by_role("button", name="Publier le planning").click()
    assert "(8 passages)" in page.locator("section[aria-labelledby=publish-title]").inner_text()
    page.get_by_label("Ou commission entière absente").select_option(label=code)
    page.get_by_label("Jour de l'absence").fill(day.isoformat())
    page.get_by_label("Temps de calcul maximal de la réparation (secondes)").fill("5")
    with page.expect_navigation():
        page.get_by_role("button", name="Calculer la réparation").click()
    rows = page.locator("#repair-diff tbody tr")
    assert rows.count() == count
    assert f"{code}, {day:%d/%m}" in rows.first.inner_text()
    screenshot(page, "repair-diff")
    with page.expect_navigation():
        page.get_by_role("button", name="Appliquer la réparation").click()
    db.session.expire_all()
    retimed = sum(1 for p in db.session.scalars(sa.select(Passage))
                  if p.scheduled_at != before[p.id])
    assert retimed and page.locator("#to-inform tbody tr").count() == retimed
    assert "Réparation du planning (absence)" in page.locator("#to-inform").inner_text()
    screenshot(page, "repair-to-inform")
