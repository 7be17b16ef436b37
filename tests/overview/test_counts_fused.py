"""The dashboard's fused counts (overview/counts_fused.py) agree with the reference
(readiness.session_counts: enrolment's places and forms, each feature's blocker count)
in varied states, and the page shows the same with either."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

import pytest

from exam_app.accounts.models import Role
from exam_app.dossiers.models import Decision, DepositDeadline, Dossier
from exam_app.e6.models import E6Sitting
from exam_app.enrolment.models import Attendance, RegistrationKind, UnitRegistration
from exam_app.extensions import db as _db
from exam_app.juries.models import Passage
from exam_app.overview import counts_fused, readiness
from tests.conftest import set_registration
from tests.e6.builders import add_room, seat

NOW = datetime(2027, 4, 1, 10, 0, tzinfo=UTC)
VARIANTS = {"E4": ["ponctuel"], "E5": ["ponctuel", "ccf_a", "ccf_b"]}


def _same(session, now=NOW) -> tuple[dict, readiness.Counts]:
    """Both paths' counts, asserted equal (places compared by their objects' ids)."""
    reference = readiness.session_counts(session, now=now)
    fused = counts_fused.session_counts(session, now=now)
    assert fused[1] == reference[1]
    assert fused[0] == reference[0]
    return fused


def _world(rng, session, create_centre, create_establishment, create_candidate,
           create_commission, candidates: int) -> None:
    """A session in a random state: centres (or none), forms, bénéfices, dispenses, not
    registered, dossiers decided or not (extensions before and after ``NOW``), passages
    with or without a time (absent ones too), E6 sittings with or without a room (and
    one left by a candidate whose centre was removed)."""
    centres = [create_centre(session) for _ in range(rng.randint(1, 3))]
    rooms = {c.id: add_room(c, name=f"R{c.id}") for c in centres}
    establishments = [create_establishment() for _ in range(rng.randint(1, 3))]
    commissions = {(unit, form): create_commission(session, unit_code=unit, form=form,
                                                   centre=rng.choice(centres))
                   for unit, form in (("E4", "ponctuel"), ("E5", "ponctuel"), ("E5", "ccf"))}
    if rng.random() < 0.8:  # sometimes a unit has no deadline yet
        _db.session.add(DepositDeadline(session_id=session.id, unit_code="E4",
                                        deadline_at=NOW - timedelta(days=rng.choice([-3, 3]))))
    _db.session.add(DepositDeadline(session_id=session.id, unit_code="E5",
                                    deadline_at=NOW - timedelta(days=rng.choice([-3, 3]))))
    for _ in range(candidates):
        centre = rng.choice([*centres, None])
        form = rng.choice(["ponctuel", "ccf"])
        candidate = create_candidate(session, centre=centre, e5_form=form,
                                     establishment=rng.choice(establishments))
        for unit in ("E4", "E5"):
            kind = rng.choice([RegistrationKind.SIT] * 4 + [RegistrationKind.BENEFICE,
                                                            RegistrationKind.DISPENSE,
                                                            RegistrationKind.NOT_REGISTERED])
            if kind == RegistrationKind.SIT and unit == "E4" and rng.random() < 0.3:
                candidate.set_form("E4", "ponctuel")  # recorded, as the default would be
            if kind != RegistrationKind.SIT:
                set_registration(candidate, unit, kind)
            if rng.random() < 0.6:
                _db.session.add(Dossier(
                    candidate_id=candidate.id, unit_code=unit,
                    decision=rng.choice([None, None, Decision.COMPLIANT.value,
                                         Decision.NON_COMPLIANT.value]),
                    extended_until=rng.choice([None, None, NOW - timedelta(days=1),
                                               NOW + timedelta(days=1)])))
        for unit, variants in VARIANTS.items():
            for variant in variants:
                if rng.random() < 0.5:
                    commission = commissions[(unit, "ccf" if variant.startswith("ccf")
                                              else "ponctuel")]
                    _db.session.add(Passage(
                        commission_id=commission.id, candidate_id=candidate.id,
                        unit_code=unit, variant_code=variant, room="B1",
                        scheduled_at=rng.choice([None, NOW + timedelta(days=40)]),
                        attendance=rng.choice(list(Attendance)).value))
        if centre is not None and rng.random() < 0.7:
            if rng.random() < 0.8:
                seat(candidate, rooms[centre.id],
                     attendance=rng.choice([Attendance.PRESENT, Attendance.ABSENT, None]))
            else:  # a sitting without a room
                _db.session.add(E6Sitting(candidate_id=candidate.id, room_id=None))
        elif centre is None and rng.random() < 0.3:  # seated, then the centre removed
            _db.session.add(E6Sitting(candidate_id=candidate.id,
                                      room_id=rooms[rng.choice(centres).id].id))
    _db.session.flush()


@pytest.mark.parametrize("seed", range(6))
def test_fused_counts_agree_in_random_states(seed, db, create_session, create_centre,
                                             create_establishment, create_candidate,
                                             create_commission):
    rng = random.Random(seed)
    sessions = [create_session(), create_session()]  # the other session must not leak in
    for session in sessions:
        _world(rng, session, create_centre, create_establishment, create_candidate,
               create_commission, candidates=rng.randint(5, 40))
    for session in sessions:
        for now in (NOW, NOW - timedelta(days=10), NOW + timedelta(days=10)):
            places, board = _same(session, now=now)
        assert places["total"] == sum(row[1] for row in places["by_centre"]) + \
            places["without_centre"]


def test_fused_counts_of_an_empty_session(db, create_session, create_centre):
    session = create_session()
    create_centre(session)
    places, board = _same(session)
    assert (places["total"], board.unplanned, board.unseated, board.undecided) == (
        0, 0, [], {"E4": 0, "E5": 0})


def test_fused_counts_each_state_once(db, create_session, create_centre, create_establishment,
                                      create_candidate, create_commission):
    """Exact figures in a small hand-made state (not only agreement)."""
    session = create_session()
    lyon = create_centre(session, name="Lyon")
    annecy = create_centre(session, name="Annecy")
    lycee = create_establishment()
    sitting = create_candidate(session, centre=lyon, establishment=lycee)  # E5 ponctuel
    ccf = create_candidate(session, centre=annecy, establishment=lycee, e5_form="ccf")
    create_candidate(session, establishment=lycee)  # ``loose``: no centre
    sitting.unit_forms.append(UnitRegistration(unit_code="E4", kind=RegistrationKind.DISPENSE))
    _db.session.add_all([
        DepositDeadline(session_id=session.id, unit_code="E4", deadline_at=NOW - timedelta(1)),
        Dossier(candidate_id=sitting.id, unit_code="E4", decision=Decision.COMPLIANT.value),
        Dossier(candidate_id=ccf.id, unit_code="E4", extended_until=NOW + timedelta(1)),
    ])
    e5 = create_commission(session, unit_code="E5", centre=lyon)
    _db.session.add(Passage(commission_id=e5.id, candidate_id=sitting.id, unit_code="E5",
                            variant_code="ponctuel", scheduled_at=NOW, room="B1",
                            attendance=Attendance.ABSENT.value))
    seat(ccf, add_room(annecy), attendance=Attendance.ABSENT)
    _db.session.flush()
    places, board = _same(session)
    assert (places["total"], places["ponctuel"], places["ccf"], places["without_centre"]) == (
        3, 2, 1, 1)
    # E4: ``sitting`` decided, ``ccf`` extended, ``loose`` has nothing past the deadline.
    assert board.undecided == {"E4": 1, "E5": 0}
    # ``sitting``: dispensed of E4, E5 planned; ``ccf``: E4, CCF A and B; ``loose``: all.
    assert board.unplanned == 2
    assert board.unseated == [(lyon.id, "Lyon", 1)]


@pytest.mark.parametrize("seed", [0, 1])
def test_dashboard_page_is_the_same_with_either_path(seed, app, client, login_as, create_user,
                                                     monkeypatch, create_session, create_centre,
                                                     create_establishment, create_candidate,
                                                     create_commission):
    session = create_session(code=f"PAGE{seed}")
    _world(random.Random(seed), session, create_centre, create_establishment,
           create_candidate, create_commission, candidates=30)
    login_as(create_user(Role.GESTIONNAIRE))
    _db.session.commit()
    pages = {}
    for path in ("reference", "fast"):
        monkeypatch.setitem(app.config, "DASHBOARD_COUNTS_PATH", path)
        response = client.get(f"/gestion/sessions/{session.code}/")
        assert response.status_code == 200
        pages[path] = re.sub(r'name="csrf_token"[^>]*', "", response.get_data(as_text=True))
    assert pages["fast"] == pages["reference"]
    assert 'data-blocker="unplanned"' in pages["fast"]
