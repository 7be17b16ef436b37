"""The conformity queue's keyboard flow goes on past the server's page (issue 16)."""

from __future__ import annotations

from exam_app.accounts.models import Role
from exam_app.dossiers import views_academie
from tests.conftest import PASSWORD


def test_queue_keyboard_goes_on_to_the_next_page(db, page, live_server, create_session,
                                                 create_candidate, create_user, monkeypatch,
                                                 screenshot):
    from playwright.sync_api import expect

    monkeypatch.setattr(views_academie, "QUEUE_PAGE", 2)  # the live server shares the module
    session = create_session()
    for name in ("AAA", "BBB", "CCC"):
        create_candidate(session, last_name=name)
    manager = create_user(Role.GESTIONNAIRE)
    db.session.commit()
    page.goto(live_server + "/connexion")
    page.fill("#username", manager.username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server}/gestion/sessions/{session.code}/conformite/E4")
    items = page.locator("[data-queue-list] a")
    expect(items).to_have_count(2)
    expect(page.locator("[data-queue-panel]")).to_contain_text("AAA")
    screenshot(page, "conformity-queue-page-1")
    page.keyboard.press("j")
    expect(page.locator("[data-queue-panel]")).to_contain_text("BBB")
    page.keyboard.press("j")  # past the page's last dossier: the next page
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("CCC")
    expect(page.locator("[data-queue-panel]")).to_contain_text("CCC")
    expect(page.get_by_role("link", name="Retour au début de la liste")).to_be_visible()
