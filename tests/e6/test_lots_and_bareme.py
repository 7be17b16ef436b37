from collections import Counter
from decimal import Decimal

import pytest

from exam_app.accounts.models import Role
from exam_app.e6 import bareme
from exam_app.e6.common import E6Error
from exam_app.e6.lot_plan import plan_lots
from exam_app.e6.lots import form_lots
from exam_app.e6.models import E6Copy, E6Lot
from tests.e6.builders import add_questions, add_room, enroll, seat


def test_plan_lots_balances_sizes_within_one():
    copies = [(i, 1 + i % 4) for i in range(1, 24)]
    plan = plan_lots(copies, [(10, None), (11, None), (12, None), (13, None), (14, None)])
    assert sorted(len(ids) for ids in plan.values()) == [4, 4, 5, 5, 5]
    assert sorted(i for ids in plan.values() for i in ids) == list(range(1, 24))


def test_plan_lots_never_gives_a_copy_from_the_markers_establishment():
    establishment_of = {i: 1 + i % 3 for i in range(1, 31)}
    markers = [(10, 1), (11, 2), (12, 3)]
    plan = plan_lots(list(establishment_of.items()), markers)
    for marker_id, marker_establishment in markers:
        assert all(establishment_of[c] != marker_establishment for c in plan[marker_id])
    assert sorted(len(ids) for ids in plan.values()) == [10, 10, 10]


def test_plan_lots_stays_balanced_when_the_rule_constrains_it():
    # 6 copies of establishment 1, 3 of establishment 2: A (from 1) can only take
    # establishment 2, so the balanced answer is 3 / 3 / 3 with A's lot all from 2.
    copies = [(i, 1) for i in range(1, 7)] + [(i, 2) for i in range(7, 10)]
    plan = plan_lots(copies, [(10, 1), (11, 2), (12, None)])
    assert plan[10] == [7, 8, 9]
    assert len(plan[11]) == 3 and len(plan[12]) == 3
    assert set(plan[11]) <= set(range(1, 7))


def test_plan_lots_refuses_when_only_colleagues_could_mark_a_copy():
    with pytest.raises(E6Error, match="Aucun correcteur ne peut corriger"):
        plan_lots([(1, 5), (2, 6)], [(10, 5), (11, 5)])


def test_form_lots_respects_the_establishment_rule_in_the_database(
        db, create_session, create_centre, create_candidate, create_establishment, create_user):
    session = create_session()
    centre = create_centre(session)
    room = add_room(centre, capacity=50)
    schools = [create_establishment() for _ in range(3)]
    for index in range(12):
        seat(create_candidate(session, centre=centre, establishment=schools[index % 3]), room)
    add_questions(session)
    markers = [create_user(Role.CORRECTEUR) for _ in range(3)]
    for marker, school in zip(markers, schools, strict=True):
        enroll(session, marker, school)
    lots = form_lots(session=session, actor=None)
    assert [lot.code for lot in lots] == ["L01", "L02", "L03"]
    sizes = Counter()
    for lot, school in zip(lots, schools, strict=True):
        for copy in db.session.query(E6Copy).filter_by(lot_id=lot.id):
            assert copy.lot_id == lot.id
            sizes[lot.code] += 1
            from exam_app.enrolment.models import Candidate
            assert db.session.get(Candidate, copy.candidate_id).establishment_id != school.id
    assert sizes == {"L01": 4, "L02": 4, "L03": 4}


def test_form_lots_refused_while_attendance_is_missing(db, create_session, create_centre,
                                                       create_candidate, create_user):
    session = create_session()
    centre = create_centre(session)
    room = add_room(centre)
    seat(create_candidate(session, centre=centre), room)
    seat(create_candidate(session, centre=centre), room, attendance=None)
    add_questions(session)
    enroll(session, create_user(Role.CORRECTEUR))
    with pytest.raises(E6Error) as caught:
        form_lots(session=session, actor=None)
    assert caught.value.details == ["1 candidat(s) sans présence enregistrée."]
    assert db.session.query(E6Lot).count() == 0


def test_parse_bareme_accepts_lines_totalling_twenty():
    lines = bareme.parse_bareme("1. Diagnostic RH ; 6\n\n2. Recrutement ; 7,5\n3. Formation;6.5\n",
                                step=Decimal("0.5"))
    assert lines == [("1. Diagnostic RH", Decimal("6")), ("2. Recrutement", Decimal("7.5")),
                     ("3. Formation", Decimal("6.5"))]


@pytest.mark.parametrize(("text", "message", "details"), [
    ("Q1 ; 10\nQ2 ; 9", "Le total du barème est 19 points : il doit être de 20 exactement.", []),
    ("Q1 ; 10\nQ2 ; 10,5", "Le total du barème est 20,5 points : il doit être de 20 exactement.", []),
    ("Q1 ; 10\nQ2 sans points", "Le barème n'est pas valide.",
     ["Ligne 2 : écrivez « intitulé ; points »."]),
    ("Q1 ; 10,25\nQ2 ; 9,75", "Le barème n'est pas valide.",
     ["Ligne 1 : les points doivent être un multiple de 0,5 (pas de notation de la session).",
      "Ligne 2 : les points doivent être un multiple de 0,5 (pas de notation de la session)."]),
    ("Q1 ; dix\nQ2 ; 0", "Le barème n'est pas valide.",
     ["Ligne 1 : « dix » n'est pas un nombre (ex. 12,5).",
      "Ligne 2 : les points doivent être positifs."]),
    ("   \n", "Le barème est vide : saisissez au moins une question.", []),
])
def test_parse_bareme_refuses_bad_input(text, message, details):
    with pytest.raises(E6Error) as caught:
        bareme.parse_bareme(text, step=Decimal("0.5"))
    assert caught.value.message == message
    assert caught.value.details == details


def test_bareme_is_frozen_once_lots_exist(db, create_session, create_user):
    session = create_session()
    bareme.set_bareme(session=session, text="A ; 10\nB ; 10", actor=None)
    from tests.e6.builders import make_lot
    make_lot(session, create_user(Role.CORRECTEUR), [])
    with pytest.raises(E6Error, match="le barème ne peut plus être modifié"):
        bareme.set_bareme(session=session, text="A ; 20", actor=None)
    assert [q.label for q in bareme.questions(session.id)] == ["A", "B"]


def test_bareme_page_shows_errors_and_saves_nothing(client, login_as, create_session, create_user):
    session = create_session()
    login_as(create_user(Role.GESTIONNAIRE))
    page = client.get(f"/gestion/sessions/{session.code}/e6/bareme")
    from tests.conftest import csrf_token_from
    token = csrf_token_from(page.get_data(as_text=True))
    response = client.post(f"/gestion/sessions/{session.code}/e6/bareme",
                           data={"csrf_token": token, "text": "Q1 ; 15\nQ2 ; 6"})
    assert response.status_code == 422
    assert "Le total du barème est 21 points" in response.get_data(as_text=True)
    assert bareme.questions(session.id) == []
    response = client.post(f"/gestion/sessions/{session.code}/e6/bareme",
                           data={"csrf_token": token, "text": "Q1 ; 14\nQ2 ; 6"})
    assert response.status_code == 302
    assert [(q.label, q.max_points) for q in bareme.questions(session.id)] == [
        ("Q1", Decimal("14.00")), ("Q2", Decimal("6.00"))]
