"""The gestionnaire's dashboard counts and the candidates list: search, filters, paging."""

from __future__ import annotations

import html
import re
from datetime import date

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.clock import utcnow
from exam_app.enrolment.models import Candidate, CandidateUnitForm, Establishment, search_key
from exam_app.enrolment.services import CandidateFilters, candidate_query, dashboard_counts, paginate


@pytest.fixture()
def gestionnaire(create_user, login_as):
    user = create_user(Role.GESTIONNAIRE)
    login_as(user)
    return user


@pytest.fixture()
def small_world(create_session, create_centre, create_establishment, create_candidate):
    """Two centres, three establishments, seven candidates, and another session's candidate."""
    session = create_session(code="SAM2027")
    lyon = create_centre(session, code="LYO01", name="Centre de Lyon")
    stetienne = create_centre(session, code="STE01", name="Centre de Saint-Étienne")
    herriot = create_establishment(uai="0690026D", name="Lycée Édouard-Herriot")
    weil = create_establishment(uai="0421788R", name="Lycée Simone-Weil")
    greta = create_establishment(uai="0690713Z", name="GRETA Lyon Métropole")
    people = {}
    for number, last, first, establishment, centre, form in [
        ("02700000001", "LEFÈVRE", "Chloé", herriot, lyon, "ccf"),
        ("02700000002", "DUPRÉ", "Élodie", herriot, lyon, "ponctuel"),
        ("02700000003", "N'DIAYE", "Maëlys", weil, stetienne, "ccf"),
        ("02700000004", "MARTIN", "Noé", weil, stetienne, "ccf"),
        ("02700000005", "MARTINEZ", "Léa", greta, lyon, "ponctuel"),
        ("02700000006", "ROUX", "Inès", greta, None, "ponctuel"),
        ("02700000007", "GUÉRIN", "Anaïs", herriot, None, "ccf"),
    ]:
        people[last] = create_candidate(session, number=number, last_name=last, first_name=first,
                                        establishment=establishment, centre=centre, e5_form=form)
    other = create_session(code="AUTRE")
    create_candidate(other, number="02700000001", last_name="LEFÈVRE", first_name="Autre",
                     establishment=herriot)
    return {"session": session, "lyon": lyon, "stetienne": stetienne, "herriot": herriot,
            "weil": weil, "greta": greta, "people": people}


def _names(query) -> list[str]:
    from exam_app.extensions import db

    return [c.last_name for c in db.session.scalars(query).unique()]


def _list_url(world, **args) -> str:
    query = "&".join(f"{k}={v}" for k, v in args.items())
    return f"/gestion/sessions/{world['session'].code}/candidats" + (f"?{query}" if query else "")


def _rows(response) -> list[str]:
    """Candidate numbers listed on the page, in order."""
    return re.findall(r"<td><code>([^<]+)</code></td>", response.get_data(as_text=True))


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


# ---- dashboard ------------------------------------------------------------------------


def test_dashboard_counts_are_exact(db, small_world):
    counts = dashboard_counts(small_world["session"])
    assert (counts["total"], counts["ponctuel"], counts["ccf"], counts["without_centre"]) == (
        7, 3, 4, 2)
    assert [(c.code, n, p, f) for c, n, p, f in counts["by_centre"]] == [
        ("LYO01", 3, 2, 1), ("STE01", 2, 0, 2)]
    # French alphabetical order, accents ignored (GRETA, Édouard-Herriot, Simone-Weil).
    assert [(e.uai, n, p, f) for e, n, p, f in counts["by_establishment"]] == [
        ("0690713Z", 2, 2, 0), ("0690026D", 3, 1, 2), ("0421788R", 2, 0, 2)]


def test_dashboard_counts_of_an_empty_session(db, create_session, create_centre):
    session = create_session()
    create_centre(session, code="LYO01")
    counts = dashboard_counts(session)
    assert (counts["total"], counts["ponctuel"], counts["ccf"], counts["without_centre"]) == (
        0, 0, 0, 0)
    assert [(c.code, n, p, f) for c, n, p, f in counts["by_centre"]] == [("LYO01", 0, 0, 0)]
    assert counts["by_establishment"] == []


def test_dashboard_page_shows_the_counts(client, small_world, gestionnaire):
    response = client.get("/gestion/sessions/SAM2027/")
    assert response.status_code == 200
    page = _text(response)
    kpis = re.findall(r'<span class="kpi__value">([^<]+)</span><span class="kpi__label">([^<]+)<',
                      page)
    assert kpis == [("7", "candidats"), ("3", "E5 ponctuel"), ("4", "E5 en CCF"),
                    ("2", "centres d'examen")]
    # The readiness board says it (with where to fix it) rather than a lone notice.
    assert re.search(r'data-blocker="without_centre">\s*<span class="readiness__count">2</span>'
                     r'\s*<div>\s*<p class="readiness__label"><strong>candidats sans centre '
                     r"d'examen</strong>", page)
    # Once: the board's line names them; no older « Bloquant » panel repeats the count.
    assert page.count("sans centre d'examen") == 1
    assert "Bloquant" not in page


def test_dashboard_redirects_to_the_latest_session(client, small_world, gestionnaire):
    response = client.get("/gestion/")
    assert response.status_code == 302
    assert response.headers["Location"] in {"/gestion/sessions/SAM2027/", "/gestion/sessions/AUTRE/"}
    listing = client.get("/gestion/?toutes=1")
    assert listing.status_code == 200
    assert "SAM2027" in listing.get_data(as_text=True)


# ---- search -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("lefevre", ["LEFÈVRE"]),
        ("LEFÈVRE", ["LEFÈVRE"]),
        ("chloe", ["LEFÈVRE"]),
        ("Élodie", ["DUPRÉ"]),
        ("elodie dupre", ["DUPRÉ"]),
        ("  dupré   ÉLODIE ", ["DUPRÉ"]),
        ("maelys", ["N'DIAYE"]),
        ("n'diaye", ["N'DIAYE"]),
        ("martin", ["MARTIN", "MARTINEZ"]),
        ("02700000004", ["MARTIN"]),
        ("0270000000", ["DUPRÉ", "GUÉRIN", "LEFÈVRE", "MARTIN", "MARTINEZ", "N'DIAYE", "ROUX"]),
        ("personne", []),
        ("%", []),
        ("_", []),
        ("", ["DUPRÉ", "GUÉRIN", "LEFÈVRE", "MARTIN", "MARTINEZ", "N'DIAYE", "ROUX"]),
    ],
)
def test_search_ignores_accents_and_case_and_finds_numbers(db, small_world, q, expected):
    assert _names(candidate_query(small_world["session"], CandidateFilters(q=q))) == expected


def test_search_key_strips_accents_and_upper_cases():
    assert search_key("Lefèvre", "Chloé", None, "0271") == "LEFEVRE CHLOE 0271"
    assert search_key("Maëlys Anaïs Œdipe") == "MAELYS ANAIS ŒDIPE"


def test_search_text_follows_renames(db, small_world):
    candidate = small_world["people"]["ROUX"]
    candidate.last_name = "Rousseau-Lemaître"
    candidate.refresh_search_text()
    db.session.flush()
    assert _names(candidate_query(small_world["session"], CandidateFilters(q="lemaitre"))) == [
        "Rousseau-Lemaître"]


def test_candidates_page_searches(client, small_world, gestionnaire):
    response = client.get(_list_url(small_world, q="lefevre"))
    assert response.status_code == 200
    assert _rows(response) == ["02700000001"]
    assert "1 candidat</p>" in _text(response)
    assert 'value="lefevre"' in response.get_data(as_text=True)


def test_candidates_page_with_no_match_says_so(client, small_world, gestionnaire):
    response = client.get(_list_url(small_world, q="zzz"))
    assert _rows(response) == []
    assert "Aucun candidat ne correspond à ces critères." in _text(response)


# ---- filters ----------------------------------------------------------------------------


def test_filters_by_establishment_centre_and_form(db, small_world):
    session = small_world["session"]

    def names(**filters):
        return _names(candidate_query(session, CandidateFilters(**filters)))

    assert names(establishment_id=small_world["herriot"].id) == ["DUPRÉ", "GUÉRIN", "LEFÈVRE"]
    assert names(centre_id=small_world["lyon"].id) == ["DUPRÉ", "LEFÈVRE", "MARTINEZ"]
    assert names(form="ccf") == ["GUÉRIN", "LEFÈVRE", "MARTIN", "N'DIAYE"]
    assert names(form="ponctuel") == ["DUPRÉ", "MARTINEZ", "ROUX"]
    assert names(form="oral") == names()  # an unknown form is no filter
    assert names(establishment_id=small_world["herriot"].id, form="ccf") == ["GUÉRIN", "LEFÈVRE"]
    assert names(centre_id=small_world["stetienne"].id, q="noe") == ["MARTIN"]
    assert names(centre_id=small_world["stetienne"].id, establishment_id=small_world["greta"].id) \
        == []


def test_candidates_page_filters(client, small_world, gestionnaire):
    url = _list_url(small_world, etablissement=small_world["weil"].id, forme="ccf")
    assert _rows(client.get(url)) == ["02700000004", "02700000003"]
    url = _list_url(small_world, centre=small_world["lyon"].id, forme="ponctuel")
    assert _rows(client.get(url)) == ["02700000002", "02700000005"]


def test_candidates_page_ignores_malformed_filters(client, small_world, gestionnaire):
    response = client.get(_list_url(small_world, etablissement="abc", centre="-1", forme="x",
                                    page="deux"))
    assert response.status_code == 200
    assert len(_rows(response)) == 7


def test_candidates_page_lists_only_the_sessions_candidates(client, small_world, gestionnaire):
    numbers = _rows(client.get(_list_url(small_world)))
    assert numbers.count("02700000001") == 1
    assert "Autre" not in client.get(_list_url(small_world)).get_data(as_text=True)


def test_candidates_page_of_unknown_session_is_404(client, db, gestionnaire):
    assert client.get("/gestion/sessions/NOPE/candidats").status_code == 404


# ---- paging -----------------------------------------------------------------------------


def _insert_forms(session, form_of) -> None:
    """Bulk-insert each candidate's E5 form, ``form_of(number)``."""
    from exam_app.extensions import db

    numbers = db.session.execute(sa.select(Candidate.id, Candidate.number)
                                 .where(Candidate.session_id == session.id)).all()
    db.session.execute(sa.insert(CandidateUnitForm), [
        {"candidate_id": id_, "unit_code": "E5", "form": form_of(number)}
        for id_, number in numbers
    ])


@pytest.fixture()
def many(db, create_session, create_establishment):
    """120 candidates NOM001..NOM120, bulk inserted."""
    session = create_session(code="PAGES")
    establishment = create_establishment()
    now = utcnow()
    db.session.execute(sa.insert(Candidate), [
        {"session_id": session.id, "number": f"N{i:05d}", "last_name": f"NOM{i:03d}",
         "first_name": "Test", "birth_date": date(2005, 1, 1), "establishment_id": establishment.id,
         "search_text": f"NOM{i:03d} TEST N{i:05d}", "created_at": now, "updated_at": now}
        for i in range(1, 121)
    ])
    _insert_forms(session, lambda number: "ccf")
    return session


def test_paginate_returns_the_requested_page(db, many):
    page = paginate(candidate_query(many, CandidateFilters()), page=2, per_page=50)
    assert (page.total, page.page, page.pages, page.has_prev, page.has_next) == (120, 2, 3, True, True)
    assert [c.last_name for c in page.items] == [f"NOM{i:03d}" for i in range(51, 101)]


def test_paginate_clamps_out_of_range_pages(db, many):
    query = candidate_query(many, CandidateFilters())
    last = paginate(query, page=99, per_page=50)
    assert (last.page, last.has_next) == (3, False)
    assert [c.last_name for c in last.items] == [f"NOM{i:03d}" for i in range(101, 121)]
    first = paginate(query, page=0, per_page=50)
    assert (first.page, first.has_prev) == (1, False)
    empty = paginate(candidate_query(many, CandidateFilters(q="personne")), page=3, per_page=50)
    assert (empty.total, empty.page, empty.pages, empty.items) == (0, 1, 1, [])


def test_candidates_page_two(client, many, gestionnaire):
    response = client.get("/gestion/sessions/PAGES/candidats?page=2")
    assert response.status_code == 200
    assert _rows(response) == [f"N{i:05d}" for i in range(51, 101)]
    page = _text(response)
    assert "Page 2 sur 3" in page
    assert 'href="/gestion/sessions/PAGES/candidats?page=1"' in page
    assert 'href="/gestion/sessions/PAGES/candidats?page=3"' in page


def test_candidates_page_out_of_range_shows_the_last_page(client, many, gestionnaire):
    response = client.get("/gestion/sessions/PAGES/candidats?page=999")
    assert response.status_code == 200
    assert _rows(response) == [f"N{i:05d}" for i in range(101, 121)]
    assert "Page 3 sur 3" in _text(response)


def test_candidates_page_keeps_filters_in_paging_links(client, many, gestionnaire):
    response = client.get("/gestion/sessions/PAGES/candidats?q=nom0&forme=ccf&page=1")
    assert _rows(response)[0] == "N00001"
    assert "Page 1 sur 2" in _text(response)  # NOM001..NOM099
    next_link = re.search(r'rel="next" href="([^"]+)"', response.get_data(as_text=True))[1]
    assert html.unescape(next_link) == "/gestion/sessions/PAGES/candidats?q=nom0&forme=ccf&page=2"


def test_candidates_page_with_10000_candidates(client, db, create_session, create_establishment,
                                              gestionnaire):
    session = create_session(code="BIG")
    establishment = create_establishment()
    now = utcnow()
    db.session.execute(sa.insert(Candidate), [
        {"session_id": session.id, "number": f"B{i:06d}", "last_name": f"NOM{i:05d}",
         "first_name": "Élève", "birth_date": date(2005, 1, 1), "establishment_id": establishment.id,
         "search_text": f"NOM{i:05d} ELEVE B{i:06d}", "created_at": now, "updated_at": now}
        for i in range(10_000)
    ])
    _insert_forms(session, lambda number: "ccf" if int(number[1:]) % 3 else "ponctuel")
    response = client.get("/gestion/sessions/BIG/candidats")
    assert response.status_code == 200
    assert "10\u202f000 candidats" in _text(response)
    assert "Page 1 sur 200" in _text(response)
    assert _rows(response) == [f"B{i:06d}" for i in range(50)]
    last = client.get("/gestion/sessions/BIG/candidats?page=200")
    assert _rows(last) == [f"B{i:06d}" for i in range(9950, 10_000)]
    found = client.get("/gestion/sessions/BIG/candidats?q=nom09999")
    assert _rows(found) == ["B009999"]
    ponctuel = client.get("/gestion/sessions/BIG/candidats?forme=ponctuel")
    assert "3\u202f334 candidats" in _text(ponctuel)


def test_candidates_page_survives_huge_numbers_in_the_query(client, small_world, gestionnaire):
    huge = "9" * 30
    response = client.get(_list_url(small_world, etablissement=huge, centre=huge, page=huge))
    assert response.status_code == 200
    assert len(_rows(response)) == 7


def test_candidates_page_ignores_non_ascii_digits(client, small_world, gestionnaire):
    response = client.get(_list_url(small_world, page="²", centre="١"))
    assert response.status_code == 200
    assert len(_rows(response)) == 7


def test_lists_sort_names_alphabetically_ignoring_accents(client, db, create_session,
                                                         create_centre, create_establishment,
                                                         create_candidate, create_user, login_as):
    session = create_session(code="ORDRE")
    centre = create_centre(session)
    for name in ("Lycée Zola", "Lycée Émile-Loubet", "lycée Arago", "Lycée Édouard-Herriot"):
        create_establishment(name=name)
    establishments = {e.name: e for e in db.session.scalars(sa.select(Establishment))}
    for number, last, first in [("A1", "ZOLA", "Émile"), ("A2", "ÉMERY", "Zoé"), ("A3", "EMERY", "Anna"),
                                ("A4", "DUPONT", "Élise"), ("A5", "DUPONT", "Eric"), ("A6", "dupont", "Ève")]:
        create_candidate(session, number=number, last_name=last, first_name=first, centre=centre,
                         establishment=establishments["Lycée Zola"] if number == "A1"
                         else establishments["Lycée Émile-Loubet"])
    expected = ["A4", "A5", "A6", "A3", "A2", "A1"]  # DUPONT Élise, Eric, Ève; EMERY; ÉMERY; ZOLA
    assert [c.number for c in db.session.scalars(
        candidate_query(session, CandidateFilters())).unique()] == expected
    login_as(create_user(Role.GESTIONNAIRE))
    assert _rows(client.get("/gestion/sessions/ORDRE/candidats")) == expected
    page = _text(client.get("/gestion/etablissements"))
    positions = [page.index(name) for name in
                 ("lycée Arago", "Lycée Édouard-Herriot", "Lycée Émile-Loubet", "Lycée Zola")]
    assert positions == sorted(positions)
    counts = dashboard_counts(session)
    assert [e.name for e, *_ in counts["by_establishment"]] == ["Lycée Émile-Loubet", "Lycée Zola"]
    login_as(create_user(Role.CHEF_CENTRE, centre=centre))
    centre_page = client.get("/centre/").get_data(as_text=True)
    assert re.findall(r"<td><code>([^<]+)</code></td>", centre_page) == expected
