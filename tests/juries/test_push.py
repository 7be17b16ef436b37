"""Push (issue 11, item 10): the long polls of the passage page and the live board.

A change by one juror (start, advance, pause, resume, a save of the agreed grid, a
validation, the finalisation) wakes the other juror's waiting request, served over
HTTP by a live server (threads, as under gunicorn's gthread worker); an unchanged
passage answers after the wait; only the commission's jurors and the académie's
managers may wait. SQLite and PostgreSQL (TEST_DATABASE_URL).
"""

from __future__ import annotations

import json
import math
import threading
import time
from datetime import timedelta

import pytest

from exam_app.accounts.models import Role
from exam_app.clock import to_local, utcnow
from exam_app.juries import lifecycle, push
from exam_app.juries.models import Passage
from tests.juries.helpers import complete_grid, members
from tests.juries.test_races import Juror
from tests.juries.test_races import served as served  # the live server fixture

WAIT = 6.0  # the live server's PUSH_WAIT_SECONDS: a woken waiter answers well before


def _version(db, passage_id: int) -> str:
    db.session.rollback()
    return str(db.session.get(Passage, passage_id).live_version)


class Waiting:
    """A long poll running in a thread: its answer and how long it took."""

    def __init__(self, juror: Juror, path: str) -> None:
        self.answer: dict | None = None
        self.seconds = 0.0
        self.thread = threading.Thread(target=self._run, args=(juror, path), daemon=True)
        self.thread.start()

    def _run(self, juror: Juror, path: str) -> None:
        import json

        started = time.monotonic()
        self.answer = json.loads(juror.get(path))
        self.seconds = time.monotonic() - started

    def result(self) -> dict:
        self.thread.join(timeout=WAIT + 10)
        assert self.answer is not None, "the long poll never answered"
        return self.answer


def _settle(live, count: int, timeout: float = 5.0) -> None:
    """Wait until ``count`` requests are waiting in the live server's process."""
    deadline = time.monotonic() + timeout
    hub = push.hub_for(live)
    while hub.waiting() < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert hub.waiting() >= count


@pytest.fixture()
def pair(db, served, create_passage):
    """A passage, both jurors logged in on the live server, and a short wait."""
    passage = create_passage()
    passage.scheduled_at = utcnow()
    complete_grid(passage)
    db.session.commit()
    live, url = served
    live.config["PUSH_WAIT_SECONDS"] = WAIT
    first, second = (Juror(url, user) for user in members(passage))
    first.open_passage(passage.id)
    second.open_passage(passage.id)
    return live, passage.id, first, second


def test_each_state_change_wakes_the_other_jurors_wait(db, pair):
    live, passage_id, first, second = pair
    base = f"/jury/passages/{passage_id}"
    steps = [
        ("minuteur", {"action": "start"}),
        ("minuteur", {"action": "pause", "reason": "Alarme incendie"}),
        ("minuteur", {"action": "resume"}),
        ("minuteur", {"action": "next", "from": 0}),
        ("grilles/commune/champs", {"ops": [{"op": "push-mark-1", "field": "mark",
                                             "value": "15", "base": 0}]}),
        ("valider", {"revision": 1}),
    ]
    for index, (path, body) in enumerate(steps + [("valider", {"revision": 1})]):
        actor = second if index == len(steps) else first  # the second validation finalises
        since = _version(db, passage_id)
        waiting = Waiting(second if actor is first else first,
                          f"{base}/attendre?depuis={since}")
        _settle(live, 1)
        status, _ = actor.post(f"{base}/{path}", body)
        assert status == 200, (path, body)
        answer = waiting.result()
        assert answer == {"changed": True, "version": _version(db, passage_id)}, path
        assert answer["version"] != since
        assert waiting.seconds < 2.0, (path, waiting.seconds)
    db.session.rollback()
    assert db.session.get(Passage, passage_id).is_final


def test_an_unchanged_passage_answers_unchanged_after_the_wait(db, pair):
    live, passage_id, first, _ = pair
    live.config["PUSH_WAIT_SECONDS"] = 0.5
    since = _version(db, passage_id)
    started = time.monotonic()
    answer = Waiting(first, f"/jury/passages/{passage_id}/attendre?depuis={since}").result()
    assert answer == {"changed": False, "version": since}
    assert 0.375 <= time.monotonic() - started < 3.0  # the last quarter is jittered


def test_a_stale_version_answers_at_once(db, pair):
    _, passage_id, first, _ = pair
    waiting = Waiting(first, f"/jury/passages/{passage_id}/attendre?depuis=stale")
    assert waiting.result() == {"changed": True, "version": _version(db, passage_id)}
    assert waiting.seconds < 2.0


def test_a_refused_action_wakes_nobody(db, pair):
    """The version moves only with a committed change: a refusal rolls its bump back."""
    live, passage_id, first, second = pair
    live.config["PUSH_WAIT_SECONDS"] = 1.0
    since = _version(db, passage_id)
    waiting = Waiting(second, f"/jury/passages/{passage_id}/attendre?depuis={since}")
    _settle(live, 1)
    # Not started: the pause is refused after the passage's lock (and its bump) was taken.
    status, _ = first.post(f"/jury/passages/{passage_id}/minuteur",
                           {"action": "pause", "reason": "Panne"})
    assert status == 409
    assert waiting.result() == {"changed": False, "version": since}
    assert _version(db, passage_id) == since


def test_over_the_cap_a_wait_answers_at_once_with_a_retry(db, pair):
    live, passage_id, first, _ = pair
    live.config["PUSH_MAX_WAITERS"] = 0
    since = _version(db, passage_id)
    waiting = Waiting(first, f"/jury/passages/{passage_id}/attendre?depuis={since}")
    assert waiting.result() == {"changed": False, "version": since, "retry_ms": 2000}
    assert waiting.seconds < 2.0


def test_the_board_wait_wakes_on_a_phase_change_with_the_board(db, pair, create_user):
    live, passage_id, first, _ = pair
    manager = create_user(Role.GESTIONNAIRE)
    db.session.commit()
    passage = db.session.get(Passage, passage_id)
    code, day = passage.commission.session.code, to_local(passage.scheduled_at).date()
    board = Juror(live_url(first), manager)
    page = board.get(f"/gestion/sessions/{code}/suivi?jour={day}")
    assert 'http-equiv="refresh"' not in page
    version = page.split('data-version="', 1)[1].split('"', 1)[0]
    waiting = Waiting(board, f"/gestion/sessions/{code}/suivi/attendre?jour={day}&depuis={version}")
    _settle(live, 1)
    changed_at = time.monotonic()
    status, _ = first.post(f"/jury/passages/{passage_id}/minuteur", {"action": "start"})
    assert status == 200
    answer = waiting.result()
    assert answer["changed"] is True and answer["version"] != version
    # Within the 2 s the board promises (at most one board every 1.5 s per browser).
    assert time.monotonic() - changed_at < 2.0
    [row] = answer["board"]["passages"]
    assert (row["id"], row["state"], row["state_label"]) == (passage_id, "running", "En cours")
    with live.app_context():
        from exam_app.juries import lifecycle

        first_step = lifecycle.planned_segments(db.session.get(Passage, passage_id))[0]
    assert row["phase"] == (first_step.phase_label if first_step.step_label in (
        "", first_step.phase_label) else f"{first_step.phase_label} — {first_step.step_label}")
    assert row["overrun"] == 0 and row["live"]["allowed"] > 0
    assert answer["board"]["totals"]["running"] == 1


def test_the_board_shows_a_passages_overrun(db, pair, create_user, client, login_as):
    """A step run past its allowed time shows its overrun on the board."""
    live, passage_id, first, _ = pair
    status, _ = first.post(f"/jury/passages/{passage_id}/minuteur", {"action": "start"})
    assert status == 200
    db.session.rollback()
    passage = db.session.get(Passage, passage_id)
    segment = passage.segments[0]
    segment.started_at = segment.started_at - timedelta(seconds=segment.allowed_seconds + 90)
    db.session.commit()
    manager = create_user(Role.GESTIONNAIRE)
    login_as(manager)
    code, day = passage.commission.session.code, to_local(passage.scheduled_at).date()
    answer = client.get(f"/gestion/sessions/{code}/suivi/attendre?jour={day}&depuis=x").get_json()
    [row] = answer["board"]["passages"]
    assert 90 <= row["overrun"] < 100
    html = client.get(f"/gestion/sessions/{code}/suivi?jour={day}").get_data(as_text=True)
    assert "+1 min 3" in html and "En cours" in html


def test_only_the_commissions_jurors_may_wait_on_a_passage(db, client, login_as, create_passage,
                                                        create_user):
    passage = create_passage()
    outsider = create_passage()  # another commission, other jurors
    db.session.commit()
    login_as(members(outsider)[0])
    assert client.get(f"/jury/passages/{passage.id}/attendre?depuis=x").status_code == 403
    assert client.get(f"/jury/passages/{outsider.id}/attendre?depuis=x").status_code == 200
    assert client.get(f"/gestion/sessions/{passage.commission.session.code}/suivi/attendre"
                      ).status_code == 403


def live_url(juror: Juror) -> str:
    return juror.base


def test_the_documented_commands_leave_ordinary_requests_their_threads(app):
    """The README's production command and ``make run`` give each worker the waiters'
    cap plus 16 threads, and the README's nginx location for the long polls (buffering
    off) matches both wait URLs."""
    import re
    from pathlib import Path

    from exam_app.config import DEFAULTS

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    makefile = (root / "Makefile").read_text(encoding="utf-8")
    threads = [int(n) for text in (readme, makefile)
               for n in re.findall(r"gunicorn --workers \d+ --threads (\d+)", text)]
    assert threads and set(threads) == {DEFAULTS["PUSH_MAX_WAITERS"] + 16}
    [location] = re.findall(r"location ~ (\S+) \{\n\s+proxy_pass http://exam_app;\n"
                            r"\s+proxy_buffering off;", readme)
    with app.test_request_context():
        from flask import url_for

        urls = [url_for("juries.passage_wait", passage_id=12),
                url_for("juries.board_wait", code="BTS-SAM-2027")]
    assert [bool(re.match(location, url)) for url in urls] == [True, True]
    assert not re.match(location, "/jury/passages/12/etat")


def _board_day(create_passage, db):
    from exam_app.juries import push

    passage = create_passage()
    passage.scheduled_at = utcnow()
    db.session.commit()
    day = to_local(passage.scheduled_at).date()
    start, end = lifecycle.day_bounds(day)
    return passage, day, push.BoardKey(passage.commission.session_id, start, end)


def _counting_boards(monkeypatch, pause: float = 0.0):
    from exam_app.juries import board

    computed = []
    real = board.board_view

    def counting(**kwargs):
        computed.append(kwargs["now"])
        time.sleep(pause)  # the others arrive while it computes
        return real(**kwargs)

    monkeypatch.setattr(board, "board_view", counting)
    return computed, real


def test_browsers_woken_together_share_one_board(app, db, monkeypatch, create_passage):
    """Ten boards answered at one instant cost one computation of the board; a board
    computed before the instant an answer is for is computed again."""
    import threading
    from datetime import timedelta

    from exam_app.juries import board

    passage, day, key = _board_day(create_passage, db)
    computed, _ = _counting_boards(monkeypatch, pause=0.05)
    answers = []

    def ask(fresh_from):
        with app.app_context():
            answers.append(board.shared_board_view(session_id=key.session_id, day=day,
                                                   key=key, fresh_from=fresh_from))

    instant = utcnow()
    threads = [threading.Thread(target=ask, args=(instant,)) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(computed) == 1 and len(answers) == 10
    assert all(answer is answers[0] or answer == answers[0] for answer in answers)
    version, view = answers[0]
    assert [row["id"] for row in view["passages"]] == [passage.id]
    ask(instant)  # the same instant, later: still that board
    assert len(computed) == 1
    ask(utcnow() + timedelta(seconds=1))  # a later instant: computed again
    assert len(computed) == 2


def test_processes_share_one_board_through_the_database(app, db, monkeypatch, create_passage):
    """Another worker process (or instance) answering for an instant finds the board the
    first one computed at or after it in the database: computed once for them all, the
    same board and version; a later instant gets a new board, stored for the others."""
    from datetime import timedelta

    from exam_app.juries import board
    from exam_app.juries.models import BoardSnapshot

    passage, day, key = _board_day(create_passage, db)
    computed, real = _counting_boards(monkeypatch)

    def other_process(fresh_from):
        board.forget_shared_views()  # a process that has computed nothing yet
        with app.app_context():
            return board.shared_board_view(session_id=key.session_id, day=day, key=key,
                                           fresh_from=fresh_from)

    instant = utcnow()
    first = other_process(instant)
    assert len(computed) == 1
    assert other_process(instant) == first  # read from the database, not computed
    assert len(computed) == 1
    snapshot = db.session.get(BoardSnapshot, (key.session_id, day))
    assert snapshot.version == first[0] == str(first[0])
    assert snapshot.computed_at == computed[0] >= instant
    with app.app_context():  # what was read back is the board as computed
        assert first[1] == real(session_id=key.session_id, day=day, now=computed[0])
    later = other_process(utcnow() + timedelta(milliseconds=1))
    assert len(computed) == 2 and later[1]["passages"] == first[1]["passages"]
    db.session.expire_all()
    assert db.session.get(BoardSnapshot, (key.session_id, day)).computed_at == computed[1]


def test_the_board_carries_the_version_it_was_computed_from(app, db, monkeypatch,
                                                            create_passage):
    """A change that lands while the board is computed is not in the version it answers
    with: the browser is told again at the next change of version, never misses one."""
    from exam_app.juries import board, push
    from exam_app.juries.locking import lock_passage

    passage, day, key = _board_day(create_passage, db)
    real = board.board_view

    def changed_meanwhile(**kwargs):
        with app.app_context():  # another juror's change, committed during the computation
            lock_passage(db.session.get(Passage, passage.id))
            db.session.commit()
        return real(**kwargs)

    with app.app_context():
        before = push.current_version(db.session.connection(), key)
        db.session.rollback()
    monkeypatch.setattr(board, "board_view", changed_meanwhile)
    with app.app_context():
        version, _ = board.shared_board_view(session_id=key.session_id, day=day, key=key,
                                             fresh_from=utcnow())
        after = push.current_version(db.session.connection(), key)
    assert version == before != after  # the browser's next long poll answers at once


def test_processes_asking_at_the_same_instant_compute_the_board_once(app, db, monkeypatch,
                                                                    create_passage):
    """The workers' board long polls answer at the same boundary of the clock: on
    PostgreSQL the first to ask computes, the others wait for its board (an advisory
    lock); every one of them gets the same board and version."""
    import threading

    from exam_app.juries import board

    passage, day, key = _board_day(create_passage, db)
    computed, _ = _counting_boards(monkeypatch, pause=0.1)
    instant, answers, start = utcnow(), [], threading.Barrier(6)

    def process():
        with app.app_context():
            start.wait()
            version, _, body = board._shared_through_database(key.session_id, day, key, instant)
            answers.append((version, json.loads(body)))
            db.session.remove()

    threads = [threading.Thread(target=process) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 6
    assert all((version, view["passages"]) == (answers[0][0], answers[0][1]["passages"])
               for version, view in answers)
    assert [row["id"] for row in answers[0][1]["passages"]] == [passage.id]
    if db.engine.dialect.name == "postgresql":
        assert len(computed) == 1 and all(answer == answers[0] for answer in answers)
    else:  # SQLite: no waiting on a lock of the whole database; at least one computed it
        assert 1 <= len(computed) <= 6


def test_a_busy_day_sends_each_board_at_most_one_answer_a_period(db, pair, create_user,
                                                                monkeypatch):
    """Changes every few tenths of a second (a jury day): a browser's board long poll
    answers at the next boundary of PUSH_BOARD_MIN_SECONDS, so two answers to one browser
    are a period apart; the boards waiting together answer together, with the same
    version and one computation of the board between them."""
    from exam_app.juries import board as boards

    live, passage_id, first, _ = pair
    live.config["PUSH_BOARD_MIN_SECONDS"] = 1.0
    computed = []
    real = boards.board_view
    monkeypatch.setattr(boards, "board_view", lambda **kw: computed.append(1) or real(**kw))
    manager = create_user(Role.GESTIONNAIRE)
    db.session.commit()
    passage = db.session.get(Passage, passage_id)
    code, day = passage.commission.session.code, to_local(passage.scheduled_at).date()
    viewers = [Juror(live_url(first), manager) for _ in range(3)]
    version = viewers[0].get(f"/gestion/sessions/{code}/suivi?jour={day}").split(
        'data-version="', 1)[1].split('"', 1)[0]
    url = f"/gestion/sessions/{code}/suivi/attendre?jour={day}&depuis="
    waiting = [Waiting(viewer, url + version) for viewer in viewers]
    _settle(live, 3)
    computed.clear()
    actions = [{"action": "start"}, {"action": "pause", "reason": "Alarme"}, {"action": "resume"}]
    # Start just after a boundary of the clock's seconds, so that the three changes (half a
    # period) all fall before the next one: the boards are then answered once with them all.
    time.sleep((1.05 - time.time() % 1) % 1)
    for action in actions:  # three changes within half a period
        status, _ = first.post(f"/jury/passages/{passage_id}/minuteur", action)
        assert status == 200
        time.sleep(0.25)
    answers = [w.result() for w in waiting]
    assert len({a["version"] for a in answers}) == 1  # answered together
    assert len(computed) == 1  # one board for the three browsers
    # The next change reaches the first browser at a later boundary of the period.
    answered_boundary = math.floor(time.time())  # they were answered at this second
    again = Waiting(viewers[0], url + answers[0]["version"])
    time.sleep(0.3)  # waiting (in the hub, or for the next boundary if a change came in)
    status, _ = first.post(f"/jury/passages/{passage_id}/minuteur",
                           {"action": "pause", "reason": "Pause"})
    assert status == 200
    assert again.result()["changed"] is True
    assert time.time() >= answered_boundary + 1.0
    assert again.result()["version"] == _version_of_board(live, passage)


def _version_of_board(live, passage) -> str:
    from exam_app.juries import lifecycle

    with live.app_context():
        from exam_app.extensions import db as database

        day = to_local(passage.scheduled_at).date()
        start, end = lifecycle.day_bounds(day)
        return push.current_version(database.session.connection(),
                                    push.BoardKey(passage.commission.session_id, start, end))
