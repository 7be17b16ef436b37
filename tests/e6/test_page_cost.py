"""The E6 harmonisation page reads every lot's copies in one light query, and the
correspondence table shows a page at a time with a search (issue 16 item 2: 3.6 s and
2.4 s at 5,000 candidates)."""

from __future__ import annotations

import re
from decimal import Decimal

from exam_app.e6 import views_manage
from exam_app.e6.models import E6Copy
from exam_app.extensions import db as _db
from tests.e6.builders import seat
from tests.e6.conftest import mark_lot
from tests.juries.test_poll_cost import _statements


def _more_copies(e6_world, create_candidate, count: int) -> None:
    """``count`` more marked copies in the first lot (a larger session)."""
    lot = e6_world["lots"][0]
    for _ in range(count):
        candidate = create_candidate(e6_world["session"], centre=e6_world["centre"],
                                     establishment=e6_world["schools"][1])
        copy = seat(candidate, e6_world["room"])
        copy.lot_id, copy.raw_total, copy.mark = lot.id, Decimal(11), Decimal(11)
    _db.session.flush()


def test_harmonisation_statements_fixed_whatever_the_number_of_copies(
        client, login_as, e6_world, create_candidate):
    first, second = e6_world["lots"]
    mark_lot(first, e6_world["questions"], ("3", "4", "4"), e6_world["markers"][0])  # 11
    mark_lot(second, e6_world["questions"], ("5", "6,5", "3"), e6_world["markers"][1])  # 14,5
    login_as(e6_world["gestionnaire"])
    url = f"/gestion/sessions/{e6_world['session'].code}/e6/harmonisation"
    counts, pages = [], []
    for extra in (0, 20):
        _more_copies(e6_world, create_candidate, extra)
        status, sent = _statements(client, url)
        counts.append((status, len(sent)))
        pages.append(client.get(url).get_data(as_text=True))
    assert counts[0] == counts[1]
    assert counts[0][0] == 200
    sizes = [_db.session.query(E6Copy).filter_by(lot_id=lot.id).count() for lot in (first, second)]
    # Each lot's table lists its copies with their marks.
    for html, first_size in zip(pages, (sizes[0] - 20, sizes[0]), strict=True):
        assert re.findall(r"Notes du lot \((\d+) copies\)", html) == [str(first_size),
                                                                      str(sizes[1])]
    # The plot stacks equal marks six high at most: 3 then 6 dots (3 or 23 copies of 11)
    # for the first lot, 3 for the second (14,5), 6 + 3 for all copies.
    dots = [len(re.findall(r"<circle", html)) for html in pages]
    assert dots == [3 + 3 + 6, 6 + 3 + 9]


def test_correspondence_pages_and_search(client, login_as, e6_world, monkeypatch):
    monkeypatch.setattr(views_manage, "CORRESPONDENCE_PAGE", 2)
    login_as(e6_world["gestionnaire"])
    url = f"/gestion/sessions/{e6_world['session'].code}/e6/correspondance"
    numbers = sorted(c.anonymous_number for c in _db.session.query(E6Copy).filter_by(
        session_id=e6_world["session"].id))
    assert len(numbers) == 6

    def listed(html):
        return re.findall(r"<tr><td><code>([^<]+)</code>", html)

    pages = [client.get(f"{url}?page={n}").get_data(as_text=True) for n in (1, 2, 3)]
    assert [listed(html) for html in pages] == [numbers[0:2], numbers[2:4], numbers[4:6]]
    assert ["Page suivante" in html for html in pages] == [True, True, False]
    assert "6 copie(s) · page 1 / 3" in pages[0]
    found = client.get(f"{url}?q=zarath").get_data(as_text=True)
    assert "ZARATHOUSTRA" in found and "QUENTINOVSKI" not in found
    assert "1 copie(s)" in found
    # The statements of a page do not depend on how many copies there are.
    _, few = _statements(client, f"{url}?page=1")
    monkeypatch.setattr(views_manage, "CORRESPONDENCE_PAGE", 6)
    _, all_rows = _statements(client, f"{url}?page=1")
    assert len(few) == len(all_rows)
