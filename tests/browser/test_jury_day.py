"""Browser test: two jurors run a complete E4 passage in two browser contexts.

The clock is shortened (one exam minute lasts one second); one juror goes
offline while editing the agreed grid, comes back, and both validate.
Fixtures live here (prefixed ``jury_``) so as not to collide with the shared
``tests/browser/conftest.py``.
"""

from __future__ import annotations

import threading
from datetime import date

import pytest
import sqlalchemy as sa

from exam_app import create_app
from exam_app.accounts.models import Role, RoleAssignment, User
from exam_app.dossiers.models import Decision, Dossier
from exam_app.enrolment.models import Candidate, CandidateUnitForm, Centre, Establishment, ExamSession
from exam_app.extensions import db
from exam_app.juries import grids, planning
from exam_app.juries.models import Commission, CommissionMember, Grid, MemberRole, Passage

PASSWORD = "mot-de-passe-jury"

pytestmark = pytest.mark.browser


@pytest.fixture()
def jury_server(tmp_path):
    """A live server on a private SQLite database, with a passage ready for two jurors."""
    from werkzeug.serving import make_server

    from tests.browser.conftest import closing_static

    app = create_app({
        "TESTING": True, "SECRET_KEY": "browser-secret", "PUBLIC_URL": "https://examens.example",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/browser.db",
        "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False,
        "STORAGE_DIR": str(tmp_path / "storage"),
        "JURY_SECONDS_PER_MINUTE": 1, "JURY_POLL_MS": 400,
    })
    with app.app_context():
        db.create_all()
        session = ExamSession(code="BROWSER", name="Session navigateur", year=2027)
        centre = Centre(session=session, code="C1", name="Centre 1")
        school = Establishment(uai="0690001A", name="Lycée du test")
        candidate = Candidate(session=session, number="99000000001", last_name="TESTEUR",
                              first_name="Ana", birth_date=date(2005, 1, 1),
                              establishment=school, centre=centre,
                              unit_forms=[CandidateUnitForm(unit_code="E5", form="ponctuel")])
        jurors = []
        for username, first in (("jurya", "Alice"), ("juryb", "Bruno")):
            user = User(username=username, first_name=first, last_name="Juré")
            user.set_password(PASSWORD)
            user.roles.append(RoleAssignment(role=Role.EXAMINATEUR.value))
            jurors.append(user)
        commission = Commission(session=session, unit_code="E4", form="ponctuel", code="E4-B",
                                centre=centre)
        commission.members = [
            CommissionMember(user=jurors[0], member_role=MemberRole.TEACHER.value),
            CommissionMember(user=jurors[1], member_role=MemberRole.PROFESSIONAL.value),
        ]
        db.session.add_all([session, centre, school, candidate, commission])
        db.session.flush()
        [passage] = planning.assign_candidates(commission=commission,
                                               numbers=[candidate.number],
                                               variant_code="ponctuel", actor=None)
        # The conformity control decided the dossier: the passage may start.
        db.session.add(Dossier(candidate_id=candidate.id, unit_code="E4", decision_reasons=[],
                               decision=Decision.COMPLIANT.value))
        # The criteria the jurors do not click below are already assessed: a joint
        # validation needs every criterion (issue 11, rule 15).
        for grid in passage_grids(passage):
            for field in grid.fields:
                if grid.key == "agreed" and field.name.startswith("c:") and field.name not in (
                        "c:outils_maitrise", "c:outils_pertinence"):
                    field.value = "S"
        db.session.commit()
        passage_id = passage.id
    server = make_server("127.0.0.1", 0, closing_static(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_port}", "app": app,
               "passage_id": passage_id}
    finally:
        server.shutdown()
        thread.join(timeout=5)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def passage_grids(passage):
    return db.session.scalars(sa.select(Grid).where(Grid.passage_id == passage.id)).all()


def _login(browser, base, username):
    context = browser.new_context(viewport={"width": 1024, "height": 1366}, locale="fr-FR")
    page = context.new_page()
    page.goto(base + "/connexion")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/jury/")
    return context, page


def _seconds(text: str) -> int:
    sign = -1 if not text.startswith("+") else 1
    minutes, seconds = text.lstrip("+").split(":")
    return sign * (int(minutes) * 60 + int(seconds))


def test_two_jurors_complete_e4_passage_with_offline_juror(jury_server, chromium):
    from playwright.sync_api import expect

    base, passage_id = jury_server["url"], jury_server["passage_id"]
    url = f"{base}/jury/passages/{passage_id}"
    ctx_a, a = _login(chromium, base, "jurya")
    ctx_b, b = _login(chromium, base, "juryb")
    errors = []
    for page in (a, b):
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)

    # Alice starts; Bruno's screen follows, and both show the same time (within 1 s).
    a.click("#btn-start")
    expect(b.locator("#btn-next")).to_be_visible(timeout=5000)
    expect(b.locator("#timer-phase")).to_have_text(
        "Présentation du parcours de professionnalisation et des missions")
    a.wait_for_timeout(1200)
    clocks = [_seconds(page.locator("#timer-clock").inner_text()) for page in (a, b)]
    assert abs(clocks[0] - clocks[1]) <= 1

    # Alice scores a criterion in the agreed grid; Bruno sees it within seconds.
    a.click("label[for='commune-outils_maitrise-S']")
    expect(b.locator("#commune-outils_maitrise-S")).to_be_checked(timeout=5000)

    # Bruno loses the network, keeps working: changes are queued and persisted.
    ctx_b.set_offline(True)
    b.fill("#commune-appreciation", "Présentation claire, outils maîtrisés.")
    b.click("label[for='commune-outils_pertinence-TS']")
    expect(b.locator("#net-status")).to_have_text("Hors ligne / en attente — 2 modifications",
                                                  timeout=8000)
    before = b.locator("#timer-clock").inner_text()
    b.wait_for_timeout(1500)  # the typed text leaves its debounce for the queue meanwhile
    queued = b.evaluate("Object.keys(localStorage).filter(k => k.startsWith('jury-queue:'))"
                        ".map(k => JSON.parse(localStorage.getItem(k)).length)")
    assert (queued, b.locator("#timer-clock").inner_text() != before) == ([2], True)

    # Bruno reloads while the saves still cannot get through: the queue survives.
    ctx_b.route("**/grilles/*/champs", lambda route: route.abort())
    ctx_b.set_offline(False)
    b.reload()
    expect(b.locator("#net-status")).to_have_text("Hors ligne / en attente — 2 modifications",
                                                  timeout=8000)
    expect(b.locator("#commune-appreciation")).to_have_value(
        "Présentation claire, outils maîtrisés.")
    expect(b.locator("#commune-outils_pertinence-TS")).to_be_checked()

    # The network returns: the queue is sent once, and Alice sees Bruno's changes.
    ctx_b.unroute("**/grilles/*/champs")
    expect(b.locator("#net-status")).to_have_text("Connecté — tout est enregistré", timeout=8000)
    expect(a.locator("#commune-appreciation")).to_have_value(
        "Présentation claire, outils maîtrisés.", timeout=5000)
    expect(a.locator("#commune-outils_pertinence-TS")).to_be_checked()

    # Alice proposes the mark; the phases run to the end (shortened clock).
    a.fill("#commune-mark", "15")
    expect(a.locator("#net-status")).to_have_text("Connecté — tout est enregistré", timeout=5000)
    expect(b.locator("#commune-mark")).to_have_value("15", timeout=5000)
    # Ending a step asks first, naming it and the next one; declining changes nothing.
    questions = []

    def answer(accept):
        def handle(dialog):
            questions.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()
        return handle

    a.once("dialog", answer(False))
    a.click("#btn-next")
    expect(a.locator("#action-status")).to_have_text("Rien n'a changé : l'étape continue.")
    expect(a.locator("#timer-phase")).to_have_text(
        "Présentation du parcours de professionnalisation et des missions")
    a.once("dialog", answer(True))
    a.click("#btn-next")
    expect(a.locator("#timer-phase")).to_have_text("Entretien avec la commission", timeout=5000)
    expect(b.locator("#timer-phase")).to_have_text("Entretien avec la commission", timeout=5000)
    b.once("dialog", answer(True))
    b.click("#btn-next")
    expect(a.locator("#timer-clock")).to_have_text("Terminé", timeout=5000)
    assert questions == [
        "Terminer « Présentation du parcours de professionnalisation et des missions » et passer "
        "à « Entretien avec la commission » ? Cette action est définitive.",
        "Terminer « Présentation du parcours de professionnalisation et des missions » et passer "
        "à « Entretien avec la commission » ? Cette action est définitive.",
        "Terminer le passage ? « Entretien avec la commission » prend fin. Cette action est "
        "définitive."]

    # Both validate: the mark is final and locked on both screens.
    a.click("#btn-validate")
    expect(a.locator("#btn-validate")).to_have_text("Vous avez validé", timeout=5000)
    b.wait_for_timeout(900)
    b.click("#btn-validate")
    for page in (a, b):
        expect(page.locator("#final-mark")).to_contain_text("Note définitive : 15 / 20",
                                                            timeout=5000)
        expect(page.locator("#commune-mark")).to_be_disabled()
    ctx_a.close()
    ctx_b.close()

    with jury_server["app"].app_context():
        passage = db.session.get(Passage, passage_id)
        fields = grids.grids_view(passage, passage.commission.members[0].user_id)["agreed"]
        durations = [s.ended_at is not None for s in passage.segments]
        result = (str(passage.final_mark), len(passage.validations), durations,
                  fields["appreciation"]["value"], fields["c:outils_pertinence"]["value"],
                  fields["c:outils_maitrise"]["value"],
                  db.session.scalar(sa.select(sa.func.count()).select_from(Passage)))
    assert (result, errors) == (
        ("15.00", 2, [True, True], "Présentation claire, outils maîtrisés.", "TS", "S", 1), [])


def test_passage_page_reloads_offline_and_sends_its_queue_when_back(jury_server, chromium):
    # Issue 17: a juror's tablet that reloaded the passage page while the Wi-Fi was down
    # got the browser's error page. The service worker keeps the page, its assets and the
    # last state: the timer runs on, the grid takes values, the queue leaves when back.
    from playwright.sync_api import expect

    base, passage_id = jury_server["url"], jury_server["passage_id"]
    context, page = _login(chromium, base, "jurya")
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{base}/jury/passages/{passage_id}")
    page.click("#btn-start")
    expect(page.locator("#btn-next")).to_be_visible(timeout=5000)
    # The worker is installed and controls the page, and a state poll went through it.
    expect(page.locator("#jury")).to_have_attribute("data-offline-ready", "1", timeout=10000)
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=10000)
    page.wait_for_function(
        "caches.open('jury-offline-v1').then(c => c.match(location.pathname + '/etat'))"
        ".then(r => !!r)", polling=200, timeout=10000)
    page.wait_for_function(
        "caches.open('jury-offline-v1').then(c => c.match(location.pathname + '/etat'))"
        ".then(r => r ? r.json().then(s => s.timer.status === 'running') : false)",
        polling=200,
        timeout=10000)

    context.set_offline(True)
    page.reload()
    expect(page.locator("h1")).to_contain_text("TESTEUR Ana")
    expect(page.locator("#timer-phase")).to_have_text(
        "Présentation du parcours de professionnalisation et des missions", timeout=5000)
    expect(page.locator("#net-status")).to_have_text(
        "Hors ligne — aucune modification en attente", timeout=8000)
    first = _seconds(page.locator("#timer-clock").inner_text())
    page.wait_for_timeout(2200)  # one exam minute lasts one second here
    later = _seconds(page.locator("#timer-clock").inner_text())
    assert later != first  # the clock runs on from the last state, offline

    page.fill("#commune-appreciation", "Saisie faite hors ligne.")
    expect(page.locator("#net-status")).to_have_text("Hors ligne / en attente — 1 modification",
                                                     timeout=8000)

    context.set_offline(False)
    expect(page.locator("#net-status")).to_have_text("Connecté — tout est enregistré",
                                                     timeout=15000)
    with jury_server["app"].app_context():
        agreed = db.session.scalar(sa.select(Grid).where(Grid.passage_id == passage_id,
                                                         Grid.key == "agreed"))
        values = {f.name: f.value for f in agreed.fields}
    assert values["appreciation"] == "Saisie faite hors ligne."
    # The page keeps its last state too (localStorage), for a reload offline when the
    # worker's copy is missing; logging out empties both, the unsent queue's key stays.
    assert page.evaluate(f"localStorage.getItem('jury-state:{passage_id}:' + "
                         "document.getElementById('jury').dataset.me) !== null")
    with page.expect_navigation():
        page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_function(
        "caches.keys().then(ks => !ks.some(k => k.indexOf('jury-offline-') === 0))"
        " .then(none => none && !Object.keys(localStorage).some("
        "k => k.indexOf('jury-state:') === 0))", polling=200, timeout=5000)
    assert errors == []
    context.close()
