"""What one state poll and the juror's home cost in SQL statements, counted on the
engine: a fixed number, the same in a session of a few candidates and in one of
many (issue 16: the poll ran the session-wide dossier check)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.clock import utcnow
from exam_app.dossiers import deadlines
from exam_app.extensions import db as _db
from exam_app.juries import lifecycle, state_lean
from tests.juries.helpers import decide_conforme

POLL_BOUND = 5  # statements of one state poll, at most, whatever the session's size


def _statements(client, url: str) -> tuple[int, list[str]]:
    """The status of GET ``url`` and the SQL statements it sent."""
    _db.session.commit()  # the test's pending rows are written before counting
    sent: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    sa.event.listen(_db.engine, "before_cursor_execute", count)
    try:
        response = client.get(url)
    finally:
        sa.event.remove(_db.engine, "before_cursor_execute", count)
    return response.status_code, sent


@pytest.fixture()
def jury_session(create_session, create_centre, create_commission, create_candidate,
                 create_passage):
    """A session with an E5 commission of three passages today (one in its preparation,
    one waiting, one NV: no decision, deadline passed, nothing deposited), and ``size``
    more candidates, half of them planned in another commission with their dossier
    decided conforme."""

    def build(size: int) -> dict:
        now = utcnow()
        session = create_session()
        centre = create_centre(session)
        deadlines.set_deadline(session=session, unit_code="E5", deadline_at=now - timedelta(days=1),
                               actor=None, now=now - timedelta(days=2))
        commission = create_commission(session, unit_code="E5", centre=centre)
        juror = commission.members[0].user
        polled, preparing = (create_passage(unit_code="E5", commission=commission)
                             for _ in range(2))
        nv = create_passage(unit_code="E5", commission=commission, conforme=False)
        for passage in (polled, preparing, nv):
            passage.scheduled_at = now
        for passage in (polled, preparing):
            lifecycle.start_passage(passage=passage, actor=juror, now=now)
        other = create_commission(session, unit_code="E5", centre=centre)
        for n in range(size):
            if n % 2:
                create_candidate(session)
            else:
                decide_conforme(create_passage(unit_code="E5", commission=other))
        return {"juror": juror, "polled": polled, "preparing": preparing, "nv": nv}

    return build


def test_state_poll_statements_fixed_whatever_the_session_size(client, login_as,
                                                               jury_session):
    counts = {}
    for size in (2, 24):
        built = jury_session(size)
        login_as(built["juror"])
        for name in ("polled", "nv"):
            status, sent = _statements(client, f"/jury/passages/{built[name].id}/etat")
            counts[(size, name)] = (status, len(sent))
    # Each, on the reference path: the passage (the login, scope check, dossier columns,
    # commission, members, timer, validations: the user is not loaded alone); the grids
    # with their fields; the commission's other passages in preparation with their
    # timers; for the NV one, the deposited pieces. The lean path (``state_lean``) reads
    # the first three in one statement.
    polled = 1 if state_lean.enabled(client.application.config) else 3
    assert counts == {(2, "polled"): (200, polled), (2, "nv"): (200, polled + 1),
                      (24, "polled"): (200, polled), (24, "nv"): (200, polled + 1)}
    assert max(n for _, n in counts.values()) <= POLL_BOUND


def test_state_poll_answers_as_before(client, login_as, jury_session):
    """The poll's JSON: NV from this candidate's dossier alone, the other passage's
    preparation listed, both jurors named."""
    built = jury_session(4)
    login_as(built["juror"])
    polled = client.get(f"/jury/passages/{built['polled'].id}/etat").get_json()
    nv = client.get(f"/jury/passages/{built['nv'].id}/etat").get_json()
    members = built["polled"].commission.members
    assert ((polled["passage"]["nv"], polled["passage"]["status"], polled["timer"]["status"],
             [(p["id"], p["kind"]) for p in polled["preparations"]],
             [m["id"] for m in polled["members"]], polled["me"]),
            (nv["passage"]["nv"], nv["passage"]["status"], nv["passage"]["blocked"])) == (
        (False, "running", "running", [(built["preparing"].id, "fixed")],
         [m.user_id for m in members], built["juror"].id),
        (True, "nv", True))


def test_state_poll_of_another_commission_refused(client, login_as, jury_session,
                                                  create_user):
    built = jury_session(2)
    login_as(create_user(Role.EXAMINATEUR))
    assert [client.get(f"/jury/passages/{built['polled'].id}/etat").status_code,
            client.get("/jury/passages/999999/etat").status_code] == [403, 404]


def test_juror_home_statements_fixed_whatever_the_session_size(client, login_as,
                                                               jury_session):
    counts, pages = {}, {}
    for size in (2, 24):
        built = jury_session(size)
        login_as(built["juror"])
        status, sent = _statements(client, "/jury/")
        counts[size] = (status, len(sent))
        pages[size] = client.get("/jury/").get_data(as_text=True)
    assert counts[2] == counts[24]
    assert counts[2][0] == 200
    # The NV passage reads NV on the home page, the conforme ones do not.
    assert [pages[24].count('state--nv">NV<'), pages[24].count('state--running')] == [1, 2]
