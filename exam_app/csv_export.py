"""Every CSV the app writes goes through here, so that no cell can run as a
spreadsheet formula (a name starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is prefixed with a quote), and every export opens as is in a
French spreadsheet (UTF-8 with BOM, ``;``, CRLF)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

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
