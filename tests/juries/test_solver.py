"""The planning solver (issue 15): every rule checked on the plan it returns, by the
independent checker and by hand, on small instances with a known optimum."""

from __future__ import annotations

import re
import time as time_module
from datetime import UTC, date, datetime, time

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.clock import local_zone
from exam_app.enrolment.models import CentreRoom
from exam_app.extensions import db as _db
from exam_app.juries import solver
from exam_app.juries.errors import JuryError
from exam_app.juries.models import CommissionDay, Passage
from tests.conftest import csrf_token_from

DAY = date(2027, 5, 18)
LIMIT = 5


@pytest.fixture()
def setup(db, create_session, create_centre, create_commission, create_candidate,
          create_establishment):
    """A session with one centre; helpers to add commissions (with days) and candidates."""
    session = create_session()
    centre = create_centre(session, name="lycée Quinet")

    class Setup:
        pass

    s = Setup()
    s.session, s.centre = session, centre

    def commission(unit_code="E4", days=(DAY,), **values):
        c = create_commission(session, unit_code=unit_code, centre=centre, **values)
        c.days = [CommissionDay(day=d) for d in days]
        db.session.flush()
        return c

    def candidates(count, *, e5="ccf", **values):
        values.setdefault("centre", centre)
        return [create_candidate(session, e5_form=e5, **values) for _ in range(count)]

    def workstations(count):
        centre.rooms.append(CentreRoom(name="Salle info", capacity=20, workstations=count))
        db.session.flush()

    s.commission, s.candidates, s.workstations = commission, candidates, workstations
    return s


def local(at: datetime) -> time:
    return at.astimezone(local_zone()).time()


def minutes(at: datetime) -> int:
    t = local(at)
    return t.hour * 60 + t.minute


def propose(s, **kwargs):
    kwargs.setdefault("time_limit", LIMIT)
    proposal = solver.propose_plan(session=s.session, **kwargs)
    data = solver.extract(s.session, kwargs.get("bounds"), kwargs.get("units"))
    return proposal, data


def test_six_e4_candidates_one_commission_one_day_is_the_known_optimum(setup):
    commission = setup.commission("E4")
    setup.candidates(6)
    proposal, data = propose(setup, units=("E4",))
    assert proposal.complete and proposal.status == "optimal"
    assert proposal.violations == []
    assert proposal.days_used == 1 and proposal.days_lower_bound == 1
    # One day, the max load (6 × 55 min), six establishments each in one commission.
    assert proposal.objective == solver.W_DAY + solver.W_BALANCE * 330 + solver.W_GROUP * 6
    assert proposal.gap == 0
    starts = sorted(minutes(p.scheduled_at) for p in proposal.passages)
    assert {p.commission_id for p in proposal.passages} == {commission.id}
    # In sequence, a 10 min break after each 55 min passage, none across lunch (12–13h),
    # all within 8:00–18:30.
    for first, second in zip(starts, starts[1:], strict=False):
        assert second - first >= 65
    assert all(not (s < 13 * 60 and s + 55 > 12 * 60) for s in starts)
    assert starts[0] >= 8 * 60 and starts[-1] + 55 <= 18 * 60 + 30


def test_e5_preparation_is_pipelined_on_the_workstations(setup):
    setup.commission("E5")
    setup.workstations(1)
    setup.candidates(3, e5="ponctuel")
    bounds = solver.Bounds(day_start=time(8, 0), day_end=time(11, 20))
    proposal, data = propose(setup, units=("E5",), bounds=bounds)
    assert proposal.complete and proposal.violations == []
    # Without pipelining three 45 + 45 min passages need 8:00–12:40; with one workstation
    # the next candidate prepares while the commission hears the current one.
    assert sorted(local(p.scheduled_at) for p in proposal.passages) == [
        time(8, 0), time(8, 55), time(9, 50)]


def test_never_more_candidates_preparing_than_workstations(setup):
    setup.commission("E5")
    setup.commission("E5")
    setup.workstations(1)
    setup.candidates(2, e5="ponctuel")
    bounds = solver.Bounds(day_start=time(8, 0), day_end=time(9, 30))
    proposal, _ = propose(setup, units=("E5",), bounds=bounds)
    # Two commissions could hear both at 8:45, but one workstation prepares one at a time.
    assert not proposal.complete
    assert len(proposal.passages) == 1
    assert re.fullmatch(r"Le solveur n'a pas trouvé de plan complet en \d+ s : 1 passages "
                        r"planifiés sur 2, 1 passage sans créneau\.", proposal.reasons[0])


def test_extra_time_applies_to_every_phase(setup):
    setup.commission("E4")
    [regular] = setup.candidates(1)
    [third] = setup.candidates(1, extra_time="1/3")
    data = solver.extract(setup.session, units=("E4",))
    lengths = {d.candidate_id: (d.solo, d.jury) for d in data.demands}
    assert lengths == {regular.id: (0, 55), third.id: (0, 74)}  # 25 + 30 min × 4/3
    # 55 + 10 + 74 = 139 min: the day 8:00–10:19 holds both, 8:00–10:18 does not.
    fits, _ = propose(setup, units=("E4",), bounds=solver.Bounds(day_end=time(10, 19)))
    assert fits.complete and fits.violations == []
    short, _ = propose(setup, units=("E4",), bounds=solver.Bounds(day_end=time(10, 18)))
    assert short.status == "infeasible" and short.passages == []
    assert short.reasons == ["E4 au lycée Quinet : 2 candidats, 1 commission, 1 jour — "
                             "il manque 1 journée de commission."]


def test_conflict_of_interest_is_avoided(setup, create_establishment):
    school = create_establishment(name="Lycée Voltaire")
    conflicted = setup.commission("E4", teacher_establishment=school)
    free = setup.commission("E4")
    setup.candidates(2, establishment=school)
    proposal, _ = propose(setup, units=("E4",))
    assert proposal.complete
    assert {p.commission_id for p in proposal.passages} == {free.id}
    assert conflicted.id not in {p.commission_id for p in proposal.passages}


def test_a_juror_in_two_commissions_is_never_in_two_places(setup, create_user):
    teacher = create_user(Role.EXAMINATEUR)
    e4 = setup.commission("E4", teacher=teacher)
    e5 = setup.commission("E5", teacher=teacher)
    setup.workstations(4)
    setup.candidates(3)
    setup.candidates(3, e5="ponctuel")
    proposal, data = propose(setup)
    assert proposal.complete and proposal.violations == []
    hearings = []
    for p in proposal.passages:
        solo = 45 if p.unit_code == "E5" else 0
        jury = 45 if p.unit_code == "E5" else 55
        start = minutes(p.scheduled_at) + solo
        hearings.append((start, start + jury, p.commission_id))
    assert {h[2] for h in hearings} == {e4.id, e5.id}
    hearings.sort()
    for (_, end, _), (start, _, _) in zip(hearings, hearings[1:], strict=False):
        assert start >= end


def test_a_candidate_rests_between_e4_and_e5(setup):
    setup.commission("E4")
    setup.commission("E5")
    setup.workstations(2)
    [candidate] = setup.candidates(1, e5="ponctuel")
    proposal, _ = propose(setup, bounds=solver.Bounds(rest_minutes=40))
    assert proposal.complete and proposal.violations == []
    spans = sorted((minutes(p.scheduled_at),
                    minutes(p.scheduled_at) + (90 if p.unit_code == "E5" else 55))
                   for p in proposal.passages if p.candidate_id == candidate.id)
    assert len(spans) == 2
    assert spans[1][0] - spans[0][1] >= 40


def test_infeasible_session_says_exactly_why(setup):
    setup.commission("E5")
    setup.workstations(2)
    setup.candidates(48, e5="ponctuel")
    proposal, _ = propose(setup, units=("E5",))
    assert proposal.status == "infeasible" and proposal.passages == []
    # A day hears 9 (juries at 8:45, 9:40, 10:35, then 13:00 … 17:35, 45 min + 10 min
    # break each): 48 candidates need 6 days, the commission sits 1.
    # Their 48 × 45 min of preparation need 4 workstations over 8:00–18:30.
    assert proposal.reasons == ["E5 au lycée Quinet : 48 candidats, 2 postes, 1 commission, "
                                "1 jour — il manque 5 journées de commission.",
                                "Préparation au lycée Quinet : 48 candidats, 2 postes, 1 jour "
                                "— il manque 2 postes de préparation."]
    with pytest.raises(JuryError, match="n'est pas complet"):
        solver.apply_plan(session=setup.session, proposal=proposal, actor=None)


def test_the_checker_finds_what_a_bad_plan_breaks(setup):
    setup.commission("E4")
    setup.candidates(2)
    data = solver.extract(setup.session, units=("E4",))
    start = data.cdays[0].start
    problems = solver.check(data, {0: (0, start), 1: (0, start + 30)})
    assert any("commence avant la fin" in p for p in problems)
    assert any("à deux endroits" in p for p in problems)


def test_apply_writes_the_passages_and_keeps_pinned_ones(setup, create_user):
    commission = setup.commission("E4")
    first, second, third = setup.candidates(3)
    gestionnaire = create_user(Role.GESTIONNAIRE)
    pinned_at = datetime.combine(DAY, time(14, 0), local_zone()).astimezone(UTC)
    pinned = Passage(commission_id=commission.id, candidate_id=first.id, unit_code="E4",
                     variant_code="ponctuel", scheduled_at=pinned_at, pinned=True)
    _db.session.add(pinned)
    _db.session.flush()
    proposal, _ = propose(setup, units=("E4",))
    assert proposal.complete
    written = solver.apply_plan(session=setup.session, proposal=proposal, actor=gestionnaire)
    assert len(written) == 3
    rows = _db.session.scalars(sa.select(Passage).where(
        Passage.commission_id == commission.id).order_by(Passage.position)).all()
    assert {r.candidate_id for r in rows} == {first.id, second.id, third.id}
    assert _db.session.get(Passage, pinned.id).scheduled_at == pinned_at
    assert all(r.scheduled_at is not None and r.room == "" for r in rows)
    assert [r.position for r in rows] == [1, 2, 3]
    event = _db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "planning.apply")).one()
    assert event.after["created"] == 2


def test_apply_is_refused_when_a_passage_started_or_passages_changed(setup, create_user):
    commission = setup.commission("E4")
    [candidate, _] = setup.candidates(2)
    proposal, _ = propose(setup, units=("E4",))
    passage = Passage(commission_id=commission.id, candidate_id=candidate.id, unit_code="E4",
                      variant_code="ponctuel", scheduled_at=datetime(2027, 5, 18, 6, tzinfo=UTC))
    _db.session.add(passage)
    _db.session.flush()
    with pytest.raises(JuryError, match="relancez la planification"):
        solver.apply_plan(session=setup.session, proposal=proposal, actor=None)
    proposal, _ = propose(setup, units=("E4",))
    passage.started_at = datetime(2027, 5, 18, 6, 1, tzinfo=UTC)
    _db.session.flush()
    with pytest.raises(JuryError, match="1 passage de la session a déjà commencé"):
        solver.apply_plan(session=setup.session, proposal=proposal, actor=None)


def test_cli_plans_prints_progress_and_applies(app, setup):
    setup.commission("E4")
    setup.candidates(3)
    code = setup.session.code
    _db.session.commit()  # the command runs in its own app context and session
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["plan-session", "--session", code, "--time-limit", "3",
                              "--unit", "E4"])
    assert dry.exit_code == 0, dry.output
    assert "plan glouton : 3/3 passages" in dry.output
    assert "3/3 passages planifiés, 1 journée de commission (au moins 1)" in dry.output
    assert "Plan non appliqué" in dry.output
    applied = runner.invoke(args=["plan-session", "--session", code, "--time-limit", "3",
                                  "--unit", "E4", "--apply"])
    assert applied.exit_code == 0, applied.output
    assert "Plan appliqué : 3 passages écrits." in applied.output
    _db.session.expire_all()
    assert _db.session.scalar(sa.select(sa.func.count(Passage.id))) == 3


def test_cli_explains_an_infeasible_session(app, setup):
    setup.commission("E4")
    setup.candidates(1)
    setup.candidates(1, centre=None)
    code = setup.session.code
    _db.session.commit()
    result = app.test_cli_runner().invoke(args=["plan-session", "--session", code,
                                                "--unit", "E4"])
    assert result.exit_code == 1
    assert "Aucun plan complet : 1 candidat sans centre d'examen : NOM" in result.output
    assert "Aucun plan appliqué." in result.output


def _wait_for_run(session_id: int) -> None:
    from exam_app.juries import planning_runs

    for _ in range(600):
        run = planning_runs.current(session_id)
        if run is not None and run.done:
            return
        time_module.sleep(0.05)
    raise AssertionError("the planning run did not end")


def test_page_runs_the_solver_in_the_background_and_applies(client, login_as, setup,
                                                             create_user):
    from exam_app.juries import planning_runs

    setup.commission("E4")
    setup.candidates(2)
    gestionnaire = create_user(Role.GESTIONNAIRE)
    code, session_id = setup.session.code, setup.session.id
    _db.session.commit()  # the run reads in its own thread and connection
    login_as(gestionnaire)
    url = f"/gestion/sessions/{code}/planification"
    page = client.get(url).get_data(as_text=True)
    assert "Lancer la planification" in page
    bad = client.post(url, data={"csrf_token": csrf_token_from(page), "run-time_limit": "1"})
    assert bad.status_code == 400
    assert "Entre 5 et 600 secondes." in bad.get_data(as_text=True)
    assert planning_runs.current(session_id) is None
    started = client.post(url, data={"csrf_token": csrf_token_from(page),
                                     "run-time_limit": "5"})
    assert started.status_code == 302
    _wait_for_run(session_id)
    page = client.get(url).get_data(as_text=True)
    assert "plan glouton : 2/2 passages" in page
    assert "Plan complet :" in page and "2/2 passages planifiés" in page
    applied = client.post(f"{url}/appliquer", data={"csrf_token": csrf_token_from(page)})
    assert applied.status_code == 302
    _db.session.expire_all()
    assert _db.session.scalar(sa.select(sa.func.count(Passage.id))) == 2
    assert planning_runs.current(session_id) is None


def test_page_says_why_no_plan_exists(client, login_as, setup, create_user):
    setup.commission("E4", days=())
    setup.candidates(1)
    gestionnaire = create_user(Role.GESTIONNAIRE)
    code, session_id = setup.session.code, setup.session.id
    _db.session.commit()
    login_as(gestionnaire)
    url = f"/gestion/sessions/{code}/planification"
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    client.post(url, data={"csrf_token": token, "run-time_limit": "5"})
    _wait_for_run(session_id)
    page = client.get(url).get_data(as_text=True)
    import html
    reasons = re.findall(r"<li>(.*?)</li>", html.unescape(page.split("Aucun plan complet")[1]))
    assert reasons == ["E4 au lycée Quinet : 1 candidat, 1 commission, 0 jour — il manque "
                       "1 journée de commission."]
    from exam_app.juries import planning_runs
    planning_runs.forget(session_id)


def test_workstations_shared_by_the_centre_commissions_are_counted(setup):
    for _ in range(3):
        setup.commission("E5")
    setup.workstations(1)
    setup.candidates(15, e5="ponctuel")
    proposal, _ = propose(setup, units=("E5",))
    # 15 × 45 min of preparation = 675 min > 1 workstation × 630 min (8:00–18:30).
    assert proposal.status == "infeasible"
    assert proposal.reasons == ["Préparation au lycée Quinet : 15 candidats, 1 poste, 1 jour "
                                "— il manque 1 poste de préparation."]


def test_centres_are_solved_apart_unless_a_juror_links_them(setup, create_centre,
                                                            create_commission, create_candidate,
                                                            create_user):
    other = create_centre(setup.session, name="lycée Hugo")
    third = create_centre(setup.session, name="lycée Sand")
    teacher = create_user(Role.EXAMINATEUR)
    setup.commission("E4", teacher=teacher)
    for centre, juror in ((other, teacher), (third, None)):
        c = create_commission(setup.session, unit_code="E4", centre=centre, teacher=juror)
        c.days = [CommissionDay(day=DAY)]
        create_candidate(setup.session, centre=centre, e5_form="ccf")
    setup.candidates(1)
    _db.session.flush()
    data = solver.extract(setup.session, units=("E4",))
    centres = [{data.demands[i].centre_id for i in part} for part in solver.parts(data)]
    assert sorted(centres, key=len) == [{third.id}, {setup.centre.id, other.id}]
    proposal, _ = propose(setup, units=("E4",))
    assert proposal.complete and proposal.violations == []


def test_a_run_is_seen_by_every_worker(app, client, login_as, setup, create_user):
    """The run lives in the database: another process (another gunicorn worker, another
    instance) shows its progress and proposal, and may apply it."""
    import json as json_module
    import os
    import subprocess
    import sys

    from exam_app.juries import planning_runs

    setup.commission("E4")
    setup.candidates(2)
    gestionnaire = create_user(Role.GESTIONNAIRE)
    code, session_id = setup.session.code, setup.session.id
    _db.session.commit()
    login_as(gestionnaire)
    url = f"/gestion/sessions/{code}/planification"
    page = client.get(url).get_data(as_text=True)
    client.post(url, data={"csrf_token": csrf_token_from(page), "run-time_limit": "5"})
    _wait_for_run(session_id)
    script = (
        "import json, sys\n"
        "from exam_app import create_app\n"
        "from exam_app.juries import planning_runs\n"
        "app = create_app({'SQLALCHEMY_DATABASE_URI': sys.argv[1], 'SECRET_KEY': 'x',"
        " 'STORAGE_DIR': sys.argv[3]})\n"
        "with app.app_context():\n"
        "    run = planning_runs.current(int(sys.argv[2]))\n"
        "    print(json.dumps({'done': run.done, 'lines': run.lines,"
        " 'planned': len(run.proposal.passages), 'complete': run.proposal.complete}))\n")
    out = subprocess.run([sys.executable, "-c", script, app.config["SQLALCHEMY_DATABASE_URI"],
                          str(session_id), app.config["STORAGE_DIR"]],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "INSTANCE_PATH": app.instance_path})
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json_module.loads(out.stdout.strip().splitlines()[-1])
    assert seen["done"] and seen["planned"] == 2 and seen["complete"]
    assert any("2/2 passages" in line for line in seen["lines"])
    planning_runs.forget(session_id)


def test_a_run_whose_process_died_says_so_and_may_start_again(db, setup):
    from datetime import timedelta

    from exam_app.clock import utcnow
    from exam_app.juries import planning_runs
    from exam_app.juries.models import PlanningRun

    session_id = setup.session.id
    long_ago = utcnow() - timedelta(minutes=5)
    db.session.add(PlanningRun(session_id=session_id, time_limit=30, started_at=long_ago,
                               beat_at=long_ago))
    db.session.commit()
    run = planning_runs.current(session_id)
    assert run.done and "interrompu" in run.error
    assert not planning_runs.running()
    fresh = db.session.get(PlanningRun, db.session.scalar(sa.select(PlanningRun.id)))
    fresh.beat_at = utcnow()
    db.session.commit()
    assert planning_runs.running() and not planning_runs.current(session_id).done


def test_two_starts_at_once_make_one_run(app, db, setup, monkeypatch):
    """Two gestionnaires (or two tabs) start the planification at the same moment: one
    run starts, the other is told one is going on."""
    import threading

    from exam_app.juries import planning_runs, solver

    session_id = setup.session.id
    db.session.commit()
    release = threading.Event()

    def slow_plan(**kwargs):
        release.wait(30)
        raise RuntimeError("stopped by the test")

    monkeypatch.setattr(solver, "propose_plan", slow_plan)
    barrier, started = threading.Barrier(2), []

    def start():
        with app.app_context():
            barrier.wait()
            started.append(planning_runs.start(app, session_id=session_id, time_limit=5))
            db.session.remove()

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert sorted(run is None for run in started) == [False, True]
    finally:
        release.set()
    _wait_for_run(session_id)
    assert "stopped by the test" in planning_runs.current(session_id).error
