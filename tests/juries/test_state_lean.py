"""The passage state read's lean path (``state_lean``) and its reference
(``views_api._state_statement`` then ``_state``) answer the same bytes.

Varied passages (E4 and E5, ponctuel and CCF; not started, running, paused, in its
preparation, its preparation over, waiting, finished; one and both validations, final;
absent, NV blocked or interviewed, undecided dossier, extended; extra time; private grids
revealed by one or both; a validation by a former member; other passages of the
commission in their preparation) are read by each of their jurors through the route,
once on each path, at a frozen clock: the status, the headers that matter and the body
must be the same, byte for byte. The lean path must have answered every one of them but
the preparation whose time is up (the reference writes its end, then both read it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from exam_app import clock
from exam_app.accounts.models import Role
from exam_app.dossiers.models import Dossier
from exam_app.enrolment.models import Attendance
from exam_app.juries import grids, lifecycle, state_lean, validation, views_api
from exam_app.juries.models import AGREED, Grid, Validation
from tests.juries.helpers import complete_grid, members, past_deadline, save


@pytest.fixture()
def now(monkeypatch):
    """The clock, frozen (every reader of the state's time: the route, both paths, the
    lifecycle, the dossier's validity)."""
    frozen = datetime.now(UTC).replace(microsecond=654321)
    for module in (clock, views_api, state_lean, lifecycle):
        monkeypatch.setattr(module, "utcnow", lambda: frozen)
    return frozen


ODD = timedelta(seconds=1, microseconds=234567)  # elapsed times with decimals


def _start(passage, at):
    lifecycle.start_passage(passage=passage, actor=members(passage)[0], now=at - ODD)


def _advance(passage, index, at):
    lifecycle.advance(passage=passage, from_index=index, actor=members(passage)[0], now=at)


def _build(db, create_passage, create_user, now) -> dict:
    """The passages, by name."""
    m = timedelta(minutes=1)
    built = {"upcoming": create_passage()}

    running = built["running"] = create_passage(extra_time="1/3")
    first, second = members(running)
    _start(running, now - 12 * m)
    save(running, first, "appreciation", "Très « bien » — ok\n", 0, "op-r1", now=now - 3 * m)
    save(running, first, "appreciation", "Brouillon", 0, "op-r2",
         key=grids.grid_key_for(first.id), now=now - 2 * m)
    save(running, second, "appreciation", "Avis", 0, "op-r3",
         key=grids.grid_key_for(second.id), now=now - 2 * m)

    paused = built["paused"] = create_passage()
    _start(paused, now - 30 * m)
    lifecycle.pause(passage=paused, reason="Panne", actor=members(paused)[0],
                    now=now - 25 * m + ODD / 3)
    lifecycle.resume(passage=paused, actor=members(paused)[0], now=now - 24 * m)
    _advance(paused, 0, now - 10 * m)
    lifecycle.pause(passage=paused, reason="Alarme incendie", actor=members(paused)[1],
                    now=now - 2 * m)

    finished = built["finished"] = create_passage()
    _start(finished, now - 60 * m)
    for index in range(len(lifecycle.planned_segments(finished))):
        _advance(finished, index, now - (50 - 10 * index) * m)

    for name, both in (("validated_one", False), ("final", True)):
        passage = built[name] = create_passage()
        first, second = members(passage)
        _start(passage, now - 40 * m)
        complete_grid(passage)
        save(passage, first, "mark", "14,5", 0, f"op-mark-{passage.id}", now=now - 5 * m)
        validation.validate(passage=passage, revision=passage.agreed_revision, actor=first,
                            now=now - 4 * m)
        if both:
            validation.validate(passage=passage, revision=passage.agreed_revision,
                                actor=second, now=now - 3 * m)

    stranger = built["former_member"] = create_passage()
    _start(stranger, now - 20 * m)
    db.session.add(Validation(passage_id=stranger.id, user_id=create_user(Role.EXAMINATEUR).id,
                              revision=0, validated_at=now - 9 * m))

    absent = built["absent"] = create_passage()
    lifecycle.set_attendance(passage=absent, attendance=Attendance.ABSENT,
                             actor=members(absent)[0], now=now - 5 * m)

    nv = built["nv_blocked"] = create_passage(conforme=False)
    past_deadline(nv, at=now - 30 * 24 * 60 * m)
    nv_seen = built["nv_interviewed"] = create_passage(conforme=False)
    nv_seen.commission.session.nv_excludes_interview = False
    past_deadline(nv_seen, at=now - 30 * 24 * 60 * m)
    built["undecided"] = create_passage(conforme=False)
    extended = built["extended"] = create_passage(conforme=False)
    past_deadline(extended, at=now - 30 * 24 * 60 * m)
    db.session.add(Dossier(candidate_id=extended.candidate_id, unit_code=extended.unit_code,
                           created_at=now - 40 * 24 * 60 * m, decision_reasons=[],
                           extended_until=now + 2 * 24 * 60 * m - ODD))

    for name, theirs in (("revealed_one", False), ("revealed_both", True)):
        passage = built[name] = create_passage()
        first, second = members(passage)
        save(passage, first, "appreciation", "Mon avis", 0, f"op-{name}-1",
             key=grids.grid_key_for(first.id), now=now - 3 * m)
        save(passage, second, "appreciation", "Le sien", 0, f"op-{name}-2",
             key=grids.grid_key_for(second.id), now=now - 3 * m)
        grids.reveal(passage=passage, actor=first, now=now - 2 * m)
        if theirs:
            grids.reveal(passage=passage, actor=second, now=now - m)

    # E5: a commission whose passage ``e5_current`` faces the jury while others prepare
    # alone (one over: the candidate awaited; one paused; one running), one waiting.
    current = built["e5_current"] = create_passage(unit_code="E5")
    commission = current.commission
    _start(current, now - 70 * m)
    _advance(current, 0, now - 20 * m)
    due = built["e5_waiting"] = create_passage(unit_code="E5", commission=commission)
    _start(due, now - 50 * m)
    lifecycle.close_due_fixed(passage=due, now=now - 4 * m)
    preparing = built["e5_preparing"] = create_passage(unit_code="E5", commission=commission,
                                                       extra_time="1/3")
    _start(preparing, now - 10 * m)
    held = built["e5_preparation_paused"] = create_passage(unit_code="E5", commission=commission)
    _start(held, now - 15 * m)
    lifecycle.pause(passage=held, reason="Poste en panne", actor=members(held)[0],
                    now=now - 12 * m)
    built["e5_upcoming"] = create_passage(unit_code="E5", commission=commission)
    over = built["e5_preparation_over"] = create_passage(unit_code="E5")
    _start(over, now - 47 * m)

    situation_a = built["ccf_a"] = create_passage(unit_code="E5", variant_code="ccf_a",
                                                  form="ccf")
    built["ccf_b"] = create_passage(commission=situation_a.commission,
                                    candidate=situation_a.candidate, variant_code="ccf_b")
    _start(situation_a, now - 8 * m)
    db.session.commit()
    return built


def _read(client, passage_id: int, path: str):
    client.application.config["JURY_STATE_PATH"] = path
    response = client.get(f"/jury/passages/{passage_id}/etat")
    return (response.status_code, response.headers.get("Cache-Control"),
            response.headers.get("Content-Type"), response.get_data())


def test_lean_state_answers_as_the_reference(client, login_as, db, create_passage,
                                             create_user, monkeypatch, now):
    monkeypatch.setitem(client.application.config, "JURY_STATE_PATH", "fast")
    answered = []

    def spy(*args, **kwargs):
        answer = real(*args, **kwargs)
        answered.append(answer is not None)
        return answer

    real = state_lean.state_for_juror
    monkeypatch.setattr(state_lean, "state_for_juror", spy)
    built = _build(db, create_passage, create_user, now)
    compared, declined = [], []
    for name, passage in built.items():
        for juror in members(passage):
            login_as(juror)
            answered.clear()
            fast = _read(client, passage.id, "fast")
            reference = _read(client, passage.id, "reference")
            assert fast == reference, (name, juror.id)
            assert fast[0] == 200
            compared.append(name)
            if answered != [True]:
                declined.append(name)
    assert declined == ["e5_preparation_over"]  # its first read wrote the end: lean next
    assert len(compared) == 2 * len(built)


def test_lean_state_reads_what_the_cases_show(client, login_as, db, create_passage,
                                              create_user, monkeypatch, now):
    """The cases above are the states they are named after (the comparison above would
    pass on two equally wrong answers, not on a case that is not what it claims)."""
    monkeypatch.setitem(client.application.config, "JURY_STATE_PATH", "fast")
    built = _build(db, create_passage, create_user, now)
    seen = {}
    for name in ("upcoming", "running", "paused", "finished", "validated_one", "final",
                 "former_member", "absent", "nv_blocked", "nv_interviewed", "undecided",
                 "extended",
                 "revealed_one", "revealed_both", "e5_current", "e5_preparing",
                 "e5_preparation_over", "ccf_a"):
        passage = built[name]
        login_as(members(passage)[1])
        state = client.get(f"/jury/passages/{passage.id}/etat").get_json()
        seen[name] = (state["passage"]["status"], state["passage"]["blocked"],
                      state["timer"]["status"], len(state["validations"]),
                      state["grids"]["other"] is not None, len(state["preparations"]))
    assert seen == {
        "upcoming": ("upcoming", False, "upcoming", 0, False, 0),
        "running": ("running", False, "running", 0, False, 0),
        "paused": ("running", False, "paused", 0, False, 0),
        "finished": ("finished", False, "finished", 0, False, 0),
        "validated_one": ("running", False, "running", 1, False, 0),
        "final": ("finished", False, "running", 2, False, 0),
        "former_member": ("running", False, "running", 1, False, 0),
        "absent": ("absent", False, "upcoming", 0, False, 0),
        "nv_blocked": ("nv", True, "upcoming", 0, False, 0),
        "nv_interviewed": ("nv", False, "upcoming", 0, False, 0),
        "undecided": ("upcoming", False, "upcoming", 0, False, 0),
        "extended": ("upcoming", False, "upcoming", 0, False, 0),
        "revealed_one": ("upcoming", False, "upcoming", 0, False, 0),
        "revealed_both": ("upcoming", False, "upcoming", 0, True, 0),
        "e5_current": ("running", False, "running", 0, False, 3),
        "e5_preparing": ("running", False, "running", 0, False, 2),
        "e5_preparation_over": ("running", False, "waiting", 0, False, 0),
        "ccf_a": ("running", False, "running", 0, False, 0),
    }
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Grid).where(
        Grid.passage_id == built["running"].id, Grid.key == AGREED)) == 1


def test_lean_state_declines_what_it_does_not_answer(app, db, create_passage, create_user):
    """No row for another juror, an unknown passage or a wrong session token: the route
    then answers the reference way (its refusals)."""
    passage = create_passage()
    juror = members(passage)[0]
    db.session.commit()
    with app.test_request_context():
        answers = [state_lean.state_for_juror(passage.id, juror.id, juror.session_token),
                   state_lean.state_for_juror(passage.id, create_user(Role.EXAMINATEUR).id,
                                              juror.session_token),
                   state_lean.state_for_juror(passage.id, juror.id, "not-the-token"),
                   state_lean.state_for_juror(999999, juror.id, juror.session_token)]
    assert [a is not None for a in answers] == [True, False, False, False]
