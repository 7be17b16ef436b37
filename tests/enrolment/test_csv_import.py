"""Candidate CSV import: the parser, the service (all-or-nothing, idempotent, audited)
and the page, fed with the kinds of files spreadsheets really produce."""

from __future__ import annotations

import hashlib
import html
import io
import time
from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.enrolment import csv_import, services
from exam_app.enrolment.csv_import import RowError, parse
from exam_app.enrolment.models import Candidate, CandidateUnitForm, Establishment
from exam_app.enrolment.services import import_candidates
from tests.conftest import csrf_token_from

TODAY = date(2026, 11, 27)
HEADER = "N° candidat;Nom;Prénom;Date de naissance;UAI;Établissement;Forme E5;Aménagement;Courriel"
EXPECTED_HEADERS = ("En-têtes attendus : N° candidat ; Nom ; Prénom ; Date de naissance ; UAI ; "
                    "Établissement ; Forme E5 ; Statut ; Aménagement ; Courriel ; Centre.")


def row(number="02712345678", last="Dupré", first="Élodie", birth="14/03/2005", uai="0690026D",
        establishment="", form="CCF", extra="", email="") -> str:
    return ";".join((number, last, first, birth, uai, establishment, form, extra, email))


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\r\n".join((header, *rows)) + "\r\n"


def parsed(text: str | bytes, *, max_rows: int = 20_000) -> csv_import.ParseResult:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return parse(data, max_rows=max_rows, today=TODAY)


def messages(result) -> list[str]:
    return [str(e) for e in result.errors]


# ---- parser: encodings, separators, headers --------------------------------------------


def test_parse_reads_utf8_without_bom():
    result = parsed(csv_text(row(), row(number="02712345679", last="Lefèvre", first="Chloé")))
    assert messages(result) == []
    assert result.encoding == "UTF-8"
    assert result.delimiter == ";"
    first, second = result.rows
    assert (first.line, first.number, first.last_name, first.first_name) == (
        2, "02712345678", "Dupré", "Élodie")
    assert (first.birth_date, first.uai, first.e5_form, first.extra_time, first.email) == (
        date(2005, 3, 14), "0690026D", "ccf", None, None)
    assert (second.line, second.last_name, second.first_name) == (3, "Lefèvre", "Chloé")


def test_parse_reads_utf8_with_bom_and_recognises_the_first_header():
    result = parsed(b"\xef\xbb\xbf" + csv_text(row()).encode("utf-8"))
    assert messages(result) == []
    assert result.encoding == "UTF-8 (BOM)"
    assert result.rows[0].number == "02712345678"


def test_parse_reads_windows_1252_with_accents():
    text = csv_text(row(last="Lefèvre", first="Anaïs Maëlys", establishment="Lycée Édouard-Herriot"))
    result = parsed(text.encode("cp1252"))
    assert messages(result) == []
    assert result.encoding == "Windows-1252"
    assert (result.rows[0].last_name, result.rows[0].first_name, result.rows[0].establishment) == (
        "Lefèvre", "Anaïs Maëlys", "Lycée Édouard-Herriot")


def test_parse_reads_comma_separated_files_with_quoted_cells():
    text = ("N° candidat,Nom,Prénom,Date de naissance,UAI,Établissement,Forme E5\n"
            '02712345678,Dupré,Élodie,14/03/2005,0690026D,"Lycée Saint-Joseph, Bourg",ponctuel\n')
    result = parsed(text)
    assert messages(result) == []
    assert result.delimiter == ","
    assert result.rows[0].establishment == "Lycée Saint-Joseph, Bourg"
    assert result.rows[0].e5_form == "ponctuel"


@pytest.mark.parametrize(
    "header",
    [
        "N°CANDIDAT;NOM;PRENOM;DATE DE NAISSANCE;uai;etablissement;FORME E5;AMENAGEMENT;COURRIEL",
        "n° candidat;nom;prénom;date-de-naissance;U.A.I.;Établissement;forme_e5;aménagement;e-mail",
        "Numéro de candidat;Nom de famille;Prénom(s);Date de naissance ;Code UAI;Nom établissement;"
        "Forme E5 ;Aménagements;Adresse mail",
        "  N° Candidat  ;\u00a0Nom;Prénom;Date de naissance;UAI;Établissement;Forme (E5);"
        "Aménagement;Courriel",
    ],
)
def test_parse_matches_headers_ignoring_case_accents_spaces_and_punctuation(header):
    result = parsed(csv_text(row(extra="1/3", email="elodie@example.fr"), header=header))
    assert messages(result) == []
    assert result.rows[0].number == "02712345678"
    assert result.rows[0].extra_time == "1/3"
    assert result.rows[0].email == "elodie@example.fr"


def test_parse_ignores_trailing_empty_columns_lines_and_unknown_columns():
    text = (HEADER + ";Remarques;;;\r\n"
            + row() + ";à revoir;;;\r\n"
            + ";;;;;;;;;;;;\r\n"
            + "\r\n\r\n   \r\n")
    result = parsed(text)
    assert messages(result) == []
    assert [r.number for r in result.rows] == ["02712345678"]


def test_parse_skips_blank_lines_before_the_header_and_counts_lines_from_the_file():
    result = parsed("\r\n\r\n" + csv_text(row(), row(number="X1", birth="31/02/2005")))
    assert messages(result) == [
        "ligne 5, colonne « Date de naissance » : « 31/02/2005 » n'est pas une date valide "
        "(JJ/MM/AAAA ou AAAA-MM-JJ)."]


def test_parse_reports_missing_required_columns_in_french():
    result = parsed("Nom;Prénom;Établissement\r\nDupré;Élodie;Lycée\r\n")
    assert messages(result) == [
        "ligne 1 : colonne(s) obligatoire(s) absente(s) : « N° candidat », « Date de naissance », "
        "« UAI », « Forme E5 ». " + EXPECTED_HEADERS]
    assert result.rows == []


def test_parse_reports_a_duplicated_column():
    result = parsed(csv_text(row() + ";Dupont", header=HEADER + ";NOM"))
    assert messages(result) == ["ligne 1, colonne « NOM » : la colonne « Nom » apparaît deux fois."]


# ---- parser: values ------------------------------------------------------------------------


def test_parse_refuses_duplicate_numbers_in_the_file():
    result = parsed(csv_text(row(), row(last="Autre"), row(number="02712345678 ")))
    assert messages(result) == [
        "ligne 3, colonne « N° candidat » : le numéro 02712345678 figure déjà ligne 2.",
        "ligne 4, colonne « N° candidat » : le numéro 02712345678 figure déjà ligne 2.",
    ]


def test_parse_normalises_the_candidate_number():
    result = parsed(csv_text(row(number=" ab 12 34 ")))
    assert result.rows[0].number == "AB1234"


def test_parse_refuses_a_number_with_other_characters():
    result = parsed(csv_text(row(number="027-1234")))
    assert messages(result) == [
        "ligne 2, colonne « N° candidat » : « 027-1234 » n'est pas un numéro de candidat valide "
        "(chiffres et lettres, 20 caractères au plus)."]


@pytest.mark.parametrize("birth", ["31/02/2005", "29/02/2006", "32/01/2005", "14/13/2005",
                                   "2005-02-30", "14-03-2005", "14/03/05", "hier"])
def test_parse_refuses_impossible_dates(birth):
    result = parsed(csv_text(row(birth=birth)))
    assert messages(result) == [
        f"ligne 2, colonne « Date de naissance » : « {birth} » n'est pas une date valide "
        "(JJ/MM/AAAA ou AAAA-MM-JJ)."]


@pytest.mark.parametrize("birth", ["28/11/2026", "14/03/2030", "01/01/1899"])
def test_parse_refuses_implausible_birth_dates(birth):
    result = parsed(csv_text(row(birth=birth)))
    assert messages(result) == [
        f"ligne 2, colonne « Date de naissance » : « {birth} » n'est pas une date de naissance "
        "plausible."]


def test_parse_accepts_both_date_formats():
    result = parsed(csv_text(row(birth="29/02/2004"), row(number="B2", birth="2004-02-29"),
                             row(number="B3", birth="27/11/2026")))
    assert messages(result) == []
    assert [r.birth_date for r in result.rows] == [date(2004, 2, 29), date(2004, 2, 29),
                                                    date(2026, 11, 27)]


@pytest.mark.parametrize("uai", ["069002D", "06900261", "A690026D", "0690026DD"])
def test_parse_refuses_a_bad_uai(uai):
    result = parsed(csv_text(row(uai=uai)))
    assert messages(result) == [
        f"ligne 2, colonne « UAI » : « {uai} » n'est pas un code UAI (7 chiffres suivis d'une lettre)."]


def test_parse_upper_cases_the_uai():
    assert parsed(csv_text(row(uai="0690026d"))).rows[0].uai == "0690026D"


@pytest.mark.parametrize(("text", "expected"), [("CCF", "ccf"), ("ccf", "ccf"),
                                                ("Ponctuel", "ponctuel"), ("PONCTUELLE", "ponctuel")])
def test_parse_reads_the_e5_form(text, expected):
    assert parsed(csv_text(row(form=text))).rows[0].e5_form == expected


def test_parse_refuses_a_bad_e5_form():
    result = parsed(csv_text(row(form="oral"), row(number="B2", form="")))
    assert messages(result) == [
        "ligne 2, colonne « Forme E5 » : « oral » : attendu CCF ou ponctuel.",
        "ligne 3, colonne « Forme E5 » : valeur obligatoire manquante.",
    ]


@pytest.mark.parametrize(("text", "expected"), [("1/3", "1/3"), ("2/6", "1/3"), (" 1 / 4 ", "1/4"),
                                                ("1/1", "1/1"), ("", None), ("0", None)])
def test_parse_reads_the_extra_time_fraction(text, expected):
    result = parsed(csv_text(row(extra=text)))
    assert messages(result) == []
    assert result.rows[0].extra_time == expected


@pytest.mark.parametrize("text", ["1/0", "4/3", "beaucoup", "33%", "1/3/4"])
def test_parse_refuses_a_bad_extra_time(text):
    result = parsed(csv_text(row(extra=text)))
    assert messages(result) == [
        f"ligne 2, colonne « Aménagement » : « {text} » n'est pas une fraction de temps valide "
        "(ex. 1/3)."]


@pytest.mark.parametrize("email", ["elodie@", "elodie.example.fr", "élodie @example.fr",
                                   "a@b", "x" * 250 + "@example.fr"])
def test_parse_refuses_a_bad_email(email):
    result = parsed(csv_text(row(email=email)))
    assert messages(result) == [
        f"ligne 2, colonne « Courriel » : « {email} » n'est pas une adresse électronique."]


def test_parse_lists_every_error_with_line_and_column():
    result = parsed(csv_text(row(), row(number="", last="", birth="31/02/2005"),
                             row(number="B3", uai="123", form="oral")))
    assert messages(result) == [
        "ligne 3, colonne « N° candidat » : valeur obligatoire manquante.",
        "ligne 3, colonne « Nom » : valeur obligatoire manquante.",
        "ligne 3, colonne « Date de naissance » : « 31/02/2005 » n'est pas une date valide "
        "(JJ/MM/AAAA ou AAAA-MM-JJ).",
        "ligne 4, colonne « UAI » : « 123 » n'est pas un code UAI (7 chiffres suivis d'une lettre).",
        "ligne 4, colonne « Forme E5 » : « oral » : attendu CCF ou ponctuel.",
    ]
    assert [r.line for r in result.rows] == [2]


def test_parse_lists_at_most_200_errors_but_counts_them_all():
    result = parsed(csv_text(*(row(number=f"N{i}", form="oral") for i in range(250))))
    assert result.error_count == 250
    assert len(result.errors) == 200
    assert result.ok is False


def test_parse_reports_an_unclosed_quote_at_the_line_where_the_row_starts():
    text = csv_text(row(), '"02712345679;Martin;Paul;14/03/2005;0690026D;;CCF;;', row(number="B3"))
    result = parsed(text)
    assert messages(result) == [
        "ligne 3 : ligne CSV mal formée : guillemet (\") non fermé ou mal placé. Vérifiez cette "
        "ligne et les suivantes, ou réenregistrez le fichier depuis le tableur."]


def test_parse_keeps_a_quoted_cell_spanning_lines_and_reports_later_lines_exactly():
    text = csv_text(row(last='"Du\r\npré"'), row(number="B2", birth="31/02/2005"))
    result = parsed(text)
    assert messages(result) == [
        "ligne 4, colonne « Date de naissance » : « 31/02/2005 » n'est pas une date valide "
        "(JJ/MM/AAAA ou AAAA-MM-JJ)."]
    assert result.rows[0].last_name == "Du pré"


# ---- parser: files that are not candidate lists -------------------------------------------

NOT_CSV = ("fichier : Ce fichier n'est pas un fichier CSV (contenu binaire : tableur, PDF ou "
           "archive ?). Depuis le tableur, choisissez « Enregistrer sous » puis « CSV (séparateur : "
           "point-virgule) ».")


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml",
        b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00>\x00",
        HEADER.encode() + b"\r\n02712345678;Dup\x00r\xe9\r\n",
    ],
    ids=["pdf", "zip-xlsx", "elf", "nul-bytes"],
)
def test_parse_refuses_binary_files(data):
    assert messages(parsed(data)) == [NOT_CSV]


def test_parse_refuses_control_characters():
    assert messages(parsed(csv_text(row(last="Du\x07pré")))) == [
        "fichier : Ce fichier contient des caractères de contrôle : ce n'est pas un CSV texte."]


@pytest.mark.parametrize("data", [b"", b"\r\n\r\n   \r\n"])
def test_parse_refuses_an_empty_file(data):
    assert messages(parsed(data)) == ["fichier : Le fichier est vide."]


def test_parse_refuses_a_header_only_file():
    assert messages(parsed(HEADER + "\r\n;;;;\r\n\r\n")) == [
        "fichier : le fichier ne contient aucun candidat (seulement des en-têtes)."]


def test_parse_refuses_a_file_without_separator():
    assert messages(parsed("N° candidat\tNom\tPrénom\r\n1\tA\tB\r\n")) == [
        "fichier : Séparateur de colonnes non reconnu : la première ligne doit contenir les "
        "en-têtes séparés par des points-virgules (;) ou des virgules (,)."]


def test_parse_refuses_utf8_bom_followed_by_windows_1252_bytes():
    data = b"\xef\xbb\xbf" + csv_text(row(last="Lefèvre")).encode("cp1252")
    assert messages(parsed(data)) == [
        "fichier : Le fichier annonce l'encodage UTF-8 mais contient des caractères invalides."]


def test_parse_reads_utf16_as_saved_by_some_spreadsheets():
    result = parsed(csv_text(row(last="Lefèvre")).encode("utf-16"))
    assert messages(result) == []
    assert result.encoding == "UTF-16"
    assert result.rows[0].last_name == "Lefèvre"


def _big_file(rows: int) -> bytes:
    lines = [HEADER]
    lines.extend(f"{i:011d};Nom{i};Prénom;14/03/2005;0690026D;;CCF;;" for i in range(rows))
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def test_parse_refuses_more_rows_than_the_limit_quickly():
    data = _big_file(100_000)
    start = time.perf_counter()
    result = parse(data, max_rows=20_000, today=TODAY)
    elapsed = time.perf_counter() - start
    assert messages(result) == [
        "fichier : le fichier contient plus de 20\u202f000 candidats : découpez-le en plusieurs "
        "fichiers. Rien n'a été importé."]
    assert elapsed < 15, f"parse took {elapsed:.1f} s"


def test_row_error_reads_as_french():
    assert str(RowError(12, "UAI", "trop court.")) == "ligne 12, colonne « UAI » : trop court."
    assert str(RowError(1, "", "vide.")) == "ligne 1 : vide."
    assert str(RowError(0, "", "vide.")) == "fichier : vide."


# ---- service: all or nothing, idempotent, audited -----------------------------------------


@pytest.fixture()
def lycee(create_establishment):
    return create_establishment(uai="0690026D", name="Lycée Édouard-Herriot")


def _candidates(db, session) -> list[tuple]:
    return db.session.execute(
        sa.select(Candidate.number, Candidate.last_name, Candidate.first_name, Candidate.birth_date,
                  Establishment.uai, CandidateUnitForm.form, Candidate.extra_time, Candidate.email,
                  Candidate.search_text)
        .join(Establishment, Candidate.establishment_id == Establishment.id)
        .outerjoin(CandidateUnitForm, sa.and_(CandidateUnitForm.candidate_id == Candidate.id,
                                              CandidateUnitForm.unit_code == "E5"))
        .where(Candidate.session_id == session.id).order_by(Candidate.number)
    ).all()


def _import(session, text: str | bytes, actor=None, filename="candidats.csv"):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return import_candidates(session=session, data=data, actor=actor, max_rows=20_000,
                             filename=filename)


def _audit_actions(db) -> list[str]:
    return db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()


def test_import_creates_candidates(db, create_session, lycee):
    session = create_session()
    report = _import(session, csv_text(
        row(extra="1/3", email="elodie@example.fr"),
        row(number="02712345679", last="Lefèvre", first="Chloé", birth="2004-12-01",
            form="ponctuel")))
    db.session.commit()
    assert (report.ok, report.created, report.updated, report.unchanged,
            report.establishments_created) == (True, 2, 0, 0, 0)
    assert _candidates(db, session) == [
        ("02712345678", "Dupré", "Élodie", date(2005, 3, 14), "0690026D", "ccf", "1/3",
         "elodie@example.fr", "DUPRE ELODIE 02712345678"),
        ("02712345679", "Lefèvre", "Chloé", date(2004, 12, 1), "0690026D", "ponctuel", None, None,
         "LEFEVRE CHLOE 02712345679"),
    ]


def test_import_writes_an_audit_event(db, create_session, create_user, lycee):
    session = create_session()
    actor = create_user(Role.GESTIONNAIRE, first_name="Claire", last_name="Vasseur")
    data = csv_text(row(), row(number="02712345679")).encode("utf-8")
    _import(session, data, actor=actor, filename="export.csv")
    db.session.commit()
    event = db.session.scalars(sa.select(AuditEvent)).one()
    assert (event.action, event.object_type, event.object_id, event.session_id) == (
        "candidate.import", "exam_session", str(session.id), session.id)
    assert (event.actor_id, event.actor_label) == (actor.id, "Claire Vasseur")
    assert event.after == {
        "file": "export.csv",
        "sha256": hashlib.sha256(data).hexdigest(),
        "rows": 2,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "establishments_created": 0,
        "created_numbers": ["02712345678", "02712345679"],
        "updated_numbers": [],
    }


def test_import_with_one_bad_row_writes_nothing(db, create_session, lycee):
    session = create_session()
    report = _import(session, csv_text(
        row(), row(number="B2", uai="0421788R", establishment="Lycée Simone-Weil"),
        row(number="B3", birth="31/02/2005")))
    db.session.commit()
    assert (report.ok, report.created, report.error_count) == (False, 0, 1)
    assert [str(e) for e in report.errors] == [
        "ligne 4, colonne « Date de naissance » : « 31/02/2005 » n'est pas une date valide "
        "(JJ/MM/AAAA ou AAAA-MM-JJ)."]
    assert _candidates(db, session) == []
    assert db.session.scalars(sa.select(Establishment.uai)).all() == ["0690026D"]
    assert _audit_actions(db) == []


def test_import_refuses_an_unknown_uai_without_establishment_name(db, create_session, lycee):
    session = create_session()
    report = _import(session, csv_text(row(), row(number="B2", uai="0421788R")))
    assert [str(e) for e in report.errors] == [
        "ligne 3, colonne « UAI » : établissement 0421788R inconnu : ajoutez son nom dans une "
        "colonne « Établissement » ou créez-le d'abord."]
    db.session.commit()
    assert _candidates(db, session) == []


def test_import_lists_unknown_uai_with_the_other_errors_in_line_order(db, create_session, lycee):
    session = create_session()
    report = _import(session, csv_text(
        row(number="B1", uai="0421788R", email="b1@"),
        row(number="B2", birth="31/02/2005"),
        row(number="B3", uai="0421788R")))
    assert [str(e) for e in report.errors] == [
        "ligne 2, colonne « Courriel » : « b1@ » n'est pas une adresse électronique.",
        "ligne 2, colonne « UAI » : établissement 0421788R inconnu : ajoutez son nom dans une "
        "colonne « Établissement » ou créez-le d'abord.",
        "ligne 3, colonne « Date de naissance » : « 31/02/2005 » n'est pas une date valide "
        "(JJ/MM/AAAA ou AAAA-MM-JJ).",
        "ligne 4, colonne « UAI » : établissement 0421788R inconnu : ajoutez son nom dans une "
        "colonne « Établissement » ou créez-le d'abord.",
    ]
    assert report.error_count == 4


def test_import_creates_an_unknown_establishment_named_in_the_file(db, create_session, lycee):
    session = create_session()
    # The name may be on any row of that UAI, not only the first one.
    report = _import(session, csv_text(
        row(number="B1", uai="0421788R"),
        row(number="B2", uai="0421788R", establishment="Lycée Simone-Weil"),
        row(number="B3", establishment="Nom ignoré pour un UAI connu")))
    db.session.commit()
    assert (report.ok, report.created, report.establishments_created) == (True, 3, 1)
    assert db.session.execute(
        sa.select(Establishment.uai, Establishment.name).order_by(Establishment.uai)).all() == [
        ("0421788R", "Lycée Simone-Weil"), ("0690026D", "Lycée Édouard-Herriot")]
    assert [(c[0], c[4]) for c in _candidates(db, session)] == [
        ("B1", "0421788R"), ("B2", "0421788R"), ("B3", "0690026D")]


def test_reimporting_the_same_file_changes_nothing(db, create_session, lycee):
    session = create_session()
    text = csv_text(row(extra="1/3"), row(number="B2", uai="0421788R", establishment="Lycée Simone-Weil"),
                    row(number="B3", email="b3@example.fr"))
    first = _import(session, text)
    db.session.commit()
    before = _candidates(db, session)
    second = _import(session, text.encode("cp1252"))  # same data, as re-exported by Excel
    db.session.commit()
    assert (first.created, first.updated, first.unchanged, first.establishments_created) == (3, 0, 0, 1)
    assert (second.created, second.updated, second.unchanged, second.establishments_created) == (
        0, 0, 3, 0)
    assert _candidates(db, session) == before
    assert db.session.scalar(sa.select(sa.func.count(Establishment.id))) == 2
    assert _audit_actions(db) == ["candidate.import", "candidate.import"]


def test_reimport_updates_changed_candidates_only(db, create_session, lycee, create_establishment):
    create_establishment(uai="0421788R", name="Lycée Simone-Weil")
    session = create_session()
    _import(session, csv_text(row(), row(number="B2"), row(number="B3")))
    db.session.commit()
    updated_before = db.session.scalar(sa.select(Candidate.updated_at).where(Candidate.number == "B3"))
    report = _import(session, csv_text(
        row(last="Dupré-Martin", form="ponctuel", extra="1/4"),
        row(number="B2", uai="0421788R"),
        row(number="B3"),
        row(number="B4", first="Nouveau")))
    db.session.commit()
    assert (report.created, report.updated, report.unchanged) == (1, 2, 1)
    rows = {c[0]: c for c in _candidates(db, session)}
    assert rows["02712345678"][1:] == ("Dupré-Martin", "Élodie", date(2005, 3, 14), "0690026D",
                                       "ponctuel", "1/4", None, "DUPRE-MARTIN ELODIE 02712345678")
    assert rows["B2"][4] == "0421788R"
    assert rows["B4"][2] == "Nouveau"
    assert db.session.scalar(sa.select(Candidate.updated_at).where(Candidate.number == "B3")) == \
        updated_before
    audit = db.session.scalars(sa.select(AuditEvent.after).order_by(AuditEvent.id)).all()[-1]
    assert (audit["updated"], audit["updated_numbers"], audit["created_numbers"]) == (
        2, ["02712345678", "B2"], ["B4"])


def test_import_keeps_candidates_absent_from_the_file(db, create_session, lycee):
    session = create_session()
    _import(session, csv_text(row(), row(number="B2")))
    db.session.commit()
    report = _import(session, csv_text(row(number="B3")))
    db.session.commit()
    assert (report.created, report.updated, report.unchanged) == (1, 0, 0)
    assert [c[0] for c in _candidates(db, session)] == ["02712345678", "B2", "B3"]


def test_import_keeps_sessions_apart(db, create_session, lycee):
    first, second = create_session(), create_session()
    _import(first, csv_text(row()))
    report = _import(second, csv_text(row(last="Autre")))
    db.session.commit()
    assert (report.created, report.updated) == (1, 0)
    assert [c[1] for c in _candidates(db, first)] == ["Dupré"]
    assert [c[1] for c in _candidates(db, second)] == ["Autre"]


def test_resolve_session_defaults_to_the_only_one(db, create_session):
    with pytest.raises(services.UnknownSession, match="Aucune session n'existe."):
        services.resolve_session(None)
    session = create_session()
    assert services.resolve_session(None) is session
    create_session(code="AUTRE")
    with pytest.raises(services.UnknownSession, match="Plusieurs sessions existent"):
        services.resolve_session(None)
    assert services.resolve_session("AUTRE").code == "AUTRE"
    with pytest.raises(services.UnknownSession, match="Aucune session n'a le code « X »."):
        services.resolve_session("X")


# ---- the page ---------------------------------------------------------------------------


@pytest.fixture()
def gestionnaire(create_user, login_as):
    user = create_user(Role.GESTIONNAIRE)
    login_as(user)
    return user


def _url(session) -> str:
    return f"/gestion/sessions/{session.code}/candidats/import"


def _upload(client, session, data: bytes, *, filename="candidats.csv", with_csrf: bool = True,
            token: str | None = None):
    form = {"file": FileStorage(io.BytesIO(data), filename=filename, content_type="text/csv")}
    if with_csrf:
        form["csrf_token"] = token or csrf_token_from(client.get(_url(session)).get_data(as_text=True))
    # Encoded in memory: the test client would spool a large body to a temporary
    # file and never close it (a ResourceWarning, an error under filterwarnings).
    boundary, body = encode_multipart(form)
    return client.post(_url(session), data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_import_page_shows_the_form(client, create_session, gestionnaire):
    session = create_session()
    response = client.get(_url(session))
    assert response.status_code == 200
    page = _text(response)
    assert "Importer des candidats" in page
    assert 'enctype="multipart/form-data"' in page
    assert 'name="csrf_token"' in page


def test_import_page_imports_a_file_and_says_so(client, db, create_session, lycee, gestionnaire):
    session = create_session()
    data = csv_text(row(), row(number="B2", last="Lefèvre")).encode("cp1252")
    response = _upload(client, session, data)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/gestion/sessions/{session.code}/candidats"
    page = _text(client.get(response.headers["Location"]))
    assert "Import terminé : 2 candidat(s) créé(s), 0 mis à jour, 0 inchangé(s)." in page
    assert "Lefèvre" in page
    assert [c[0] for c in _candidates(db, session)] == ["02712345678", "B2"]
    event = db.session.scalars(sa.select(AuditEvent)).one()
    assert (event.action, event.actor_id, event.after["file"]) == (
        "candidate.import", gestionnaire.id, "candidats.csv")


def test_import_page_reimport_reports_unchanged(client, db, create_session, lycee, gestionnaire):
    session = create_session()
    data = csv_text(row(), row(number="B2")).encode("utf-8")
    _upload(client, session, data)
    response = _upload(client, session, data)
    assert response.status_code == 302
    assert "Import terminé : 0 candidat(s) créé(s), 0 mis à jour, 2 inchangé(s)." in _text(
        client.get(response.headers["Location"]))


def test_import_page_lists_errors_by_line_and_column_and_writes_nothing(
        client, db, create_session, lycee, gestionnaire):
    session = create_session()
    data = csv_text(row(), row(number="B2", uai="0421788R"), row(number="B3", form="oral")).encode()
    response = _upload(client, session, data)
    assert response.status_code == 422
    page = _text(response)
    assert "Import refusé : 2 erreurs" in page
    assert "Aucun candidat n'a été importé ni modifié." in page
    assert ('<tr><td class="num">4</td><td>Forme E5</td><td>« oral » : attendu CCF ou ponctuel.</td></tr>'
            in page)
    assert _candidates(db, session) == []
    assert _audit_actions(db) == []


def test_import_page_refuses_a_binary_file(client, db, create_session, gestionnaire):
    session = create_session()
    response = _upload(client, session, b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)),
                       filename="candidats.xlsx")
    assert response.status_code == 422
    assert "Ce fichier n'est pas un fichier CSV (contenu binaire" in _text(response)
    assert _candidates(db, session) == []


def test_import_page_refuses_100000_rows_quickly(client, db, create_session, lycee, gestionnaire):
    session = create_session()
    data = _big_file(100_000)
    token = csrf_token_from(client.get(_url(session)).get_data(as_text=True))
    start = time.perf_counter()
    response = _upload(client, session, data, token=token)
    elapsed = time.perf_counter() - start
    assert response.status_code == 422
    assert ("le fichier contient plus de 20\u202f000 candidats : découpez-le en plusieurs fichiers. "
            "Rien n'a été importé.") in _text(response)
    assert elapsed < 20, f"the page took {elapsed:.1f} s"
    assert _candidates(db, session) == []


def test_import_page_refuses_a_file_over_the_size_limit(client, db, app, monkeypatch,
                                                        create_session, lycee, gestionnaire):
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", 2 * 1024 * 1024)
    session = create_session()
    data = csv_text(*(row(number=f"N{i}") for i in range(50_000))).encode()
    assert len(data) > 2 * 1024 * 1024
    response = _upload(client, session, data)
    assert response.status_code == 413
    assert "Le fichier dépasse 2 Mo : découpez-le. Rien n'a été importé." in _text(response)
    assert _candidates(db, session) == []


def test_import_page_refuses_a_body_over_the_request_limit(client, db, app, monkeypatch,
                                                           create_session, lycee, gestionnaire):
    session = create_session()
    token = csrf_token_from(client.get(_url(session)).get_data(as_text=True))
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 100_000)
    data = csv_text(*(row(number=f"N{i}") for i in range(3_000))).encode()
    response = _upload(client, session, data, token=token)
    assert response.status_code == 413
    assert ("Le fichier envoyé dépasse la taille autorisée. Rien n'a été enregistré."
            in _text(response))
    assert _candidates(db, session) == []


def test_import_page_without_csrf_token_is_refused(client, db, create_session, lycee, gestionnaire):
    session = create_session()
    response = _upload(client, session, csv_text(row()).encode(), with_csrf=False)
    assert response.status_code == 400
    assert "jeton de sécurité manquant" in _text(response)
    assert _candidates(db, session) == []


def test_import_page_without_file_asks_for_one(client, db, create_session, gestionnaire):
    session = create_session()
    token = csrf_token_from(client.get(_url(session)).get_data(as_text=True))
    response = client.post(_url(session), data={"csrf_token": token},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Choisissez un fichier CSV à importer." in _text(response)


def test_import_page_of_an_unknown_session_is_404(client, db, gestionnaire):
    assert client.get("/gestion/sessions/NOPE/candidats/import").status_code == 404


def test_import_page_reports_a_concurrent_import(client, db, monkeypatch, create_session, lycee,
                                                 gestionnaire):
    session = create_session()

    def collide(**kwargs):
        raise IntegrityError("INSERT INTO candidate", {}, Exception("duplicate key"))

    monkeypatch.setattr(services, "import_candidates", collide)
    response = _upload(client, session, csv_text(row()).encode())
    assert response.status_code == 409
    assert ("Un autre import a enregistré les mêmes candidats au même moment : rien n'a été "
            "importé par celui-ci. Réimportez le fichier.") in _text(response)


def test_import_page_is_for_gestionnaires_only(client, db, create_session, create_user, login_as):
    session = create_session()
    login_as(create_user(Role.CORRECTEUR))
    assert client.get(_url(session)).status_code == 403
