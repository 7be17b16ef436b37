"""Results export (CSV and XLSX) after the levée d'anonymat: number, name, then one
column per exam unit of the registry (E4, E5, E6 today). A unit the candidate does
not sit shows its registration: 'Bénéfice 2025 — 14,5', 'Dispensé', 'Non inscrit'."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa

from exam_app.csv_export import safe_cell
from exam_app.csv_export import stream_csv as csv_pieces
from exam_app.enrolment.models import Candidate
from exam_app.extensions import db
from exam_app.results.compute import Kind, session_results
from exam_app.units import all_units
from exam_app.xlsx_export import Sheet, stream_workbook

IDENTITY = ("N° candidat", "Nom", "Prénom")


def header() -> tuple[str, ...]:
    """The identity columns, then one column per unit of the registry (ordered by code)."""
    return IDENTITY + tuple(unit.code for unit in all_units())


# Candidates a batch: the results of each batch are computed together (a fixed number of
# queries a batch), and its rows written out before the next batch is read. The first
# batch is smaller, so that the download starts after the same work whatever the session.
BATCH = 500
FIRST_BATCH = 100


def _batches(session_id: int) -> Iterator[list[sa.Row]]:
    """The session's candidates (id, number, names) by number, FIRST_BATCH then BATCH at a
    time, each batch read after the one before it (by number, through the session's
    number index): no batch reads the session's other candidates."""
    size, after = FIRST_BATCH, None
    while True:
        query = (sa.select(Candidate.id, Candidate.number, Candidate.last_name,
                           Candidate.first_name)
                 .where(Candidate.session_id == session_id).order_by(Candidate.number)
                 .limit(size))
        if after is not None:
            query = query.where(Candidate.number > after)
        batch = db.session.execute(query).all()
        if batch:
            yield batch
        if len(batch) < size:
            return
        size, after = BATCH, batch[-1].number


def iter_result_table(session_id: int) -> Iterator[tuple[tuple[str, str, str], list]]:
    """One row per candidate, by number: identity, then each unit's UnitResult
    (exam_app.results.compute, the only place results are decided), a batch of
    candidates at a time."""
    units = all_units()
    for batch in _batches(session_id):
        results = session_results(session_id, candidate_ids=[row.id for row in batch])
        people = {row.id: row for row in batch}
        for cid in results.candidate_ids:
            yield ((people[cid].number, people[cid].last_name, people[cid].first_name),
                   [results.of(cid, unit.code) for unit in units])


def result_table(session_id: int) -> list[tuple[tuple[str, str, str], list]]:
    return list(iter_result_table(session_id))


def iter_result_rows(session_id: int) -> Iterator[tuple[str, ...]]:
    """One row per candidate, by number, in the order of :func:`header`: each unit as
    printed ('14,5', 'ABS', 'NV', 'Bénéfice 2025 — 14,5', 'Dispensé'; '' pending)."""
    for identity, unit_results in iter_result_table(session_id):
        yield (*identity, *(r.printed for r in unit_results))


def result_rows(session_id: int) -> list[tuple[str, ...]]:
    return list(iter_result_rows(session_id))


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


def stream_csv(session_id: int) -> Iterator[bytes]:
    """UTF-8 with BOM and ';' so that spreadsheets in French open it as is; in pieces."""
    return csv_pieces(header(), iter_result_rows(session_id), rows_per_chunk=BATCH,
                      first_rows=FIRST_BATCH)


def export_csv(session_id: int) -> bytes:
    return b"".join(stream_csv(session_id))


def _xlsx_rows(session_id: int) -> Iterator[list]:
    yield list(header())
    for identity, unit_results in iter_result_table(session_id):
        # Marks as numbers (so they sort and average); ABS, NV, bénéfice, dispensé as text.
        # A pending result is an empty cell, not an empty string (issue 17).
        yield ([safe_cell(v) for v in identity]
               + [r.mark if r.kind is Kind.MARK
                  else None if r.kind is Kind.PENDING else safe_cell(r.printed)
                  for r in unit_results])


def _legend_rows(session_id: int) -> Iterator[list]:
    yield ["Dans une colonne d'épreuve", "Signification"]
    yield ["une note (ex. 14,5)", "note sur 20, définitive"]
    for row in legend_rows(session_id):
        yield [safe_cell(v) for v in row]


def stream_xlsx(session_id: int, *, title: str) -> Iterator[bytes]:
    """The same table as a workbook (a « Résultats » sheet, then a « Légende »), marks as
    numbers, every text cell neutralised; written while the rows are computed."""
    widths = (16, 24, 20) + (8,) * len(all_units())
    return stream_workbook([Sheet("Résultats", _xlsx_rows(session_id), widths),
                            Sheet("Légende", _legend_rows(session_id), (28, 90))], title=title,
                           rows_per_chunk=BATCH)


def export_xlsx(session_id: int, *, title: str) -> bytes:
    return b"".join(stream_xlsx(session_id, title=title))
