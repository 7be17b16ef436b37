"""The diploma's other units (U1, U2, ...): their coefficients as session data, entered by
the gestionnaire (no default), and the CSV import of their marks, all or nothing."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.deliberation.models import OtherMarkKind, OtherUnit, OtherUnitMark
from exam_app.deliberation.services import ensure_results_open
from exam_app.enrolment.csv_import import Column, RowError, normalise_header
from exam_app.enrolment.csv_table import read_table
from exam_app.enrolment.models import Candidate
from exam_app.errors import Conflict, Invalid
from exam_app.extensions import db
from exam_app.units import all_units

CODE_RE = re.compile(r"^[A-Z][A-Z0-9]{0,9}$")


def other_units(session_id: int) -> list[OtherUnit]:
    return list(db.session.scalars(sa.select(OtherUnit).where(OtherUnit.session_id == session_id)
                                   .order_by(OtherUnit.code)))


def _coefficient(text: str) -> Decimal:
    try:
        value = Decimal((text or "").strip().replace(",", "."))
    except InvalidOperation:
        raise Invalid("Saisissez le coefficient (ex. 3 ou 1,5).", field="coefficient") from None
    if not value.is_finite() or not Decimal(0) < value <= Decimal(20) \
            or value != value.quantize(Decimal("0.1")):
        raise Invalid("Le coefficient est un nombre de 0,5 à 20 (une décimale au plus).",
                      field="coefficient")
    return value


def save_other_unit(*, session, code: str, label: str, coefficient: str, actor) -> OtherUnit:
    """Add another unit of the diploma, or change the label and coefficient of one."""
    code = (code or "").strip().upper()
    label = (label or "").strip()
    if not CODE_RE.match(code):
        raise Invalid("Le code de l'épreuve : une lettre puis au plus neuf lettres ou chiffres "
                      "(ex. U1, U22).", field="code")
    if code in {u.code for u in all_units()}:
        raise Invalid(f"{code} est une épreuve gérée par l'application : ses résultats "
                      "viennent des commissions et des copies.", field="code")
    if not label or len(label) > 200:
        raise Invalid("Indiquez l'intitulé de l'épreuve (200 caractères au plus).",
                      field="label")
    value = _coefficient(coefficient)
    ensure_results_open(session.id)
    unit = db.session.scalar(sa.select(OtherUnit).where(OtherUnit.session_id == session.id,
                                                       OtherUnit.code == code))
    before = None
    if unit is None:
        unit = OtherUnit(session_id=session.id, code=code, label=label, coefficient=value)
        db.session.add(unit)
    else:
        before = {"label": unit.label, "coefficient": unit.coefficient}
        unit.label, unit.coefficient = label, value
    db.session.flush()
    record(actor=actor, action="other_unit.save", object_type="other_unit", object_id=unit.id,
           session_id=session.id, before=before,
           after={"code": code, "label": label, "coefficient": value})
    return unit


def delete_other_unit(*, session, unit_id: int, actor) -> None:
    """Remove another unit and its imported marks."""
    ensure_results_open(session.id)
    unit = db.session.get(OtherUnit, unit_id)
    if unit is None or unit.session_id != session.id:
        raise Conflict("Cette épreuve n'existe plus : rechargez la page.")
    count = db.session.scalar(sa.select(sa.func.count()).where(
        OtherUnitMark.other_unit_id == unit.id))
    record(actor=actor, action="other_unit.delete", object_type="other_unit", object_id=unit.id,
           session_id=session.id, before={"code": unit.code, "coefficient": unit.coefficient,
                                          "marks": count})
    db.session.execute(sa.delete(OtherUnitMark).where(OtherUnitMark.other_unit_id == unit.id))
    db.session.delete(unit)
    db.session.flush()


def other_marks(session_id: int, candidate_ids=None) -> dict[tuple[int, str], OtherUnitMark]:
    """(candidate id, unit code) -> imported result, in one query."""
    query = (sa.select(OtherUnitMark, OtherUnit.code)
             .join(OtherUnit, OtherUnit.id == OtherUnitMark.other_unit_id)
             .where(OtherUnit.session_id == session_id))
    if candidate_ids is not None:
        query = query.where(OtherUnitMark.candidate_id.in_(candidate_ids))
    return {(m.candidate_id, code): m for m, code in db.session.execute(query)}


def printed_other(mark: OtherUnitMark | None) -> str:
    if mark is None:
        return ""
    if mark.kind is OtherMarkKind.MARK:
        from exam_app.formatting import decimal_fr

        return decimal_fr(mark.mark)
    return "ABS" if mark.kind is OtherMarkKind.ABS else "Dispensé"


# ---- import --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarksReport:
    rows: int = 0
    marks: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    encoding: str = ""

    @property
    def ok(self) -> bool:
        return self.error_count == 0


def _cell(text: str) -> tuple[OtherMarkKind, Decimal | None] | None | str:
    """A cell's result, None when empty (left as is), or a French error."""
    value = text.strip().upper().replace(",", ".")
    if not value:
        return None
    if value in ("ABS", "ABSENT"):
        return OtherMarkKind.ABS, None
    if value in ("DISP", "DISPENSE", "DISPENSÉ"):
        return OtherMarkKind.DISPENSE, None
    try:
        mark = Decimal(value)
    except InvalidOperation:
        return f"« {text} » n'est ni une note sur 20, ni ABS, ni DISP."
    if not mark.is_finite() or not Decimal(0) <= mark <= Decimal(20):
        return f"la note {text} n'est pas comprise entre 0 et 20."
    if mark != mark.quantize(Decimal("0.01")):
        return f"la note {text} a plus de deux décimales."
    return OtherMarkKind.MARK, mark


def import_other_marks(*, session, data: bytes, actor, max_rows: int,
                       filename: str = "") -> MarksReport:
    """Marks of the other units from a CSV file (« N° candidat » then one column per unit
    code), all or nothing: a cell left empty leaves that mark as it is."""
    units = other_units(session.id)
    if not units:
        raise Invalid("Saisissez d'abord les épreuves et leurs coefficients.")
    columns = (Column("number", "N° candidat", True,
                      ("ncandidat", "nocandidat", "numcandidat", "numerocandidat", "numero",
                       "ndecandidat", "numerodecandidat")),
               *(Column(f"u:{u.code}", u.code, False, (normalise_header(u.code),))
                 for u in units))
    table = read_table(data, columns=columns, max_rows=max_rows, what="candidat")
    if table.ok and not any(f"u:{u.code}" in table.rows[0].cells for u in units):
        table.error(1, "", "aucune colonne d'épreuve : l'en-tête doit nommer au moins une "
                    "des épreuves de la session (" + ", ".join(u.code for u in units) + ").")
    if not table.ok:
        return MarksReport(errors=table.errors, error_count=table.error_count,
                           encoding=table.encoding)
    ensure_results_open(session.id)
    candidates = dict(db.session.execute(sa.select(Candidate.number, Candidate.id).where(
        Candidate.session_id == session.id)).all())
    seen: dict[str, int] = {}
    wanted: list[tuple[int, OtherUnit, OtherMarkKind, Decimal | None]] = []
    for row in table.rows:
        number = row.cells["number"].strip().upper()
        if not number:
            table.error(row.line, "number", "numéro de candidat manquant.")
            continue
        if number in seen:
            table.error(row.line, "number", f"le candidat {number} figure déjà ligne "
                        f"{seen[number]}.")
            continue
        seen[number] = row.line
        candidate_id = candidates.get(number)
        if candidate_id is None:
            table.error(row.line, "number", f"aucun candidat {number} dans cette session.")
            continue
        for unit in units:
            text = row.cells.get(f"u:{unit.code}")
            if text is None:
                continue
            parsed = _cell(text)
            if isinstance(parsed, str):
                table.error(row.line, f"u:{unit.code}", parsed)
            elif parsed is not None:
                wanted.append((candidate_id, unit, *parsed))
    if not table.ok:
        return MarksReport(errors=table.errors, error_count=table.error_count,
                           encoding=table.encoding)
    existing = {(m.other_unit_id, m.candidate_id): m for m in db.session.scalars(
        sa.select(OtherUnitMark).where(OtherUnitMark.other_unit_id.in_([u.id for u in units])))}
    changed = 0
    for candidate_id, unit, kind, mark in wanted:
        found = existing.get((unit.id, candidate_id))
        if found is None:
            db.session.add(OtherUnitMark(other_unit_id=unit.id, candidate_id=candidate_id,
                                         kind=kind, mark=mark))
            changed += 1
        elif (found.kind, found.mark) != (kind, mark):
            found.kind, found.mark = kind, mark
            changed += 1
    db.session.flush()
    record(actor=actor, action="other_unit.import", object_type="other_unit_mark",
           session_id=session.id,
           after={"file": filename, "sha256": hashlib.sha256(data).hexdigest(),
                  "rows": len(table.rows), "marks": len(wanted), "changed": changed})
    return MarksReport(rows=len(table.rows), marks=len(wanted), encoding=table.encoding)
