"""A candidate uploads three files with the progress bar, then downloads the receipt (Chromium)."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from datetime import timedelta

import pytest
from werkzeug.serving import make_server

from exam_app.accounts.models import Role
from exam_app.clock import utcnow
from exam_app.dossiers.models import DepositDeadline
from tests.conftest import PASSWORD
from tests.dossiers.conftest import pdf_text, squeeze
from tests.dossiers.helpers import make_pdf

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser


def _require_browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail("Chromium is required (REQUIRE_BROWSER=1)")
        pytest.skip("Chromium is not installed at /usr/bin/chromium")


@pytest.fixture()
def live_server(app, db):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
    server.server_close()


def test_candidate_uploads_three_files_with_progress_and_downloads_the_receipt(
        app, db, tmp_path, live_server, create_session, create_centre, create_candidate,
        create_user):
    _require_browser()
    from playwright.sync_api import expect, sync_playwright

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

    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"])
    try:
        context = browser.new_context(accept_downloads=True)
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
        context.close()
    finally:
        browser.close()
        pw.stop()
    for path in paths:
        assert hashlib.sha256(path.read_bytes()).hexdigest() in text
    assert squeeze("Attestation stage 2 é.pdf") in text
