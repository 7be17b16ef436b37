"""Issue 17: a copy whose candidate's establishment changes after the lots are formed is
re-checked against its correcteur's establishment, flagged, and can change lot."""

from __future__ import annotations

import html

import sqlalchemy as sa

from exam_app.audit.models import AuditEvent
from exam_app.e6 import lots, marking
from exam_app.e6.models import E6Copy
from exam_app.extensions import db
from tests.conftest import csrf_token_from


def _moved_copy(e6_world) -> E6Copy:
    """A copy of the second correcteur's lot whose candidate now studies in that
    correcteur's establishment (schools[1])."""
    second = e6_world["lots"][1]
    assert second.corrector_id == e6_world["markers"][1].id
    copy = marking.lot_copies(second)[0]
    candidate = next(c for c in e6_world["candidates"] if c.id == copy.candidate_id)
    assert candidate.establishment_id == e6_world["schools"][0].id
    candidate.establishment_id = e6_world["schools"][1].id
    db.session.flush()
    return copy


def test_lots_start_without_conflict(e6_world):
    assert lots.lot_conflicts(e6_world["session"].id) == []


def test_a_copy_whose_candidate_joins_its_correcteurs_establishment_is_flagged(
        client, login_as, e6_world):
    copy = _moved_copy(e6_world)
    second = e6_world["lots"][1]
    assert [(c.number, c.lot_code, c.marked) for c in lots.lot_conflicts(
        e6_world["session"].id)] == [(copy.anonymous_number, second.code, False)]

    login_as(e6_world["gestionnaire"])
    code = e6_world["session"].code
    manage = html.unescape(client.get(f"/gestion/sessions/{code}/e6/").get_data(as_text=True))
    assert "1 copie à réattribuer" in manage
    # The page no longer claims that no correcteur has a copy of their establishment.
    assert "aucun correcteur ne reçoit de copie de son établissement" not in manage
    assert "les copies signalées ci-dessus sont à réattribuer" in manage
    block = manage[manage.index('id="lot-conflicts"'):]
    assert "1 copie dans le lot d'un correcteur de son établissement" in block
    assert f"<code>{copy.anonymous_number}</code>" in block
    assert f"/gestion/e6/lots/{second.id}/copies/{copy.anonymous_number}/reattribuer" in block
    for candidate in e6_world["candidates"]:  # the flag names no candidate
        assert candidate.last_name not in block
    harmonisation = html.unescape(
        client.get(f"/gestion/sessions/{code}/e6/harmonisation").get_data(as_text=True))
    assert "1 copie dans le lot d'un correcteur de son établissement" in harmonisation
    assert f"copie <code>{copy.anonymous_number}</code> (lot {second.code}" in harmonisation


def test_the_flagged_copy_moves_to_an_open_lot_of_another_establishment(
        client, login_as, e6_world):
    copy = _moved_copy(e6_world)
    first, second = e6_world["lots"]
    login_as(e6_world["gestionnaire"])
    code = e6_world["session"].code
    token = csrf_token_from(client.get(f"/gestion/sessions/{code}/e6/").get_data(as_text=True))
    url = f"/gestion/e6/lots/{second.id}/copies/{copy.anonymous_number}/reattribuer"

    unconfirmed = client.post(url, data={"csrf_token": token}, follow_redirects=True)
    assert "Cochez la case pour confirmer le changement de lot." in html.unescape(
        unconfirmed.get_data(as_text=True))
    assert db.session.get(E6Copy, copy.id).lot_id == second.id

    moved = client.post(url, data={"csrf_token": token, "confirm": "y"}, follow_redirects=True)
    page = html.unescape(moved.get_data(as_text=True))
    assert f"Copie {copy.anonymous_number} placée dans le lot {first.code}" in page
    db.session.expire_all()
    assert db.session.get(E6Copy, copy.id).lot_id == first.id
    assert lots.lot_conflicts(e6_world["session"].id) == []
    event = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "e6.copy.move")).one()
    assert (event.before, event.after) == ({"lot": second.code}, {"lot": first.code})

    again = client.post(url, data={"csrf_token": token, "confirm": "y"})
    assert again.status_code == 404  # no longer in that lot


def test_a_flagged_copy_with_points_stays_and_says_why(client, login_as, e6_world):
    copy = _moved_copy(e6_world)
    questions = e6_world["questions"]
    marking.save_copy(copy=copy, points={questions[0].id: "3"}, comment="",
                      version=copy.version, actor=e6_world["markers"][1])
    db.session.flush()
    [conflict] = lots.lot_conflicts(e6_world["session"].id)
    assert conflict.marked is True
    login_as(e6_world["gestionnaire"])
    code = e6_world["session"].code
    manage = html.unescape(client.get(f"/gestion/sessions/{code}/e6/").get_data(as_text=True))
    assert "Points déjà saisis : à faire corriger à nouveau par la commission d'entente." \
        in manage
    token = csrf_token_from(manage)
    second = e6_world["lots"][1]
    refused = client.post(
        f"/gestion/e6/lots/{second.id}/copies/{copy.anonymous_number}/reattribuer",
        data={"csrf_token": token, "confirm": "y"}, follow_redirects=True)
    assert (f"Des points sont déjà saisis sur la copie {copy.anonymous_number}"
            in html.unescape(refused.get_data(as_text=True)))
    db.session.expire_all()
    assert db.session.get(E6Copy, copy.id).lot_id == second.id
