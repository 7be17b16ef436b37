"""The main pages fit a tablet held upright (768 px): no sideways scrolling of the page."""

from __future__ import annotations

import pytest

from exam_app.accounts.models import Role
from exam_app.extensions import db
from tests.browser.conftest import SERVED_CONFIG, serving
from tests.conftest import PASSWORD, build_user

pytestmark = pytest.mark.browser

PAGES = {
    "dashboard": "/gestion/sessions/SAM2027/",
    "candidates": "/gestion/sessions/SAM2027/candidats",
    "import": "/gestion/sessions/SAM2027/candidats/import",
    "centres": "/gestion/sessions/SAM2027/centres",
    "establishments": "/gestion/etablissements",
    "users": "/gestion/utilisateurs",
}


@pytest.fixture()
def demo_server(chromium, demo_copy):
    """A copy of the demo, with a gestionnaire « tablette », served over HTTP."""
    served = demo_copy.app(**SERVED_CONFIG)
    with served.app_context():
        build_user(Role.GESTIONNAIRE, username="tablette", first_name="Claire",
                   last_name="Vasseur")
        db.session.commit()
    with serving(served) as url:
        yield url


@pytest.mark.parametrize("width", [768, 1280])
def test_gestion_pages_fit_the_screen(chromium, demo_server, screenshot, width):
    context = chromium.new_context(viewport={"width": width, "height": 1024}, locale="fr-FR")
    page = context.new_page()
    try:
        page.goto(f"{demo_server}/connexion")
        page.get_by_label("Identifiant").fill("tablette")
        page.get_by_label("Mot de passe").fill(PASSWORD)
        with page.expect_navigation():
            page.get_by_role("button", name="Se connecter").click()
        too_wide = {}
        for name, path in PAGES.items():
            page.goto(f"{demo_server}{path}")
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if overflow > 0:
                too_wide[name] = overflow
            screenshot(page, f"{width}-{name}")
        assert too_wide == {}
    finally:
        context.close()


def test_users_and_establishments_keep_the_sessions_sub_menu(chromium, demo_server, screenshot):
    """Issue 17: from a session's pages, « Utilisateurs » and « Établissements » keep the
    session's sub-menu, with the page marked current."""
    from playwright.sync_api import expect

    context = chromium.new_context(viewport={"width": 1366, "height": 768}, locale="fr-FR")
    page = context.new_page()
    try:
        page.goto(f"{demo_server}/connexion")
        page.get_by_label("Identifiant").fill("tablette")
        page.get_by_label("Mot de passe").fill(PASSWORD)
        with page.expect_navigation():
            page.get_by_role("button", name="Se connecter").click()
        page.goto(f"{demo_server}{PAGES['candidates']}")
        sub_nav = page.locator("nav.sub-nav")
        for label in ("Utilisateurs", "Établissements"):
            with page.expect_navigation():
                sub_nav.get_by_role("link", name=label, exact=True).click()
            expect(sub_nav).to_be_visible()
            expect(sub_nav.locator("[aria-current=page]")).to_have_text(label)
            expect(sub_nav.get_by_role("link", name="Candidats", exact=True)).to_have_attribute(
                "href", "/gestion/sessions/SAM2027/candidats")
            screenshot(page, f"sub-nav-{label}")
    finally:
        context.close()
