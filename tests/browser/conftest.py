"""Browser fixtures: a live server in a thread and Debian's Chromium through Playwright.

Without /usr/bin/chromium (or Playwright) the browser tests are skipped with a
visible reason, unless REQUIRE_BROWSER=1 is set (CI): then they fail.
Browser tests use the session-scoped ``chromium`` fixture: Playwright's sync API
cannot start twice in one process, so never call ``sync_playwright()`` in a test.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from exam_app import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _unavailable(reason: str):
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 mais {reason}", pytrace=False)
    pytest.skip(f"tests navigateur ignorés : {reason} (apt-get install -y chromium)")


# Served apps are not in TESTING mode, so errors are handled as in production.
SERVED_CONFIG = {"TESTING": False, "SECRET_KEY": "browser-test-secret",
                 "PUBLIC_URL": "https://examens.example",
                 # No watcher of stale print packs outliving the test's database.
                 "PRINT_PACK_POLL_SECONDS": 0}


def closing_static(app):
    """``app`` with its static files read whole and closed before the server sends them.

    Werkzeug's development server closes a response's iterable only after it has
    drained the request's socket; when that raises (the browser dropped the connection,
    as it does for a favicon answered 304), the open file is left to the garbage
    collector, and its ResourceWarning fails whichever test runs then. gunicorn, in
    production, closes it in every case."""
    def served(environ, start_response):
        answer = app(environ, start_response)
        if not environ.get("PATH_INFO", "").startswith("/static/"):
            return answer
        try:
            return [b"".join(answer)]
        finally:
            if hasattr(answer, "close"):
                answer.close()
    return served


@contextmanager
def serving(served):
    """``served`` over HTTP on 127.0.0.1 (free port), in a thread: yields its base URL."""
    server = make_server("127.0.0.1", 0, closing_static(served), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with served.app_context():
            from exam_app.extensions import db

            db.engine.dispose()


@pytest.fixture(scope="session")
def live_server(app):
    """The app served over HTTP on 127.0.0.1 (free port), on the test database.

    A second app on the same database as ``app`` (whose fixture created the
    schema), not in TESTING mode.
    """
    served = create_app({
        "SECRET_KEY": "browser-test-secret",
        "PUBLIC_URL": "https://examens.example",
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "STORAGE_DIR": app.config["STORAGE_DIR"],
        "PRINT_PACK_POLL_SECONDS": 0,
    })
    with serving(served) as url:
        yield url


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} est absent")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is a dev dependency
        _unavailable("Playwright n'est pas installé")
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()
        playwright.stop()


@pytest.fixture()
def page(chromium, db):
    """A fresh browser context (no cookies) at a tablet's size, French locale."""
    context = chromium.new_context(viewport={"width": 1024, "height": 768}, locale="fr-FR")
    context.set_default_timeout(10_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture()
def screenshot():
    """Save a full-page screenshot under test-artifacts/ (gitignored)."""

    def take(tab, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        tab.screenshot(path=str(path), full_page=True)
        return path

    return take
