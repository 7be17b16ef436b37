"""A correcteur marks three anonymous copies with the keyboard only (Chromium).

The live server and its database are local to this file (a SQLite file in a
temporary directory) so that they do not depend on the shared browser fixtures.
"""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest

PASSWORD = "motdepasse-navigateur"

pytestmark = pytest.mark.browser


@pytest.fixture()
def live_e6(tmp_path):
    from werkzeug.serving import make_server

    from exam_app import create_app
    from exam_app.accounts.models import Role, RoleAssignment, User
    from exam_app.e6.models import Attendance, E6Copy
    from exam_app.enrolment.models import Candidate, CandidateUnitForm, Centre, Establishment, ExamSession
    from exam_app.extensions import db
    from tests.browser.conftest import closing_static
    from tests.e6.builders import add_questions, add_room, enroll, make_lot, seat

    app = create_app({"SECRET_KEY": "browser-secret", "SESSION_COOKIE_SECURE": False,
                      "PUBLIC_URL": "https://examens.example",
                      "REMEMBER_COOKIE_SECURE": False,
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/browser.db"})
    with app.app_context():
        db.create_all()
        session = ExamSession(code="B1", name="BTS SAM navigateur", year=2027)
        centre = Centre(session=session, code="C1", name="Centre 1")
        school = Establishment(uai="0770003M", name="Lycée navigateur")
        db.session.add_all([session, centre, school])
        db.session.flush()
        room = add_room(centre)
        for n in range(3):
            candidate = Candidate(session=session, number=f"0300000000{n}", last_name=f"NOM{n}",
                                  first_name="Test", birth_date=date(2005, 1, 1),
                                  establishment=school, centre=centre,
                                  unit_forms=[CandidateUnitForm(unit_code="E5", form="ponctuel")])
            db.session.add(candidate)
            db.session.flush()
            seat(candidate, room, Attendance.PRESENT)
        add_questions(session, ("8", "7", "5"))
        marker = User(username="correcteur", first_name="Claude", last_name="Correcteur")
        marker.set_password(PASSWORD)
        marker.roles.append(RoleAssignment(role=Role.CORRECTEUR.value))
        db.session.add(marker)
        db.session.flush()
        enroll(session, marker)
        copies = list(db.session.scalars(db.select(E6Copy)))
        lot = make_lot(session, marker, copies)
        db.session.commit()
        lot_id = lot.id
    server = make_server("127.0.0.1", 0, closing_static(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}", "app": app, "lot_id": lot_id}
    server.shutdown()
    thread.join(5)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture()
def page(chromium):
    """A tablet-sized tab in the session's shared Chromium (one Playwright per run)."""
    context = chromium.new_context(viewport={"width": 1024, "height": 768})
    yield context.new_page()
    context.close()


def test_correcteur_marks_three_copies_with_the_keyboard(live_e6, page):
    from playwright.sync_api import expect

    from exam_app.e6 import marking
    from exam_app.e6.models import E6Lot
    from exam_app.extensions import db

    base = live_e6["url"]
    page.goto(f"{base}/connexion")
    page.locator("#username").focus()
    page.keyboard.type("correcteur")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/correction/")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/correction/lots/{live_e6['lot_id']}")
    expect(page.locator("input.points").first).to_be_focused()

    # The first points box has the focus; Tab walks a row, then into the next row.
    marks = [("7", "6,5", "4"), ("3,5", "2", "1"), ("8", "7", "5")]
    for row in marks:
        for value in row:
            page.keyboard.type(value)
            page.keyboard.press("Tab")
        page.keyboard.type("Copie lue")  # the comment
        page.keyboard.press("Tab")
    statuses = page.locator("tr.marking__row .status")
    assert errors == []
    for index in range(3):
        expect(statuses.nth(index)).to_have_text("Enregistré — complète", timeout=10_000)
    expect(page.locator("tr.marking__row .total")).to_have_text(["17,5", "6,5", "20"])

    # Arrow up goes to the same question of the previous copy; an out-of-bounds
    # value is flagged and not saved.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")  # last row, question 3
    page.keyboard.press("ArrowUp")
    page.keyboard.type("9")
    expect(statuses.nth(1)).to_contain_text("hors barème", timeout=5_000)
    expect(statuses.nth(1)).to_have_text("Erreur : 9 hors barème (0 à 5)")
    page.keyboard.press("Backspace")
    page.keyboard.type("1")  # a valid value again
    expect(statuses.nth(1)).to_have_text("Enregistré — complète", timeout=10_000)

    # A value the server refuses (off the session's 0,5 step): its message is shown
    # and its box flagged from the error's field.
    box = page.locator("tr.marking__row").nth(1).locator("input.points").nth(2)
    page.keyboard.press("Backspace")
    page.keyboard.type("2,25")
    expect(statuses.nth(1)).to_have_text(
        "Non enregistré : Question « Question 3 » : les points vont par pas de 0,5.",
        timeout=10_000)
    expect(box).to_have_attribute("aria-invalid", "true")
    for _ in range(4):
        page.keyboard.press("Backspace")
    page.keyboard.type("1")
    expect(statuses.nth(1)).to_have_text("Enregistré — complète", timeout=10_000)
    expect(box).to_have_attribute("aria-invalid", "false")

    # Validate the lot with the keyboard: tick the confirmation, submit.
    page.locator("input[name=confirm]").focus()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator(".flash--success")).to_contain_text("validé")

    with live_e6["app"].app_context():
        lot = db.session.get(E6Lot, live_e6["lot_id"])
        assert lot.state == "validated"
        totals = sorted(c.raw_total for c in marking.lot_copies(lot))
        assert totals == [Decimal("6.50"), Decimal("17.50"), Decimal("20.00")]
        assert {c.comment for c in marking.lot_copies(lot)} == {"Copie lue"}


def test_headers_stay_in_view_and_the_count_stays_after_saves(live_e6, chromium, screenshot):
    """Issue 17: scrolled, the grid keeps its question headers in view; after a save the
    « N / M copie(s) entièrement notée(s) » count is still there, updated."""
    from playwright.sync_api import expect

    context = chromium.new_context(viewport={"width": 1024, "height": 330})
    page = context.new_page()
    try:
        base = live_e6["url"]
        page.goto(f"{base}/connexion")
        page.fill("#username", "correcteur")
        page.fill("#password", PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{base}/correction/")
        page.goto(f"{base}/correction/lots/{live_e6['lot_id']}")
        summary = page.locator("#save-summary")
        expect(summary).to_have_text("0 / 3 copie(s) entièrement notée(s).")
        for value in ("7", "6,5", "4"):
            page.keyboard.type(value)
            page.keyboard.press("Tab")
        expect(page.locator("tr.marking__row .status").first).to_have_text(
            "Enregistré — complète", timeout=10_000)
        expect(summary).to_have_text("1 / 3 copie(s) entièrement notée(s). "
                                     "Toutes les saisies sont enregistrées.")

        wrap = page.locator(".marking-wrap")
        assert page.evaluate("el => el.scrollHeight > el.clientHeight", wrap.element_handle())
        page.evaluate("el => { el.scrollTop = el.scrollHeight; }", wrap.element_handle())
        header = page.locator("#marking thead th").nth(1)
        wrap_top = wrap.bounding_box()["y"]
        assert abs(header.bounding_box()["y"] - wrap_top) <= 2
        expect(header).to_be_visible()
        screenshot(page, "e6-marking-scrolled")
    finally:
        context.close()
