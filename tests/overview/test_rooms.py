"""The chef de centre edits their centre's rooms (seats, E5 workstations): only their own
centre, audited before/after, bad input refused in French with nothing changed."""

from __future__ import annotations

import html

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.enrolment.models import CentreRoom
from exam_app.extensions import db as _db
from exam_app.juries.models import Passage
from tests.conftest import csrf_token_from
from tests.e6.builders import add_room, seat


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _rooms(centre) -> list[tuple[str, int, int]]:
    return [(r.name, r.capacity, r.workstations) for r in _db.session.scalars(
        sa.select(CentreRoom).where(CentreRoom.centre_id == centre.id).order_by(CentreRoom.name))]


def _events(action: str) -> list[AuditEvent]:
    return list(_db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)
                                    .order_by(AuditEvent.id)))


@pytest.fixture()
def centre_world(create_session, create_centre, create_user, create_candidate,
                 create_commission):
    session = create_session(code="SAM2027")
    lyon = create_centre(session, code="LYO01", name="Centre de Lyon")
    roanne = create_centre(session, code="ROA01", name="Centre de Roanne")
    lyon.rooms = [CentreRoom(name="B12", capacity=30, workstations=0),
                  CentreRoom(name="Salle info", capacity=20, workstations=12)]
    _db.session.flush()
    chef = create_user(Role.CHEF_CENTRE, centre=lyon)
    return {"session": session, "lyon": lyon, "roanne": roanne, "chef": chef,
            "create_candidate": create_candidate, "create_commission": create_commission}


@pytest.fixture()
def chef_client(client, login_as, centre_world):
    login_as(centre_world["chef"])
    return client


def _post(client, centre, data: dict, *, prefix: str):
    page = client.get(f"/centre/{centre.id}/salles")
    token = csrf_token_from(page.get_data(as_text=True))
    fields = {f"{prefix}{k}" if k in ("name", "capacity", "workstations") else k: v
              for k, v in data.items()}
    return client.post(f"/centre/{centre.id}/salles",
                       data={**fields, f"{prefix}csrf_token": token, "csrf_token": token})


def _room_id(centre, name: str) -> int:
    return _db.session.scalar(sa.select(CentreRoom.id).where(CentreRoom.centre_id == centre.id,
                                                             CentreRoom.name == name))


def test_chef_sees_their_rooms_from_their_home(chef_client, centre_world):
    lyon = centre_world["lyon"]
    home = _text(chef_client.get("/centre/"))
    assert f'href="/centre/{lyon.id}/salles">Salles et postes informatiques (2 salles)</a>' in home
    page = _text(chef_client.get(f"/centre/{lyon.id}/salles"))
    assert "Salles du centre (2)" in page
    assert "Total : <strong>50 places</strong>, <strong>12 postes E5</strong>." in page
    assert 'value="Salle info"' in page and 'value="12"' in page


def test_chef_may_not_touch_another_centre(chef_client, centre_world):
    roanne = centre_world["roanne"]
    assert chef_client.get(f"/centre/{roanne.id}/salles").status_code == 403
    token = csrf_token_from(chef_client.get(f"/centre/{centre_world['lyon'].id}/salles")
                            .get_data(as_text=True))
    assert chef_client.post(f"/centre/{roanne.id}/salles",
                            data={"action": "add", "new-name": "X", "new-capacity": "3",
                                  "new-csrf_token": token, "csrf_token": token}
                            ).status_code == 403
    assert chef_client.get("/centre/999999/salles").status_code == 404
    assert _rooms(roanne) == []


def test_examinateur_is_refused(client, login_as, create_user, centre_world):
    login_as(create_user(Role.EXAMINATEUR))
    assert client.get(f"/centre/{centre_world['lyon'].id}/salles").status_code == 403


def test_chef_adds_a_room_audited(chef_client, centre_world):
    lyon = centre_world["lyon"]
    response = _post(chef_client, lyon, {"action": "add", "name": "  Amphi  Nord ",
                                         "capacity": "120", "workstations": ""}, prefix="new-")
    assert response.status_code == 302
    assert _rooms(lyon) == [("Amphi Nord", 120, 0), ("B12", 30, 0), ("Salle info", 20, 12)]
    [event] = _events("centre.room.save")
    assert event.actor_id == centre_world["chef"].id
    assert event.before is None
    assert event.after == {"centre": "LYO01", "name": "Amphi Nord", "capacity": 120,
                           "workstations": 0}
    assert "Salle ajoutée." in _text(chef_client.get(f"/centre/{lyon.id}/salles"))


def test_chef_changes_a_room_audited_before_after(chef_client, centre_world):
    lyon = centre_world["lyon"]
    room_id = _room_id(lyon, "Salle info")
    response = _post(chef_client, lyon, {"action": "save", "room": str(room_id),
                                         "name": "Salle informatique", "capacity": "24",
                                         "workstations": "16"}, prefix=f"room-{room_id}-")
    assert response.status_code == 302
    assert _rooms(lyon) == [("B12", 30, 0), ("Salle informatique", 24, 16)]
    [event] = _events("centre.room.save")
    assert event.object_id == str(room_id)
    assert event.before == {"name": "Salle info", "capacity": 20, "workstations": 12}
    assert event.after == {"centre": "LYO01", "name": "Salle informatique", "capacity": 24,
                           "workstations": 16}


@pytest.mark.parametrize(("capacity", "workstations", "field", "message"), [
    ("0", "0", "capacity", "La capacité doit être d'au moins 1 place."),
    ("-4", "0", "capacity", "La capacité doit être d'au moins 1 place."),
    ("", "0", "capacity", "Indiquez la capacité de la salle (nombre de places)."),
    ("douze", "0", "capacity", "Capacité : « douze » n'est pas un nombre entier de places."),
    ("1001", "0", "capacity", "La capacité est de 1000 places au plus."),
    ("10", "-1", "workstations", "Postes E5 : « -1 » n'est pas un nombre entier de 0 à 1000."),
])
def test_bad_numbers_are_refused_on_their_field(chef_client, centre_world, capacity,
                                                workstations, field, message):
    lyon = centre_world["lyon"]
    room_id = _room_id(lyon, "B12")
    response = _post(chef_client, lyon, {"action": "save", "room": str(room_id), "name": "B12",
                                         "capacity": capacity, "workstations": workstations},
                     prefix=f"room-{room_id}-")
    assert response.status_code == 422
    page = _text(response)
    assert f'<p class="field__error" id="room-{room_id}-{field}-error">{message}</p>' in page
    assert _rooms(lyon) == [("B12", 30, 0), ("Salle info", 20, 12)]
    assert _events("centre.room.save") == []


def test_a_duplicate_name_is_refused(chef_client, centre_world):
    lyon = centre_world["lyon"]
    response = _post(chef_client, lyon, {"action": "add", "name": "salle INFO", "capacity": "10",
                                         "workstations": "0"}, prefix="new-")
    assert response.status_code == 422
    assert ('<p class="field__error" id="new-name-error">Le centre a déjà une salle '
            '« Salle info ».</p>') in _text(response)
    assert _rooms(lyon) == [("B12", 30, 0), ("Salle info", 20, 12)]


def test_a_room_used_by_a_passage_is_neither_removed_nor_renamed(chef_client, centre_world):
    lyon = centre_world["lyon"]
    commission = centre_world["create_commission"](centre_world["session"], centre=lyon)
    for _ in range(2):
        candidate = centre_world["create_candidate"](centre_world["session"], centre=lyon)
        _db.session.add(Passage(commission_id=commission.id, candidate_id=candidate.id,
                                unit_code="E4", variant_code="ponctuel", room="B12"))
    _db.session.flush()
    room_id = _room_id(lyon, "B12")
    page = _text(chef_client.get(f"/centre/{lyon.id}/salles"))
    assert "Utilisée : 2 passages d'oral y sont prévus. Elle ne peut être ni renommée ni supprimée." \
        in page
    removed = _post(chef_client, lyon, {"action": "remove", "room": str(room_id)}, prefix="")
    assert removed.status_code == 409
    assert ("La salle « B12 » ne peut pas être supprimée : 2 passages d'oral y sont prévus."
            in _text(removed))
    renamed = _post(chef_client, lyon, {"action": "save", "room": str(room_id), "name": "B13",
                                        "capacity": "30", "workstations": "0"},
                    prefix=f"room-{room_id}-")
    assert renamed.status_code == 409
    assert ("La salle « B12 » ne peut pas être renommée : 2 passages d'oral y sont prévus."
            in _text(renamed))
    assert _rooms(lyon) == [("B12", 30, 0), ("Salle info", 20, 12)]
    # Its seats may still change.
    resized = _post(chef_client, lyon, {"action": "save", "room": str(room_id), "name": "B12",
                                        "capacity": "32", "workstations": "0"},
                    prefix=f"room-{room_id}-")
    assert resized.status_code == 302
    assert _rooms(lyon)[0] == ("B12", 32, 0)


def test_a_room_of_the_e6_seating_is_not_removed(chef_client, centre_world):
    lyon = centre_world["lyon"]
    e6_room = add_room(lyon, name="Salle info")
    seat(centre_world["create_candidate"](centre_world["session"], centre=lyon), e6_room,
         attendance=None)
    removed = _post(chef_client, lyon, {"action": "remove",
                                        "room": str(_room_id(lyon, "Salle info"))}, prefix="")
    assert removed.status_code == 409
    assert ("La salle « Salle info » ne peut pas être supprimée : c'est une salle de l'écrit E6 "
            "(1 candidat placé)." in _text(removed))
    assert _rooms(lyon) == [("B12", 30, 0), ("Salle info", 20, 12)]
    assert _events("centre.room.remove") == []


def test_an_unused_room_is_removed_audited(chef_client, centre_world):
    lyon = centre_world["lyon"]
    room_id = _room_id(lyon, "B12")
    response = _post(chef_client, lyon, {"action": "remove", "room": str(room_id)}, prefix="")
    assert response.status_code == 302
    assert _rooms(lyon) == [("Salle info", 20, 12)]
    [event] = _events("centre.room.remove")
    assert event.before == {"centre": "LYO01", "name": "B12", "capacity": 30, "workstations": 0}
    assert event.after is None


def test_a_post_without_csrf_changes_nothing(chef_client, centre_world):
    lyon = centre_world["lyon"]
    response = chef_client.post(f"/centre/{lyon.id}/salles",
                                data={"action": "add", "new-name": "X", "new-capacity": "5"})
    assert response.status_code == 400
    assert _rooms(lyon) == [("B12", 30, 0), ("Salle info", 20, 12)]


def test_gestionnaire_edits_any_centre_and_goes_back_to_the_centres(client, login_as,
                                                                    create_user, centre_world):
    login_as(create_user(Role.GESTIONNAIRE))
    roanne = centre_world["roanne"]
    page = _text(client.get(f"/centre/{roanne.id}/salles"))
    assert '<a href="/gestion/sessions/SAM2027/centres">← Centres d\'examen</a>' in page
    assert "Aucune salle n'est encore déclarée pour ce centre." in page
    response = _post(client, roanne, {"action": "add", "name": "A1", "capacity": "8",
                                      "workstations": "8"}, prefix="new-")
    assert response.status_code == 302
    assert _rooms(roanne) == [("A1", 8, 8)]


def test_the_service_decides_on_the_rooms_read_under_the_lock(centre_world):
    """A room added elsewhere after this request read the centre is seen: the duplicate is
    refused, not written twice under two spellings."""
    from sqlalchemy.orm import Session

    from exam_app.enrolment import reference
    from exam_app.errors import Invalid

    lyon = centre_world["lyon"]
    _db.session.commit()
    assert [r.name for r in lyon.rooms] == ["B12", "Salle info"]  # read, in the identity map
    with Session(_db.engine) as other:
        other.add(CentreRoom(centre_id=lyon.id, name="Amphi", capacity=100, workstations=0))
        other.commit()
    with pytest.raises(Invalid) as refused:
        reference.save_room(centre=lyon, actor=centre_world["chef"], usage=lambda _: {},
                            name="AMPHI", capacity="50", workstations="0")
    assert (refused.value.field, refused.value.message) == (
        "name", "Le centre a déjà une salle « Amphi ».")
    _db.session.rollback()
    assert _rooms(lyon) == [("Amphi", 100, 0), ("B12", 30, 0), ("Salle info", 20, 12)]
