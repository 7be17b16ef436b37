import io
import re
import shutil
import subprocess
from datetime import UTC, datetime
from fractions import Fraction

import pytest
from pypdf import PdfReader

from exam_app.accounts.models import Role
from exam_app.e6 import marking, sitting
from exam_app.e6.common import E6Error
from exam_app.e6.models import Attendance, E6Copy
from exam_app.e6.sitting import ANONYMOUS_ALPHABET
from exam_app.extensions import db
from tests.conftest import csrf_token_from
from tests.e6.builders import add_room, seat


def test_end_time_adds_the_candidates_extra_time():
    start = datetime(2027, 5, 18, 6, 0, tzinfo=UTC)
    assert sitting.end_time(starts_at=start, duration_minutes=240,
                            extra_fraction=Fraction(0)) == datetime(2027, 5, 18, 10, 0, tzinfo=UTC)
    assert sitting.end_time(starts_at=start, duration_minutes=240,
                            extra_fraction=Fraction(1, 3)) == datetime(2027, 5, 18, 11, 20,
                                                                       tzinfo=UTC)


def test_distribute_fills_rooms_in_order_and_refuses_without_enough_seats(
        db, create_session, create_centre, create_candidate):
    session = create_session()
    centre = create_centre(session)
    for name in ("DURAND", "ARNAUD", "MARTIN"):
        create_candidate(session, centre=centre, last_name=name)
    add_room(centre, "A", capacity=1)
    with pytest.raises(E6Error, match="Places insuffisantes : 3 candidat"):
        sitting.distribute_candidates(centre=centre, actor=None)
    add_room(centre, "B", capacity=5)
    assert sitting.distribute_candidates(centre=centre, actor=None) == 3
    rooms = sitting.centre_rooms(centre.id)
    assert [[line.candidate.last_name for line in sitting.room_roster(r, session)]
            for r in rooms] == [["ARNAUD"], ["DURAND", "MARTIN"]]


def test_chef_de_centre_records_attendance_and_present_copies_get_random_numbers(
        client, login_as, create_session, create_centre, create_candidate, create_user):
    session = create_session()
    centre = create_centre(session)
    room = add_room(centre)
    present = create_candidate(session, centre=centre, extra_time="1/3")
    absent = create_candidate(session, centre=centre)
    seat(present, room, attendance=None)
    seat(absent, room, attendance=None)
    login_as(create_user(Role.CHEF_CENTRE, centre=centre))
    page = client.get(f"/centre/e6/salles/{room.id}").get_data(as_text=True)
    assert "temps majoré 1/3" in page
    assert "18/05/2027 à 13 h 20" in page
    response = client.post(f"/centre/e6/salles/{room.id}", data={
        "csrf_token": csrf_token_from(page), f"presence-{present.id}": "present",
        f"presence-{absent.id}": "absent"})
    assert response.status_code == 302
    copies = E6Copy.query.all()
    assert [c.candidate_id for c in copies] == [present.id]
    number = copies[0].anonymous_number
    assert re.fullmatch(f"[{ANONYMOUS_ALPHABET}]{{4}}-[{ANONYMOUS_ALPHABET}]{{4}}", number)
    assert present.number not in number.replace("-", "")


def test_attendance_of_another_centre_is_forbidden(client, login_as, create_session,
                                                   create_centre, create_user):
    session = create_session()
    room = add_room(create_centre(session))
    login_as(create_user(Role.CHEF_CENTRE, centre=create_centre(session)))
    assert client.get(f"/centre/e6/salles/{room.id}").status_code == 403


def test_anonymous_numbers_are_unique_in_a_session(db, create_session):
    session = create_session()
    taken: set[str] = set()
    numbers = [sitting.new_anonymous_number(session.id, taken=taken) for _ in range(2000)]
    assert len(set(numbers)) == 2000


def test_marked_copy_cannot_become_absent(db, e6_world):
    lot = e6_world["lots"][0]
    copy = marking.lot_copies(lot)[0]
    with pytest.raises(E6Error, match="ne peut plus être déclaré absent"):
        sitting.record_attendance(room=e6_world["room"],
                                  statuses={copy.candidate_id: Attendance.ABSENT}, actor=None)
    assert db.session.get(E6Copy, copy.id) is not None


def test_labels_pdf_shows_anonymous_numbers_and_names_nobody(client, login_as, e6_world):
    login_as(e6_world["gestionnaire"])
    response = client.get(f"/centre/{e6_world['centre'].id}/e6/etiquettes.pdf")
    assert response.status_code == 200
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    numbers = sorted(c.anonymous_number for lot in e6_world["lots"]
                     for c in marking.lot_copies(lot))
    assert sorted(re.findall(r"[A-Z0-9]{4}-[A-Z0-9]{4}", text)) == numbers
    for candidate in e6_world["candidates"]:
        assert candidate.last_name not in text


def test_attendance_sheet_pdf_lists_the_room_with_end_times(client, login_as, e6_world):
    from exam_app.printing.signing import read_token
    from exam_app.printing.verification import Status, verify

    chef = e6_world["gestionnaire"]
    login_as(chef)
    response = client.get(f"/centre/e6/salles/{e6_world['room'].id}/emargement.pdf")
    assert response.status_code == 200
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    for candidate in e6_world["candidates"]:
        assert candidate.last_name in text
    assert "7 candidat(s) convoqué(s) dans cette salle." in text
    assert "18/05/2027 à 12 h 00" in text
    assert "Signature" in text
    from flask import current_app

    from exam_app.e6 import documents
    token = documents._token(documents.SHEET_KIND, [e6_world["room"].id, 0],
                             documents.sheet_context(e6_world["room"]), documents.SHEET_FIELDS)
    payload = read_token(secret_key=current_app.config["SECRET_KEY"], token=token)
    assert verify(payload).status is Status.AUTHENTIC



def _ink_columns(pdf: bytes, tmp_path) -> tuple[float, float, float]:
    """(page width, leftmost inked column, rightmost inked column) of page 1, in mm."""
    (tmp_path / "sheet.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-gray", "-r", "200", "-f", "1", "-l", "1",
                    str(tmp_path / "sheet.pdf"), str(tmp_path / "sheet")], check=True)
    raw = next(tmp_path.glob("sheet*.pgm")).read_bytes()
    magic, width, height, _maxval, pixels = raw.split(maxsplit=4)
    assert magic == b"P5"
    width, height = int(width), int(height)
    inked = [x for x in range(width)
             if any(pixels[y * width + x] < 128 for y in range(0, height, 2))]
    mm = 25.4 / 200
    return width * mm, inked[0] * mm, (inked[-1] + 1) * mm


@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="pdftoppm (poppler-utils) renders "
                    "the sheet to find where ink falls")
def test_labels_keep_clear_of_the_paper_edges(client, login_as, e6_world, tmp_path):
    # Issue 17: the right column ended 2.4 mm from the paper's edge, inside the border
    # office printers do not print (about 4 mm). Every label's ink (QR code and text, even
    # with a long session code, centre code and room name) stays 5 mm clear of both edges.
    e6_world["session"].code = "SAM2027-RATTRAPAGE"
    e6_world["centre"].code = "LYC-HERRIOT-LYON-01"
    e6_world["room"].name = "Amphithéâtre Marie-Curie"
    db.session.flush()
    login_as(e6_world["gestionnaire"])
    response = client.get(f"/centre/{e6_world['centre'].id}/e6/etiquettes.pdf")
    width, left, right = _ink_columns(response.data, tmp_path)
    assert round(width) == 210
    assert left >= 5.0, left
    assert width - right >= 5.0, width - right


def test_attendance_list_sorts_names_in_french_order(e6_world, create_candidate):
    # Issue 17: the attendance list put « ÉMERY » after « ZARATHOUSTRA » (byte order).
    for last, first in (("ÉMERY", "Zoé"), ("BENALI", "Tom"), ("BENALI", "Élodie")):
        seat(create_candidate(e6_world["session"], centre=e6_world["centre"],
                              establishment=e6_world["schools"][0], last_name=last,
                              first_name=first), e6_world["room"])
    names = [(line.candidate.last_name, line.candidate.first_name)
             for line in sitting.room_roster(e6_world["room"], e6_world["session"])]
    assert names[:4] == [("ABRACADABRA", "Théodule"), ("ABSENTISSIME", "Fantômette"),
                         ("BENALI", "Élodie"), ("BENALI", "Tom")]
    assert names[4:6] == [("ÉMERY", "Zoé"), ("KORRIGANIUS", "Mélisande")]
