"""A candidate uploads three files with the progress bar, then downloads the receipt (Chromium)."""

from __future__ import annotations

import hashlib
import shutil
import threading
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.serving import make_server

from exam_app.accounts.models import Role
from exam_app.clock import utcnow
from exam_app.dossiers.models import DepositDeadline
from tests.browser.conftest import closing_static
from tests.conftest import PASSWORD
from tests.dossiers.conftest import pdf_text, squeeze
from tests.dossiers.helpers import make_pdf

pytestmark = pytest.mark.browser


@pytest.fixture()
def live_server(app, db):
    server = make_server("127.0.0.1", 0, closing_static(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
    server.server_close()


def test_candidate_uploads_three_files_with_progress_and_downloads_the_receipt(
        app, db, tmp_path, live_server, chromium, create_session, create_centre,
        create_candidate, create_user):
    from playwright.sync_api import expect

    shutil.rmtree(app.config["STORAGE_DIR"], ignore_errors=True)
    session = create_session()
    candidate = create_candidate(session, centre=create_centre(session))
    user = create_user(Role.CANDIDAT, candidate=candidate)
    db.session.add(DepositDeadline(session_id=session.id, unit_code="E4",
                                   deadline_at=utcnow() + timedelta(days=3)))
    db.session.commit()
    paths = []
    for n in range(3):
        path = tmp_path / f"Attestation stage {n + 1} é.pdf"
        path.write_bytes(make_pdf(1, marker=f"browser-{n}", padding=200_000 * (n + 1)))
        paths.append(path)

    context = chromium.new_context(accept_downloads=True)
    try:
        page = context.new_page()
        page.goto(live_server + "/connexion")
        page.fill("#username", user.username)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.goto(live_server + "/candidat/")
        section = page.locator("#dossier-E4")
        section.locator('tr[data-piece="attestations_stage"] input[type=file]').set_input_files(
            [str(p) for p in paths])
        expect(section.locator(".upload--ok")).to_have_count(3, timeout=30_000)
        bars = section.locator(".upload progress")
        assert bars.count() == 3
        assert [bars.nth(i).get_attribute("value") for i in range(3)] == ["100"] * 3
        expect(section.locator('tr[data-piece="attestations_stage"]')).to_contain_text(
            "Attestation stage 3", timeout=10_000)
        with page.expect_download() as download_info:
            section.locator("[data-receipt]").click()
        receipt = download_info.value.path()
        with open(receipt, "rb") as handle:
            text = squeeze(pdf_text(handle.read()))
    finally:
        context.close()
    for path in paths:
        assert hashlib.sha256(path.read_bytes()).hexdigest() in text
    assert squeeze("Attestation stage 2 é.pdf") in text


def _login(page, base: str, user) -> None:
    page.goto(base + "/connexion")
    page.fill("#username", user.username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def test_upload_resumes_after_the_connection_drops(app, db, tmp_path, live_server, chromium,
                                                   create_session, create_centre,
                                                   create_candidate, create_user):
    from playwright.sync_api import expect

    shutil.rmtree(app.config["STORAGE_DIR"], ignore_errors=True)
    session = create_session()
    candidate = create_candidate(session, centre=create_centre(session))
    user = create_user(Role.CANDIDAT, candidate=candidate)
    db.session.commit()
    path = tmp_path / "Sommaire.pdf"
    path.write_bytes(make_pdf(2, marker="resume-browser", padding=300_000))
    dropped = []
    context = chromium.new_context()
    try:
        page = context.new_page()
        _login(page, live_server, user)
        page.goto(live_server + "/candidat/")

        def drop_first_patch(route):
            if route.request.method == "PATCH" and not dropped:
                dropped.append(route.request.url)
                route.abort("connectionreset")
            else:
                route.continue_()

        page.route("**/candidat/envois/*", drop_first_patch)
        page.locator('#dossier-E4 tr[data-piece="sommaire"] input[type=file]').set_input_files(
            str(path))
        expect(page.locator("#dossier-E4 .upload--ok")).to_have_count(1, timeout=30_000)
    finally:
        context.close()
    assert len(dropped) == 1
    from exam_app.dossiers.models import DossierFile

    db.session.expire_all()
    assert [f.sha256 for f in db.session.query(DossierFile)] == [
        hashlib.sha256(path.read_bytes()).hexdigest()]


def test_conformity_queue_decides_with_the_keyboard(app, db, live_server, chromium,
                                                    create_session, create_candidate, create_user):
    """``c`` decides a complete dossier at once; on an incomplete one it opens a dialog
    naming the missing pieces (Escape cancels, Enter confirms)."""
    from playwright.sync_api import expect

    from exam_app.audit.models import AuditEvent
    from exam_app.dossiers.models import Dossier
    from tests.dossiers.helpers import complete_dossier, deposit

    session = create_session()
    db.session.add(DepositDeadline(session_id=session.id, unit_code="E4",
                                   deadline_at=datetime(2020, 1, 1, tzinfo=UTC)))
    complete, partial, absent = (create_candidate(session, last_name=name)
                                 for name in ("AAA", "BBB", "CCC"))
    complete_dossier(app, complete, "E4")
    deposit(app, partial, "E4", "sommaire")
    manager = create_user(Role.GESTIONNAIRE)
    db.session.commit()
    context = chromium.new_context()
    try:
        page = context.new_page()
        _login(page, live_server, manager)
        page.goto(f"{live_server}/gestion/sessions/{session.code}/conformite/E4")
        panel = page.locator("[data-queue-panel]")
        dialog = page.locator("[data-confirm-dialog]")
        expect(panel).to_contain_text(complete.full_name)
        page.keyboard.press("c")  # complete: decided at once, no dialog
        expect(panel).to_contain_text(partial.full_name)
        expect(dialog).to_be_hidden()
        expect(page.locator("[data-queue-list] a").nth(0)).to_contain_text("Conforme")
        page.keyboard.press("c")  # incomplete: the dialog names what is missing
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("Pièces manquantes : Description des missions menées, "
                                       "Attestation de non-plagiat")
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(panel.locator("[data-form-message]")).to_contain_text("confirmation annulée")
        page.keyboard.press("c")
        expect(dialog).to_be_visible()
        page.keyboard.press("Enter")
        expect(panel).to_contain_text(absent.full_name)
        expect(page.locator("[data-queue-list] a").nth(1)).to_contain_text("Conforme")
        page.keyboard.press("n")
        page.keyboard.press("Space")  # the focused first reason: absence de dossier
        page.locator("[data-queue-panel] button[type=submit]").focus()
        page.keyboard.press("Enter")
        expect(page.locator("[data-queue-list] a").nth(2)).to_contain_text("Non conforme")
        expect(dialog).to_be_hidden()
        page.keyboard.press("k")
        expect(panel).to_contain_text(partial.full_name)
    finally:
        context.close()
    db.session.expire_all()
    decisions = {d.candidate_id: (d.decision, d.decision_reasons)
                 for d in db.session.query(Dossier)}
    assert decisions == {complete.id: ("compliant", []), partial.id: ("compliant", []),
                         absent.id: ("non_compliant", ["absence_dossier"])}
    confirmed = {e.object_id: e.after.get("confirmed_missing") for e in db.session.query(
        AuditEvent).filter(AuditEvent.action == "dossier.conformity_decided")}
    assert confirmed[str(_dossier_id(partial))][:1] == ["Description des missions menées"]
    assert confirmed[str(_dossier_id(complete))] is None


def _dossier_id(candidate) -> int:
    from exam_app.dossiers.common import find_dossier

    return find_dossier(candidate_id=candidate.id, unit_code="E4").id


def test_conformity_queue_asks_before_deciding_before_the_deadline(
        app, db, live_server, chromium, create_session, create_candidate, create_user):
    """Before the deadline even a complete dossier needs the confirmation (the dialog says why)."""
    from playwright.sync_api import expect

    from exam_app.audit.models import AuditEvent
    from tests.dossiers.helpers import complete_dossier

    session = create_session()
    db.session.add(DepositDeadline(session_id=session.id, unit_code="E4",
                                   deadline_at=datetime(2099, 6, 30, 21, 59, tzinfo=UTC)))
    candidate = create_candidate(session)
    complete_dossier(app, candidate, "E4")
    manager = create_user(Role.GESTIONNAIRE)
    db.session.commit()
    context = chromium.new_context()
    try:
        page = context.new_page()
        _login(page, live_server, manager)
        page.goto(f"{live_server}/gestion/sessions/{session.code}/conformite/E4")
        dialog = page.locator("[data-confirm-dialog]")
        expect(page.locator("[data-queue-panel]")).to_contain_text(candidate.full_name)
        page.keyboard.press("c")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("Décision avant la date limite : la date limite de dépôt "
                                       "(30/06/2099 à 23 h 59) n'est pas passée")
        expect(dialog).not_to_contain_text("Pièces manquantes")
        page.keyboard.press("Enter")
        expect(page.locator("[data-queue-panel] [data-form-message]")).to_contain_text(
            "Fin de la liste")
    finally:
        context.close()
    db.session.expire_all()
    [event] = db.session.query(AuditEvent).filter(
        AuditEvent.action == "dossier.conformity_decided").all()
    assert event.after["confirmed_early"] == {"deadline": "2099-06-30T21:59:00+00:00"}


def test_upload_waits_while_a_previous_request_holds_it_then_completes(
        app, db, tmp_path, live_server, chromium, create_session, create_centre,
        create_candidate, create_user):
    """Issue 12, item 1: a PATCH refused 409 "busy" (another request still writes this
    upload) makes the script wait and resume, and the file is deposited once."""
    from playwright.sync_api import expect

    from exam_app.dossiers.storage import LocalStorage

    shutil.rmtree(app.config["STORAGE_DIR"], ignore_errors=True)
    session = create_session()
    candidate = create_candidate(session, centre=create_centre(session))
    user = create_user(Role.CANDIDAT, candidate=candidate)
    db.session.commit()
    path = tmp_path / "Sommaire.pdf"
    path.write_bytes(make_pdf(1, marker="busy-browser", padding=100_000))
    storage = LocalStorage(app.config["STORAGE_DIR"])
    statuses, held = [], []
    context = chromium.new_context()
    try:
        page = context.new_page()
        _login(page, live_server, user)
        page.goto(live_server + "/candidat/")
        page.on("response", lambda r: statuses.append(r.status)
                if r.request.method == "PATCH" else None)

        def hold_on_first_patch(route):
            if route.request.method == "PATCH" and not held:
                # Another request (a lost connection the server still reads) holds it.
                claim = storage.claim(route.request.url.rsplit("/", 1)[-1])
                held.append(claim)
                threading.Timer(2.5, claim.release).start()
            route.continue_()

        page.route("**/candidat/envois/*", hold_on_first_patch)
        page.locator('#dossier-E4 tr[data-piece="sommaire"] input[type=file]').set_input_files(
            str(path))
        expect(page.locator("#dossier-E4 .upload")).to_contain_text(
            "Envoi précédent en cours de clôture, reprise…", timeout=5_000)
        page.locator("#dossier-E4 .upload").first.screenshot(path=str(tmp_path / "busy.png"))
        expect(page.locator("#dossier-E4 .upload--ok")).to_have_count(1, timeout=30_000)
    finally:
        context.close()
    assert statuses[0] == 409 and statuses[-1] == 200, statuses
    from exam_app.dossiers.models import DossierFile

    db.session.expire_all()
    assert [f.sha256 for f in db.session.query(DossierFile)] == [
        hashlib.sha256(path.read_bytes()).hexdigest()]


def test_a_refused_upload_shows_no_progress_and_focus_stays_on_the_result(
        app, db, tmp_path, live_server, chromium, create_session, create_centre,
        create_candidate, create_user, screenshot):
    """Issue 17: a refused file's bar is emptied and hidden beside the red message; after
    each upload the keyboard focus is on the file's result, not on <body>."""
    from playwright.sync_api import expect

    session = create_session()
    candidate = create_candidate(session, centre=create_centre(session))
    user = create_user(Role.CANDIDAT, candidate=candidate)
    db.session.add(DepositDeadline(session_id=session.id, unit_code="E4",
                                   deadline_at=utcnow() + timedelta(days=3)))
    db.session.commit()
    bad = tmp_path / "pas-un-pdf.pdf"
    bad.write_bytes(b"Ceci n'est pas un PDF. " * 2000)
    good = tmp_path / "Sommaire.pdf"
    good.write_bytes(make_pdf(1, marker="focus"))
    context = chromium.new_context(viewport={"width": 1024, "height": 768}, locale="fr-FR")
    try:
        page = context.new_page()
        _login(page, live_server, user)
        page.goto(live_server + "/candidat/")
        section = page.locator("#dossier-E4")
        section.locator('tr[data-piece="sommaire"] input[type=file]').set_input_files(str(bad))
        refused = section.locator(".upload--error")
        expect(refused).to_have_count(1, timeout=30_000)
        expect(refused.locator("progress")).to_have_attribute("value", "0")
        expect(refused.locator("progress")).to_be_hidden()
        expect(refused.locator(".upload__status")).not_to_be_empty()
        assert page.evaluate("document.activeElement.classList.contains('upload--error')")
        screenshot(page, "upload-refused")

        section.locator('tr[data-piece="sommaire"] input[type=file]').set_input_files(str(good))
        expect(section.locator(".upload--ok")).to_have_count(1, timeout=30_000)
        expect(section.locator('tr[data-piece="sommaire"]')).to_contain_text("Sommaire.pdf")
        focused = page.evaluate("[document.activeElement.tagName, "
                                "document.activeElement.className, "
                                "document.activeElement.textContent]")
        assert focused[0] == "LI" and "upload--ok" in focused[1], focused
        assert "Sommaire.pdf" in focused[2] and "Déposé" in focused[2]
        screenshot(page, "upload-focus-after")
    finally:
        context.close()
