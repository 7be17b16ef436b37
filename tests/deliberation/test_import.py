"""Import of the other units' marks: all or nothing, errors by line and column, encodings."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from exam_app.deliberation import other_units
from exam_app.deliberation.models import OtherMarkKind, OtherUnitMark
from exam_app.errors import Invalid
from exam_app.extensions import db
from tests.conftest import csrf_token_from


@pytest.fixture()
def units(delib):
    for code, label, coefficient in (("U1", "Culture générale", "3"), ("U2", "Anglais", "2")):
        other_units.save_other_unit(session=delib["session"], code=code, label=label,
                                    coefficient=coefficient, actor=delib["gestionnaire"])
    return delib


def _import(delib, text: str, encoding="utf-8"):
    return other_units.import_other_marks(session=delib["session"], data=text.encode(encoding),
                                          actor=delib["gestionnaire"], max_rows=100)


def test_import_marks_codes_and_encodings(units):
    a, b, c = (x.number for x in units["candidates"])
    report = _import(units, f"Numéro candidat;U1;U2\n{a};12,5;ABS\n{b};DISP;\n{c};8;Dispensé\n",
                     encoding="cp1252")
    assert (report.ok, report.rows, report.marks, report.encoding) == (True, 3, 5, "Windows-1252")
    marks = {(m.candidate_id, m.other_unit_id): (m.kind, m.mark) for m in
             db.session.scalars(sa.select(OtherUnitMark))}
    assert len(marks) == 5
    assert sorted(k.value for k, _ in marks.values()) == ["ABS", "dispense", "dispense",
                                                          "mark", "mark"]
    assert OtherMarkKind.MARK in {k for k, _ in marks.values()}


def test_bad_lines_refuse_everything_with_line_and_column(units):
    a, b, c = (x.number for x in units["candidates"])
    report = _import(units, f"N° candidat,U1\n{a},12\n{b},21\nZZ999,10\n{a},11\n{c},douze\n")
    assert not report.ok
    assert [(e.line, e.column, e.message) for e in report.errors] == [
        (3, "U1", "la note 21 n'est pas comprise entre 0 et 20."),
        (4, "N° candidat", "aucun candidat ZZ999 dans cette session."),
        (5, "N° candidat", f"le candidat {a} figure déjà ligne 2."),
        (6, "U1", "« douze » n'est ni une note sur 20, ni ABS, ni DISP."),
    ]
    assert db.session.scalar(sa.select(sa.func.count(OtherUnitMark.id))) == 0


def test_a_file_without_unit_columns_is_refused(units):
    report = _import(units, f"N° candidat;U9\n{units['candidates'][0].number};12\n")
    assert [e.message for e in report.errors] == [
        "aucune colonne d'épreuve : l'en-tête doit nommer au moins une des épreuves de la "
        "session (U1, U2)."]


def test_import_without_units_is_refused(delib):
    with pytest.raises(Invalid):
        _import(delib, "N° candidat;U1\n1;12\n")


def test_import_page_shows_errors_and_keeps_nothing(units, client, login_as):
    login_as(units["gestionnaire"])
    url = f"/gestion/sessions/{units['session'].code}/deliberation/notes"
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    response = client.post(url, data={"csrf_token": token, "file": (
        io.BytesIO(b"N\xc2\xb0 candidat;U1\nZZ1;12\n"), "notes.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Import refusé : 1 erreur" in body and "aucun candidat ZZ1 dans cette session." in body
    number = units["candidates"][0].number
    response = client.post(url, data={"csrf_token": token, "file": (
        io.BytesIO(f"N° candidat;U1\n{number};12\n".encode()), "notes.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(OtherUnitMark.id))) == 1
