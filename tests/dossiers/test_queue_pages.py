"""The conformity queue lists a page of dossiers at a time (issue 16 item 2: it listed
every candidate of the session, ~1 MB at 5,000): its statements do not grow with the
session, its pages follow one another by name, a decision does not shift them, and the
keyboard flow goes on to the next page."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from exam_app.accounts.models import Role
from exam_app.dossiers import views_academie
from exam_app.dossiers.models import Decision, Dossier
from exam_app.extensions import db as _db
from tests.juries.test_poll_cost import _statements


@pytest.fixture()
def queue_session(create_session, create_candidate):
    def build(size: int, decided: tuple[int, ...] = ()) -> tuple:
        session = create_session()
        candidates = [create_candidate(session, last_name=f"NOM{n:03d}") for n in range(size)]
        for n in decided:
            _db.session.add(Dossier(candidate_id=candidates[n].id, unit_code="E4",
                                    created_at=datetime(2027, 1, 1, tzinfo=UTC),
                                    decision=Decision.COMPLIANT.value, decision_reasons=[],
                                    decided_at=datetime(2027, 1, 2, tzinfo=UTC)))
        _db.session.flush()
        return session, candidates
    return build


def _listed(html: str) -> list[str]:
    return re.findall(r"(NOM\d{3}) Prénom", html)


def _next(html: str) -> str | None:
    found = re.search(r'<a data-queue-next href="([^"]+)"', html)
    return found[1].replace("&amp;", "&") if found else None


def test_queue_statements_fixed_whatever_the_session_size(client, login_as, create_user,
                                                          queue_session, monkeypatch):
    monkeypatch.setattr(views_academie, "QUEUE_PAGE", 3)
    login_as(create_user(Role.GESTIONNAIRE))
    counts = {}
    for size in (5, 40):
        session, _ = queue_session(size)
        status, sent = _statements(client, f"/gestion/sessions/{session.code}/conformite/E4")
        counts[size] = (status, len(sent))
    assert counts[5] == counts[40]
    assert counts[5][0] == 200


def test_queue_pages_follow_by_name_and_a_decision_does_not_shift_them(
        client, login_as, create_user, queue_session, monkeypatch):
    monkeypatch.setattr(views_academie, "QUEUE_PAGE", 3)
    login_as(create_user(Role.GESTIONNAIRE))
    session, candidates = queue_session(8, decided=(1,))
    first = client.get(f"/gestion/sessions/{session.code}/conformite/E4").get_data(as_text=True)
    assert _listed(first) == ["NOM000", "NOM002", "NOM003"]
    assert "1 / 8 décidés" in first
    assert "Retour au début" not in first
    # Deciding the page's dossiers meanwhile does not skip the next ones.
    for n in (0, 2, 3):
        _db.session.add(Dossier(candidate_id=candidates[n].id, unit_code="E4",
                                created_at=datetime(2027, 1, 1, tzinfo=UTC),
                                decision=Decision.COMPLIANT.value, decision_reasons=[],
                                decided_at=datetime(2027, 1, 2, tzinfo=UTC)))
    _db.session.commit()
    second = client.get(_next(first)).get_data(as_text=True)
    assert _listed(second) == ["NOM004", "NOM005", "NOM006"]
    assert "4 / 8 décidés" in second
    assert "Retour au début de la liste" in second
    third = client.get(_next(second)).get_data(as_text=True)
    assert (_listed(third), _next(third)) == (["NOM007"], None)
    # With the decided ones too (« tous »), in name order, the same page size.
    everyone = client.get(f"/gestion/sessions/{session.code}/conformite/E4?tous=1").get_data(
        as_text=True)
    assert _listed(everyone) == ["NOM000", "NOM001", "NOM002"]
    assert "tous=1" in _next(everyone)


def test_a_small_queue_lists_everyone_without_pages(client, login_as, create_user,
                                                    queue_session):
    login_as(create_user(Role.GESTIONNAIRE))
    session, _ = queue_session(4, decided=(2,))
    html = client.get(f"/gestion/sessions/{session.code}/conformite/E4").get_data(as_text=True)
    assert (_listed(html), _next(html), "queue__pages" in html) == (
        ["NOM000", "NOM001", "NOM003"], None, False)
    assert "1 / 4 décidés" in html


def test_queue_pages_list_every_candidate_once_with_accents_and_case(
        client, login_as, create_user, create_session, create_candidate, monkeypatch):
    # By raw bytes (SQLite, PostgreSQL's C collation) Zoe < zoé < Élodie < école; by name
    # without accents nor case école < Élodie < zoé/Zoe: pages keyed by the one but listed
    # and continued (``apres``: the last listed) by the other repeated zoé.
    monkeypatch.setattr(views_academie, "QUEUE_PAGE", 3)
    login_as(create_user(Role.GESTIONNAIRE))
    session = create_session()
    for name in ("zoé", "Élodie", "Abel", "école", "Zoe"):
        create_candidate(session, last_name=name, first_name="Ann")
    _db.session.commit()
    url, listed = f"/gestion/sessions/{session.code}/conformite/E4", []
    while url:
        html = client.get(url).get_data(as_text=True)
        listed += re.findall(r"(\S+) Ann<br>", html)
        url = _next(html)
        assert len(listed) < 10
    assert listed == ["Abel", "école", "Élodie", "zoé", "Zoe"]


def test_a_candidate_no_longer_sitting_between_the_two_reads_is_left_out_not_a_500(
        client, login_as, create_user, queue_session, monkeypatch):
    """The page's ids are read, then their views: a registration changed in between (an
    import making a candidate exempt) drops that candidate from the views. The page lists
    the others; the next page still starts after the keyset's last."""
    from exam_app.dossiers import dashboards

    monkeypatch.setattr(views_academie, "QUEUE_PAGE", 3)
    login_as(create_user(Role.GESTIONNAIRE))
    session, candidates = queue_session(5)
    gone = candidates[1].id
    views_of = dashboards.session_views

    def without_one(**kwargs):
        return [v for v in views_of(**kwargs) if v.candidate.id != gone]

    monkeypatch.setattr(dashboards, "session_views", without_one)
    response = client.get(f"/gestion/sessions/{session.code}/conformite/E4")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert _listed(html) == ["NOM000", "NOM002"]
    assert f"apres={candidates[2].id}" in _next(html)


@pytest.mark.parametrize("after", ["9" * 30, "abc"])
def test_a_bad_or_huge_anchor_starts_the_queue_over_not_a_500(client, login_as, create_user,
                                                             queue_session, monkeypatch, after):
    monkeypatch.setattr(views_academie, "QUEUE_PAGE", 3)
    login_as(create_user(Role.GESTIONNAIRE))
    session, _ = queue_session(5)
    response = client.get(f"/gestion/sessions/{session.code}/conformite/E4?apres={after}")
    assert response.status_code == 200
    assert _listed(response.get_data(as_text=True)) == ["NOM000", "NOM001", "NOM002"]
