"""Reading a reference-data CSV (establishments, centres, ...) the way the candidate
import reads its file: the same decoding (UTF-8, UTF-16, Windows-1252), separator
(';' or ','), header aliases, strict quoting, blank lines skipped and French
errors by line and column. Pure: bytes in, cells by field name or errors out.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

from exam_app.enrolment.csv_decode import UnreadableFile, lines
from exam_app.enrolment.csv_import import (
    MAX_ERRORS_LISTED,
    Column,
    ParseResult,
    RowError,
    _clean,
    _text,
    normalise_header,
)

__all__ = ["Column", "RowError", "Table", "TableRow", "read_table"]


@dataclass
class TableRow:
    """One non-blank row: its line and its cells by field name (cleaned text)."""

    line: int
    cells: dict[str, str]


@dataclass
class Table:
    rows: list[TableRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    encoding: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    def error(self, line: int, name: str, message: str) -> None:
        """Report an error on a line, in the column of field ``name`` ('' for the line)."""
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_LISTED:
            self.errors.append(RowError(line, self.labels.get(name, name), message))

    @property
    def ok(self) -> bool:
        return self.error_count == 0


def read_table(data: bytes, *, columns: tuple[Column, ...], max_rows: int,
               what: str) -> Table:
    """The file's rows by field name, or the errors that make it unreadable. ``what``
    names the rows in French (« établissement »)."""
    table = Table(labels={c.field: c.label for c in columns})
    decoded = ParseResult()
    try:
        text = _text(data, decoded)
    except UnreadableFile as exc:
        table.error(0, "", str(exc))
        return table
    table.encoding = decoded.encoding
    index = {alias: column for column in columns for alias in column.aliases}
    reader = csv.reader(lines(text), delimiter=decoded.delimiter, strict=True)
    line = 1
    try:
        header: list[str] = []
        for raw in reader:
            if any(cell.strip() for cell in raw):
                header = raw
                break
            line = reader.line_num + 1
        positions: dict[str, int] = {}
        for position, name in enumerate(header):
            column = index.get(normalise_header(name))
            if column is None:
                continue
            if column.field in positions:
                table.error(line, "", f"la colonne « {column.label} » apparaît deux fois.")
            positions[column.field] = position
        missing = [c.label for c in columns if c.required and c.field not in positions]
        if missing:
            table.error(line, "", "colonne(s) obligatoire(s) absente(s) : "
                        + ", ".join(f"« {m} »" for m in missing) + ". En-têtes attendus : "
                        + " ; ".join(c.label for c in columns) + ".")
        if not table.ok:
            return table
        line = reader.line_num + 1
        for raw in reader:
            row_line, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in raw):
                continue
            if len(table.rows) >= max_rows:
                table.error(0, "", f"le fichier contient plus de {max_rows} lignes de {what} : "
                            "découpez-le. Rien n'a été importé.")
                return table
            table.rows.append(TableRow(row_line, {
                name: _clean(raw[p]) if p < len(raw) else "" for name, p in positions.items()}))
    except csv.Error:
        table.error(line, "", "ligne CSV mal formée : guillemet (\") non fermé ou mal placé. "
                    "Vérifiez cette ligne et les suivantes, ou réenregistrez le fichier depuis "
                    "le tableur.")
        return table
    if not table.rows and table.ok:
        table.error(0, "", f"le fichier ne contient aucun {what} (seulement des en-têtes).")
    return table
