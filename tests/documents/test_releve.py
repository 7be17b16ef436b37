"""The relevé de notes and the candidate's documents (issue 14, §4).

The relevé reads only the results module: for candidates of every kind (mark, ABS, NV,
bénéfice, dispensé, en attente; the world of tests/results/test_consistency.py) each
page prints exactly what ``compute`` decides. The candidate's own relevé is a tagged
PDF whose QR code decodes to a verification URL that says "authentique", then
"remplacé" once a result changes; it is offered only from the session's publication
date. The candidate's space shows the date, time and room of each oral and of E6 (the
session's zone), with the convocation once the plan is published.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.documents import candidate_space, releve
from exam_app.enrolment import sessions
from exam_app.errors import Invalid
from exam_app.extensions import db as _db
from exam_app.juries.models import Passage
from exam_app.juries.publication import publish_plan
from exam_app.printing.signing import read_app_token
from exam_app.printing.verification import Status, verify
from exam_app.results import compute
from tests.conftest import build_user, csrf_token_from
from tests.documents.conftest import decode_qr, needs_poppler_zbar, pdf_text
from tests.e6.builders import START, add_room, seat
from tests.juries.conftest import create_passage  # noqa: F401
from tests.pdf_tags import tagging
from tests.printing.signed_fields import record_print, uncovered
from tests.results.test_consistency import EXPECTED, world  # noqa: F401

BASE = "https://examens.example"
NOW = datetime(2027, 7, 5, 8, 0, tzinfo=UTC)
UNITS = ("E4", "E5", "E6")


@pytest.fixture()
def request_context(app):
    with app.test_request_context("/", base_url=BASE + "/"):
        yield


def _page_results(page: dict) -> dict[str, str]:
    return {code: row["result"] for code, row in page["content"]["results"].items()}


def test_releve_prints_the_results_module_s_result_for_every_kind_of_candidate(
        world, request_context):  # noqa: F811
    session = world["session"]
    people = world["people"]
    candidates = releve._candidates(session.id)
    pages = {p["content"]["candidate"]["number"]: p
             for p in releve.pages(session, candidates, now=NOW)}
    module = compute.session_results(session.id)
    for name, expected in EXPECTED.items():
        person = people[name]
        printed = _page_results(pages[person.number])
        assert printed == {u: module.of(person.id, u).label for u in UNITS}, name
        # ... which is the expected result, '' (pending) printed "en attente".
        assert printed == {u: expected[u] or "en attente" for u in UNITS}, name
    kept = _page_results(pages[people["kept"].number])
    assert kept == {"E4": "Bénéfice 2025 — 14,5", "E5": "Bénéfice 2026 — 15",
                    "E6": "Dispensé"}
    assert pages[people["kept"].number]["content"]["results"]["E6"]["form"] == "—"
    assert pages[people["ccf_ab"].number]["content"]["results"]["E5"]["form"] == "CCF (oral)"
    # The pack's HTML prints each page's results, in rows of the units' table.
    html = releve.render_html(session, list(pages.values()), now=NOW)
    assert html.count('class="releve-page"') == len(candidates)
    for page in pages.values():
        for row in page["content"]["results"].values():
            assert f"<td>{row['form']}</td><td class=\"num\"><strong>{row['result']}" in html


def test_every_printed_field_of_the_releve_is_signed(app, world, request_context):  # noqa: F811
    session = world["session"]
    with record_print(app) as recording:
        page_list = releve.pages(session, releve._candidates(session.id), now=NOW)
        releve.render_html(session, page_list, now=NOW)
    [render] = recording.renders
    assert len(recording.signed) == len(page_list)
    assert all(kind == releve.KIND for kind, _ in recording.signed)
    # Each page's content is what its token signed; its QR code and URL are print marks.
    for page, (_, content) in zip(page_list, recording.signed, strict=True):
        assert page["content"] == content
    # (``pages[*].content`` itself is the signed container, not a printed value.)
    marks = {"pages[*].qr", "pages[*].verify_url", "pages[*].content"}
    # The running header prints the session, which every page signs (checked below).
    render.read = {f"pages[*].content.{p}" if p.startswith("doc_session") else p
                   for p in render.read - marks}
    assert uncovered(app, render, recording.signed[0][1], prefix="pages[*].content") == []
    # The layout's names: the session (as signed in every page), the pages, the print time.
    assert {n for n in render.context if not n.startswith("_")} >= {"doc_session", "pages",
                                                                   "generated_at"}
    assert render.context["doc_session"] == recording.signed[0][1]["doc_session"]


def test_candidate_releve_is_a_tagged_french_pdf_with_a_title(world, request_context):  # noqa: F811
    person = world["people"]["full"]
    pdf = releve.candidate_pdf(person, now=NOW)
    assert tagging(pdf) == {"marked": True, "struct_tree": True, "lang": "fr",
                            "display_title": True,
                            "title": f"Relevé de notes — {world['session'].name}"}
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    text = pdf_text(pdf)
    assert f"{person.last_name} {person.first_name}" in text
    assert "14,5" in text and "13" in text


@needs_poppler_zbar
def test_releve_qr_code_verifies_then_is_superseded_when_a_result_changes(
        world, client, request_context, tmp_path):  # noqa: F811
    person = world["people"]["full"]
    pdf = releve.candidate_pdf(person, now=NOW)
    url = decode_qr(pdf, tmp_path)
    assert url.startswith(f"{BASE}/verifier/")
    token = url.removeprefix(f"{BASE}/verifier/")
    result = verify(read_app_token(token))
    assert result.status is Status.AUTHENTIC
    assert result.title == "Relevé de notes"
    assert ("Candidat", f"{person.number} — {person.last_name} {person.first_name}") \
        in result.facts
    _db.session.commit()
    page = client.get(f"/verifier/{token}").get_data(as_text=True)
    assert "Document authentique et à jour." in page
    # The E6 mark is harmonised again: the printed relevé is superseded, on E6 only.
    from exam_app.e6.models import E6Copy

    copy = _db.session.scalar(_db.select(E6Copy).where(E6Copy.candidate_id == person.id))
    copy.mark = Decimal("14")
    _db.session.commit()
    result = verify(read_app_token(token))
    assert result.status is Status.SUPERSEDED
    assert result.changes == ("Résultat E6",)
    page = client.get(f"/verifier/{token}").get_data(as_text=True)
    assert "Document authentique mais remplacé" in page
    assert "<li>Résultat E6</li>" in page


def test_forged_releve_token_is_not_authentic(request_context):
    assert verify(read_app_token("eyJrIjoicmVsZXZlIn0.forged")).status is Status.NOT_AUTHENTIC


def test_establishment_pack_has_one_page_per_candidate_of_that_establishment(
        app, create_session, create_candidate, create_establishment, request_context):
    session = create_session()
    school, other = create_establishment(), create_establishment()
    mine = [create_candidate(session, establishment=school) for _ in range(3)]
    create_candidate(session, establishment=other)
    pdf, count = releve.pack_pdf(session, school.id, now=NOW)
    assert count == 3
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 3
    names = sorted(mine, key=lambda c: (c.last_name, c.first_name, c.number))
    for page, candidate in zip(reader.pages, names, strict=True):
        assert candidate.number in page.extract_text()
    assert releve.establishments(session) == [(e, n) for e, n in sorted(
        [(school, 3), (other, 1)], key=lambda row: row[0].name)]
    # An establishment without candidates in the session: nothing rendered.
    assert releve.pack_pdf(session, create_establishment().id, now=NOW) == (b"", 0)


# ---- publication date: service, settings page, candidate's download --------------------

def test_publication_date_is_set_audited_and_cleared(create_session, create_user):
    session = create_session()
    actor = create_user(Role.GESTIONNAIRE)
    at = datetime(session.year, 7, 5, 8, 0, 30, tzinfo=UTC)
    assert sessions.set_releve_publication(session=session, actor=actor, published_at=at)
    assert session.releve_published_at == at.replace(second=0)
    assert not sessions.set_releve_publication(session=session, actor=actor, published_at=at)
    assert sessions.set_releve_publication(session=session, actor=actor, published_at=None)
    assert session.releve_published_at is None
    events = _db.session.scalars(_db.select(AuditEvent).where(
        AuditEvent.action == "session.releve_publication").order_by(AuditEvent.id)).all()
    iso = f"{session.year}-07-05T08:00:00+00:00"
    assert [(e.before, e.after) for e in events] == [
        ({"releve_published_at": None}, {"releve_published_at": iso}),
        ({"releve_published_at": iso}, {"releve_published_at": None})]
    with pytest.raises(Invalid):
        sessions.set_releve_publication(session=session, actor=actor,
                                        published_at=datetime(1999, 1, 1, tzinfo=UTC))
    assert session.releve_published_at is None


def test_releve_is_published_exactly_from_its_date(create_session):
    session = create_session()
    at = datetime(session.year, 7, 5, 8, 0, tzinfo=UTC)
    assert not sessions.releve_published(session, at)
    session.releve_published_at = at
    assert not sessions.releve_published(session, at - timedelta(microseconds=1))
    assert sessions.releve_published(session, at)
    assert sessions.releve_published(session, at + timedelta(days=30))


def test_gestionnaire_sets_the_publication_date_in_the_session_s_zone(
        client, login_as, create_session, create_user):
    session = create_session(timezone="America/Cayenne")
    login_as(create_user(Role.GESTIONNAIRE))
    url = f"/gestion/sessions/{session.code}/parametres"
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    response = client.post(url, data={"csrf_token": token, "section": "releve",
                                      "releve_published_at": f"{session.year}-07-05T10:00"})
    assert response.status_code == 302
    assert session.releve_published_at == datetime(session.year, 7, 5, 13, 0, tzinfo=UTC)
    page = client.get(url).get_data(as_text=True)
    assert f"à partir du <strong>05/07/{session.year} à 10 h 00</strong>" in page
    assert f'value="{session.year}-07-05T10:00"' in page
    # Bad input: a clear French error, the date kept as it was.
    response = client.post(url, data={"csrf_token": token, "section": "releve",
                                      "releve_published_at": "1999-01-01T10:00"})
    assert response.status_code == 422
    assert "autour de la session" in response.get_data(as_text=True)
    assert session.releve_published_at == datetime(session.year, 7, 5, 13, 0, tzinfo=UTC)
    response = client.post(url, data={"csrf_token": token, "section": "releve",
                                      "releve_published_at": "pas une date"})
    assert response.status_code == 400
    assert session.releve_published_at == datetime(session.year, 7, 5, 13, 0, tzinfo=UTC)


def _candidate_client(client, login_as, candidate):
    login_as(build_user(Role.CANDIDAT, candidate=candidate))
    return client


def test_candidate_downloads_the_releve_only_from_the_publication_date(
        world, client, login_as, monkeypatch):  # noqa: F811
    person = world["people"]["full"]
    session = world["session"]
    at = datetime(session.year, 7, 5, 8, 0, tzinfo=UTC)
    session.releve_published_at = at
    _candidate_client(client, login_as, person)
    url = f"/candidat/{person.id}/releve.pdf"
    monkeypatch.setattr(candidate_space, "utcnow", lambda: at - timedelta(seconds=1))
    home = client.get("/candidat/").get_data(as_text=True)
    assert f"disponible ici à partir du <strong>05/07/{session.year} à 10 h 00</strong>" in home
    assert url not in home
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/candidat/#mon-releve")
    page = client.get("/candidat/").get_data(as_text=True)
    assert f"disponible ici à partir du 05/07/{session.year} à 10 h 00." in page
    monkeypatch.setattr(candidate_space, "utcnow", lambda: at)
    assert url in client.get("/candidat/").get_data(as_text=True)
    response = client.get(url)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert tagging(response.data)["marked"] is True
    assert person.number in pdf_text(response.data)


def test_candidate_never_gets_another_candidate_s_releve_or_convocation(
        world, client, login_as):  # noqa: F811
    people = world["people"]
    world["session"].releve_published_at = datetime(2020, 1, 1, tzinfo=UTC)
    other = people["ccf_ab"]
    passage = _db.session.scalar(_db.select(Passage).where(
        Passage.candidate_id == people["absent"].id, Passage.unit_code == "E4"))
    passage.scheduled_at = NOW
    publish_plan(session=world["session"], actor=None)
    _candidate_client(client, login_as, people["full"])
    assert client.get(f"/candidat/{other.id}/releve.pdf").status_code == 404
    assert client.get(f"/candidat/convocations/{passage.id}.pdf").status_code == 404
    assert client.get(f"/candidat/{people['full'].id}/releve.pdf").status_code == 200


# ---- the candidate's space: convocations, dates, times, rooms ---------------------------

def test_candidate_space_shows_each_oral_and_e6_with_date_time_room_once_published(
        app, client, login_as, create_passage, create_centre):  # noqa: F811
    passage = create_passage()
    candidate = passage.candidate
    session = candidate.session
    session.timezone = "America/Cayenne"
    _candidate_client(client, login_as, candidate)
    page = client.get("/candidat/").get_data(as_text=True)
    # Nothing planned yet: honest empty states.
    assert page.count("pas encore planifié") == 3  # E4, E5, E6
    assert "/candidat/convocations/" not in page
    # Planned but the plan is not published: still not shown.
    passage.scheduled_at = datetime(2027, 5, 12, 13, 30, tzinfo=UTC)
    passage.room = "B12"
    page = client.get("/candidat/").get_data(as_text=True)
    assert page.count("pas encore planifié") == 3
    assert client.get(f"/candidat/convocations/{passage.id}.pdf").status_code == 302
    # Published: E4's date, time (Cayenne: UTC-3) and room, with the convocation; E6's room.
    publish_plan(session=session, actor=None)
    seat(candidate, add_room(create_centre(session), name="Salle E6"))
    page = client.get("/candidat/").get_data(as_text=True)
    e4_row = page.split('data-sitting="E4"')[1].split("</tr>")[0]
    assert "mercredi 12 mai 2027" in e4_row
    assert "10 h 30" in e4_row and "B12" in e4_row
    assert f"/candidat/convocations/{passage.id}.pdf" in e4_row
    assert "Heure (heure de Cayenne)" in page
    e6_row = page.split('data-sitting="E6"')[1].split("</tr>")[0]
    local = START.astimezone(ZoneInfo("America/Cayenne"))
    assert f"{local:%H} h {local:%M}" in e6_row and "Salle E6" in e6_row
    e5_row = page.split('data-sitting="E5"')[1].split("</tr>")[0]
    assert "pas encore planifié" in e5_row
    assert page.count("pas encore planifié") == 1
    response = client.get(f"/candidat/convocations/{passage.id}.pdf")
    assert response.status_code == 200
    assert tagging(response.data)["title"] == f"Convocation E4 — {session.name}"
    assert "B12" in pdf_text(response.data)


def test_sittings_list_what_the_candidate_sits(create_candidate, create_session):
    session = create_session()
    candidate = create_candidate(session, e5_form="ccf")
    rows = candidate_space.sittings(candidate)
    assert [(r.unit_code, r.label, r.scheduled_at) for r in rows] == [
        ("E4", "Forme ponctuelle", None),
        ("E5", "CCF — situation A (veille informationnelle)", None),
        ("E5", "CCF — situation B (préparation, simulation et entretien)", None),
        ("E6", "Épreuve écrite", None)]


def test_gestionnaire_lists_and_downloads_the_relevés_of_an_establishment(
        client, login_as, create_session, create_candidate, create_establishment,
        create_user):
    session = create_session()
    school = create_establishment()
    candidate = create_candidate(session, establishment=school)
    login_as(create_user(Role.GESTIONNAIRE))
    page = client.get(f"/gestion/sessions/{session.code}/releves").get_data(as_text=True)
    link = f"/gestion/sessions/{session.code}/releves.pdf?etablissement={school.id}&amp;partie=1"
    assert link in page
    link = link.replace("&amp;", "&")
    response = client.get(link)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert candidate.number in pdf_text(response.data)
    response = client.get(f"/gestion/sessions/{session.code}/releves.pdf?etablissement=999999")
    assert response.status_code == 302


def test_a_large_establishment_is_printed_in_parts(
        client, login_as, create_session, create_candidate, create_establishment,
        create_user, monkeypatch, request_context):
    monkeypatch.setattr(releve, "PART_SIZE", 2)
    session = create_session()
    school = create_establishment()
    candidates = sorted((create_candidate(session, establishment=school) for _ in range(3)),
                        key=lambda c: (c.last_name, c.first_name, c.number))
    assert releve.parts(3) == [(1, 1, 2), (2, 3, 3)]
    assert releve.pack_html(session, school.id, part=2, now=NOW)[1] == 1
    assert releve.pack_html(session, school.id, part=3, now=NOW)[1] == 0
    assert releve.pack_html(session, school.id, part=10 ** 20, now=NOW)[1] == 0
    login_as(create_user(Role.GESTIONNAIRE))
    page = client.get(f"/gestion/sessions/{session.code}/releves").get_data(as_text=True)
    assert "Candidats 1 à 2" in page and "Candidats 3 à 3" in page
    base = f"/gestion/sessions/{session.code}/releves.pdf?etablissement={school.id}"
    second = client.get(f"{base}&partie=2")
    assert second.status_code == 200
    reader = PdfReader(io.BytesIO(second.data))
    assert len(reader.pages) == 1
    assert candidates[2].number in reader.pages[0].extract_text()
    assert client.get(f"{base}&partie=3").status_code == 302
    assert client.get(f"{base}&partie={10 ** 20}").status_code == 302  # past the end: none
