"""Issue 15, done when: the gestionnaire drags a passage on the planning board and sees
the conflict it causes; publishing is refused while it stands; moved by keyboard out of
the conflict, the plan is published and the candidate's printed convocation verifies
as superseded (the other candidate's still holds)."""

from __future__ import annotations

from datetime import date

import pytest

from exam_app.accounts.models import Role
from exam_app.juries import plan_board, publication
from exam_app.juries.models import CommissionDay
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

DAY = date(2027, 5, 18)


@pytest.fixture()
def board(app, live_server, db, create_session, create_centre, create_commission,
          create_candidate, create_user):
    """Two E4 commissions of one centre on DAY; Alice in A at 9:00, Bruno in B at 9:00;
    the plan published and both convocations printed."""
    from exam_app.documents import convocation

    session = create_session(code="SAM2027", name="BTS SAM 2027")
    centre = create_centre(session, name="Lycée Quinet")
    gestionnaire = create_user(Role.GESTIONNAIRE, username="gestion")
    a = create_commission(session, unit_code="E4", centre=centre)
    b = create_commission(session, unit_code="E4", centre=centre)
    for c in (a, b):
        c.days = [CommissionDay(day=DAY)]
    alice = create_candidate(session, e5_form="ccf", centre=centre, last_name="ARNAUD",
                             first_name="Alice")
    bruno = create_candidate(session, e5_form="ccf", centre=centre, last_name="BERTIN",
                             first_name="Bruno")
    db.session.flush()
    placed = {}
    for who, commission in ((alice, a), (bruno, b)):
        placed[who.id] = plan_board.place(
            session=session, candidate_id=who.id, unit_code="E4", variant_code="ponctuel",
            commission_id=commission.id, day=DAY, start=9 * 60, actor=gestionnaire)
    publication.publish_plan(session=session, actor=gestionnaire)
    # Printed as the served app prints (its key signs the QR codes).
    secret = app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = "browser-test-secret"
    try:
        with app.test_request_context("/", base_url=live_server + "/"):
            printed = {p.id: convocation.build(p) for p in placed.values()}
    finally:
        app.config["SECRET_KEY"] = secret
    db.session.commit()
    tokens = {pid: doc.html.split("/verifier/", 1)[1].split("<", 1)[0].split('"', 1)[0]
              for pid, doc in printed.items()}
    return {"centre": centre, "a": a, "b": b, "alice": placed[alice.id],
            "bruno": placed[bruno.id], "tokens": tokens}


def _login(page, live_server):
    page.goto(f"{live_server}/connexion")
    page.get_by_label("Identifiant").fill("gestion")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Se connecter").click()


def test_drag_shows_the_conflict_then_publish_supersedes_the_convocation(
        page, live_server, board, screenshot):
    from playwright.sync_api import expect

    _login(page, live_server)
    url = (f"{live_server}/gestion/sessions/SAM2027/planification/tableau"
           f"?centre={board['centre'].id}&jour={DAY.isoformat()}")
    page.goto(url)
    bruno = page.locator(f"#pb-p{board['bruno'].id}")
    track_a = page.locator(f".pb-track[data-commission='{board['a'].id}']")
    assert page.locator("#pb-summary").inner_text().startswith("Aucun conflit")
    first = int(page.locator("#plan-board").get_attribute("data-first"))
    # Grab Bruno's block 5 px below its top, drop it in A 5 px below 9:05.
    bruno.drag_to(track_a, source_position={"x": 20, "y": 5},
                  target_position={"x": 40, "y": (9 * 60 + 5 - first) * 1.4 + 5})
    page.wait_for_selector(f".pb-track[data-commission='{board['a'].id}'] "
                           f"#pb-p{board['bruno'].id}.pb-block--conflict")
    bruno = page.locator(f"#pb-p{board['bruno'].id}")
    assert bruno.locator(".pb-time").inner_text().startswith("09:05")
    assert "conflit" in bruno.inner_text()
    assert "modifié depuis la publication" in bruno.inner_text()
    why = page.locator(f"#pb-why{board['bruno'].id}").inner_text()
    assert "Chevauche le passage de ARNAUD Alice" in why
    assert page.locator(f"#pb-p{board['alice'].id}.pb-block--conflict").count() == 1
    expect(page.locator("#pb-live")).to_contain_text("Conflit")
    assert "2 passage(s) en conflit" in page.locator("#pb-summary").inner_text()
    screenshot(page, "plan-board-conflict-1024")
    page.set_viewport_size({"width": 1366, "height": 768})
    screenshot(page, "plan-board-conflict-1366")

    # Publishing is refused while the conflict stands.
    with page.expect_navigation():
        page.get_by_role("button", name="Publier le planning").click()
    assert "en conflit : le planning n'est pas publié" in page.locator(".flash--error").first \
        .inner_text()

    # By keyboard: take Bruno's block, 12 steps of 5 min down (10:05: Alice's 55 min and
    # the 10 min break are over), drop it.
    page.goto(url)
    bruno = page.locator(f"#pb-p{board['bruno'].id}")
    bruno.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#pb-live")).to_contain_text("pris")
    for _ in range(12):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator("#pb-live")).to_contain_text("10:05")
    page.wait_for_selector("#pb-summary :text('Aucun conflit')")
    assert page.locator(f"#pb-p{board['bruno'].id} .pb-time").inner_text().startswith("10:05")
    assert page.evaluate("document.activeElement.id") == f"pb-p{board['bruno'].id}"
    screenshot(page, "plan-board-fixed-1366")

    with page.expect_navigation():
        page.get_by_role("button", name="Publier le planning").click()
    assert "Planning publié" in page.locator(".flash--success").first.inner_text()
    informed = page.locator("#informed").inner_text()
    assert "BERTIN Bruno" in informed and "ARNAUD Alice" not in informed

    page.goto(f"{live_server}/verifier/{board['tokens'][board['bruno'].id]}")
    assert "Document authentique mais remplacé" in page.locator("main").inner_text()
    page.goto(f"{live_server}/verifier/{board['tokens'][board['alice'].id]}")
    assert "Document authentique et à jour." in page.locator("main").inner_text()
