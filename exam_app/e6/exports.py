"""Results export (CSV and XLSX) after the levée d'anonymat: number, name, E4, E5, E6."""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa

from exam_app.e6.services import e6_results
from exam_app.enrolment.models import Candidate
from exam_app.extensions import db

HEADER = ("N° candidat", "Nom", "Prénom", "E4", "E5", "E6")


def jury_marks(*, session_id: int, unit_code: str) -> dict[int, str]:
    """E4 or E5 result per candidate id, as printed ('14,5', 'ABS', 'NV'); pending ones are absent."""
    from exam_app.juries.results import unit_results

    return unit_results(session_id=session_id, unit_code=unit_code)


def _cell(value: str) -> str:
    # A name starting with = + - @ would run as a formula in a spreadsheet.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def result_rows(session_id: int) -> list[tuple[str, ...]]:
    candidates = db.session.scalars(
        sa.select(Candidate).where(Candidate.session_id == session_id)
        .order_by(Candidate.number)).all()
    e4 = jury_marks(session_id=session_id, unit_code="E4")
    e5 = jury_marks(session_id=session_id, unit_code="E5")
    e6 = e6_results(session_id)
    return [(c.number, c.last_name, c.first_name, e4.get(c.id, ""), e5.get(c.id, ""),
             e6.get(c.id, "")) for c in candidates]


def export_csv(session_id: int) -> bytes:
    """UTF-8 with BOM and ';' so that spreadsheets in French open it as is."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADER)
    for row in result_rows(session_id):
        writer.writerow([_cell(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def export_xlsx(session_id: int, *, title: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Résultats"
    sheet.append(list(HEADER))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in result_rows(session_id):
        values = [_cell(v) for v in row]
        # Marks as numbers (so they sort and average), ABS / NV as text.
        for index in (3, 4, 5):
            text = values[index]
            if text and text not in ("ABS", "NV"):
                values[index] = float(text.replace(",", "."))
        sheet.append(values)
    for column, width in zip("ABCDEF", (16, 24, 20, 8, 8, 8), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    workbook.properties.title = title[:200]
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
