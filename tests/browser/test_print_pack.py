"""A gestionnaire requests a print pack, watches the progress bar, and downloads it (Chromium).

The live server and its database are local to this file (a SQLite file in a
temporary directory).
"""

from __future__ import annotations

import io
import os
import threading
from datetime import UTC, date, datetime, timedelta

import pytest

PASSWORD = "motdepasse-navigateur"
SHOTS = "/tmp/shots-documents"

pytestmark = pytest.mark.browser


@pytest.fixture()
def live_packs(tmp_path):
    from werkzeug.serving import make_server

    from exam_app import create_app
    from exam_app.accounts.models import Role, RoleAssignment, User
    from exam_app.enrolment.models import Candidate, CandidateUnitForm, Centre, Establishment, ExamSession
    from exam_app.extensions import db
    from exam_app.juries.models import Commission, CommissionMember, Passage
    from tests.browser.conftest import closing_static

    app = create_app({"SECRET_KEY": "browser-secret", "SESSION_COOKIE_SECURE": False,
                      "PUBLIC_URL": "https://examens.example",
                      "REMEMBER_COOKIE_SECURE": False, "STORAGE_DIR": str(tmp_path / "storage"),
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/browser.db"})
    with app.app_context():
        db.create_all()
        session = ExamSession(code="B1", name="BTS SAM navigateur", year=2027,
                              academie="Académie de Lyon")
        centre = Centre(session=session, code="C1", name="Lycée Ampère", city="Lyon")
        school = Establishment(uai="0770003M", name="Lycée navigateur")
        manager = User(username="gestion", first_name="Gaëlle", last_name="Gestion")
        manager.set_password(PASSWORD)
        manager.roles.append(RoleAssignment(role=Role.GESTIONNAIRE.value))
        members = []
        for role in ("enseignant", "professionnel"):
            juror = User(username=f"jury-{role}", first_name="Juré", last_name=role.title())
            juror.set_password(PASSWORD)
            members.append(CommissionMember(user=juror, member_role=role))
        commission = Commission(session=session, unit_code="E4", form="ponctuel", code="E4-01",
                                centre=centre, members=members)
        db.session.add_all([session, centre, school, manager, commission])
        for n in range(4):
            candidate = Candidate(session=session, number=f"0300000000{n}", last_name=f"NOM{n}",
                                  first_name="Test", birth_date=date(2005, 1, 1),
                                  establishment=school, centre=centre,
                                  unit_forms=[CandidateUnitForm(unit_code="E5", form="ponctuel")])
            db.session.add(Passage(commission=commission, candidate=candidate, unit_code="E4",
                                   variant_code="ponctuel", room="B12", position=n,
                                   scheduled_at=datetime(2027, 5, 12, 6, tzinfo=UTC)
                                   + timedelta(hours=n)))
        db.session.commit()
        centre_id = centre.id
    server = make_server("127.0.0.1", 0, closing_static(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}", "app": app, "centre_id": centre_id}
    server.shutdown()
    thread.join(5)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture()
def page(chromium):
    """A tab in the session's shared Chromium (one Playwright per run)."""
    context = chromium.new_context(viewport={"width": 1024, "height": 768}, accept_downloads=True)
    yield context.new_page()
    context.close()


def test_print_pack_progress_then_download(live_packs, page):
    from playwright.sync_api import expect
    from pypdf import PdfReader

    os.makedirs(SHOTS, exist_ok=True)
    base = live_packs["url"]
    page.goto(f"{base}/connexion")
    page.fill("#username", "gestion")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/connexion" not in url)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/centres/{live_packs['centre_id']}/impressions")
    page.fill("#day", "2027-05-12")
    page.screenshot(path=f"{SHOTS}/packs-form.png", full_page=True)
    page.get_by_role("button", name="Générer le lot").press("Enter")
    page.wait_for_url(f"{base}/impressions/*")
    expect(page.locator("#pack-label")).to_contain_text("Terminé", timeout=60_000)
    expect(page.locator("#pack-label")).to_contain_text("10 / 10 document(s)")
    assert page.locator("#pack-progress").get_attribute("value") is not None
    assert page.eval_on_selector("#pack-progress", "el => el.value") == 100
    page.screenshot(path=f"{SHOTS}/pack-done.png", full_page=True)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Télécharger le lot (PDF)").click()
    with open(download_info.value.path(), "rb") as downloaded:
        data = downloaded.read()
    assert len(PdfReader(io.BytesIO(data)).pages) == 10
    assert errors == []


def test_a_day_without_passages_is_a_form_error_and_no_pack_is_listed(live_packs, page):
    """Issue 17: the day is refused on the form, in French, and no job appears in the list."""
    from playwright.sync_api import expect

    os.makedirs(SHOTS, exist_ok=True)
    base = live_packs["url"]
    page.goto(f"{base}/connexion")
    page.fill("#username", "gestion")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/connexion" not in url)
    packs_url = f"{base}/centres/{live_packs['centre_id']}/impressions"
    page.goto(packs_url)
    page.fill("#day", "2027-05-13")
    page.get_by_role("button", name="Générer le lot").click()
    page.wait_for_load_state()
    assert page.url == packs_url
    expect(page.locator(".field--error .field__error").first).to_have_text(
        "Aucun passage n'est planifié au centre C1 le 13/05/2027 : il n'y a rien à imprimer "
        "ce jour-là. Choisissez un jour d'épreuves.")
    expect(page.get_by_text("Génération lancée")).to_have_count(0)
    expect(page.get_by_text("Aucun lot demandé pour ce centre.")).to_be_visible()
    page.screenshot(path=f"{SHOTS}/packs-empty-day.png", full_page=True)
