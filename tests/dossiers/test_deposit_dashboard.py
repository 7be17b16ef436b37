"""The deposit dashboard (issue 16 item 2): counts per establishment in SQL aggregates
(dossiers/dashboards_sql.py) that agree with the reference (every candidate's view,
dossiers/dashboards.py) in varied states; the filtered list a page at a time, its cost
following the page and not the session; bad query arguments answered in French; and
``depots.csv`` streamed a batch of candidates at a time."""

from __future__ import annotations

import csv
import io
import random
import re
from datetime import UTC, datetime, timedelta

import pytest

from exam_app.accounts.models import Role
from exam_app.dossiers import dashboards, dashboards_sql, views_academie
from exam_app.dossiers.models import Decision, DepositDeadline, Dossier, DossierFile
from exam_app.enrolment.models import RegistrationKind, UnitRegistration
from exam_app.extensions import db as _db
from exam_app.units import get_unit
from tests.conftest import set_registration, statements_of
from tests.juries.test_poll_cost import _statements

NOW = datetime(2027, 4, 1, 10, 0, tzinfo=UTC)
NAMES = ["Durand", "Émile", "Eluard", "Martin", "martin", "Zoé", "Ölçer", "Petit"]


def _file(dossier: Dossier, piece_code: str, n: int) -> None:
    _db.session.add(DossierFile(dossier_id=dossier.id, piece_code=piece_code,
                                original_name=f"{piece_code}-{n}.pdf", size=1000 + n, pages=1,
                                sha256=f"{dossier.id:032d}{n:032d}", storage_key=f"k{n}"))


def _world(rng: random.Random, session, create_establishment, create_candidate,
           candidates: int) -> None:
    """A session in a random state: establishments (two of the same name), candidates
    sitting the unit or not (bénéfice, dispense, not registered), dossiers or none, each
    piece with no file, too few, enough or one more, files of a piece the definition does
    not list, decisions, extensions before and after ``NOW``, a deadline or none."""
    same = f"Lycée {rng.randint(0, 10**6)}"
    establishments = [create_establishment(name=same), create_establishment(name=same),
                      *(create_establishment() for _ in range(rng.randint(1, 3)))]
    for unit in ("E4", "E5"):
        if rng.random() < 0.7:
            _db.session.add(DepositDeadline(session_id=session.id, unit_code=unit,
                                            deadline_at=NOW + timedelta(days=rng.choice([-3, 3]))))
    for n in range(candidates):
        candidate = create_candidate(session, establishment=rng.choice(establishments),
                                     e5_form=rng.choice(["ponctuel", "ccf"]),
                                     last_name=rng.choice(NAMES), first_name=f"P{n % 3}")
        for unit in ("E4", "E5"):
            kind = rng.choice([RegistrationKind.SIT] * 5 + [RegistrationKind.BENEFICE,
                                                            RegistrationKind.DISPENSE,
                                                            RegistrationKind.NOT_REGISTERED])
            if kind != RegistrationKind.SIT:
                set_registration(candidate, unit, kind)
            if rng.random() < 0.25:
                continue  # no dossier row
            dossier = Dossier(candidate_id=candidate.id, unit_code=unit, decision_reasons=[],
                              decision=rng.choice([None, None, Decision.COMPLIANT.value,
                                                   Decision.NON_COMPLIANT.value]),
                              extended_until=rng.choice([None, None, NOW - timedelta(days=1),
                                                         NOW + timedelta(days=1)]))
            _db.session.add(dossier)
            _db.session.flush()
            files = 0
            if rng.random() < 0.1:  # only a file of a piece the definition no longer lists
                _file(dossier, "ancienne_piece", 1)
                continue
            full = rng.random() < 0.4
            for piece in get_unit(unit).pieces:
                count = piece.min_count if full else rng.choice(
                    [0, 0, piece.min_count - 1, piece.min_count, piece.min_count + 1])
                for _ in range(max(0, min(count, piece.max_count))):
                    files += 1
                    _file(dossier, piece.code, files)
            if rng.random() < 0.15:  # a piece the definition no longer lists
                files += 1
                _file(dossier, "ancienne_piece", files)
    _db.session.flush()


def _rows(rows: list[dict]) -> list[tuple]:
    return [(r["establishment"].id, r["deposited"], r["incomplete"], r["missing"])
            for r in rows]


def _listing(found) -> tuple:
    return ([v.candidate.id for v in found.items], [v.status for v in found.items],
            found.total, found.page, found.pages)


@pytest.mark.parametrize("seed", range(5))
def test_sql_counts_and_pages_agree_with_the_reference(seed, db, create_session,
                                                       create_establishment, create_candidate):
    rng = random.Random(seed)
    sessions = [create_session(), create_session()]  # the other session must not leak in
    for session in sessions:
        _world(rng, session, create_establishment, create_candidate,
               candidates=rng.randint(8, 30))
    session = sessions[0]
    for unit in ("E4", "E5"):
        reference = dashboards.establishment_rows(session=session, unit_code=unit)
        fast = dashboards_sql.establishment_rows(session=session, unit_code=unit)
        assert _rows(fast) == _rows(reference)
        assert sum(r["deposited"] + r["incomplete"] + r["missing"] for r in fast) == len(
            dashboards.session_views(session=session, unit_code=unit))
        establishments = [None, *(r["establishment"].id for r in fast)]
        for status in (None, *dashboards.STATUS_LABELS):
            for establishment_id in establishments:
                if status is None and establishment_id is None:
                    continue  # the page lists nothing then
                for size, page in ((4, 1), (4, 2), (4, 99), (100, 1)):
                    arguments = {"session": session, "unit_code": unit, "status": status,
                                 "establishment_id": establishment_id, "page": page,
                                 "size": size}
                    expected = _listing(dashboards.deposit_list(**arguments))
                    assert _listing(dashboards_sql.deposit_list(**arguments)) == expected
                    # Counted from the dashboard's rows, as the page does: the same.
                    assert _listing(dashboards_sql.deposit_list(**arguments,
                                                                rows=fast)) == expected
                    if status:
                        assert set(expected[1]) <= {status}


def test_counts_of_a_session_without_candidates(db, create_session):
    session = create_session()
    assert dashboards_sql.establishment_rows(session=session, unit_code="E4") == []
    found = dashboards_sql.deposit_list(session=session, unit_code="E4", status="missing",
                                        establishment_id=None, page=3, size=10)
    assert _listing(found) == ([], [], 0, 1, 1)


@pytest.fixture()
def gestion(login_as, create_user):
    login_as(create_user(Role.GESTIONNAIRE))


def _complete(candidate, unit: str = "E4") -> None:
    dossier = Dossier(candidate_id=candidate.id, unit_code=unit, decision_reasons=[])
    _db.session.add(dossier)
    _db.session.flush()
    n = 0
    for piece in get_unit(unit).pieces:
        for _ in range(piece.min_count):
            n += 1
            _file(dossier, piece.code, n)
    _db.session.flush()


def _partial(candidate, unit: str = "E4") -> None:
    dossier = Dossier(candidate_id=candidate.id, unit_code=unit, decision_reasons=[])
    _db.session.add(dossier)
    _db.session.flush()
    _file(dossier, get_unit(unit).pieces[0].code, 1)
    _db.session.flush()


@pytest.fixture()
def school_session(create_session, create_establishment, create_candidate):
    """Lycée A: 8 candidates without a file (A01..A08), 2 complete, 1 incomplete, 1 not
    sitting E4 (dispensed); Lycée B: 1 complete, 1 without a file."""
    session = create_session()
    a, b = create_establishment(name="Lycée A"), create_establishment(name="Lycée B")
    missing = [create_candidate(session, establishment=a, last_name=f"A{n:02d}")
               for n in range(1, 9)]
    for n in range(2):
        _complete(create_candidate(session, establishment=a, last_name=f"C{n}"))
    _partial(create_candidate(session, establishment=a, last_name="Incomplet"))
    dispensed = create_candidate(session, establishment=a, last_name="Dispensé")
    dispensed.unit_forms.append(UnitRegistration(unit_code="E4", kind=RegistrationKind.DISPENSE))
    _complete(create_candidate(session, establishment=b, last_name="B complet"))
    create_candidate(session, establishment=b, last_name="B absent")
    _db.session.flush()
    return {"session": session, "a": a, "b": b, "missing": missing}


def _text(response) -> str:
    return response.get_data(as_text=True)


def _counts(html: str) -> list[list[str]]:
    body = re.search(r'<table class="table counts">.*?<tbody>(.*?)</tbody>', html, re.S)[1]
    return [re.findall(r'<td class="num">(?:<a [^>]*>)?(\d+)', row)
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_page_counts_and_a_paginated_list(client, gestion, school_session, monkeypatch):
    """Counts per establishment, then the list of one state and establishment a page at a
    time: following « Suivante » lists each candidate once, in order."""
    monkeypatch.setattr(views_academie, "DEPOSIT_PAGE", 3)
    world = school_session
    code, a = world["session"].code, world["a"]
    html = _text(client.get(f"/gestion/sessions/{code}/dossiers/?unite=E4"))
    # deposited / incomplete / missing, per establishment by name; the dispensed not counted.
    assert _counts(html) == [["2", "1", "8"], ["1", "0", "1"]]
    assert re.findall(r'class="kpi__value"[^>]*>(\d+)<', html) == ["3", "1", "9"]
    assert 'id="liste"' not in html  # no filter: no list
    url = f"/gestion/sessions/{code}/dossiers/?unite=E4&statut=missing&etablissement={a.id}"
    seen, pages = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        html = _text(response)
        pages += 1
        assert "Absent — Lycée A (8)" in html
        assert f"page {pages} / 3" in html
        seen += re.findall(r'<th scope="row">(A\d\d) ', html)
        if pages > 1:
            assert 'rel="prev"' in html
        following = re.search(r'rel="next" href="([^"]+)">Suivante', html)
        url = following[1].replace("&amp;", "&") if following else None
        if url:  # the filters are kept
            assert "statut=missing" in url and f"etablissement={a.id}" in url \
                and "unite=E4" in url and f"page={pages + 1}" in url
    assert pages == 3
    assert seen == [f"A{n:02d}" for n in range(1, 9)]  # each once, in order
    # A page beyond the last shows the last.
    html = _text(client.get(f"/gestion/sessions/{code}/dossiers/?unite=E4&statut=missing"
                            f"&etablissement={a.id}&page=40"))
    assert "page 3 / 3" in html and re.findall(r'<th scope="row">(A\d\d) ', html) == ["A07", "A08"]
    # One state across establishments.
    html = _text(client.get(f"/gestion/sessions/{code}/dossiers/?unite=E4&statut=deposited"))
    assert "Déposé (complet) (3)" in html and "page 1 /" not in html  # one page: no pager


def test_page_is_the_same_with_either_path(app, client, gestion, school_session, monkeypatch):
    monkeypatch.setattr(views_academie, "DEPOSIT_PAGE", 3)
    code, b = school_session["session"].code, school_session["b"]
    pages = {}
    for each in ("reference", "fast"):
        monkeypatch.setitem(app.config, "DEPOSIT_DASHBOARD_PATH", each)
        # The CSRF token (of the logout form) is signed with the time: left out.
        pages[each] = [re.sub(r'name="csrf_token"[^>]*', "", _text(
                           client.get(f"/gestion/sessions/{code}/dossiers/{query}")))
                       for query in ("", "?statut=missing&page=2", f"?etablissement={b.id}",
                                     "?unite=E5&statut=missing&page=5")]
    assert pages["fast"] == pages["reference"]
    assert "Absent (9)" in pages["fast"][1] and "page 2 / 3" in pages["fast"][1]


@pytest.mark.parametrize("query, status, message", [
    ("page=-1", 400, "Numéro de page invalide"),
    ("page=0", 400, "Numéro de page invalide"),
    ("page=abc", 400, "Numéro de page invalide"),
    ("page=1.5", 400, "Numéro de page invalide"),
    ("page=%C2%B2", 400, "Numéro de page invalide"),  # a superscript two: a digit to isdigit
    ("page=" + "9" * 5000, 400, "Numéro de page invalide"),
    ("statut=perdu", 400, "État de dépôt inconnu"),
    ("etablissement=999999", 404, "Cet établissement n&#39;a aucun candidat dans cette session"),
    ("unite=E6", 404, None),
])
def test_bad_query_arguments_are_answered_in_french(client, gestion, school_session, query,
                                                    status, message):
    response = client.get(f"/gestion/sessions/{school_session['session'].code}/dossiers/"
                          f"?{query}&statut=missing")
    assert response.status_code == status
    if message:
        assert message in _text(response)


def test_an_establishment_of_another_session_is_not_found(client, gestion, school_session,
                                                          create_session, create_candidate,
                                                          create_establishment):
    elsewhere = create_establishment(name="Lycée ailleurs")
    create_candidate(create_session(), establishment=elsewhere)
    code = school_session["session"].code
    response = client.get(f"/gestion/sessions/{code}/dossiers/?etablissement={elsewhere.id}")
    assert response.status_code == 404
    assert "Lycée ailleurs" not in _text(response)
    # Its own establishments are listed.
    ok = client.get(f"/gestion/sessions/{code}/dossiers/?etablissement={school_session['b'].id}")
    assert ok.status_code == 200 and "Tous les dossiers — Lycée B (2)" in _text(ok)


def test_page_cost_does_not_grow_with_the_candidates_outside_the_page(
        app, client, gestion, school_session, create_candidate, create_establishment,
        monkeypatch):
    """The same statements for the page with 12 more candidates in its state (beyond the
    page) and 12 in another establishment; views are built for the page's candidates only
    (the SQL path, whatever DEPOSIT_DASHBOARD_PATH says: the reference builds them all)."""
    monkeypatch.setitem(app.config, "DEPOSIT_DASHBOARD_PATH", "fast")
    monkeypatch.setattr(views_academie, "DEPOSIT_PAGE", 3)
    built: list[int | None] = []
    real = dashboards_sql.session_views

    def counting(**kwargs):
        built.append(None if kwargs.get("candidate_ids") is None
                     else len(kwargs["candidate_ids"]))
        return real(**kwargs)

    monkeypatch.setattr(dashboards_sql, "session_views", counting)
    session, a = school_session["session"], school_session["a"]
    other = create_establishment(name="Lycée C")
    counts = []
    for extra in (0, 12):
        for n in range(extra):
            create_candidate(session, establishment=a, last_name=f"Z{n:02d}")  # missing
            _complete(create_candidate(session, establishment=other, last_name=f"Y{n:02d}"))
        built.clear()
        status, sent = _statements(
            client, f"/gestion/sessions/{session.code}/dossiers/?statut=missing&page=2")
        assert status == 200
        counts.append(len(sent))
        assert built == [3]
    assert counts[0] == counts[1]


def _csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def test_csv_is_computed_a_batch_at_a_time_with_the_same_content(
        db, create_session, create_establishment, create_candidate, monkeypatch):
    session = create_session()
    _world(random.Random(7), session, create_establishment, create_candidate, candidates=25)
    asked: list[int | None] = []
    real = dashboards.session_views

    def counting(**kwargs):
        asked.append(None if kwargs.get("candidate_ids") is None
                     else len(kwargs["candidate_ids"]))
        return real(**kwargs)

    for unit in ("E4", "E5"):
        whole = dashboards.deposits_csv(dashboards.session_views(session=session,
                                                                 unit_code=unit), unit)
        asked.clear()
        monkeypatch.setattr(dashboards, "session_views", counting)
        monkeypatch.setattr(dashboards, "CSV_FIRST_BATCH", 3)
        monkeypatch.setattr(dashboards, "CSV_BATCH", 4)
        streamed = list(dashboards.stream_deposits_csv(session=session, unit_code=unit))
        monkeypatch.undo()
        assert b"".join(streamed) == whole
        sitting = len(_csv_rows(whole)) - 1
        assert asked == [3] + [4] * ((sitting - 3) // 4) + ([(sitting - 3) % 4]
                                                             if (sitting - 3) % 4 else [])
        assert len(streamed) > 2


def test_csv_download_is_streamed_and_its_first_piece_costs_the_same(
        app, client, gestion, school_session, create_candidate, monkeypatch):
    """The CSV's first piece is the header and the first CSV_FIRST_BATCH candidates, sent
    after the same statements with 10 more candidates: nothing of the rest is read first."""
    monkeypatch.setattr(dashboards, "CSV_FIRST_BATCH", 2)
    monkeypatch.setattr(dashboards, "CSV_BATCH", 3)
    session = school_session["session"]
    url = f"/gestion/sessions/{session.code}/dossiers/depots.csv?unite=E4"
    built: list[int] = []
    real = dashboards.session_views
    monkeypatch.setattr(dashboards, "session_views",
                        lambda **kw: built.append(len(kw["candidate_ids"])) or real(**kw))

    def first_piece():
        response = client.get(url, buffered=False)
        assert response.status_code == 200
        assert response.is_streamed and "Content-Length" not in response.headers
        assert response.headers["Content-Disposition"] == (
            f"attachment; filename=depots-{session.code}-E4.csv")
        pieces = iter(response.response)
        return response, pieces, next(pieces)

    counts, firsts = [], []
    for extra in (0, 10):
        for n in range(extra):
            create_candidate(session, establishment=school_session["b"], last_name=f"E{n}")
        _db.session.commit()
        built.clear()
        (response, pieces, first), statements = statements_of(app, first_piece)
        assert built == [2]  # only the first batch's views, so far
        counts.append(len(statements))
        firsts.append(_csv_rows(first))
        whole = first + b"".join(pieces)
        response.close()
        sitting = 13 + extra  # school_session's 14 candidates but the dispensed one
        assert len(_csv_rows(whole)) == 1 + sitting
        assert sum(built) == sitting and max(built) <= 3
    assert counts[0] == counts[1]
    assert [len(rows) for rows in firsts] == [1 + 2, 1 + 2]  # the header and 2 candidates
    assert firsts[0][0] == list(dashboards.CSV_HEADER)
