"""Every CSV the app writes goes through here, so that no cell can run as a
spreadsheet formula (a name starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is prefixed with a quote), and every export opens as is in a
French spreadsheet (UTF-8 with BOM, ``;``, CRLF)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """The cell as text, neutralised if a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_csv(header: Iterable[object], rows: Iterable[Iterable[object]]) -> bytes:
    """The CSV file's bytes: BOM, ';' separated, CRLF, every cell through safe_cell."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([safe_cell(v) for v in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def stream_csv(header: Iterable[object], rows: Iterable[Iterable[object]], *,
               rows_per_chunk: int = 500, first_rows: int | None = None) -> Iterator[bytes]:
    """The same file as :func:`write_csv`, in pieces of ``rows_per_chunk`` rows (the first
    of ``first_rows`` when given), so a long export starts downloading before its last row
    is computed."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    out.write("\ufeff")
    writer.writerow([safe_cell(v) for v in header])
    first = rows_per_chunk if first_rows is None else first_rows
    for count, row in enumerate(rows, start=1):
        writer.writerow([safe_cell(v) for v in row])
        if count == first or (count > first and (count - first) % rows_per_chunk == 0):
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode("utf-8")
