"""axe-core on every page of every role: no WCAG 2.1 A/AA violation (issue 17).

axe-core comes from the npm registry, vendored by `.ci/run` into .ci/node (never
downloaded here); AXE_CORE_JS names another axe.min.js. Without it the test skips
locally and fails in CI (CI=true or REQUIRE_BROWSER=1).

Each role logs into a copy of the demo and walks its pages: from its home page, every
same-site link that answers HTML, one page per URL shape (ids and tokens replaced by
``*``), so a list of 150 candidates costs one visit, not 150.
"""

from __future__ import annotations

import os
import re
from collections import deque
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

from exam_app.demo import demo_password
from tests.browser.conftest import SERVED_CONFIG, serving

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = Path(os.environ.get("AXE_CORE_JS")
              or ROOT / ".ci" / "node" / "node_modules" / "axe-core" / "axe.min.js")
SHOTS = os.environ.get("AXE_SCREENSHOTS")
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

# The demo's logins, one per role (two examinateurs: an E4 and an E5 commission).
LOGINS = {
    "gestionnaire": "gestion",
    "chef de centre": "centre1",
    "examinateur E4": "jury1",
    "examinateur E5": "jury7",
    "correcteur": "correcteur1",
    "candidat": "candidat1",
    "jury deliberation": "deliberation1",
    "coordinateur CCF": "ccf1",
    "anonyme": None,
}
MAX_PAGES = 80  # per role, a guard against a walk that never ends
# Not pages: logout, long polls, JSON, and downloads (a label sheet takes seconds to render).
SKIP_PATH = re.compile(r"/deconnexion$|/attente$|/etat$|/heure$|/fichier$|\.(pdf|csv|xlsx|zip)$")


def _axe_source() -> str:
    if not AXE_JS.is_file():
        reason = (f"axe-core absent : {AXE_JS} n'existe pas (lancer `npm install --prefix "
                  f".ci/node axe-core@4.14.1`, comme le fait .ci/run, ou définir AXE_CORE_JS)")
        if os.environ.get("CI") == "true" or os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return AXE_JS.read_text(encoding="utf-8")


def shape(url: str) -> str:
    """The URL with its ids and tokens replaced by ``*`` and its query's values dropped."""
    parts = urlsplit(url)
    path = "/".join("*" if re.fullmatch(r"\d+|[A-Za-z0-9_-]{16,}", seg) else seg
                    for seg in parts.path.split("/"))
    keys = sorted(p.split("=")[0] for p in parts.query.split("&") if p)
    return path + ("?" + "&".join(keys) if keys else "")


def violations(page, axe_js: str) -> list[str]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_js)
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS)
    # axe 4.x retired its duplicate-id rules; an id used twice still sends a <label for>
    # or an aria reference to the wrong element (hidden inputs cannot be pointed at).
    duplicates = page.evaluate("""() => {
        const seen = {}, twice = new Set();
        for (const el of document.querySelectorAll('[id]:not(input[type=hidden])')) {
            if (seen[el.id]) twice.add(el.id); seen[el.id] = true;
        }
        return [...twice];
    }""")
    found = [f"duplicate-id: id « {i} » utilisé deux fois" for i in duplicates]
    return found + [f"{v['id']} ({v['impact']}): {v['help']} — "
            + "; ".join(" ".join(n["target"]) for n in v["nodes"][:5])
            for v in result["violations"]]


def walk(page, base: str, axe_js: str, seeds=(), prefix: str = "") -> tuple[list[str], dict[str, list[str]]]:
    """Visit the role's pages; return the shapes visited and each page's violations."""
    seen: set[str] = set()
    visited: list[str] = []
    found: dict[str, list[str]] = {}
    queue = deque([base + "/", *(base + path for path in seeds)])
    while queue and len(visited) < MAX_PAGES:
        url = queue.popleft()
        key = shape(url)
        if key in seen:
            continue
        seen.add(key)
        head = page.request.get(url, max_redirects=5, timeout=60_000)
        if head.status != 200 or "text/html" not in head.headers.get("content-type", ""):
            continue
        page.goto(url, wait_until="load")
        visited.append(key)
        if SHOTS:  # AXE_SCREENSHOTS=DIR: a full-page screenshot of each page walked
            name = re.sub(r"[^A-Za-z0-9]+", "-", key).strip("-") or "home"
            page.screenshot(path=str(Path(SHOTS) / f"{prefix}{name}.png"), full_page=True)
        problems = violations(page, axe_js)
        if problems:
            found[urlsplit(page.url).path] = problems
        hrefs = page.eval_on_selector_all(
            "a[href]:not([download])", "links => links.map(a => a.getAttribute('href'))")
        for href in hrefs:
            target = urldefrag(urljoin(page.url, href))[0]
            if not target.startswith(base) or SKIP_PATH.search(urlsplit(target).path):
                continue
            if shape(target) not in seen:
                queue.append(target)
    return visited, found


@pytest.fixture(scope="module")
def demo_site(chromium, loaded_demo, tmp_path_factory):
    """A copy of the demo served over HTTP (module-scoped: the roles share it)."""
    import shutil

    from exam_app.extensions import db
    from tests.conftest import DemoCopy, scratch_database

    tmp = tmp_path_factory.mktemp("axe")
    with loaded_demo.app.app_context():
        db.engine.dispose()
    storage = tmp / "storage"
    if loaded_demo.storage_dir.exists():
        shutil.copytree(loaded_demo.storage_dir, storage)
    with scratch_database(tmp, "axe", template=loaded_demo.database_url) as url:
        copy = DemoCopy(database_url=url, storage_dir=storage)
        served = copy.app(**SERVED_CONFIG)
        with served.app_context():
            seeds = _seeds()
        try:
            with serving(served) as base:
                yield base, seeds
        finally:
            for app in copy.apps:
                with app.app_context():
                    db.engine.dispose()


def _seeds() -> dict[str, list[str]]:
    """Pages no link leads to from the role's home (a printing pack is asked for first)."""
    from datetime import date

    import sqlalchemy as sa

    from exam_app.accounts.models import User
    from exam_app.documents.packs import request_pack
    from exam_app.enrolment.models import Centre
    from exam_app.extensions import db
    from exam_app.juries.models import Commission, Passage

    gestion = db.session.scalar(sa.select(User).where(User.username == "gestion"))
    candidate_id = min(db.session.scalar(sa.select(User).where(
        User.username == "candidat1")).candidate_ids())
    centre = db.session.scalar(sa.select(Centre).where(Centre.code == "LYO01"))
    pack = request_pack(centre=centre, day=date(2027, 5, 12), kinds=["convocation"],
                        fmt="pdf", actor=gestion)[0]
    commission = db.session.scalar(sa.select(Commission).where(Commission.unit_code == "E4")
                                   .order_by(Commission.id))
    passage = db.session.scalar(sa.select(Passage).where(Passage.finalized_at.is_not(None))
                                .order_by(Passage.id))
    pending = db.session.scalar(sa.select(Passage).where(Passage.started_at.is_(None))
                                .order_by(Passage.id))
    db.session.commit()
    return {
        "gestionnaire": [
            "/gestion/sessions/nouvelle", "/gestion/sessions/SAM2027/e6/bareme",
            # The planning board with a search's results (the form to place a candidate).
            "/gestion/sessions/SAM2027/planification/tableau?q=a",
            *([f"/gestion/passages/{passage.id}/rouvrir"] if passage else []),
            f"/gestion/passages/{pending.id}/derogation",
            f"/jury/commissions/{commission.id}/dossiers",
            f"/dossiers/{candidate_id}/E4", f"/impressions/{pack.id}",
            "/gestion/sessions/SAM2027/deliberation",
            "/gestion/sessions/SAM2027/deliberation/epreuves",
            "/gestion/sessions/SAM2027/deliberation/notes"],
        "jury deliberation": ["/deliberation/SAM2027", "/deliberation/SAM2027/repartition",
                              f"/deliberation/SAM2027/candidats/{candidate_id}"],
        "chef de centre": [f"/impressions/{pack.id}"],
        "candidat": [f"/dossiers/{candidate_id}/E4", f"/dossiers/{candidate_id}/E5"],
        "anonyme": ["/connexion", "/verifier/inconnu"],
    }


def test_axe_is_configurable_and_present_in_ci():
    """The path is AXE_CORE_JS or the one .ci/run installs to; in CI the file must be there."""
    assert AXE_JS.name == "axe.min.js" or os.environ.get("AXE_CORE_JS")
    _axe_source()


@pytest.mark.parametrize("role", list(LOGINS))
@pytest.mark.parametrize("size", ["1366x768", "768x1024"])  # desktop, tablet upright
def test_every_page_has_no_wcag_violation(chromium, demo_site, role, size):
    axe_js = _axe_source()
    base, seeds = demo_site
    # bypass_csp: the app's CSP forbids the injected axe script, not the pages' own.
    width, height = (int(n) for n in size.split("x"))
    context = chromium.new_context(viewport={"width": width, "height": height}, locale="fr-FR",
                                   bypass_csp=True)
    context.set_default_timeout(60_000)  # the shared machine can be slow
    page = context.new_page()
    try:
        if role != "anonyme":
            page.goto(f"{base}/connexion")
            page.get_by_label("Identifiant").fill(LOGINS[role])
            page.get_by_label("Mot de passe").fill(demo_password())
            with page.expect_navigation():
                page.get_by_role("button", name="Se connecter").click()
            assert "/connexion" not in page.url
        visited, found = walk(page, base, axe_js, seeds.get(role, ()),
                              prefix=f"{size}-{LOGINS[role] or 'anonyme'}-")
    finally:
        context.close()
    # Each role has more than its home page to walk.
    assert len(visited) >= 2, visited
    assert found == {}, "\n".join(f"{path}: {p}" for path, ps in found.items() for p in ps)
