"""Real PDFs made in the test, and a direct deposit helper."""

from __future__ import annotations

import hashlib
import io

from pypdf import PdfWriter

from exam_app.clock import utcnow
from exam_app.dossiers.models import Dossier, DossierFile
from exam_app.dossiers.storage import LocalStorage
from exam_app.extensions import db


def make_pdf(pages: int = 1, *, marker: str = "", encrypt: str | None = None,
             javascript: bool = False, attachment: bool = False, padding: int = 0) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    # A marker makes each PDF's bytes (and hash) distinct.
    writer.add_metadata({"/Title": marker or "document", "/Subject": "x" * padding})
    if javascript:
        from pypdf.actions import JavaScript

        writer.add_open_action(JavaScript("app.alert('bonjour');"))
    if attachment:
        writer.add_attachment("note.txt", b"bonjour")
    if encrypt:
        writer.encrypt(encrypt)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def deposit(app, candidate, unit_code: str, piece_code: str, data: bytes | None = None,
            name: str = "piece.pdf", pages: int = 1) -> DossierFile:
    """Put a file straight into a dossier (fixtures; the real path is tested elsewhere)."""
    data = data or make_pdf(pages, marker=f"{candidate.id}-{piece_code}-{name}")
    key = LocalStorage(app.config["STORAGE_DIR"]).put_bytes(data)
    dossier = db.session.query(Dossier).filter_by(candidate_id=candidate.id,
                                                  unit_code=unit_code).one_or_none()
    if dossier is None:
        dossier = Dossier(candidate_id=candidate.id, unit_code=unit_code, decision_reasons=[])
        db.session.add(dossier)
        db.session.flush()
    file = DossierFile(dossier_id=dossier.id, piece_code=piece_code, original_name=name,
                       size=len(data), pages=pages, sha256=hashlib.sha256(data).hexdigest(),
                       storage_key=key, deposited_at=utcnow())
    db.session.add(file)
    dossier.deposited_at = utcnow()
    db.session.flush()
    return file


def complete_dossier(app, candidate, unit_code: str = "E4") -> list[DossierFile]:
    from exam_app.units import get_unit

    files = []
    for piece in get_unit(unit_code).pieces:
        for n in range(piece.min_count):
            files.append(deposit(app, candidate, unit_code, piece.code, name=f"{piece.code}-{n}.pdf"))
    return files
