"""The CCF route in Chromium (issue 14, §2): the establishment's coordinator forms a
CCF commission, plans situations A and B, its two jurors run both on the jury screen
(timer, grids, joint validation), the coordinator prints the bordereau and transmits;
the académie's bordereau and results export then say what was validated, and the jury
can no longer change it."""

from __future__ import annotations

import io
import re
import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from exam_app import create_app
from exam_app.accounts.models import Role, RoleAssignment, User
from exam_app.clock import to_local, utcnow
from exam_app.dossiers.models import Decision, Dossier
from exam_app.enrolment.models import (
    Candidate,
    CandidateUnitForm,
    Establishment,
    ExamSession,
    PersonProfile,
)
from exam_app.extensions import db
from exam_app.juries.models import AGREED, Grid, Passage

pytestmark = pytest.mark.browser

PASSWORD = "mot-de-passe-ccf"


def _user(username, first, last, role, **scope):
    user = User(username=username, first_name=first, last_name=last,
                email=f"{username}@test.invalid")
    user.set_password(PASSWORD)
    user.roles.append(RoleAssignment(role=role.value, **scope))
    return user


@pytest.fixture()
def ccf_server(tmp_path):
    """A live server on a private SQLite database: a lycée allowed to run CCF, its CCF
    candidate (dossier compliant), its teacher, a professional, its coordinator."""
    from werkzeug.serving import make_server

    from tests.browser.conftest import closing_static

    app = create_app({
        "TESTING": True, "SECRET_KEY": "browser-secret", "PUBLIC_URL": "https://examens.example",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/ccf.db",
        "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False,
        "STORAGE_DIR": str(tmp_path / "storage"),
        "JURY_SECONDS_PER_MINUTE": 1, "JURY_POLL_MS": 400,
    })
    with app.app_context():
        db.create_all()
        session = ExamSession(code="CCF27", name="BTS SAM 2027", year=2027,
                              academie="Académie de Lyon")
        lycee = Establishment(uai="0690026D", name="Lycée Édouard-Herriot", city="Lyon",
                              is_ccf_allowed=True)
        other = Establishment(uai="0690104P", name="Lycée La Martinière-Diderot",
                              is_ccf_allowed=True)
        candidate = Candidate(session=session, number="02700000001", last_name="MARTIN",
                              first_name="Léa", birth_date=date(2006, 2, 3), establishment=lycee,
                              unit_forms=[CandidateUnitForm(unit_code="E5", form="ccf")])
        outsider = Candidate(session=session, number="02700000002", last_name="BERNARD",
                             first_name="Hugo", birth_date=date(2006, 4, 5),
                             establishment=other,
                             unit_forms=[CandidateUnitForm(unit_code="E5", form="ccf")])
        db.session.add_all([session, lycee, other, candidate, outsider])
        db.session.flush()
        teacher = _user("prof", "Anne", "Durand", Role.EXAMINATEUR)
        pro = _user("pro", "Marc", "Lefèvre", Role.EXAMINATEUR)
        coordinator = _user("ccf1", "Sylvie", "Marchand", Role.COORDINATEUR_CCF,
                            establishment_id=lycee.id)
        gestion = _user("gestion", "Claire", "Vasseur", Role.GESTIONNAIRE)
        db.session.add_all([teacher, pro, coordinator, gestion])
        db.session.flush()
        db.session.add_all([
            PersonProfile(user_id=teacher.id, establishment_id=lycee.id, company=""),
            PersonProfile(user_id=pro.id, company="Société Alpha"),
            Dossier(candidate_id=candidate.id, unit_code="E5", decision_reasons=[],
                    decision=Decision.COMPLIANT.value)])
        db.session.commit()
        ids = {"session": session.id, "lycee": lycee.id, "candidate": candidate.id,
               "other": other.id}
    server = make_server("127.0.0.1", 0, closing_static(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_port}", "app": app, **ids}
    finally:
        server.shutdown()
        thread.join(timeout=5)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _login(browser, base, username, landing):
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="fr-FR",
                                  accept_downloads=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(base + "/connexion")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(base) + landing))
    return context, page


def _prefill(app, passage_id, keep: str):
    """Every criterion of the agreed grid assessed but ``keep`` (clicked in the browser)."""
    with app.app_context():
        grid = db.session.scalar(sa.select(Grid).where(Grid.passage_id == passage_id,
                                                       Grid.key == AGREED))
        for field in grid.fields:
            if field.name.startswith("c:") and field.name != keep:
                field.value = "S"
            if field.name.startswith("r:"):
                field.value = "Projet « Forum des métiers »"
        db.session.commit()


def _accept_dialogs(page):
    page.on("dialog", lambda dialog: dialog.accept())


def _run_situation(a, b, app, passage_id, *, criterion, mark=None):
    """Both jurors open the passage; A starts it, runs its steps to the end, both fill
    and validate the agreed grid."""
    from playwright.sync_api import expect

    for page in (a, b):
        page.goto(page.url.split("/jury")[0] + f"/jury/passages/{passage_id}")
    a.click("#btn-start")
    expect(b.locator("#timer-clock")).not_to_have_text("", timeout=5000)
    a.click(f"label[for='commune-{criterion}-TS']")
    expect(b.locator(f"#commune-{criterion}-TS")).to_be_checked(timeout=5000)
    b.fill("#commune-appreciation", "Travail sérieux, démarche bien justifiée.")
    if mark is not None:
        a.fill("#commune-mark", mark)
    # Every step to the end (a fixed preparation ends by itself: then the jury starts the
    # next step when the candidate is back).
    for _ in range(40):
        if a.locator("#timer-clock").inner_text() == "Terminé":
            break
        if a.locator("#btn-next").is_visible():
            a.click("#btn-next")
        a.wait_for_timeout(1500)
    expect(a.locator("#timer-clock")).to_have_text("Terminé", timeout=5000)
    expect(a.locator("#net-status")).to_have_text("Connecté — tout est enregistré", timeout=8000)
    expect(b.locator("#net-status")).to_have_text("Connecté — tout est enregistré", timeout=8000)
    a.click("#btn-validate")
    b.wait_for_timeout(900)
    b.click("#btn-validate")
    for _ in range(20):
        with app.app_context():
            if db.session.get(Passage, passage_id).finalized_at is not None:
                return
        a.wait_for_timeout(500)
    raise AssertionError("the situation was not validated")


def test_coordinator_runs_situations_a_and_b_transmits_and_the_academie_agrees(
        ccf_server, chromium, screenshot):
    from playwright.sync_api import expect
    from pypdf import PdfReader

    from exam_app.results import exports

    base, app = ccf_server["url"], ccf_server["app"]
    today = to_local(utcnow(), "Europe/Paris").date()
    tomorrow = today + timedelta(days=1)
    errors: list[str] = []

    # The coordinator lands on the establishment's CCF page and forms the commission.
    ctx_c, c = _login(chromium, base, "ccf1", r"/ccf/sessions/CCF27/etablissements/\d+$")
    c.on("pageerror", lambda error: errors.append(str(error)))
    expect(c.locator("h1")).to_contain_text("CCF de l'E5 — Lycée Édouard-Herriot")
    expect(c.locator("body")).not_to_contain_text("BERNARD")  # another lycée's candidate
    screenshot(c, "ccf-establishment-empty")
    c.click("text=Former une commission")
    c.fill("#code", "E5-CCF-HERRIOT")
    c.fill("#days", f"{today:%d/%m/%Y}, {tomorrow:%d/%m/%Y}")
    c.select_option("#teacher_id", label="Durand Anne (prof@test.invalid)")
    c.select_option("#professional_id", label="Lefèvre Marc (pro@test.invalid)")
    screenshot(c, "ccf-commission-form")
    c.click("button:has-text('Former la commission')")
    expect(c.locator(".flash--success")).to_have_text("Commission E5-CCF-HERRIOT formée.")

    # Situation A today, B tomorrow (a bad date is refused in French, nothing planned).
    cid = ccf_server["candidate"]

    def plan(situation, day, start):
        c.select_option(f"#v-{cid}", situation)
        c.fill(f"#d-{cid}", day.isoformat())
        c.fill(f"#t-{cid}", start)
        c.click(f"#c{cid} button[type=submit]")

    plan("ccf_b", today, "08:00")
    plan("ccf_a", today, "10:00")
    expect(c.locator(".flash--error")).to_contain_text(
        "Les situations A et B se tiennent à des dates différentes")
    plan("ccf_b", tomorrow, "09:00")
    expect(c.locator(".flash--success")).to_contain_text(
        f"CCF — situation B (préparation, simulation et entretien) prévue le "
        f"{tomorrow:%d/%m/%Y} à 09:00")
    plan("ccf_a", today, "10:00")
    expect(c.locator(f"#c{cid}")).to_contain_text(f"prévue le {today:%d/%m/%Y}")
    screenshot(c, "ccf-establishment-planned")
    with app.app_context():
        passages = {p.variant_code: p.id for p in db.session.scalars(sa.select(Passage))}
    assert set(passages) == {"ccf_a", "ccf_b"}
    _prefill(app, passages["ccf_a"], keep="c:sujet")
    _prefill(app, passages["ccf_b"], keep="c:contexte")

    # The two jurors run situation A (grid only) then B (the global mark).
    ctx_a, a = _login(chromium, base, "prof", "/jury/")
    ctx_b, b = _login(chromium, base, "pro", "/jury/")
    for page in (a, b):
        page.on("pageerror", lambda error: errors.append(str(error)))
        _accept_dialogs(page)
    expect(a.locator("main")).to_contain_text("MARTIN")
    _run_situation(a, b, app, passages["ccf_a"], criterion="sujet")
    screenshot(a, "ccf-jury-situation-a-validated")
    _run_situation(a, b, app, passages["ccf_b"], criterion="contexte", mark="15,5")
    expect(a.locator("#final-mark")).to_contain_text("15,5", timeout=5000)
    screenshot(a, "ccf-jury-situation-b-validated")

    # The coordinator sees the result with the rule, prints the bordereau, transmits.
    c.reload()
    row = c.locator(f"#c{cid}")
    expect(row).to_contain_text("15,5")
    expect(row).to_contain_text("Note globale arrêtée après les situations A et B")
    with c.expect_download() as download:
        c.click("text=Bordereau de CCF (PDF)")
    pdf = download.value.path().read_bytes()
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "MARTIN" in text and "15,5" in text and "PROVISOIRE" not in text
    with c.expect_download() as fiches:
        c.click("text=Fiches d'évaluation (PDF)")
    assert len(PdfReader(io.BytesIO(fiches.value.path().read_bytes())).pages) >= 2
    c.click("text=Transmettre à l'académie…")
    screenshot(c, "ccf-transmit-confirmation")
    c.click("button:has-text('Transmettre à l\\'académie')")
    expect(c.locator(".field__error")).to_have_text("Cochez la confirmation.")
    c.check("#confirm")
    c.click("button:has-text('Transmettre à l\\'académie')")
    expect(c.locator(".flash--success").first).to_have_text(
        "Notes de CCF transmises à l'académie : elles sont verrouillées.")
    expect(row).to_contain_text("Verrouillé (transmis)")
    screenshot(c, "ccf-establishment-transmitted")

    # The jury screen now refuses changes, in French (the validation its button sends).
    a.goto(f"{base}/jury/passages/{passages['ccf_b']}")
    answer = a.evaluate("""async (id) => {
        const token = document.querySelector('input[name=csrf_token]').value;
        const r = await fetch(`/jury/passages/${id}/valider`, {method: 'POST',
          headers: {'X-CSRFToken': token, 'Content-Type': 'application/json',
                    'Accept': 'application/json'},
          body: JSON.stringify({revision: 0})});
        return [r.status, (await r.json()).message];
    }""", passages["ccf_b"])
    assert answer == [409, "Les notes de CCF de cet établissement ont été transmises à "
                           "l'académie : elles sont verrouillées. Seule la division des "
                           "examens peut les rouvrir."]

    # The académie: the transmission is listed; its bordereau and export say 15,5.
    ctx_g, g = _login(chromium, base, "gestion", "/gestion/")
    g.goto(f"{base}/gestion/sessions/CCF27/ccf")
    expect(g.locator("main")).to_contain_text("Transmises le")
    screenshot(g, "ccf-gestion-transmissions")
    g.goto(f"{base}/ccf/sessions/CCF27/etablissements/{ccf_server['lycee']}")
    with g.expect_download() as academie:
        g.click("text=Bordereau de CCF (PDF)")
    academie_text = " ".join(p.extract_text() for p in PdfReader(
        io.BytesIO(academie.value.path().read_bytes())).pages)
    assert "MARTIN" in academie_text and "15,5" in academie_text
    with app.app_context():
        rows = {r[0]: r for r in exports.result_rows(ccf_server["session"])}
        header = list(exports.header())
        passage_b = db.session.get(Passage, passages["ccf_b"])
        validated = str(passage_b.final_mark)
        assert db.session.get(Passage, passages["ccf_a"]).attendance != "absent"
    assert validated == "15.50"
    assert rows["02700000001"][header.index("E5")] == "15,5"
    # The relevé de notes of the establishment's candidates says the same.
    releve = g.request.get(f"{base}/gestion/sessions/CCF27/releves.pdf"
                           f"?etablissement={ccf_server['lycee']}")
    assert releve.ok and releve.body().startswith(b"%PDF")
    [martin] = [page.extract_text() for page in PdfReader(io.BytesIO(releve.body())).pages
                if "MARTIN" in page.extract_text()]  # one page per candidate
    assert "E5" in martin and "15,5" in martin
    # The verification link printed on the bordereau says authentic.
    url = re.search(r"https://examens\.example(/verifier/[A-Za-z0-9_\-.]+)",
                    re.sub(r"\s+", "", text))
    assert url is not None
    g.goto(base + url.group(1))
    expect(g.locator("main")).to_contain_text("authentique")
    for context in (ctx_c, ctx_a, ctx_b, ctx_g):
        context.close()
    assert errors == []
