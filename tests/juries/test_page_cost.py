"""What the gestionnaire's planning page and live board, a commission's bordereau and a
centre's attendance sheets cost in SQL statements: the same in a session of a few
candidates and in one of many (issue 16 item 2: they read the whole session's dossiers,
the swap list listed every unstarted passage of the session, each attendance sheet
re-read the centre's whole day)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.clock import to_local, utcnow
from exam_app.documents import attendance, bordereau, packs
from exam_app.dossiers import deadlines
from exam_app.extensions import db as _db
from tests.juries.helpers import decide_conforme
from tests.juries.test_poll_cost import _statements


class _Sent:
    def __init__(self):
        self.statements: list[str] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(statement)

    def __enter__(self):
        _db.session.commit()
        sa.event.listen(_db.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc):
        sa.event.remove(_db.engine, "before_cursor_execute", self)


@pytest.fixture()
def day_session(create_session, create_centre, create_commission, create_candidate,
                create_passage):
    """An E5 commission with three passages today (the third NV: deadline passed, nothing
    deposited), in rooms B12 (two, morning) and C04 (one, afternoon); and ``size`` more
    candidates, half planned in another E5 commission of the centre tomorrow with their
    dossier decided conforme, half not planned."""

    def build(size: int) -> dict:
        now = utcnow()
        session = create_session()
        centre = create_centre(session)
        deadlines.set_deadline(session=session, unit_code="E5", deadline_at=now - timedelta(days=1),
                               actor=None, now=now - timedelta(days=2))
        commission = create_commission(session, unit_code="E5", centre=centre)
        passages = [create_passage(unit_code="E5", commission=commission, conforme=n < 2)
                    for n in range(3)]
        morning = to_local(now).replace(hour=9, minute=0, second=0, microsecond=0)
        for n, (passage, room) in enumerate(zip(passages, ("B12", "B12", "C04"), strict=True)):
            passage.scheduled_at = morning + timedelta(hours=5 * (n // 2), minutes=30 * n)
            passage.room = room
        other = create_commission(session, unit_code="E5", centre=centre)
        for n in range(size):
            if n % 2:
                create_candidate(session)
            else:
                elsewhere = create_passage(unit_code="E5", commission=other)
                decide_conforme(elsewhere)
                elsewhere.scheduled_at = morning + timedelta(days=1, minutes=n)
        _db.session.flush()
        return {"session": session, "centre": centre, "commission": commission,
                "passages": passages, "day": to_local(now).date()}

    return build


@pytest.fixture()
def gestionnaire(login_as, create_user):
    user = create_user(Role.GESTIONNAIRE)
    return lambda: login_as(user)


def test_planning_page_statements_fixed_whatever_the_session_size(client, gestionnaire,
                                                                  day_session):
    counts, pages = {}, {}
    for size in (2, 24):
        built = day_session(size)
        gestionnaire()
        url = f"/gestion/commissions/{built['commission'].id}/planning"
        status, sent = _statements(client, url)
        counts[size] = (status, len(sent))
        pages[size] = (built, client.get(url).get_data(as_text=True))
    assert counts[2] == counts[24]
    assert counts[2][0] == 200
    built, html = pages[24]
    first, second, nv = built["passages"]
    # The swap list of the first row: the commission's two other passages of the day,
    # not the other commission's twelve of tomorrow.
    options = re.search(rf'id="swap-{first.id}"[^>]*>(.*?)</select>', html, re.S)[1]
    assert re.findall(r'<option value="(\d+)">', options) == [str(second.id), str(nv.id)]
    assert f"{second.candidate.last_name} {second.candidate.first_name}" in options
    # NV is still shown (status and result) in the NV candidate's row, and only there.
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    assert [row.count(">NV<") for row in rows if "swap-" in row] == [0, 0, 2]


def test_planning_page_fixed_whatever_the_other_commissions_of_the_day(
        client, gestionnaire, day_session, create_commission, create_passage):
    """40 more commissions with passages on the commission's own day: the page's
    statements and swap options stay those of the commission (issue 16 item 2: each row
    listed every unstarted passage of the day, ~480 options in each of 8 rows at 60
    commissions); another commission's passage is one link away (« Échanger avec… », a
    page at a time, its statements fixed too)."""
    built = day_session(2)
    gestionnaire()
    url = f"/gestion/commissions/{built['commission'].id}/planning"

    def measure() -> tuple:
        status, sent = _statements(client, url)
        html = client.get(url).get_data(as_text=True)
        swaps = re.findall(r'id="swap-\d+"[^>]*>(.*?)</select>', html, re.S)
        partners = _statements(client, f"/gestion/passages/{built['passages'][0].id}"
                                       "/echanger-avec")
        return (status, len(sent), sum(s.count("<option") for s in swaps),
                html.count("/echanger-avec"), partners[0], len(partners[1]))

    before = measure()
    morning = built["passages"][0].scheduled_at
    for n in range(40):
        other = create_commission(built["session"], unit_code="E5", centre=built["centre"])
        for k in range(2):
            create_passage(unit_code="E5", commission=other).scheduled_at = (
                morning + timedelta(minutes=30 * k + n))
    _db.session.commit()
    assert measure() == before
    # The commission's three passages: two options and a link in each of their rows.
    assert before[:5] == (200, before[1], 6, 3, 200)


def test_live_board_statements_fixed_whatever_the_session_size(client, gestionnaire,
                                                               day_session):
    counts, pages = {}, {}
    for size in (2, 24):
        built = day_session(size)
        gestionnaire()
        url = f"/gestion/sessions/{built['session'].code}/suivi"
        status, sent = _statements(client, url)
        counts[size] = (status, len(sent))
        pages[size] = (built, client.get(url).get_data(as_text=True))
    assert counts[2] == counts[24]
    assert counts[2][0] == 200
    built, html = pages[24]
    names = [p.candidate.full_name for p in built["passages"]]
    assert [html.count(name) >= 1 for name in names] == [True, True, True]
    assert html.count('data-state="nv"') == 1


def test_bordereau_statements_fixed_and_rows_unchanged(app, day_session):
    counts, rows = {}, {}
    for size in (2, 24):
        built = day_session(size)
        with app.test_request_context(), _Sent() as sent:
            rows[size] = bordereau.bordereau_rows(built["commission"])
        counts[size] = len(sent.statements)
        rows[size] = (built, rows[size])
    assert counts[2] == counts[24]
    built, got = rows[24]
    expected = sorted(built["passages"], key=lambda p: p.candidate.number)
    assert [(r["number"], r["result"]) for r in got] == [
        (p.candidate.number, "NV" if p is built["passages"][2] else None) for p in expected]


def test_attendance_sheets_read_the_day_once(app, day_session):
    """Two sheets (B12 morning, C04 afternoon): the centre's day is read once, not once
    per sheet, and each sheet lists its room's candidates."""
    built = day_session(4)
    with app.test_request_context(), _Sent() as sent:
        printed = packs.pack_documents(built["centre"], built["day"], ["emargement"])
    day_reads = [s for s in sent.statements
                 if re.search(r"FROM passage JOIN commission", s)]
    assert len(day_reads) == 1
    assert [p.filename.split("-", 4)[-1] for p in printed] == ["matin-B12.pdf",
                                                                "apres-midi-C04.pdf"]
    first, second, nv = built["passages"]
    assert [first.candidate.number in printed[0].html, second.candidate.number in printed[0].html,
            nv.candidate.number in printed[0].html, nv.candidate.number in printed[1].html] == [
        True, True, False, True]
    # The sheets are those attendance.sheets() finds on its own.
    with app.test_request_context():
        assert attendance.sheets(built["centre"].id, built["day"]) == [("B12", "matin"),
                                                                      ("C04", "apres-midi")]
