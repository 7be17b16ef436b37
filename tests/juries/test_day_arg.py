"""The ``jour`` argument of the jury pages (``blueprint.day_arg``): a malformed or far-off
date is a French 400, not today silently nor a 500 (9999-12-31's next day, or 0001-01-01
moved to UTC, overflow Python's dates); and the passage and commission pages of the
exam office take their session's time zone, so « Échanger avec… » lists the passage's
own day there."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from exam_app.accounts.models import Role
from exam_app.extensions import db as _db

BAD_DAYS = ["9999-12-31", "0001-01-01", "abc", "2027-13-01", "2027-02-30", "2027-1-5",
            "2027-05-12T10:00", "20270512"]


@pytest.fixture()
def passage(create_passage):
    passage = create_passage(unit_code="E5")
    passage.scheduled_at = datetime(2027, 5, 12, 8, 0, tzinfo=ZoneInfo("UTC"))
    _db.session.commit()
    return passage


@pytest.mark.parametrize("bad", BAD_DAYS)
def test_a_bad_day_is_a_french_400_on_every_page_that_takes_one(client, login_as, create_user,
                                                                passage, bad):
    login_as(create_user(Role.GESTIONNAIRE))
    code = passage.commission.session.code
    for url in (f"/gestion/sessions/{code}/suivi", f"/gestion/passages/{passage.id}/echanger-avec"):
        response = client.get(url, query_string={"jour": bad})
        assert response.status_code == 400, (url, bad, response.status_code)
        assert "Date invalide" in response.get_data(as_text=True), url
    response = client.get(f"/gestion/sessions/{code}/suivi/attendre", query_string={"jour": bad},
                          headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid"
    assert "Date invalide" in response.get_json()["message"]


def test_a_bad_day_on_the_jurors_home_is_a_400_too(client, login_as, passage):
    login_as(passage.commission.members[0].user)
    response = client.get("/jury/", query_string={"jour": "9999-12-31"})
    assert response.status_code == 400
    assert "Date invalide" in response.get_data(as_text=True)
    assert client.get("/jury/", query_string={"jour": "2027-05-12"}).status_code == 200


def test_good_days_are_taken_as_given(client, login_as, create_user, passage):
    login_as(create_user(Role.GESTIONNAIRE))
    code = passage.commission.session.code
    for day in ("2027-05-12", "1900-01-01", "2999-12-31"):
        assert client.get(f"/gestion/sessions/{code}/suivi",
                          query_string={"jour": day}).status_code == 200
        assert client.get(f"/gestion/passages/{passage.id}/echanger-avec",
                          query_string={"jour": day}).status_code == 200


def test_swap_partners_are_those_of_the_passages_day_in_its_sessions_time_zone(
        client, login_as, create_user, create_session, create_centre, create_commission,
        create_passage):
    """Cayenne is UTC-3: a passage at 20:00 there is at 01:00 the next day in Paris. Read
    in the latest session's zone (Paris), its day would leave out the 10:00 partner."""
    cayenne = ZoneInfo("America/Cayenne")
    session = create_session(timezone="America/Cayenne")
    centre = create_centre(session)
    a, b = (create_commission(session, unit_code="E5", centre=centre) for _ in range(2))
    mine = create_passage(unit_code="E5", commission=a, last_name="SOIR")
    mine.scheduled_at = datetime(2027, 5, 12, 20, 0, tzinfo=cayenne)
    partner = create_passage(unit_code="E5", commission=b, last_name="MATIN")
    partner.scheduled_at = datetime(2027, 5, 12, 10, 0, tzinfo=cayenne)
    create_session(timezone="Europe/Paris")  # the latest session: the default zone
    _db.session.commit()
    login_as(create_user(Role.GESTIONNAIRE))
    html = client.get(f"/gestion/passages/{mine.id}/echanger-avec").get_data(as_text=True)
    assert "MATIN" in html
    assert re.search(r"le 12/05/2027", html)
    assert "10:00" in html  # its time in Cayenne, not Paris's 15:00
    assert mine.scheduled_at - partner.scheduled_at == timedelta(hours=10)
