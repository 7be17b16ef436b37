"""Parsing and validating the candidates CSV (DOMAIN.md, "Candidate import").

Pure functions: bytes in, validated rows or a list of French errors out.
Nothing here touches the database; ``services.import_candidates`` applies
the rows all-or-nothing.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from fractions import Fraction

from exam_app.enrolment.csv_decode import (
    UnreadableFile,
    decode,
    has_binary_controls,
    lines,
    sniff_delimiter,
)
from exam_app.units import UnitForm


@dataclass(frozen=True)
class Column:
    field: str
    label: str
    required: bool
    aliases: tuple[str, ...]


COLUMNS: tuple[Column, ...] = (
    Column("number", "N° candidat", True,
           ("ncandidat", "nocandidat", "numcandidat", "numerocandidat", "numero", "ninscription",
            "ndecandidat", "nodecandidat", "numerodecandidat", "numerodinscription")),
    Column("last_name", "Nom", True, ("nom", "nomdefamille", "nomdenaissance")),
    Column("first_name", "Prénom", True, ("prenom", "prenoms")),
    Column("birth_date", "Date de naissance", True, ("datedenaissance", "naissance", "datenaissance")),
    Column("uai", "UAI", True, ("uai", "codeuai", "rne", "uaietablissement")),
    Column("establishment", "Établissement", False,
           ("etablissement", "nometablissement", "etablissementdeformation")),
    Column("e5_form", "Forme E5", True, ("formee5", "forme", "modalitee5", "formedelepreuvee5")),
    # Optional: the status gives the default E5 form when "Forme E5" is absent or empty.
    Column("status", "Statut", False,
           ("statut", "statutcandidat", "statutducandidat", "regime", "regimedinscription",
            "typedecandidat", "categorie", "voiedeformation", "voie")),
    Column("extra_time", "Aménagement", False,
           ("amenagement", "amenagements", "tempsmajore", "tierstemps")),
    Column("email", "Courriel", False, ("courriel", "email", "mail", "adressemail", "emailcandidat")),
    Column("centre", "Centre", False,
           ("centre", "codecentre", "centredexamen", "centreexamen", "codecentredexamen",
            "centredepassage")),
)

NUMBER_RE = re.compile(r"^[A-Z0-9]{1,20}$")
UAI_RE = re.compile(r"^\d{7}[A-Z]$")
FRACTION_RE = re.compile(r"^(\d{1,2})\s*/\s*(\d{1,2})$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_ERRORS_LISTED = 200


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"ligne {self.line}" if self.line else "fichier"
        if self.column:
            where += f", colonne « {self.column} »"
        return f"{where} : {self.message}"


@dataclass(frozen=True, slots=True)
class CandidateRow:
    """One valid row. Every row of a file is kept until the file is known to be valid
    (all or nothing): slots keep that at a few hundred bytes a row."""

    line: int
    number: str
    last_name: str
    first_name: str
    birth_date: date
    uai: str
    establishment: str | None
    e5_form: str  # "" when the status's default applies
    extra_time: str | None
    email: str | None
    centre: str | None = None
    status: str | None = None


@dataclass
class ParseResult:
    rows: list[CandidateRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    encoding: str = ""
    delimiter: str = ""
    # Every well-formed UAI with its line, and the first name given for each UAI,
    # rows with other errors included, so unknown establishments are reported at once.
    uai_lines: list[tuple[int, str]] = field(default_factory=list)
    uai_names: dict[str, str] = field(default_factory=dict)
    # Every centre code given, with its line and candidate number, rows with other
    # errors included: unknown codes are reported with the rest.
    centre_lines: list[tuple[int, str, str]] = field(default_factory=list)
    # One copy of each value that repeats down the file (UAI, establishment, first name,
    # centre): the rows are all kept until the file is known to be valid.
    shared: dict[str, str] = field(default_factory=dict, repr=False)

    def share(self, value: str) -> str:
        return self.shared.setdefault(value, value)

    def error(self, line: int, column: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_LISTED:
            self.errors.append(RowError(line, column, message))

    @property
    def ok(self) -> bool:
        return self.error_count == 0


def normalise_header(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]", "", ascii_text.lower())


HEADER_INDEX = {alias: column for column in COLUMNS for alias in column.aliases}


def parse_date(text: str) -> date | None:
    for pattern in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern).date()  # noqa: DTZ007 - a calendar date
        except ValueError:
            continue
    return None


def _clean(text: str) -> str:
    return " ".join(text.replace("\u00a0", " ").split())


def parse(data: bytes, *, max_rows: int, today: date | None = None) -> ParseResult:
    """Read and validate every row; return the rows, or every error found."""
    result = ParseResult()
    today = today or date.today()  # noqa: DTZ011 - plausibility bound only
    try:
        text = _text(data, result)
    except UnreadableFile as exc:
        result.error(0, "", str(exc))
        return result

    # strict: an unclosed or stray quote is an error, not a field swallowing the file.
    reader = csv.reader(lines(text), delimiter=result.delimiter, strict=True)
    cursor = _Cursor()
    try:
        positions = _read_header(reader, cursor, result)
        if positions is None:
            return result
        row_count = _read_rows(reader, cursor, positions, result, max_rows=max_rows, today=today)
    except csv.Error:
        result.error(
            cursor.line,
            "",
            "ligne CSV mal formée : guillemet (\") non fermé ou mal placé. Vérifiez cette ligne "
            "et les suivantes, ou réenregistrez le fichier depuis le tableur.",
        )
        return result
    if row_count == 0:
        result.error(0, "", "le fichier ne contient aucun candidat (seulement des en-têtes).")
    return result


def _text(data: bytes, result: ParseResult) -> str:
    """The file as text; notes its encoding and delimiter in ``result``."""
    text, result.encoding = decode(data)
    if has_binary_controls(text):
        raise UnreadableFile(
            "Ce fichier contient des caractères de contrôle : ce n'est pas un CSV texte."
        )
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    result.delimiter = sniff_delimiter(first_line)
    return text


@dataclass
class _Cursor:
    """The line where the row being read starts (a quoted cell may span lines)."""

    line: int = 1


def _read_header(reader, cursor: _Cursor, result: ParseResult) -> dict[str, int] | None:
    """Each known column's position in the first non-blank row, or None after reporting
    a missing or repeated column."""
    header: list[str] = []
    for raw in reader:
        if any(cell.strip() for cell in raw):
            header = raw
            break
        cursor.line = reader.line_num + 1
    header_line = cursor.line
    while header and not header[-1].strip():
        header.pop()

    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        column = HEADER_INDEX.get(normalise_header(name))
        if column is None:
            continue  # extra columns from the spreadsheet are ignored
        if column.field in positions:
            result.error(header_line, name, f"la colonne « {column.label} » apparaît deux fois.")
        positions[column.field] = index
    # A "Statut" column stands in for "Forme E5": the status gives the default form.
    missing = [c.label for c in COLUMNS if c.required and c.field not in positions
               and not (c.field == "e5_form" and "status" in positions)]
    if missing:
        result.error(
            header_line,
            "",
            "colonne(s) obligatoire(s) absente(s) : "
            + ", ".join(f"« {m} »" for m in missing)
            + ". En-têtes attendus : "
            + " ; ".join(c.label for c in COLUMNS)
            + ".",
        )
        return None
    return positions if result.ok else None


def _read_rows(reader, cursor: _Cursor, positions: dict[str, int], result: ParseResult, *,
               max_rows: int, today: date) -> int:
    """Validate each non-blank row after the header; the number of rows read."""
    seen_numbers: dict[str, int] = {}
    row_count = 0
    cursor.line = reader.line_num + 1
    for raw in reader:
        # A quoted cell may span lines: report the line where the row starts.
        line, cursor.line = cursor.line, reader.line_num + 1
        if not any(cell.strip() for cell in raw):
            continue
        row_count += 1
        if row_count > max_rows:
            result.error(
                0,
                "",
                f"le fichier contient plus de {max_rows:,} candidats".replace(",", "\u202f")
                + " : découpez-le en plusieurs fichiers. Rien n'a été importé.",
            )
            return row_count
        _validate_row(raw, line, positions, result, seen_numbers, today)
    return row_count


LABELS = {c.field: c.label for c in COLUMNS}


class _Row:
    """One CSV row's cells by field name, and its errors (reported on its line)."""

    def __init__(self, raw: list[str], line: int, positions: dict[str, int],
                 result: ParseResult):
        self.raw, self.line, self.positions, self.result = raw, line, positions, result

    def cell(self, name: str) -> str:
        index = self.positions.get(name)
        if index is None or index >= len(self.raw):
            return ""
        return _clean(self.raw[index])

    def required(self, name: str) -> str:
        value = self.cell(name)
        if not value:
            self.error(name, "valeur obligatoire manquante.")
        return value

    def error(self, name: str, message: str) -> None:
        self.result.error(self.line, LABELS[name], message)


def _validate_row(raw, line, positions, result, seen_numbers, today) -> None:
    """Check each cell of one row (every error reported); keep the row when all are valid."""
    row = _Row(raw, line, positions, result)
    errors_before = result.error_count
    number = _number(row, seen_numbers)
    last_name, first_name = _names(row)
    birth = _birth_date(row, today)
    uai, establishment = _establishment(row, result)
    status = _status(row)
    e5_form = _e5_form(row)
    extra = _extra_time(row)
    email = _email(row)
    centre = _centre(row, result, number)
    if result.error_count == errors_before:
        result.rows.append(
            CandidateRow(
                line=line,
                number=number,
                last_name=last_name,
                first_name=first_name,
                birth_date=birth,
                uai=uai,
                establishment=establishment,
                e5_form=e5_form,
                extra_time=extra,
                email=email,
                centre=centre,
                status=status,
            )
        )


def _number(row: _Row, seen_numbers: dict[str, int]) -> str:
    number = row.required("number").upper().replace(" ", "")
    if number and not NUMBER_RE.match(number):
        row.error("number", f"« {number} » n'est pas un numéro de candidat valide "
                            "(chiffres et lettres, 20 caractères au plus).")
    elif number in seen_numbers:
        row.error("number", f"le numéro {number} figure déjà ligne {seen_numbers[number]}.")
    elif number:
        seen_numbers[number] = row.line
    return number


def _names(row: _Row) -> tuple[str, str]:
    last_name = row.required("last_name")
    first_name = row.result.share(row.required("first_name"))
    for name, value in (("last_name", last_name), ("first_name", first_name)):
        if len(value) > 100:
            row.error(name, "100 caractères au plus.")
    return last_name, first_name


def _birth_date(row: _Row, today: date) -> date | None:
    birth_text = row.required("birth_date")
    birth = parse_date(birth_text) if birth_text else None
    if birth_text and birth is None:
        row.error("birth_date",
                  f"« {birth_text} » n'est pas une date valide (JJ/MM/AAAA ou AAAA-MM-JJ).")
    elif birth and not (date(1900, 1, 1) <= birth <= today):
        row.error("birth_date", f"« {birth_text} » n'est pas une date de naissance plausible.")
    return birth


def _establishment(row: _Row, result: ParseResult) -> tuple[str, str | None]:
    """The UAI and the establishment's name; a well-formed UAI is noted in ``result``
    (with the first name given for it) even when the row has other errors."""
    uai = result.share(row.required("uai").upper().replace(" ", ""))
    if uai and not UAI_RE.match(uai):
        row.error("uai", f"« {uai} » n'est pas un code UAI (7 chiffres suivis d'une lettre).")
    establishment = result.share(row.cell("establishment")) or None
    if establishment and len(establishment) > 200:
        row.error("establishment", "200 caractères au plus.")
    if uai and UAI_RE.match(uai):
        result.uai_lines.append((row.line, uai))
        if establishment:
            result.uai_names.setdefault(uai, establishment)
    return uai, establishment


def _status(row: _Row) -> str | None:
    from exam_app.enrolment.registration import STATUS_EXPECTED, parse_status

    text = row.cell("status")
    if not text:
        return None
    status = parse_status(text)
    if status is None:
        row.error("status", f"« {text} » : attendu {STATUS_EXPECTED}.")
        return None
    return status.value


def _e5_form(row: _Row) -> str:
    if "status" in row.positions and not row.cell("e5_form"):
        if not row.cell("status"):
            row.error("e5_form", "indiquez la forme E5 ou le statut du candidat.")
        return ""
    form_text = row.required("e5_form")
    form = normalise_header(form_text)
    if form in {"ccf", "controleencoursdeformation"}:
        return UnitForm.CCF.value
    if form in {"ponctuel", "ponctuelle", "p"}:
        return UnitForm.PONCTUEL.value
    if form_text:
        row.error("e5_form", f"« {form_text} » : attendu CCF ou ponctuel.")
    return ""


def _extra_time(row: _Row) -> str | None:
    extra_text = row.cell("extra_time")
    if not extra_text or extra_text in {"0", "-", "non", "aucun"}:
        return None
    match = FRACTION_RE.match(extra_text)
    value = Fraction(int(match[1]), int(match[2])) if match and int(match[2]) else None
    if value is None or not (0 < value <= 1):
        row.error("extra_time",
                  f"« {extra_text} » n'est pas une fraction de temps valide (ex. 1/3).")
        return None
    return f"{value.numerator}/{value.denominator}"


def _email(row: _Row) -> str | None:
    email = row.cell("email") or None
    if email and (len(email) > 254 or not EMAIL_RE.match(email)):
        row.error("email", f"« {email} » n'est pas une adresse électronique.")
    return email


CENTRE_RE = re.compile(r"^[A-Z0-9_-]{1,20}$")


def _centre(row: _Row, result: ParseResult, number: str) -> str | None:
    """The centre code, upper-cased; whether the session has it is checked against the
    database (``services._check_centres``)."""
    code = result.share(row.cell("centre").upper().replace(" ", "")) or None
    if code and not CENTRE_RE.match(code):
        row.error("centre", f"« {code} » n'est pas un code de centre (lettres, chiffres, - "
                            "ou _, 20 caractères au plus).")
        return None
    if code:
        result.centre_lines.append((row.line, code, number))
    return code
