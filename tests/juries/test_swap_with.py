"""« Échanger avec… »: one passage's swap partners of a day in every commission, a page at
a time (the planning page's rows offer only the commission's own passages, issue 16
item 2); its buttons post to the unchanged swap action."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from exam_app.accounts.models import Role
from exam_app.clock import to_local, utcnow
from exam_app.extensions import db as _db
from exam_app.juries import lifecycle, planning
from tests.conftest import csrf_token_from


@pytest.fixture()
def day(create_session, create_centre, create_commission, create_passage, create_user):
    """Commission A's passage at 9:00 today; commission B's three at 10:00, 10:30 and
    11:00 today, one tomorrow, one started; and an E4 passage today in commission C."""
    session = create_session()
    centre = create_centre(session)
    nine = to_local(utcnow()).replace(hour=9, minute=0, second=0, microsecond=0)
    a, b = (create_commission(session, unit_code="E5", centre=centre) for _ in range(2))
    mine = create_passage(unit_code="E5", commission=a, last_name="ARNAUD")
    mine.scheduled_at = nine
    partners = []
    for n, name in enumerate(("BERNARD", "Émery", "DURAND")):
        partner = create_passage(unit_code="E5", commission=b, last_name=name)
        partner.scheduled_at = nine + timedelta(minutes=60 + 30 * n)
        partners.append(partner)
    tomorrow = create_passage(unit_code="E5", commission=b, last_name="LENDEMAIN")
    tomorrow.scheduled_at = nine + timedelta(days=1)
    started = create_passage(unit_code="E5", commission=b, last_name="COMMENCE")
    started.scheduled_at = nine + timedelta(hours=3)
    other_unit = create_passage(unit_code="E4", last_name="QUATRE")
    other_unit.scheduled_at = nine
    _db.session.flush()
    lifecycle.start_passage(passage=started, actor=started.commission.members[0].user,
                            now=utcnow())
    _db.session.commit()
    return {"mine": mine, "partners": partners, "b": b, "nine": nine}


def _names(html: str) -> list[str]:
    return re.findall(r'<th scope="row">(\S+) Prénom', html)


def test_swap_with_lists_the_day_in_every_commission_and_searches(client, login_as,
                                                                  create_user, day):
    login_as(create_user(Role.GESTIONNAIRE))
    url = f"/gestion/passages/{day['mine'].id}/echanger-avec"
    html = client.get(url).get_data(as_text=True)
    assert _names(html) == ["BERNARD", "Émery", "DURAND"]
    assert html.count(f'action="/gestion/passages/{day["mine"].id}/echanger"') == 3
    assert _names(client.get(url + "?q=emery").get_data(as_text=True)) == ["Émery"]
    assert _names(client.get(f"{url}?q={day['b'].code.lower()}").get_data(as_text=True)) == [
        "BERNARD", "Émery", "DURAND"]
    tomorrow = (day["nine"] + timedelta(days=1)).date().isoformat()
    assert _names(client.get(f"{url}?jour={tomorrow}").get_data(as_text=True)) == ["LENDEMAIN"]


def test_swap_with_pages_and_its_button_swaps(client, login_as, create_user, day,
                                              monkeypatch):
    monkeypatch.setattr(planning, "SWAP_PAGE", 2)
    login_as(create_user(Role.GESTIONNAIRE))
    mine, partners = day["mine"], day["partners"]
    planning_url = f"/gestion/commissions/{mine.commission_id}/planning"
    url = f"/gestion/passages/{mine.id}/echanger-avec"
    first = client.get(url).get_data(as_text=True)
    assert (_names(first), "Page 1 sur 2" in first) == (["BERNARD", "Émery"], True)
    second = client.get(url + "?page=2").get_data(as_text=True)
    assert _names(second) == ["DURAND"]
    response = client.post(f"/gestion/passages/{mine.id}/echanger",
                           data={"csrf_token": csrf_token_from(second),
                                 "other": partners[2].id})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(planning_url)
    _db.session.expire_all()
    assert (mine.commission_id, mine.scheduled_at, partners[2].scheduled_at) == (
        day["b"].id, day["nine"] + timedelta(minutes=120), day["nine"])
