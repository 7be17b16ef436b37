import json
from decimal import Decimal

import pytest
import sqlalchemy as sa

from exam_app.audit.models import AuditEvent
from exam_app.e6 import marking
from exam_app.e6.common import E6Error, StaleCopy
from tests.conftest import csrf_token_from


def _first_copy(e6_world):
    lot = e6_world["lots"][0]
    return lot, marking.lot_copies(lot)[0]


def test_save_copy_computes_the_total_once_every_question_is_marked(db, e6_world):
    lot, copy = _first_copy(e6_world)
    q1, q2, q3 = e6_world["questions"]
    marker = e6_world["markers"][0]
    start = copy.version
    marking.save_copy(copy=copy, points={q1.id: "4,5", q2.id: "7"}, comment="",
                      version=start, actor=marker)
    assert copy.raw_total is None
    assert copy.version == start + 1
    marking.save_copy(copy=copy, points={q3.id: "5.5"}, comment="Bonne analyse",
                      version=start + 1,
                      actor=marker)
    assert copy.raw_total == Decimal("17.00")
    assert copy.mark == Decimal("17.00")
    assert copy.comment == "Bonne analyse"
    events = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "e6.copy.save", AuditEvent.object_id == str(copy.id))).all()
    assert len(events) == 2


@pytest.mark.parametrize(("value", "message"), [
    ("6,5", "Question « Question 1 » : 6,5 hors barème (entre 0 et 6)."),
    ("-1", "Question « Question 1 » : -1 hors barème (entre 0 et 6)."),
    ("2,25", "Question « Question 1 » : les points vont par pas de 0,5."),
    ("abc", "Question « Question 1 » : « abc » n'est pas un nombre (ex. 12,5)."),
    (True, "Question « Question 1 » : nombre attendu."),
])
def test_save_copy_refuses_points_outside_the_bareme(db, e6_world, value, message):
    lot, copy = _first_copy(e6_world)
    q1, q2, _ = e6_world["questions"]
    start = copy.version
    with pytest.raises(E6Error) as caught:
        marking.save_copy(copy=copy, points={q2.id: "3", q1.id: value}, comment="",
                          version=start, actor=e6_world["markers"][0])
    assert caught.value.message == message
    # Validation happens before any change: the valid value of question 2 is not kept either.
    assert copy.points == []
    assert copy.version == start


def test_save_copy_refuses_a_stale_version(db, e6_world):
    lot, copy = _first_copy(e6_world)
    q1 = e6_world["questions"][0]
    start = copy.version
    marking.save_copy(copy=copy, points={q1.id: "3"}, comment="", version=start,
                      actor=e6_world["markers"][0])
    with pytest.raises(StaleCopy):
        marking.save_copy(copy=copy, points={q1.id: "5"}, comment="", version=start,
                          actor=e6_world["markers"][0])
    assert [p.points for p in copy.points] == [Decimal("3")]


def test_validate_lot_lists_the_copies_still_incomplete(db, e6_world):
    lot, copy = _first_copy(e6_world)
    with pytest.raises(E6Error) as caught:
        marking.validate_lot(lot=lot, actor=e6_world["markers"][0])
    assert caught.value.details == [f"Copie {c.anonymous_number}"
                                    for c in marking.lot_copies(lot)]
    assert lot.validated_at is None


def test_autosave_endpoint_saves_and_refuses_bad_requests(client, login_as, e6_world):
    lot, copy = _first_copy(e6_world)
    q1, q2, q3 = e6_world["questions"]
    login_as(e6_world["markers"][0])
    page = client.get(f"/correction/lots/{lot.id}")
    assert page.status_code == 200
    token = csrf_token_from(page.get_data(as_text=True))
    url = f"/correction/lots/{lot.id}/copies/{copy.anonymous_number}"
    start = copy.version
    body = {"version": start, "points": {str(q1.id): "5", str(q2.id): "6,5", str(q3.id): "4"},
            "comment": "RAS"}
    missing_token = client.post(url, json=body)
    assert missing_token.status_code == 400
    saved = client.post(url, json=body, headers={"X-CSRFToken": token})
    assert saved.status_code == 200
    assert saved.get_json()["total"] == "15,5"
    assert saved.get_json()["version"] == start + 1
    replayed = client.post(url, json=body, headers={"X-CSRFToken": token})
    assert replayed.status_code == 409
    assert replayed.get_json() == {
        "error": "conflict", "field": None, "details": [],
        "message": "Cette copie a été modifiée entre-temps (autre onglet ?) : rechargez la page "
                   "pour voir la dernière version. Votre saisie n'a pas été enregistrée."}
    out_of_bounds = client.post(url, headers={"X-CSRFToken": token}, json={
        "version": start + 1, "points": {str(q1.id): "7"}})
    assert out_of_bounds.status_code == 422
    assert out_of_bounds.get_json() == {
        "error": "refused", "field": str(q1.id), "details": [],
        "message": "Question « Question 1 » : 7 hors barème (entre 0 et 6)."}
    garbage = client.post(url, data="{not json", content_type="application/json",
                          headers={"X-CSRFToken": token})
    assert garbage.status_code == 400
    assert garbage.get_json() == {
        "error": "bad_request", "field": None, "details": [],
        "message": "Saisie illisible : rechargez la page. Rien n'a été enregistré."}
    oversize = client.post(url, headers={"X-CSRFToken": token}, data=json.dumps(
        {"version": start + 1, "points": {}, "comment": "x" * 30000}), content_type="application/json")
    assert oversize.status_code == 413
    assert oversize.get_json() == {
        "error": "too_large", "field": None, "details": [],
        "message": "Saisie trop volumineuse : rien n'a été enregistré."}
    unknown = client.post(url.rsplit("/", 1)[0] + "/XXXX-XXXX", json=body,
                          headers={"X-CSRFToken": token})
    assert (unknown.status_code, unknown.get_json()) == (404, {
        "error": "not_found", "field": None, "details": [],
        "message": "Copie inconnue dans ce lot : rechargez la page."})
    assert client.get(f"/correction/lots/{e6_world['lots'][1].id}").status_code == 403
    assert marking.lot_copies(lot)[0].raw_total == Decimal("15.50")


def test_validated_lot_refuses_further_saves(client, login_as, e6_world):
    from tests.e6.conftest import mark_lot

    lot, copy = _first_copy(e6_world)
    mark_lot(lot, e6_world["questions"], ("3", "4", "5"), e6_world["markers"][0])
    login_as(e6_world["markers"][0])
    token = csrf_token_from(client.get(f"/correction/lots/{lot.id}").get_data(as_text=True))
    response = client.post(f"/correction/lots/{lot.id}/copies/{copy.anonymous_number}",
                           headers={"X-CSRFToken": token},
                           json={"version": copy.version, "points": {}})
    assert response.status_code == 409
    assert response.get_json() == {
        "error": "locked", "field": None, "details": [],
        "message": "Ce lot est validé : les notes ne peuvent plus être modifiées."}


def test_concurrent_save_of_the_same_copy_cannot_both_win(db, e6_world):
    from sqlalchemy.orm.exc import StaleDataError

    lot, copy = _first_copy(e6_world)
    q1 = e6_world["questions"][0]
    start = copy.version
    # Another request saved the copy after this one read it.
    db.session.execute(sa.text("UPDATE e6_copy SET version = version + 1 WHERE id = :id"),
                       {"id": copy.id})
    with pytest.raises(StaleDataError):
        marking.save_copy(copy=copy, points={q1.id: "3"}, comment="x", version=start,
                          actor=e6_world["markers"][0])


def test_autosave_that_loses_a_race_answers_a_conflict(client, login_as, e6_world, monkeypatch):
    from sqlalchemy.orm.exc import StaleDataError

    from exam_app.e6 import views_marking

    lot, copy = _first_copy(e6_world)
    login_as(e6_world["markers"][0])
    token = csrf_token_from(client.get(f"/correction/lots/{lot.id}").get_data(as_text=True))

    def lost_race(**kwargs):
        raise StaleDataError("another save won")

    monkeypatch.setattr(views_marking.marking_service, "save_copy", lost_race)
    response = client.post(f"/correction/lots/{lot.id}/copies/{copy.anonymous_number}",
                           headers={"X-CSRFToken": token},
                           json={"version": copy.version, "points": {}})
    assert (response.status_code, response.get_json()) == (409, {
        "error": "conflict", "field": None, "details": [],
        "message": views_marking.CONCURRENT_SAVE})


def test_e6_refusals_are_service_errors_whose_class_gives_the_status():
    from exam_app.e6.common import E6Locked
    from exam_app.errors import Conflict, ServiceError

    refused, locked, stale = E6Error("x"), E6Locked("x"), StaleCopy("x")
    assert isinstance(refused, ServiceError)
    assert (refused.status, refused.code) == (422, "refused")
    assert isinstance(locked, E6Error) and isinstance(locked, Conflict)
    assert (locked.status, locked.code) == (409, "locked")
    assert isinstance(stale, E6Error) and isinstance(stale, Conflict)
    assert (stale.status, stale.code) == (409, "conflict")
