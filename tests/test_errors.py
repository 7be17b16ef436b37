"""One ServiceError family, one JSON error shape, one handler; one CSV writer."""

from __future__ import annotations

import csv
import io

import pytest
from flask import Blueprint

from exam_app.csv_export import safe_cell, write_csv
from exam_app.errors import Conflict, Invalid, NotFound, ServiceError


@pytest.mark.parametrize(("error", "status", "code"), [
    (ServiceError("Refusé."), 422, "refused"),
    (Invalid("Note hors barème.", field="mark"), 422, "invalid"),
    (Conflict("Déjà validé."), 409, "conflict"),
    (NotFound("Introuvable."), 404, "not_found"),
    (ServiceError("Trop tard.", status=409, code="late"), 409, "late"),
])
def test_service_error_status_and_code_come_from_the_class_or_the_call(error, status, code):
    assert (error.status, error.code, error.message) == (status, code, str(error))


def test_uncaught_service_error_answers_the_one_json_shape_and_a_french_page():
    from exam_app import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "k", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    probe = Blueprint("probe", __name__)

    @probe.route("/probe")
    def refuse():
        raise Conflict("Ce passage a changé : rechargez.", field="mark", details=["révision 3"])

    app.register_blueprint(probe)
    client = app.test_client()
    as_json = client.get("/probe", headers={"Accept": "application/json"})
    as_page = client.get("/probe")
    assert (as_json.status_code, as_json.get_json()) == (409, {
        "error": "conflict", "message": "Ce passage a changé : rechargez.", "field": "mark",
        "details": ["révision 3"]})
    assert as_page.status_code == 409
    assert "Ce passage a changé : rechargez." in as_page.get_data(as_text=True)


@pytest.mark.parametrize(("value", "cell"), [
    ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("+33 6", "'+33 6"), ("-1", "'-1"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("Dupont", "Dupont"),
    ("", ""), (None, ""), (14.5, "14.5"), ("a=b", "a=b"),
])
def test_safe_cell_neutralises_formulas_only_at_the_start(value, cell):
    assert safe_cell(value) == cell


def test_write_csv_bom_semicolons_crlf_every_cell_neutralised():
    data = write_csv(["Nom", "Note"], [["=1+1", "12,5"], ["Durand", "-3"]])
    assert data.startswith("\ufeff".encode())
    text = data.decode("utf-8-sig")
    assert text.split("\r\n")[:3] == ["Nom;Note", "'=1+1;12,5", "Durand;'-3"]
    assert list(csv.reader(io.StringIO(text), delimiter=";")) == [
        ["Nom", "Note"], ["'=1+1", "12,5"], ["Durand", "'-3"]]
