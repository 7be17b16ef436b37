"""Browser tests: time both jurors can trust (issue 11, items 9 and 11).

Item 9: slow polls must not move the displayed clock. The live server delays
the state polls by 3 s (a WSGI wrapper: before the app, as a queue in front of
a busy server, or after it, as a slow response); the browser, the server and
this test share the machine's clock, so the server's truth is known here at
every moment, and the clock the page shows must stay within a second of it.

Item 11: the E5 preparation (fixed length) ends by itself: with the exam minute
shortened to one second, a preparation started 39 s ago ends on screen after
6 s with no poll (polls every minute), and the jury then starts the next step.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from exam_app import create_app
from exam_app.accounts.models import Role, RoleAssignment, User
from exam_app.audit.models import AuditEvent
from exam_app.clock import to_local, utcnow
from exam_app.dossiers.models import Decision, Dossier
from exam_app.enrolment.models import Candidate, CandidateUnitForm, Centre, Establishment, ExamSession
from exam_app.extensions import db
from exam_app.juries import lifecycle, planning
from exam_app.juries.models import Commission, CommissionMember, MemberRole, Passage, PassageSegment
from tests.browser import test_jury_day as day

pytestmark = pytest.mark.browser

SLOW = 3.0  # seconds added to a state poll


class SlowPolls:
    """WSGI wrapper: delays every ``every``-th state poll by SLOW seconds, ``before`` the
    app (the server stamps its time late) or after it (the answer arrives late)."""

    def __init__(self, app, *, side: str, every: int) -> None:
        self.app, self.side, self.every = app, side, every
        self.count = itertools.count()
        self.enabled = False
        self.slowed = 0

    def __call__(self, environ, start_response):
        slow = (self.enabled and environ["PATH_INFO"].endswith("/etat")
                and next(self.count) % self.every == 0)
        if not slow:
            return self.app(environ, start_response)
        self.slowed += 1
        if self.side == "before":
            time.sleep(SLOW)
            return self.app(environ, start_response)
        body = list(self.app(environ, start_response))
        time.sleep(SLOW)
        return body


def _serve(tmp_path, *, unit_code: str, config: dict):
    """A live server on a private SQLite database with one passage and two jurors."""
    from werkzeug.serving import make_server

    from tests.browser.conftest import closing_static

    side, every = config.pop("slow_side", "before"), config.pop("slow_every", 1)
    count = config.pop("candidates", 1)
    app = create_app({
        "TESTING": True, "SECRET_KEY": "browser-secret",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/clock.db",
        "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False,
        "STORAGE_DIR": str(tmp_path / "storage"), **config,
    })
    with app.app_context():
        db.create_all()
        session = ExamSession(code="CLOCK", name="Session horloge", year=2027)
        centre = Centre(session=session, code="C1", name="Centre 1")
        school = Establishment(uai="0690002B", name="Lycée de l'horloge")
        candidates = [Candidate(session=session, number=f"9900000000{n + 2}", last_name=name,
                                first_name="Léa", birth_date=date(2005, 1, 1),
                                establishment=school, centre=centre,
                                unit_forms=[CandidateUnitForm(unit_code="E5", form="ponctuel")])
                      for n, name in enumerate(("HORLOGE", "SUIVANTE")[:count])]
        jurors = []
        for username, first in (("jurya", "Alice"), ("juryb", "Bruno")):
            user = User(username=username, first_name=first, last_name="Juré")
            user.set_password(day.PASSWORD)
            user.roles.append(RoleAssignment(role=Role.EXAMINATEUR.value))
            jurors.append(user)
        commission = Commission(session=session, unit_code=unit_code, form="ponctuel",
                                code=f"{unit_code}-H", centre=centre)
        commission.members = [
            CommissionMember(user=jurors[0], member_role=MemberRole.TEACHER.value),
            CommissionMember(user=jurors[1], member_role=MemberRole.PROFESSIONAL.value),
        ]
        db.session.add_all([session, centre, school, *candidates, commission])
        db.session.flush()
        passages = planning.assign_candidates(commission=commission,
                                              numbers=[c.number for c in candidates],
                                              variant_code="ponctuel", actor=None)
        for candidate in candidates:
            db.session.add(Dossier(candidate_id=candidate.id, unit_code=unit_code,
                                   decision_reasons=[], decision=Decision.COMPLIANT.value))
        db.session.commit()
        passage_id = passages[0].id
        passage_ids = [p.id for p in passages]
    slow = SlowPolls(app.wsgi_app, side=side, every=every)
    app.wsgi_app = slow
    server = make_server("127.0.0.1", 0, closing_static(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread, {"url": f"http://127.0.0.1:{server.server_port}", "app": app,
                            "passage_id": passage_id, "passage_ids": passage_ids, "slow": slow}


@pytest.fixture()
def clock_server(tmp_path):
    servers = []

    def build(*, unit_code="E4", **config):
        server, thread, info = _serve(tmp_path, unit_code=unit_code, config=config)
        servers.append((server, thread, info["app"]))
        return info

    yield build
    for server, thread, app in servers:
        server.shutdown()
        thread.join(timeout=5)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _start(info, *, ago: timedelta, passage_id: int | None = None) -> None:
    """Start the passage ``ago`` in the past, straight in the database."""
    with info["app"].app_context():
        passage = db.session.get(Passage, passage_id or info["passage_id"])
        juror = passage.commission.members[0].user
        lifecycle.start_passage(passage=passage, actor=juror, now=utcnow() - ago)
        db.session.commit()


def _segment_zero(info) -> PassageSegment:
    with info["app"].app_context():
        return db.session.scalar(sa.select(PassageSegment).where(
            PassageSegment.passage_id == info["passage_id"], PassageSegment.index == 0))


READ = ("() => [document.getElementById('timer-clock').textContent,"
        " Date.now(), document.getElementById('jury').dataset.clockOffset || null]")


@pytest.mark.parametrize(("side", "every", "start_in_page"), [
    ("before", 1, False),  # every poll queued 3 s before the server; page opened mid-step
    ("after", 2, True),    # every other answer 3 s late; the juror starts the passage
])
def test_slow_polls_never_move_the_displayed_clock(clock_server, chromium, side, every,
                                                   start_in_page):
    from playwright.sync_api import expect

    info = clock_server(slow_side=side, slow_every=every, JURY_POLL_MS=500)
    if not start_in_page:
        _start(info, ago=timedelta(minutes=3))
    context, page = day._login(chromium, info["url"], "jurya")
    # A busy tablet (the flaky first reading, issue 17): its CPU four times slower, so the
    # 250 ms redraw comes late. A clock correction must show at once all the same, and a
    # slow answer from before the start must not bring the old state back.
    context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": 4})
    try:
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        # Mid-step, every poll slow from the very first: the page's bare-clock probe anchors
        # the clock. Starting in the page: the start's own answer (fast) anchors it.
        info["slow"].enabled = not start_in_page
        page.goto(f"{info['url']}/jury/passages/{info['passage_id']}")
        # The first state (slow or not) gives the first sample; a fast exchange (bound ≤
        # 250 ms) anchors the clock within a second of it.
        expect(page.locator("#jury")).to_have_attribute("data-clock-bound", re.compile(r"\d"),
                                                        timeout=2000 + 1000 * SLOW)
        expect(page.locator("#jury")).to_have_attribute("data-clock-bound", re.compile(
            r"^([0-9]|[0-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|250)$"), timeout=1000)
        info["slow"].enabled = True
        if start_in_page:
            page.click("#btn-start")
            expect(page.locator("#btn-next")).to_be_visible()
        segment = _segment_zero(info)
        started_ms = segment.started_at.timestamp() * 1000
        gaps, offsets = [], []
        deadline = time.monotonic() + 4 * SLOW + 2
        while time.monotonic() < deadline:
            text, now_ms, offset = page.evaluate(READ)
            truth = segment.allowed_seconds - (now_ms - started_ms) / 1000  # remaining, s
            minutes, seconds = text.split(":")
            gaps.append(int(minutes) * 60 + int(seconds) - truth)
            offsets.append(None if offset is None else int(offset))
            page.wait_for_timeout(150)
        # The page shows the second in progress (mm:ss, rounded down), redrawn every 250 ms:
        # with the server's time it reads between 1 s and 0.25 s from the truth. Off by half a
        # slow round trip (1.5 s), it would read outside that, one way or the other.
        assert info["slow"].slowed >= 2
        assert all(-1.15 < gap < 0.4 for gap in gaps), [round(g, 2) for g in gaps]
        # Same machine, same clock: the estimated offset stays near zero throughout.
        assert offsets[-1] is not None and all(o is None or abs(o) <= 150 for o in offsets), \
            offsets
        assert errors == []
    finally:
        context.close()


def test_e5_preparation_ends_by_itself_on_screen_then_the_jury_starts_the_next_step(
        clock_server, chromium, screenshot):
    from playwright.sync_api import expect

    # One exam minute lasts one second: the preparation lasts 45 s; 39 s have gone.
    # Polls every minute: the switch cannot come from a poll.
    info = clock_server(unit_code="E5", JURY_SECONDS_PER_MINUTE=1, JURY_POLL_MS=60_000)
    context, page = day._login(chromium, info["url"], "jurya")
    _start(info, ago=timedelta(seconds=39))
    try:
        polls = []
        page.on("request", lambda request: polls.append(request.url)
                if request.url.endswith("/etat") else None)
        page.goto(f"{info['url']}/jury/passages/{info['passage_id']}")
        segment = _segment_zero(info)
        due = segment.started_at + timedelta(seconds=45)
        expect(page.locator("#timer-phase")).to_have_text(
            "Préparation sur poste informatique (nouvelle demande)")
        expect(page.locator("#timer-detail")).to_contain_text("se termine seule à")
        screenshot(page, "e5-preparation-running")
        expect(page.locator("#timer-detail")).to_contain_text(
            "Préparation terminée à", timeout=9000)
        expect(page.locator("#timer-detail")).to_contain_text("candidat attendu")
        expect(page.locator("#timer")).to_have_attribute("data-state", "waiting")
        expect(page.locator("#timer-phase")).to_have_text("Simulation et entretien")
        expect(page.locator("#timer-clock")).to_have_text("00:10")
        expect(page.locator("#btn-next")).to_have_text(
            "Démarrer « Résultat de la nouvelle demande »")
        assert len(polls) == 1  # the first state only
        assert f"terminée à {to_local(due):%H:%M}" in page.locator("#timer-detail").inner_text()
        screenshot(page, "e5-preparation-ended")

        # A reload shows it as the server renders it, before any script runs.
        html = page.reload().text()
        assert 'data-state="waiting"' in html and "candidat attendu" in html
        expect(page.locator("#timer-detail")).to_contain_text("candidat attendu")

        # The jury calls the candidate in: the next step starts now; the preparation's end
        # is written at its due time, audited as automatic.
        page.click("#btn-next")
        expect(page.locator("#timer-step")).to_have_text("Résultat de la nouvelle demande")
        expect(page.locator("#timer")).to_have_attribute("data-state", "running")
        with info["app"].app_context():
            rows = db.session.execute(sa.select(PassageSegment.index, PassageSegment.ended_at)
                                      .where(PassageSegment.passage_id == info["passage_id"])
                                      .order_by(PassageSegment.index)).all()
            actors = db.session.execute(sa.select(AuditEvent.action, AuditEvent.actor_id).where(
                AuditEvent.action.in_(("timer.auto_end", "timer.start_step")))
                .order_by(AuditEvent.id)).all()
        assert [tuple(row) for row in rows] == [(0, due), (1, None)]
        assert [action for action, _ in actors] == ["timer.auto_end", "timer.start_step"]
        assert actors[0][1] is None and actors[1][1] is not None
    finally:
        context.close()


def test_jury_with_one_candidate_sees_the_next_preparation_end_by_itself(
        clock_server, chromium, screenshot):
    from playwright.sync_api import expect

    # Candidate 1 is in front of the jury (preparation over, simulation running);
    # candidate 2 prepares alone, 35 of 45 s gone. No poll after the first.
    info = clock_server(unit_code="E5", JURY_SECONDS_PER_MINUTE=1, JURY_POLL_MS=60_000,
                        candidates=2)
    first, second = info["passage_ids"]
    context, page = day._login(chromium, info["url"], "jurya")
    _start(info, ago=timedelta(seconds=60), passage_id=first)
    with info["app"].app_context():
        passage = db.session.get(Passage, first)
        lifecycle.advance(passage=passage, from_index=0, actor=passage.commission.members[0].user)
        db.session.commit()
    _start(info, ago=timedelta(seconds=35), passage_id=second)
    try:
        page.goto(f"{info['url']}/jury/passages/{first}")
        line = page.locator("#other-preparations p")
        expect(page.locator("#timer-step")).to_have_text("Résultat de la nouvelle demande")
        expect(line).to_contain_text("En préparation : SUIVANTE Léa — se termine seule à")
        expect(line).to_contain_text("SUIVANTE Léa : préparation terminée à", timeout=14000)
        expect(line).to_contain_text("candidat attendu")
        expect(line.locator("a")).to_have_attribute("href", f"/jury/passages/{second}")
        screenshot(page, "e5-next-candidate-due")
    finally:
        context.close()


def test_during_a_pause_the_tag_says_so_and_the_main_button_resumes(clock_server, chromium,
                                                                   screenshot):
    """Issue 17: paused, the tag reads « En pause » (not « En cours ») and the main button
    is « Reprendre le minuteur » (not « Étape suivante »), after a reload too."""
    from playwright.sync_api import expect

    info = clock_server()
    _start(info, ago=timedelta(minutes=1))
    context, page = day._login(chromium, info["url"], "jurya")
    try:
        page.goto(f"{info['url']}/jury/passages/{info['passage_id']}")
        expect(page.locator("#passage-status")).to_have_text("En cours")
        expect(page.locator("#btn-next")).to_have_text("Étape suivante")
        page.fill("#pause-reason", "Panne du vidéoprojecteur")
        page.get_by_role("button", name="Mettre en pause").click()
        expect(page.locator("#passage-status")).to_have_text("En pause")
        expect(page.locator("#btn-next")).to_be_hidden()
        expect(page.locator("#btn-resume")).to_have_text("Reprendre le minuteur")
        expect(page.locator("#btn-resume")).to_be_visible()
        screenshot(page, "jury-paused")
        page.reload()  # as the server renders it
        expect(page.locator("#passage-status")).to_have_text("En pause")
        expect(page.locator("#btn-next")).to_be_hidden()
        page.click("#btn-resume")
        expect(page.locator("#passage-status")).to_have_text("En cours")
        expect(page.locator("#btn-next")).to_have_text("Étape suivante")
        expect(page.locator("#btn-resume")).to_be_hidden()
    finally:
        context.close()
