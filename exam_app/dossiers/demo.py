"""Demo dossiers: deadlines in the future and a few deposits made of small generated PDFs."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta

from exam_app.clock import PARIS, utcnow
from exam_app.dossiers.common import Limits, units_with_dossier
from exam_app.dossiers.deadlines import set_deadline
from exam_app.dossiers.deposit import create_upload, receive_chunk
from exam_app.dossiers.internships import add_internship
from exam_app.dossiers.storage import get_storage
from exam_app.e4.definition import E4
from exam_app.e5.definition import E5
from exam_app.units import get_unit


def _piece_pdf(title: str, body: str, pages: int = 1) -> bytes:
    from exam_app.printing.pdf import render_pdf

    sheets = "".join(
        f'<section style="page-break-after: always"><h1>{title}</h1><p>{body}</p>'
        f"<p>Page {n + 1}</p></section>" for n in range(pages))
    return render_pdf(f'<html><body style="font-family: sans-serif">{sheets}</body></html>')


def _variant(pdf: bytes, marker: str) -> bytes:
    # Same look, distinct bytes (and hash) per candidate and file.
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.add_metadata({"/Title": marker})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def load(*, session, candidates, actor, complete: int = 24) -> None:
    """Deadlines in 30 days; complete dossiers for many, one incomplete, one missing."""
    now = utcnow()
    deadline_day = (now + timedelta(days=30)).astimezone(PARIS).date()
    deadline = datetime.combine(deadline_day, time(23, 59), tzinfo=PARIS).astimezone(UTC)
    for unit in units_with_dossier():
        set_deadline(session=session, unit_code=unit.code, deadline_at=deadline, actor=actor,
                     now=now)
    templates = {}
    for unit in units_with_dossier():
        for piece in unit.pieces:
            templates[(unit.code, piece.code)] = _piece_pdf(
                piece.label, f"Épreuve {unit.code} — document de démonstration.",
                pages=2 if "fiche" in piece.code else 1)
    storage = get_storage()

    def deposit(candidate, unit_code: str, piece_codes: list[str] | None = None) -> None:
        unit = get_unit(unit_code)
        for piece in unit.pieces:
            if piece_codes is not None and piece.code not in piece_codes:
                continue
            for n in range(piece.min_count):
                data = _variant(templates[(unit_code, piece.code)],
                                f"{candidate.number}-{piece.code}-{n}")
                name = f"{piece.label} {n + 1}.pdf" if piece.min_count > 1 else f"{piece.label}.pdf"
                upload = create_upload(
                    candidate=candidate, unit_code=unit_code, piece_code=piece.code,
                    filename=name, size=len(data), actor=actor, limits=Limits(), now=now)
                receive_chunk(upload=upload, stream=io.BytesIO(data), offset=0, length=len(data),
                              storage=storage, actor=actor, limits=Limits(), now=now)

    first, second, third = candidates[:3]
    # candidat1: E4 complete, E5 started; internships declared.
    deposit(first, E4.code)
    deposit(first, E5.code, ["fiches_projet"])
    year = deadline_day.year - 1
    add_internship(candidate=first, organisation="Mairie de Villeurbanne",
                   start_date=date(year, 5, 3), end_date=date(year, 6, 25), actor=actor)
    add_internship(candidate=first, organisation="Cabinet Roux & associés",
                   start_date=date(year, 11, 3), end_date=date(year, 12, 17), actor=actor)
    # candidat2: incomplete E4; candidat3: nothing (missing).
    deposit(second, E4.code, ["sommaire", "description_missions"])
    for candidate in candidates[3:3 + complete]:
        deposit(candidate, E4.code)
        deposit(candidate, E5.code)
    del third
