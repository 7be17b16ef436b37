"""One result per candidate and unit, the same in every reader (issue 14, §3).

A session with candidates of every route (E4 and E5 ponctuel, E5 CCF with A and B
in both orders, the contradictory case: B validated at 16 then A absent), ABS,
NV, bénéfice, dispense, not registered, E6 marked (harmonised), absent and
pending. Every reader must print the same result for every candidate: the oral
bordereaux (context and printed HTML), the E6 bordereau, the CSV export, the
XLSX export and the candidate's space.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from decimal import Decimal
from html import unescape

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from exam_app.accounts.models import Role
from exam_app.audit.services import record
from exam_app.documents import bordereau
from exam_app.dossiers import validity
from exam_app.e6.models import Attendance as E6Attendance
from exam_app.e6.models import E6Copy, E6Sitting
from exam_app.enrolment import sessions
from exam_app.enrolment.sessions import CCF_RULES
from exam_app.errors import Invalid
from exam_app.extensions import db as _db
from exam_app.formatting import decimal_fr
from exam_app.juries.models import Attendance
from exam_app.results import compute, e6_bordereau, exports
from tests.conftest import build_user
from tests.printing.signed_fields import record_print, uncovered
from tests.registration_helpers import register

FINAL = datetime(2027, 5, 12, 10, 0, tzinfo=UTC)
E4, E5, E6 = "E4", "E5", "E6"


def _final(passage, mark: str | None) -> None:
    passage.final_mark = Decimal(mark) if mark is not None else None
    passage.finalized_at = FINAL


def _absent(passage) -> None:
    passage.attendance = Attendance.ABSENT.value


@pytest.fixture()
def world(app, db, monkeypatch, create_passage, create_candidate, create_commission):
    full = create_passage()  # E4 ponctuel
    e4 = full.commission
    session = e4.session
    centre = e4.centre
    e5p = create_commission(session, unit_code=E5, form="ponctuel", centre=centre)
    ccf = create_commission(session, unit_code=E5, form="ccf")

    def candidate(form="ponctuel"):
        return create_candidate(session, e5_form=form, centre=centre)

    def passage(commission, who, variant="ponctuel", form="ponctuel", unit=None):
        return create_passage(unit_code=unit or commission.unit_code, variant_code=variant,
                              form=form, candidate=who, commission=commission)

    people = {"full": full.candidate}
    _final(full, "14.5")
    _final(passage(e5p, full.candidate), "12")
    # CCF, A then B: the global mark agreed at B.
    people["ccf_ab"] = who = candidate("ccf")
    _final(passage(ccf, who, "ccf_a", "ccf"), None)
    _final(passage(ccf, who, "ccf_b", "ccf"), "16")
    # The contradictory case: B validated at 16, then A recorded absent.
    people["ccf_contradictory"] = who = candidate("ccf")
    b = passage(ccf, who, "ccf_b", "ccf")
    a = passage(ccf, who, "ccf_a", "ccf")
    _final(b, "16")
    _absent(a)
    # B final before A exists: pending.
    people["ccf_b_first"] = who = candidate("ccf")
    _final(passage(ccf, who, "ccf_b", "ccf"), "15")
    # A final, B to come: pending.
    people["ccf_a_only"] = who = candidate("ccf")
    _final(passage(ccf, who, "ccf_a", "ccf"), None)
    passage(ccf, who, "ccf_b", "ccf")
    # Absent at E4 and at E6.
    people["absent"] = who = candidate()
    _absent(passage(e4, who))
    # NV for E4 (the dossier), even with a mark entered.
    people["nv"] = who = candidate()
    _final(passage(e4, who), "18")
    # Bénéfice for E4 and E5, dispense for E6.
    people["kept"] = who = candidate()
    register(who, E4, "benefice")
    register(who, E5, "benefice", kept_mark="15", kept_year="2026")
    register(who, E6, "dispense")
    # Not registered for E6; E4 planned, not marked yet.
    people["not_registered"] = who = candidate()
    register(who, E6, "not_registered")
    passage(e4, who)
    # E6: a harmonised copy, an absence, an unmarked copy.
    _db.session.add_all([
        E6Copy(session_id=session.id, candidate_id=people["full"].id, anonymous_number="A-0001",
               raw_total=Decimal("12"), mark=Decimal("13")),
        E6Sitting(candidate_id=people["absent"].id, attendance=E6Attendance.ABSENT),
        E6Copy(session_id=session.id, candidate_id=people["ccf_ab"].id,
               anonymous_number="A-0002"),
    ])
    _db.session.flush()
    real_nv = validity.nv_candidate_ids
    nv_id = people["nv"].id
    monkeypatch.setattr(validity, "nv_candidate_ids", lambda **kw: (
        {nv_id} if kw["unit_code"] == E4 else set()) | (real_nv(**kw) - {nv_id}))
    return {"session": session, "people": people, "commissions": [e4, e5p, ccf], "app": app}


# What the module must decide, as printed ('' is "en attente").
EXPECTED = {
    "full": {E4: "14,5", E5: "12", E6: "13"},
    "ccf_ab": {E4: "", E5: "16", E6: ""},
    "ccf_contradictory": {E4: "", E5: "ABS", E6: ""},
    "ccf_b_first": {E4: "", E5: "", E6: ""},
    "ccf_a_only": {E4: "", E5: "", E6: ""},
    "absent": {E4: "ABS", E5: "", E6: "ABS"},
    "nv": {E4: "NV", E5: "", E6: ""},
    "kept": {E4: "Bénéfice 2025 — 14,5", E5: "Bénéfice 2026 — 15", E6: "Dispensé"},
    "not_registered": {E4: "", E5: "", E6: "Non inscrit"},
}


def _expected(world) -> dict[str, dict[str, str]]:
    return {world["people"][name].number: marks for name, marks in EXPECTED.items()}


def _bordereau_text(result: str | None) -> str:
    """A bordereau row's result as printed ('14.5' is printed '14,5'; None: pending)."""
    if result is None:
        return ""
    return result if result in ("ABS", "NV") else decimal_fr(Decimal(result))


def _readers(world, client, login_as) -> dict[str, dict[str, dict[str, str]]]:
    """reader -> candidate number -> unit -> printed result (units the reader shows)."""
    session = world["session"]
    seen: dict[str, dict[str, dict[str, str]]] = {}
    # The oral bordereaux: each commission's rows, and the printed HTML.
    context_rows, html_rows = {}, {}
    for commission in world["commissions"]:
        rows = bordereau.bordereau_rows(commission)
        with world["app"].test_request_context("/"):
            html = bordereau.build(commission, now=FINAL).html
        for row in rows:
            text = _bordereau_text(row["result"])
            context_rows.setdefault(row["number"], {})[commission.unit_code] = text
            cells = re.search(rf"<td>{row['number']}</td>.*?<td class=\"num\">(.*?)</td>", html,
                              re.S).group(1).strip()
            html_rows.setdefault(row["number"], {})[commission.unit_code] = \
                "" if cells == "—" else cells
    seen["bordereau"], seen["bordereau_pdf_html"] = context_rows, html_rows
    # The E6 bordereau.
    seen["e6_bordereau"] = {
        row["number"]: {E6: row["result"]}
        for block in e6_bordereau.bordereau_context(session)["blocks"] for row in block["rows"]}
    # The CSV export.
    lines = list(csv.reader(io.StringIO(exports.export_csv(session.id).decode("utf-8-sig")),
                            delimiter=";"))
    assert lines[0] == ["N° candidat", "Nom", "Prénom", E4, E5, E6]
    seen["csv"] = {line[0]: dict(zip((E4, E5, E6), line[3:], strict=True)) for line in lines[1:]}
    # The XLSX export: marks as numbers.
    sheet = load_workbook(io.BytesIO(exports.export_xlsx(session.id, title="t")))["Résultats"]
    seen["xlsx"] = {
        row[0]: {unit: "" if value is None else decimal_fr(Decimal(str(value)))
                 if isinstance(value, float | int) else value
                 for unit, value in zip((E4, E5, E6), row[3:], strict=True)}
        for row in sheet.iter_rows(min_row=2, values_only=True)}
    # The candidate's space: a unit not sat shows what the results print; no mark is shown
    # before the délibération (DOMAIN.md).
    seen["candidate_space"] = {}
    for name in EXPECTED:
        person = world["people"][name]
        login_as(build_user(Role.CANDIDAT, candidate=person))
        page = client.get("/candidat/").get_data(as_text=True)
        shown = dict(re.findall(r'data-unit-result="(\w+)">([^<]*)<', page))
        seen["candidate_space"][person.number] = shown
    return seen


def test_every_reader_shows_the_module_s_result_for_every_candidate(world, client, login_as):
    expected = _expected(world)
    module = compute.session_results(world["session"].id)
    decided = {number: {unit: module.of(world["people"][name].id, unit).printed
                        for unit in (E4, E5, E6)}
               for name in EXPECTED for number in [world["people"][name].number]}
    assert decided == expected
    _db.session.commit()
    for reader, table in _readers(world, client, login_as).items():
        for number, units in table.items():
            for unit, printed in units.items():
                assert (reader, number, unit, printed) == (
                    reader, number, unit, expected[number][unit])
    # Every candidate is in the exports, and every marked unit on its bordereau.
    readers = _readers(world, client, login_as)
    assert set(readers["csv"]) == set(readers["xlsx"]) == set(expected)
    assert readers["bordereau"][world["people"]["ccf_contradictory"].number] == {E5: "ABS"}
    kept = world["people"]["kept"].number
    assert readers["candidate_space"][kept] == {E4: "Bénéfice 2025 — 14,5",
                                                E5: "Bénéfice 2026 — 15", E6: "Dispensé"}


def test_the_contradictory_ccf_case_follows_the_session_rule_everywhere(world, client,
                                                                         login_as):
    session = world["session"]
    session.ccf_combination = "global_absence_counted"
    _db.session.commit()
    number = world["people"]["ccf_contradictory"].number
    readers = _readers(world, client, login_as)
    assert [readers[r][number][E5] for r in ("bordereau", "bordereau_pdf_html", "csv", "xlsx")] \
        == ["16"] * 4
    # B before A: still pending under this rule (A is not settled).
    assert readers["csv"][world["people"]["ccf_b_first"].number][E5] == ""


def test_results_carry_their_provenance_and_rule(world):
    people = world["people"]
    results = compute.session_results(world["session"].id)
    contradictory = results.of(people["ccf_contradictory"].id, E5)
    assert (contradictory.kind, contradictory.rule) == (compute.Kind.ABS, CCF_RULES["global"])
    # Passages by id: B was planned (and validated) before A was recorded absent.
    assert [(s.kind, s.label.split(" — ", 1)[1]) for s in contradictory.provenance] == [
        ("passage", "CCF — situation B (préparation, simulation et entretien) : validé 16"),
        ("passage", "CCF — situation A (veille informationnelle) : absent")]
    e6 = results.of(people["full"].id, E6)
    assert (e6.kind, e6.mark, [s.label for s in e6.provenance]) == (
        compute.Kind.MARK, Decimal("13"),
        ["Copie A-0001 : 12 brut", "Harmonisation : 12 → 13"])
    kept = results.of(people["kept"].id, E4)
    assert (kept.kind, kept.mark, kept.kept_year, kept.provenance[0].kind) == (
        compute.Kind.BENEFICE, Decimal("14.5"), 2025, "kept_mark")
    assert results.of(people["ccf_b_first"].id, E5).label == "en attente"
    assert compute.candidate_results(people["full"])[E4].printed == "14,5"


def test_the_ccf_bordereau_prints_the_rule_and_signs_it(world, app):
    ccf = world["commissions"][2]
    with app.test_request_context("/"), record_print(app) as recording:
        html = bordereau.build(ccf, now=FINAL).html
    assert f"Règle de la session (situations de CCF) : {CCF_RULES['global']}" in unescape(html)
    # Pending results (B before A): the bordereau is PROVISOIRE, with no QR code; what it
    # would sign is its context.
    [render] = recording.renders
    assert recording.signed == []
    content = bordereau.bordereau_context(ccf, bordereau.bordereau_rows(ccf))
    assert (render.template, content["ccf_rule"]) == ("print/bordereau_ccf.html",
                                                      CCF_RULES["global"])
    assert uncovered(app, render, content) == []
    # A ponctuel commission's bordereau has no CCF rule (its signed content is unchanged).
    assert "ccf_rule" not in bordereau.bordereau_context(
        world["commissions"][0], bordereau.bordereau_rows(world["commissions"][0]))


def test_session_results_take_a_fixed_number_of_statements(world, create_candidate):
    session = world["session"]
    _db.session.commit()

    def statements() -> int:
        seen = []

        def count(*args):
            seen.append(args[2])

        sa.event.listen(_db.engine, "before_cursor_execute", count)
        try:
            compute.session_results(session.id)
        finally:
            sa.event.remove(_db.engine, "before_cursor_execute", count)
        return len(seen)

    few = statements()
    for n in range(30):
        who = create_candidate(session, e5_form="ccf" if n % 2 else "ponctuel")
        if n % 3 == 0:
            register(who, E4, "dispense")
    _db.session.commit()
    assert statements() == few


def test_the_ccf_rule_is_a_session_rule_that_asks_a_reason_once_used(db, create_session,
                                                                     create_user):
    session = create_session()
    actor = create_user(Role.GESTIONNAIRE)
    assert session.ccf_combination == "global"
    with pytest.raises(Invalid) as refused:
        sessions.change_rules(session=session, actor=actor, ccf_combination="moyenne")
    assert refused.value.field == "ccf_combination"
    record(actor=actor, action="mark.final", object_type="passage", object_id=1,
           session_id=session.id)
    with pytest.raises(Invalid) as refused:
        sessions.change_rules(session=session, actor=actor,
                              ccf_combination="global_absence_counted")
    assert (refused.value.field, session.ccf_combination) == ("reason", "global")
    assert sessions.change_rules(session=session, actor=actor, reason="décision du recteur",
                                 ccf_combination="global_absence_counted") == ["ccf_combination"]
    assert session.ccf_combination == "global_absence_counted"
