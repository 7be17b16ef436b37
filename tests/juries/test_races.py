"""Two jurors racing on a live server (issue 11, items 1-3): threads send both
requests at the same instant, many rounds, and every round must keep the
invariants: no 500; a final mark equals the agreed grid's mark at the revision
both jurors validated, and no edit lands on it; a double start or advance is
applied and audited once, the other press answering ``already``.

The app is served by werkzeug in a thread (threaded, one request per thread)
on the test database, SQLite or PostgreSQL (TEST_DATABASE_URL).
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from exam_app import create_app
from exam_app.audit.models import AuditEvent
from exam_app.juries import lifecycle, validation, validation_lean
from exam_app.juries.models import AGREED, Grid, GridField, Passage, PassageSegment, Validation
from tests.browser.conftest import SERVED_CONFIG, serving
from tests.conftest import PASSWORD
from tests.juries.helpers import T0, complete_grid, members, save

ROUNDS = 30


class Juror:
    """One juror's HTTP session (cookies, CSRF token) on the live server."""

    def __init__(self, base: str, user) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = self.get("/connexion")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({"username": user.username, "password": PASSWORD,
                                       "csrf_token": token}).encode()
        login = urllib.request.Request(base + "/connexion", data=data)  # noqa: S310 - local
        self.opener.open(login, timeout=30)
        self.token = ""

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as response:
            return response.read().decode()

    def open_passage(self, passage_id: int) -> None:
        """Load a passage page once, for the CSRF token the JSON calls carry (the
        session's token: the same for every passage)."""
        page = self.get(f"/jury/passages/{passage_id}")
        self.token = re.search(r'data-csrf="([^"]+)"', page).group(1)

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        request = urllib.request.Request(  # noqa: S310 - the live test server over http
            self.base + path, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "X-CSRFToken": self.token})
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            text = error.read()
            try:
                return error.code, json.loads(text or b"{}")
            except ValueError:
                return error.code, {"raw": text[:200].decode(errors="replace")}


def race(first, second, *, delay: float = 0.0) -> tuple:
    """Run both calls at the same instant in two threads (the second ``delay`` seconds
    later, to spread which one the server sees first); their results."""
    results: list = [None, None]
    barrier = threading.Barrier(2)

    def run(slot: int, call) -> None:
        barrier.wait()
        if slot == 1 and delay:
            time.sleep(delay)
        try:
            results[slot] = call()
        except Exception as error:  # noqa: BLE001 - reported by the assertions
            results[slot] = (-1, {"exception": repr(error)})

    threads = [threading.Thread(target=run, args=(n, call))
               for n, call in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return tuple(results)


@pytest.fixture()
def served(app):
    """The app on the test database, served over HTTP (not in TESTING mode)."""
    live = create_app({**SERVED_CONFIG,
                       "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                       "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False,
                       "STORAGE_DIR": app.config["STORAGE_DIR"]})
    with serving(live) as url:
        yield live, url


@pytest.fixture()
def bench(db, served, create_passage):
    """ROUNDS passages of one commission, and both jurors logged in on the live server."""
    first = create_passage()
    passages = [first] + [create_passage(commission=first.commission)
                          for _ in range(ROUNDS - 1)]
    jurors = members(first)
    db.session.commit()
    live, url = served
    clients = [Juror(url, user) for user in jurors]
    for client in clients:
        client.open_passage(first.id)
    return live, passages, jurors, clients


def _audited(db, passage_id: int, action: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.object_type == "passage", AuditEvent.object_id == str(passage_id),
        AuditEvent.action == action))


def _agreed_mark(db, passage_id: int) -> str:
    return db.session.scalar(sa.select(GridField.value).join(Grid).where(
        Grid.passage_id == passage_id, Grid.key == AGREED, GridField.name == "mark"))


def _final_state(db, passage_id: int) -> tuple:
    """(passage, agreed mark, validations as (user, revision, mark)), read afresh."""
    db.session.rollback()
    db.session.expire_all()
    passage = db.session.get(Passage, passage_id)
    rows = db.session.execute(sa.select(Validation.user_id, Validation.revision, Validation.mark)
                              .where(Validation.passage_id == passage_id)).all()
    return passage, _agreed_mark(db, passage_id), rows


def _check_final(db, passage, mark, rows, jurors) -> None:
    """A final mark is the agreed grid's mark, validated by both at the current revision."""
    assert passage.is_final
    assert passage.final_mark == Decimal(mark)
    assert sorted(r.user_id for r in rows) == sorted(j.id for j in jurors)
    assert {(r.revision, r.mark) for r in rows} == {(passage.agreed_revision, passage.final_mark)}
    assert _audited(db, passage.id, "mark.final") == 1


def _prepare_validated_once(db, passage, jurors) -> None:
    """A complete grid at mark 12 (revision 1), validated by the first juror."""
    complete_grid(passage)
    save(passage, jurors[0], "mark", "12", 0, f"race-setup-{passage.id}")
    db.session.refresh(passage)
    validation.validate(passage=passage, revision=1, actor=jurors[0], now=T0)
    db.session.commit()


def _count_lean_answers(monkeypatch) -> list[int]:
    """Count the validations the lean path decided (it answers None to hand over)."""
    answered = [0]
    lean = validation_lean.validate

    def counted(**kwargs):
        answer = lean(**kwargs)
        answered[0] += answer is not None
        return answer

    monkeypatch.setattr(validation_lean, "validate", counted)
    return answered


# The autosave's store and the validation's path (lean or the reference alone).
@pytest.mark.parametrize(("store", "path"), [("fast", "fast"), ("reference", "fast"),
                                             ("fast", "reference")])
def test_validate_races_edit(db, bench, store, path, monkeypatch):
    live, passages, jurors, (a, b) = bench
    answered = _count_lean_answers(monkeypatch)
    live.config["JURY_AUTOSAVE_STORE"] = store
    live.config["JURY_VALIDATION_PATH"] = path
    outcomes = {"final": 0, "edited": 0}
    for number, passage in enumerate(passages):
        _prepare_validated_once(db, passage, jurors)
        url = f"/jury/passages/{passage.id}"
        validated, edited = race(
            lambda url=url: b.post(url + "/valider", {"revision": 1}),
            lambda url=url, p=passage: a.post(url + "/grilles/commune/champs", {"ops": [
                {"op": f"race-edit-{p.id}", "field": "mark", "value": "18", "base": 1}]}),
            delay=(number % 6) * 0.004)  # the edit 0 to 20 ms later: both orders, and overlaps
        assert {validated[0], edited[0]} <= {200, 409}, (validated, edited)
        current, mark, rows = _final_state(db, passage.id)
        if current.is_final:
            outcomes["final"] += 1
            # The edit came second: refused, and the grid still shows the validated mark.
            assert (validated[0], edited[0], mark) == (200, 409, "12"), (validated, edited)
            _check_final(db, current, mark, rows, jurors)
        else:
            outcomes["edited"] += 1
            # The edit came first: B validated a revision that no longer exists.
            assert (validated[0], edited[0], edited[1]["results"][0]["status"], mark) == (
                409, 200, "ok", "18"), (validated, edited)
            assert (current.agreed_revision, rows) == (2, [])
    assert sum(outcomes.values()) == ROUNDS
    # The lean path decided the validations that went through (none on the reference's).
    assert (answered[0] > 0) == (path == "fast"), answered
    print(f"validate vs edit ({store}, validation {path}): {ROUNDS} rounds, {outcomes}, "
          f"lean answers {answered[0]}")


@pytest.mark.parametrize("path", ["fast", "reference"])
def test_both_validate_at_once_end_final(db, bench, path, monkeypatch):
    live, passages, jurors, (a, b) = bench
    answered = _count_lean_answers(monkeypatch)
    live.config["JURY_VALIDATION_PATH"] = path
    for passage in passages:
        complete_grid(passage)
        save(passage, jurors[0], "mark", "13,5", 0, f"race-mark-{passage.id}")
        db.session.commit()
        url = f"/jury/passages/{passage.id}/valider"
        one, two = race(lambda url=url: a.post(url, {"revision": 1}),
                        lambda url=url: b.post(url, {"revision": 1}))
        assert (one[0], two[0]) == (200, 200), (one, two)
        current, mark, rows = _final_state(db, passage.id)
        assert mark == "13.5"
        _check_final(db, current, mark, rows, jurors)
        # The validation that completed the pair answers "final"; the other may too, when
        # its answer is read after the second commit (answers show the state as it is).
        assert True in {one[1]["passage"]["final"], two[1]["passage"]["final"]}
    # Every validation of the pair went through the lean path (or none, on the reference's).
    assert answered[0] == (2 * ROUNDS if path == "fast" else 0), answered
    print(f"validate vs validate (validation {path}): {ROUNDS} rounds")


def test_both_start_at_once_start_once(db, bench):
    _, passages, _, (a, b) = bench
    for passage in passages:
        url = f"/jury/passages/{passage.id}/minuteur"
        one, two = race(lambda url=url: a.post(url, {"action": "start"}),
                        lambda url=url: b.post(url, {"action": "start"}))
        assert (one[0], two[0]) == (200, 200), (one, two)
        assert sorted([one[1]["already"], two[1]["already"]]) == [False, True]
        assert "déjà" in (one[1].get("message") or two[1].get("message"))
        db.session.rollback()
        segments = db.session.scalars(sa.select(PassageSegment.index).where(
            PassageSegment.passage_id == passage.id)).all()
        assert (segments, _audited(db, passage.id, "timer.start")) == ([0], 1)
    print(f"start vs start: {ROUNDS} rounds")


def test_both_advance_at_once_advance_once(db, bench):
    _, passages, jurors, (a, b) = bench
    for passage in passages:
        lifecycle.start_passage(passage=passage, actor=jurors[0])
        db.session.commit()
        url = f"/jury/passages/{passage.id}/minuteur"
        one, two = race(lambda url=url: a.post(url, {"action": "next", "from": 0}),
                        lambda url=url: b.post(url, {"action": "next", "from": 0}))
        assert (one[0], two[0]) == (200, 200), (one, two)
        assert sorted([one[1]["already"], two[1]["already"]]) == [False, True]
        assert one[1]["timer"]["current"] == two[1]["timer"]["current"] == 1
        db.session.rollback()
        segments = db.session.execute(sa.select(PassageSegment.index, PassageSegment.ended_at)
                                      .where(PassageSegment.passage_id == passage.id)
                                      .order_by(PassageSegment.index)).all()
        assert [(index, ended is not None) for index, ended in segments] == [
            (0, True), (1, False)]
        assert _audited(db, passage.id, "timer.advance") == 1
    print(f"advance vs advance: {ROUNDS} rounds")


@pytest.fixture()
def prep_bench(db, served, create_passage):
    """ROUNDS E5 ponctuel passages whose 45-minute preparation started 46 minutes ago
    (its time is up, nothing wrote its end), and both jurors logged in."""
    from exam_app.clock import utcnow

    first = create_passage(unit_code="E5")
    passages = [first] + [create_passage(unit_code="E5", commission=first.commission)
                          for _ in range(ROUNDS - 1)]
    jurors = members(first)
    began = utcnow() - timedelta(minutes=46)
    for passage in passages:
        lifecycle.start_passage(passage=passage, actor=jurors[0], now=began)
    db.session.commit()
    live, url = served
    clients = [Juror(url, user) for user in jurors]
    for client in clients:
        client.open_passage(first.id)
    return passages, began, clients


def _prep_rows(db, passage_id: int) -> list:
    db.session.rollback()
    return db.session.execute(sa.select(PassageSegment.index, PassageSegment.ended_at)
                              .where(PassageSegment.passage_id == passage_id)
                              .order_by(PassageSegment.index)).all()


def test_auto_end_races_next_preparation_ends_once_at_due_time(db, prep_bench):
    # A poll writes the automatic end while a juror presses "Étape suivante", and the
    # other juror presses too: the preparation ends once, at its due time, and the next
    # step starts once (never two segments ended).
    passages, began, (a, b) = prep_bench
    due = began + timedelta(minutes=45)
    for n, passage in enumerate(passages):
        url = f"/jury/passages/{passage.id}"
        one, two = race(lambda url=url: (200, json.loads(a.get(url + "/etat"))),
                        lambda url=url: b.post(url + "/minuteur", {"action": "next", "from": 0}),
                        delay=0.002 * (n % 5))
        three = a.post(url + "/minuteur", {"action": "next", "from": 0})
        assert (one[0], two[0], three[0]) == (200, 200, 200), (one, two, three)
        assert (two[1]["already"], three[1]["already"]) == (False, True)
        assert one[1]["timer"]["status"] in ("waiting", "running")
        rows = _prep_rows(db, passage.id)
        assert [tuple(row) for row in rows] == [(0, due), (1, None)], rows
        assert [_audited(db, passage.id, action) for action in (
            "timer.auto_end", "timer.start_step", "timer.advance")] == [1, 1, 0]
    print(f"auto end vs next vs next: {ROUNDS} rounds")


def test_both_call_the_candidate_in_at_once_start_once(db, prep_bench):
    passages, began, (a, b) = prep_bench
    for passage in passages:
        url = f"/jury/passages/{passage.id}/minuteur"
        one, two = race(lambda url=url: a.post(url, {"action": "next", "from": 0}),
                        lambda url=url: b.post(url, {"action": "next", "from": 0}))
        assert (one[0], two[0]) == (200, 200), (one, two)
        assert sorted([one[1]["already"], two[1]["already"]]) == [False, True]
        assert one[1]["timer"]["current"] == two[1]["timer"]["current"] == 1
        rows = _prep_rows(db, passage.id)
        assert [(index, ended is not None) for index, ended in rows] == [(0, True), (1, False)]
        assert rows[0][1] == began + timedelta(minutes=45)
        assert [_audited(db, passage.id, action) for action in (
            "timer.auto_end", "timer.start_step")] == [1, 1]
    print(f"call in vs call in: {ROUNDS} rounds")
