import csv
import io
from decimal import Decimal

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from exam_app.audit.models import AuditEvent
from exam_app.e6 import harmonisation, marking, release
from exam_app.e6.common import E6Error
from exam_app.results import exports
from tests.conftest import csrf_token_from
from tests.e6.conftest import lift, mark_lot


def test_adjustment_keeps_before_and_after_with_reason_and_audit(db, e6_world):
    lot = e6_world["lots"][0]
    mark_lot(lot, e6_world["questions"], ("3", "4,5", "4"), e6_world["markers"][0])  # 11,5
    adjustment = harmonisation.adjust_lot(lot=lot, factor=Decimal("1"), offset_points=Decimal("1"),
                                          reason="Lot plus sévère que la moyenne",
                                          actor=e6_world["gestionnaire"])
    copies = marking.lot_copies(lot)
    assert [(m.before, m.after) for m in adjustment.changes] == \
        [(Decimal("11.50"), Decimal("12.50"))] * len(copies)
    assert [c.raw_total for c in copies] == [Decimal("11.50")] * len(copies)
    assert [c.mark for c in copies] == [Decimal("12.50")] * len(copies)
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "e6.lot.adjust"))
    assert event.reason == "Lot plus sévère que la moyenne"
    assert event.actor_id == e6_world["gestionnaire"].id
    assert event.before == {c.anonymous_number: "11.50" for c in copies}
    assert event.after == {c.anonymous_number: "12.50" for c in copies}


def test_linear_rescale_rounds_to_the_step_and_stays_within_twenty(db, e6_world):
    lot = e6_world["lots"][0]
    mark_lot(lot, e6_world["questions"], ("6", "8", "5,5"), e6_world["markers"][0])  # 19,5
    harmonisation.adjust_lot(lot=lot, factor=Decimal("1.1"), offset_points=Decimal("0"),
                             reason="Rescale", actor=e6_world["gestionnaire"])
    assert {c.mark for c in marking.lot_copies(lot)} == {Decimal("20.00")}


@pytest.mark.parametrize(("factor", "offset", "reason", "message"), [
    ("1", "1", "", "Indiquez le motif de l'ajustement (5 caractères au moins)."),
    ("1", "0", "Aucun effet", "Cet ajustement ne change aucune note."),
    ("3", "0", "Trop fort", "Le coefficient doit être compris entre 0,5 et 2."),
    ("1", "6", "Trop fort", "Le décalage doit être compris entre −5 et +5 points."),
])
def test_adjustment_refuses_bad_input(db, e6_world, factor, offset, reason, message):
    lot = e6_world["lots"][0]
    mark_lot(lot, e6_world["questions"], ("3", "4", "4"), e6_world["markers"][0])
    with pytest.raises(E6Error) as caught:
        harmonisation.adjust_lot(lot=lot, factor=Decimal(factor), offset_points=Decimal(offset),
                                 reason=reason, actor=e6_world["gestionnaire"])
    assert caught.value.message == message
    assert lot.adjustments == []


def test_open_lot_cannot_be_adjusted(db, e6_world):
    with pytest.raises(E6Error, match="pas encore validé"):
        harmonisation.adjust_lot(lot=e6_world["lots"][0], factor=Decimal(1), offset_points=Decimal(1),
                                 reason="Motif valable", actor=e6_world["gestionnaire"])


def test_correcteur_sees_who_adjusted_their_lot_when_and_why(client, login_as, e6_world):
    lot = e6_world["lots"][0]
    mark_lot(lot, e6_world["questions"], ("3", "4", "4"), e6_world["markers"][0])  # 11
    login_as(e6_world["gestionnaire"])
    page = client.get(f"/gestion/sessions/{e6_world['session'].code}/e6/harmonisation")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<svg role=\"img\"" in html
    token = csrf_token_from(html)
    response = client.post(f"/gestion/e6/lots/{lot.id}/ajuster", data={
        f"lot{lot.id}-csrf_token": token, f"lot{lot.id}-factor": "1",
        f"lot{lot.id}-offset": "-0,5", f"lot{lot.id}-reason": "Notation trop généreuse"})
    assert response.status_code == 302
    login_as(e6_world["markers"][0])
    html = client.get(f"/correction/lots/{lot.id}").get_data(as_text=True)
    gestionnaire = e6_world["gestionnaire"].display_name
    assert "Votre lot a été ajusté par la commission d'entente" in html
    assert f"par {gestionnaire} : <strong>− 0,5 point(s)</strong>" in html
    assert "Motif : Notation trop généreuse" in html
    assert '<td class="num">11</td><td class="num">10,5</td>' in html


def test_lifting_is_refused_while_a_lot_is_open_and_lists_what_is_missing(db, e6_world):
    first, second = e6_world["lots"]
    mark_lot(first, e6_world["questions"], ("3", "4", "4"), e6_world["markers"][0])
    harmonisation.finalize_lot(lot=first, actor=e6_world["gestionnaire"])
    with pytest.raises(E6Error) as caught:
        release.lift_anonymity(session=e6_world["session"], actor=e6_world["gestionnaire"])
    name = e6_world["markers"][1].display_name
    assert caught.value.details == [
        f"Lot L02 ({name}) : en cours de correction, pas encore définitif."]
    assert release.release_of(e6_world["session"].id) is None


def test_exports_are_refused_before_lifting(client, login_as, e6_world):
    login_as(e6_world["gestionnaire"])
    code = e6_world["session"].code
    for suffix in ("resultats.csv", "resultats.xlsx", "bordereau.pdf"):
        response = client.get(f"/gestion/sessions/{code}/e6/{suffix}")
        assert response.status_code == 302
        assert response.headers["Location"] == f"/gestion/sessions/{code}/e6/"


def _expected_rows(e6_world, lot_of):
    first = e6_world["lots"][0].id
    rows = []
    for c in sorted(e6_world["candidates"], key=lambda c: c.number):
        e6 = "ABS" if c.id not in lot_of else ("11" if lot_of[c.id] == first else "13,5")
        rows.append([c.number, c.last_name, c.first_name, "", "", e6])
    return rows


def test_csv_export_after_lifting(client, login_as, e6_world):
    lot_of = lift(e6_world)
    login_as(e6_world["gestionnaire"])
    response = client.get(f"/gestion/sessions/{e6_world['session'].code}/e6/resultats.csv")
    assert response.status_code == 200
    text = response.data.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert rows[0] == ["N° candidat", "Nom", "Prénom", "E4", "E5", "E6"]
    assert rows[1:] == _expected_rows(e6_world, lot_of)


def test_xlsx_export_after_lifting(client, login_as, e6_world):
    lot_of = lift(e6_world)
    login_as(e6_world["gestionnaire"])
    response = client.get(f"/gestion/sessions/{e6_world['session'].code}/e6/resultats.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    values = [[cell if cell is not None else "" for cell in row]
              for row in sheet.iter_rows(values_only=True)]
    expected = [[*r[:5], {"11": 11.0, "13,5": 13.5}.get(r[5], r[5])]
                for r in _expected_rows(e6_world, lot_of)]
    assert values[0] == ["N° candidat", "Nom", "Prénom", "E4", "E5", "E6"]
    assert values[1:] == expected


def test_xlsx_pending_cells_are_empty_and_explained(client, login_as, e6_world):
    """Issue 17: a pending result is an empty cell (not an empty string), and a « Légende »
    sheet says what a blank, ABS and NV mean."""
    lift(e6_world)
    workbook = load_workbook(io.BytesIO(exports.export_xlsx(e6_world["session"].id,
                                                            title="t")))
    sheet = workbook["Résultats"]
    e4_cells = [row[3] for row in sheet.iter_rows(min_row=2)]
    assert e4_cells and all(cell.value is None and cell.data_type == "n" for cell in e4_cells)
    legend = [list(row) for row in workbook["Légende"].iter_rows(values_only=True)]
    assert legend[:4] == [
        ["Dans une colonne d'épreuve", "Signification"],
        ["une note (ex. 14,5)", "note sur 20, définitive"],
        ["ABS", "Absent"], ["NV", "Dossier non valide"]]
    assert ["(case vide)", "En attente : le résultat n'est pas encore arrêté"] in legend


def test_export_neutralises_spreadsheet_formulas(db, e6_world):
    candidate = e6_world["candidates"][0]
    candidate.last_name = "=HYPERLINK(\"x\")"
    lift(e6_world)
    text = exports.export_csv(e6_world["session"].id).decode("utf-8")
    assert "'=HYPERLINK" in text


def test_export_columns_come_from_the_unit_registry(db, e6_world, monkeypatch):
    from exam_app.units import get_unit

    lot_of = lift(e6_world)
    # A registry without E5: its column goes, the others keep their data.
    monkeypatch.setattr(exports, "all_units", lambda: (get_unit("E4"), get_unit("E6")))
    text = exports.export_csv(e6_world["session"].id).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert rows[0] == ["N° candidat", "Nom", "Prénom", "E4", "E6"]
    assert rows[1:] == [[*r[:4], r[5]] for r in _expected_rows(e6_world, lot_of)]
    sheet = load_workbook(io.BytesIO(exports.export_xlsx(e6_world["session"].id,
                                                         title="t"))).active
    assert [cell.value for cell in sheet[1]] == ["N° candidat", "Nom", "Prénom", "E4", "E6"]


def test_bordereau_pdf_lists_marks_and_absences(client, login_as, e6_world):
    from pypdf import PdfReader

    lift(e6_world)
    login_as(e6_world["gestionnaire"])
    response = client.get(f"/gestion/sessions/{e6_world['session'].code}/e6/bordereau.pdf")
    assert response.status_code == 200
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    assert "ZARATHOUSTRA" in text
    assert "ABSENTISSIME" in text
    assert "7 candidat(s) : 6 noté(s), 1 absent(s), 0 NV." in text


def test_reopened_lot_goes_back_to_its_correcteur_with_an_audited_reason(db, e6_world):
    lot = e6_world["lots"][0]
    mark_lot(lot, e6_world["questions"], ("3", "4", "4"), e6_world["markers"][0])
    with pytest.raises(E6Error, match="Indiquez le motif"):
        harmonisation.reopen_lot(lot=lot, reason="", actor=e6_world["gestionnaire"])
    harmonisation.reopen_lot(lot=lot, reason="Copie mal lue", actor=e6_world["gestionnaire"])
    assert lot.state == "open"
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "e6.lot.reopen"))
    assert event.reason == "Copie mal lue"


def test_final_lot_can_be_neither_adjusted_nor_reopened(db, e6_world):
    lot = e6_world["lots"][0]
    mark_lot(lot, e6_world["questions"], ("3", "4", "4"), e6_world["markers"][0])
    harmonisation.finalize_lot(lot=lot, actor=e6_world["gestionnaire"])
    with pytest.raises(E6Error, match="définitif"):
        harmonisation.adjust_lot(lot=lot, factor=Decimal(1), offset_points=Decimal(1),
                                 reason="Trop tard", actor=e6_world["gestionnaire"])
    with pytest.raises(E6Error, match="Seul un lot validé"):
        harmonisation.reopen_lot(lot=lot, reason="Trop tard", actor=e6_world["gestionnaire"])


def test_lift_page_refuses_and_lists_the_open_lots(client, login_as, e6_world):
    login_as(e6_world["gestionnaire"])
    code = e6_world["session"].code
    page = client.get(f"/gestion/sessions/{code}/e6/").get_data(as_text=True)
    response = client.post(f"/gestion/sessions/{code}/e6/levee",
                           data={"csrf_token": csrf_token_from(page), "confirm": "y"},
                           follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "La levée d&#39;anonymat est refusée" in html
    for lot, marker in zip(e6_world["lots"], e6_world["markers"], strict=True):
        assert f"Lot {lot.code} ({marker.display_name}) : en cours de correction" in html
    assert release.release_of(e6_world["session"].id) is None


def test_an_offset_typed_with_a_plus_sign_is_accepted(client, login_as, e6_world):
    """« +1,5 » is how people write an added point and a half (issue 17)."""
    lot = e6_world["lots"][0]
    mark_lot(lot, e6_world["questions"], ("3", "4", "4"), e6_world["markers"][0])  # 11
    login_as(e6_world["gestionnaire"])
    html = client.get(f"/gestion/sessions/{e6_world['session'].code}/e6/harmonisation") \
        .get_data(as_text=True)
    response = client.post(f"/gestion/e6/lots/{lot.id}/ajuster", data={
        f"lot{lot.id}-csrf_token": csrf_token_from(html), f"lot{lot.id}-factor": "1",
        f"lot{lot.id}-offset": "+1,5", f"lot{lot.id}-reason": "Lot plus sévère"})
    assert response.status_code == 302
    assert {c.mark for c in marking.lot_copies(lot)} == {Decimal("12.50")}


@pytest.mark.parametrize(("typed", "value"), [("+1,5", "1.5"), ("−2", "-2"), ("-0,5", "-0.5"),
                                              ("12.5", "12.5")])
def test_parse_decimal_reads_signs(typed, value):
    from exam_app.e6.common import parse_decimal

    assert parse_decimal(typed, what="Points") == Decimal(value)


@pytest.mark.parametrize("typed", ["+-1", "++1", "1,5+", "+"])
def test_parse_decimal_refuses_a_stray_sign(typed):
    from exam_app.e6.common import parse_decimal

    with pytest.raises(E6Error, match="n'est pas un nombre"):
        parse_decimal(typed, what="Points")


def test_reopen_form_labels_its_own_field(client, login_as, e6_world):
    """The « Motif » label of « Renvoyer au correcteur » points at the reopen textarea, not at
    the adjustment's: the two forms of a lot have different ids (issue 17)."""
    import re

    lot = e6_world["lots"][0]
    mark_lot(lot, e6_world["questions"], ("3", "4", "4"), e6_world["markers"][0])
    login_as(e6_world["gestionnaire"])
    html = client.get(f"/gestion/sessions/{e6_world['session'].code}/e6/harmonisation") \
        .get_data(as_text=True)
    ids = re.findall(r'<(?:textarea|input(?![^>]*type="hidden"))[^>]* id="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    assert f'id="lot{lot.id}-reason"' in html and f'id="reopen{lot.id}-reason"' in html
    assert f'<label class="field__label" for="reopen{lot.id}-reason">Motif' in html


def test_a_lot_sent_back_tells_its_correcteur_why(client, login_as, e6_world):
    lot = e6_world["lots"][0]
    mark_lot(lot, e6_world["questions"], ("3", "4", "4"), e6_world["markers"][0])
    login_as(e6_world["gestionnaire"])
    html = client.get(f"/gestion/sessions/{e6_world['session'].code}/e6/harmonisation") \
        .get_data(as_text=True)
    response = client.post(f"/gestion/e6/lots/{lot.id}/rouvrir", data={
        f"reopen{lot.id}-csrf_token": csrf_token_from(html),
        f"reopen{lot.id}-reason": "Question 2 notée sur 6 au lieu de 8"})
    assert response.status_code == 302
    login_as(e6_world["markers"][0])
    html = client.get(f"/correction/lots/{lot.id}").get_data(as_text=True)
    assert "Lot renvoyé par la commission d'entente" in html
    assert "Motif : <strong>Question 2 notée sur 6 au lieu de 8</strong>" in html
    assert e6_world["gestionnaire"].display_name in html
