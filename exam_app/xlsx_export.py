"""A streamed XLSX writer: a workbook's bytes come out while its rows are produced, so a
5,000-row export starts downloading at once and holds one batch of rows in memory.

An XLSX file is a ZIP of a few XML parts. ``zipfile`` writes to a stream that cannot
seek by putting each member's sizes in a data descriptor after its data (flag bit 3),
which Excel, LibreOffice and openpyxl all read. Sheets are written one after the other
(a ZIP member is written whole), each row as it comes. Cells are numbers (``float``/
``int``/``Decimal``), inline strings (neutralised against formulas by the caller, see
``csv_export.safe_cell``), or absent (``None``: an empty cell, not an empty string).

``openpyxl`` (the reference) builds the whole workbook in memory before writing a byte;
tests/e6/test_results_streamed.py reads what this writes with openpyxl.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from xml.sax.saxutils import escape

# XML 1.0 forbids most control characters, even escaped: drop them from text cells.
_CONTROL = {c: None for c in range(32) if c not in (9, 10, 13)}


@dataclass
class Sheet:
    """A sheet: its title, its column widths (characters), whether its first row is a
    bold, frozen header, and its rows (an iterable, consumed while writing)."""

    title: str
    rows: Iterable[Iterable[object]]
    widths: tuple[float, ...] = ()
    header: bool = True
    _written: bool = field(default=False, repr=False)


class _Sink:
    """A write-only, non-seekable file whose bytes are drained by the generator."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.position = 0

    def write(self, data) -> int:
        data = bytes(data)
        self.parts.append(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:  # zipfile asks for offsets; it never seeks (seekable() is False)
        return self.position

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def _column(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _cell(ref: str, value: object, style: int) -> str:
    s = f' s="{style}"' if style else ""
    if value is None:
        return ""
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"{s}><v>{int(value)}</v></c>'
    if isinstance(value, Decimal):
        value = float(value)  # "14.5", never an exponent such as "1E+1"
    if isinstance(value, int | float):
        return f'<c r="{ref}"{s}><v>{value}</v></c>'
    text = escape(str(value).translate(_CONTROL))
    return f'<c r="{ref}" t="inlineStr"{s}><is><t xml:space="preserve">{text}</t></is></c>'


def _row(number: int, values: Iterable[object], style: int = 0) -> str:
    cells = "".join(_cell(f"{_column(i)}{number}", v, style) for i, v in enumerate(values))
    return f'<row r="{number}">{cells}</row>'


_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _sheet_head(sheet: Sheet) -> str:
    view = ('<sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
            'activePane="bottomLeft" state="frozen"/></sheetView>' if sheet.header
            else '<sheetView workbookViewId="0"/>')
    cols = "".join(f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
                   for i, w in enumerate(sheet.widths, start=1))
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<worksheet {_NS}><sheetViews>{view}</sheetViews>'
            + (f"<cols>{cols}</cols>" if cols else "") + "<sheetData>")


def _static_parts(sheets: list[Sheet], title: str) -> dict[str, str]:
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, len(sheets) + 1))
    sheet_list = "".join(f'<sheet name="{escape(s.title[:31], {chr(34): "&quot;"})}" '
                         f'sheetId="{i}" r:id="rId{i}"/>'
                         for i, s in enumerate(sheets, start=1))
    sheet_rels = "".join(
        f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, len(sheets) + 1))
    styles_id = len(sheets) + 1
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    return {
        "[Content_Types].xml": head + (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.sheet.main+xml"/>' + overrides +
            '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.styles+xml"/>'
            '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-'
            'package.core-properties+xml"/></Types>'),
        "_rels/.rels": head + (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
            'relationships/metadata/core-properties" Target="docProps/core.xml"/>'
            '</Relationships>'),
        "docProps/core.xml": head + (
            '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
            'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f"<dc:title>{escape(title[:200])}</dc:title><dc:creator>exam_app</dc:creator>"
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{now}</dcterms:created>'
            "</cp:coreProperties>"),
        "xl/workbook.xml": head + (
            f'<workbook {_NS} xmlns:r="{_REL}"><sheets>{sheet_list}</sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": head + (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + sheet_rels +
            f'<Relationship Id="rId{styles_id}" Type="{_REL}/styles" Target="styles.xml"/>'
            "</Relationships>"),
        # Style 0: normal; style 1: bold (the header rows).
        "xl/styles.xml": head + (
            f'<styleSheet {_NS}><fonts count="2"><font><sz val="11"/><name val="Calibri"/>'
            '</font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
            '</borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" '
            'borderId="0"/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0" fontId="0" '
            'fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" '
            'borderId="0" xfId="0" applyFont="1"/></cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
            '</cellStyles></styleSheet>'),
    }


def stream_workbook(sheets: list[Sheet], *, title: str,
                    rows_per_chunk: int = 200) -> Iterator[bytes]:
    """The workbook's bytes, in pieces: the fixed parts first, then each sheet's rows as
    they are produced (a piece every ``rows_per_chunk`` rows)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, text in _static_parts(sheets, title).items():
            archive.writestr(name, text)
        yield sink.drain()
        for index, sheet in enumerate(sheets, start=1):
            with archive.open(f"xl/worksheets/sheet{index}.xml", "w") as member:
                member.write(_sheet_head(sheet).encode())
                buffer: list[str] = []
                for number, values in enumerate(sheet.rows, start=1):
                    buffer.append(_row(number, values, 1 if sheet.header and number == 1 else 0))
                    if len(buffer) >= rows_per_chunk:
                        member.write("".join(buffer).encode())
                        buffer.clear()
                        piece = sink.drain()
                        if piece:
                            yield piece
                member.write(("".join(buffer) + "</sheetData></worksheet>").encode())
            yield sink.drain()
    yield sink.drain()
