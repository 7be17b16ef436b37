"""Results export (CSV and XLSX) after the levée d'anonymat: number, name, then one
column per exam unit of the registry (E4, E5, E6 today). A unit the candidate does
not sit shows its registration: 'Bénéfice 2025 — 14,5', 'Dispensé', 'Non inscrit'."""

from __future__ import annotations

import io

import sqlalchemy as sa

from exam_app.csv_export import safe_cell, write_csv
from exam_app.enrolment.models import Candidate
from exam_app.extensions import db
from exam_app.results.compute import Kind, session_results
from exam_app.units import all_units

IDENTITY = ("N° candidat", "Nom", "Prénom")


def header() -> tuple[str, ...]:
    """The identity columns, then one column per unit of the registry (ordered by code)."""
    return IDENTITY + tuple(unit.code for unit in all_units())


def result_table(session_id: int) -> list[tuple[tuple[str, str, str], list]]:
    """One row per candidate, by number: identity, then each unit's UnitResult
    (exam_app.results.compute, the only place results are decided)."""
    results = session_results(session_id)
    people = {row.id: row for row in db.session.execute(
        sa.select(Candidate.id, Candidate.number, Candidate.last_name, Candidate.first_name)
        .where(Candidate.session_id == session_id))}
    units = all_units()
    return [((people[cid].number, people[cid].last_name, people[cid].first_name),
             [results.of(cid, unit.code) for unit in units]) for cid in results.candidate_ids]


def result_rows(session_id: int) -> list[tuple[str, ...]]:
    """One row per candidate, by number, in the order of :func:`header`: each unit as
    printed ('14,5', 'ABS', 'NV', 'Bénéfice 2025 — 14,5', 'Dispensé'; '' pending)."""
    return [(*identity, *(r.printed for r in unit_results))
            for identity, unit_results in result_table(session_id)]


def legend_rows(session_id: int) -> list[tuple[str, str]]:
    """What the text codes mean and the rules the results follow (the CCF one included)."""
    from exam_app.enrolment.models import ExamSession
    from exam_app.results.compute import (
        RULE_BENEFICE,
        RULE_DELIBERATION,
        RULE_DISPENSE,
        RULE_E6,
        RULE_ORAL,
        ccf_rule_label,
    )

    session = db.session.get(ExamSession, session_id)
    return [("ABS", "Absent"), ("NV", "Dossier non valide"),
            ("Bénéfice AAAA — note", RULE_BENEFICE), ("Dispensé", RULE_DISPENSE),
            ("(case vide)", "En attente : le résultat n'est pas encore arrêté"),
            ("E4, E5 ponctuel", RULE_ORAL), ("E5 CCF", ccf_rule_label(session)),
            ("E6", RULE_E6),
            ("Toute épreuve", f"{RULE_DELIBERATION} : quand le jury modifie un résultat "
             "(motif au procès-verbal), c'est le sien qui figure")]


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
    for identity, unit_results in result_table(session_id):
        # Marks as numbers (so they sort and average); ABS, NV, bénéfice, dispensé as text.
        # A pending result is an empty cell, not an empty string (issue 17).
        sheet.append([safe_cell(v) for v in identity]
                     + [float(r.mark) if r.kind is Kind.MARK
                        else None if r.kind is Kind.PENDING else safe_cell(r.printed)
                        for r in unit_results])
    widths = (16, 24, 20) + (8,) * len(mark_columns)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    legend = workbook.create_sheet("Légende")
    legend.append(["Dans une colonne d'épreuve", "Signification"])
    for cell in legend[1]:
        cell.font = Font(bold=True)
    legend.append(["une note (ex. 14,5)", "note sur 20, définitive"])
    for row in legend_rows(session_id):
        legend.append([safe_cell(v) for v in row])
    legend.column_dimensions["A"].width = 28
    legend.column_dimensions["B"].width = 90
    workbook.properties.title = title[:200]
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
