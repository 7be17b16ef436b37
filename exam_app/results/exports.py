"""Results export (CSV and XLSX) after the levée d'anonymat: number, name, then one
column per exam unit of the registry (E4, E5, E6 today). A unit the candidate does
not sit shows its registration: 'Bénéfice 2025 — 14,5', 'Dispensé', 'Non inscrit'."""

from __future__ import annotations

import io

import sqlalchemy as sa

from exam_app.csv_export import safe_cell, write_csv
from exam_app.e6.definition import E6
from exam_app.e6.results import e6_results
from exam_app.enrolment.models import Candidate
from exam_app.extensions import db
from exam_app.juries.results import unit_results
from exam_app.units import ExamUnit, all_units

IDENTITY = ("N° candidat", "Nom", "Prénom")
NOT_A_MARK = ("ABS", "NV")


def is_mark(text: str) -> bool:
    """'14,5' is a mark; 'Bénéfice 2025 — 14,5' or 'Dispensé' is not."""
    return text.replace(",", "", 1).isdigit()


def header() -> tuple[str, ...]:
    """The identity columns, then one column per unit of the registry (ordered by code)."""
    return IDENTITY + tuple(unit.code for unit in all_units())


def jury_marks(*, session_id: int, unit_code: str) -> dict[int, str]:
    """E4 or E5 result per candidate id, as printed ('14,5', 'ABS', 'NV'); pending ones are absent."""
    return unit_results(session_id=session_id, unit_code=unit_code)


def unit_marks(*, session_id: int, unit: ExamUnit) -> dict[int, str]:
    """One unit's printed result per candidate id: E6 from its anonymous copies, the
    others from their juries."""
    if unit.code == E6.code:
        return e6_results(session_id)
    return jury_marks(session_id=session_id, unit_code=unit.code)


def result_rows(session_id: int) -> list[tuple[str, ...]]:
    """One row per candidate, by number, in the order of :func:`header`."""
    candidates = db.session.scalars(
        sa.select(Candidate).where(Candidate.session_id == session_id)
        .order_by(Candidate.number)).all()
    marks = [unit_marks(session_id=session_id, unit=unit) for unit in all_units()]
    return [(c.number, c.last_name, c.first_name, *(m.get(c.id, "") for m in marks))
            for c in candidates]


def export_csv(session_id: int) -> bytes:
    """UTF-8 with BOM and ';' so that spreadsheets in French open it as is."""
    return write_csv(header(), result_rows(session_id))


def export_xlsx(session_id: int, *, title: str) -> bytes:
    """The same table as a workbook, marks as numbers; every text cell neutralised."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    columns = header()
    mark_columns = range(len(IDENTITY), len(columns))
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Résultats"
    sheet.append(list(columns))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in result_rows(session_id):
        values: list[str | float] = [safe_cell(v) for v in row]
        # Marks as numbers (so they sort and average); ABS, NV, bénéfice, dispensé as text.
        for index in mark_columns:
            text = values[index]
            if text and text not in NOT_A_MARK and is_mark(str(text)):
                values[index] = float(str(text).replace(",", "."))
        sheet.append(values)
    widths = (16, 24, 20) + (8,) * len(mark_columns)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    workbook.properties.title = title[:200]
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
