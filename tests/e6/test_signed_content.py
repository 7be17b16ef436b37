"""E6 documents sign everything they print, say what changed without naming anyone,
and a relabelled copy's old label reads "remplacé" (issue 12, items 13 to 15)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from exam_app.e6 import documents, sitting
from exam_app.e6.models import Attendance, E6Copy
from exam_app.extensions import db
from exam_app.printing.signing import read_app_token
from exam_app.printing.verification import Status, verify
from exam_app.results import e6_bordereau
from tests.e6.builders import add_room
from tests.e6.conftest import lift
from tests.printing.signed_fields import record_print, uncovered

LATER = datetime(2027, 5, 20, 8, 0, tzinfo=UTC)  # 10 h 00 in Paris


@pytest.fixture()
def request_context(app):
    with app.test_request_context("/", base_url="https://examens.example/"):
        yield


def _page(client, token: str) -> str:
    return client.get(f"/verifier/{token}").get_data(as_text=True).split(
        'id="verify-title"', 1)[1].split("</section>", 1)[0]


def test_every_printed_e6_field_is_in_the_signed_content(app, e6_world, request_context):
    session, centre, room = e6_world["session"], e6_world["centre"], e6_world["room"]
    with record_print(app) as recording:
        documents.labels_pdf(centre=centre, session=session)
        documents.attendance_sheet_pdf(room=room)
        lift(e6_world)
        e6_bordereau.bordereau_pdf(session=session)
    labels, sheet, bordereau = recording.renders
    assert [r.template for r in recording.renders] == [
        "print/e6_labels.html", "print/e6_emargement.html", "print/e6_bordereau.html"]
    *label_contents, (_, sheet_content), (_, bordereau_content) = recording.signed
    assert len(label_contents) == 6  # the present candidates' copies, one token per label
    # A sheet of labels signs each label; the sheet itself prints only its centre's name
    # in the PDF title and, without copies, in its "no copies" message.
    label_reads = {r for r in labels.read if r not in ("sheets[*][*].qr", "centre.name")}
    assert label_reads == {"sheets[*][*].number", "sheets[*][*].session",
                           "sheets[*][*].centre", "sheets[*][*].room"}
    for _, content in label_contents:
        labels.read = label_reads
        assert uncovered(app, labels, content, prefix="sheets[*][*]") == []
    assert uncovered(app, sheet, sheet_content) == []
    assert uncovered(app, bordereau, bordereau_content) == []


def test_relabelled_copy_old_label_reads_replaced(app, client, create_session, create_centre,
                                                  create_candidate, create_user,
                                                  request_context):
    from exam_app.accounts.models import Role
    from exam_app.e6.models import E6Sitting

    session = create_session()
    centre = create_centre(session)
    room = add_room(centre)
    candidate = create_candidate(session, centre=centre, last_name="ZÉPHYRIN")
    db.session.add(E6Sitting(candidate_id=candidate.id, room_id=room.id, attendance=None))
    gestionnaire = create_user(Role.GESTIONNAIRE)
    sitting.record_attendance(room=room, statuses={candidate.id: Attendance.PRESENT},
                              actor=gestionnaire, now=LATER - timedelta(hours=2))
    copy = db.session.scalar(sa.select(E6Copy).where(E6Copy.candidate_id == candidate.id))
    old_number = copy.anonymous_number
    old = documents.copy_token(copy, room, session, centre, now=LATER - timedelta(hours=1))
    assert verify(read_app_token(old)).status is Status.AUTHENTIC
    # Declared absent by mistake, then present again: the copy gets a new number and label.
    sitting.record_attendance(room=room, statuses={candidate.id: Attendance.ABSENT},
                              actor=gestionnaire, now=LATER)
    sitting.record_attendance(room=room, statuses={candidate.id: Attendance.PRESENT},
                              actor=gestionnaire, now=LATER + timedelta(minutes=5))
    new = db.session.scalar(sa.select(E6Copy).where(E6Copy.candidate_id == candidate.id))
    assert new.anonymous_number != old_number
    result = verify(read_app_token(old))
    assert result.status is Status.SUPERSEDED
    assert result.changed_at == LATER
    page = _page(client, old)
    assert "Document authentique mais remplacé" in page
    assert "les données ont été modifiées le 20/05/2027 à 10 h 00" in page
    assert "non authentique" not in page
    assert "ZÉPHYRIN" not in page and new.anonymous_number not in page
    fresh = documents.copy_token(new, room, session, centre)
    assert verify(read_app_token(fresh)).status is Status.AUTHENTIC


def test_label_is_replaced_when_its_room_changes(app, e6_world, request_context):
    copy = db.session.scalars(sa.select(E6Copy).where(
        E6Copy.session_id == e6_world["session"].id)).first()
    token = documents.copy_token(copy, e6_world["room"], e6_world["session"], e6_world["centre"])
    e6_world["room"].name = "B"
    result = verify(read_app_token(token))
    assert (result.status, result.changes) == (Status.SUPERSEDED, ("Salle",))


def test_e6_sheet_says_which_field_changed_and_when_never_the_value(app, client, e6_world,
                                                                     request_context):
    from exam_app.audit.services import record

    room, session = e6_world["room"], e6_world["session"]
    with record_print(app) as recording:
        documents.attendance_sheet_pdf(room=room, now=LATER - timedelta(days=3))
    [token] = recording.tokens
    assert "Document authentique et à jour." in _page(client, token)
    candidate = e6_world["candidates"][0]
    candidate.first_name, candidate.updated_at = "Philomena", LATER
    record(actor=None, action="candidate.import", object_type="exam_session",
           object_id=session.id, session_id=session.id, now=LATER)
    page = _page(client, token)
    assert "Document authentique mais remplacé" in page
    assert "les données ont été modifiées le 20/05/2027 à 10 h 00" in page
    assert "<li>Prénom</li>" in page
    assert "Liste des candidats mise à jour par import le 20/05/2027 à 10 h 00" in page
    for c in e6_world["candidates"]:
        assert c.last_name not in page and c.first_name not in page


def test_e6_bordereau_superseded_by_a_name_change_says_what_when_and_why(
        app, client, e6_world, request_context):
    from exam_app.audit.services import record

    lift(e6_world)
    session = e6_world["session"]
    with record_print(app) as recording:
        e6_bordereau.bordereau_pdf(session=session, now=LATER - timedelta(days=1))
    [token] = recording.tokens
    assert "Document authentique et à jour." in _page(client, token)
    candidate = e6_world["candidates"][1]
    candidate.last_name, candidate.updated_at = "QUENTINOWSKI", LATER
    record(actor=None, action="candidate.import", object_type="exam_session",
           object_id=session.id, session_id=session.id, now=LATER)
    page = _page(client, token)
    assert "Document authentique mais remplacé" in page
    assert "les données ont été modifiées le 20/05/2027 à 10 h 00" in page
    assert "<li>Nom</li>" in page and "<li>Notes</li>" not in page
    assert "Liste des candidats mise à jour par import le 20/05/2027 à 10 h 00" in page
    for c in e6_world["candidates"]:
        assert c.last_name not in page


def test_label_printed_before_labels_signed_their_room_still_verifies(app, e6_world,
                                                                     request_context):
    from flask import current_app

    from exam_app.printing.signing import make_token

    copy = db.session.scalars(sa.select(E6Copy).where(
        E6Copy.session_id == e6_world["session"].id)).first()
    legacy = make_token(secret_key=current_app.config["SECRET_KEY"], kind=documents.COPY_KIND,
                        ids=[e6_world["session"].id, copy.anonymous_number],
                        content={"n": copy.anonymous_number})
    assert verify(read_app_token(legacy)).status is Status.AUTHENTIC
