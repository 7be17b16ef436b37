"""The accusé de dépôt: a PDF listing every file with its hash, and its QR verification."""

from __future__ import annotations

from exam_app.clock import utcnow
from exam_app.dossiers.models import Dossier
from exam_app.extensions import db
from exam_app.formatting import local_datetime
from exam_app.printing.document import render
from exam_app.printing.pdf import render_pdf
from exam_app.printing.signing import TokenPayload, content_hash, sign
from exam_app.printing.verification import Status, Verification

KIND = "receipt"


def receipt_content(dossier: Dossier | None) -> list[list]:
    """What the receipt vouches for: each file's piece, size and hash."""
    if dossier is None:
        return []
    return sorted([f.piece_code, f.size, f.sha256] for f in dossier.files)


def render_receipt(view) -> bytes:
    """The receipt PDF of a dossier view (see ``state.dossier_view``)."""
    qr = url = ""
    if view.dossier is not None:
        qr, url = sign(kind=KIND, ids=[view.dossier.id], content=receipt_content(view.dossier))
    now = utcnow()
    html = render("print/receipt.html", title=f"Accusé de dépôt {view.unit.code}",
                  session=view.candidate.session, now=now, view=view, qr=qr, verify_url="",
                  receipt_url=url, printed_at=now)
    return render_pdf(html)


def check_receipt(payload: TokenPayload) -> Verification:
    """Authentic when the dossier still holds exactly the files the receipt lists."""
    if len(payload.ids) != 1 or not isinstance(payload.ids[0], int):
        return Verification(Status.NOT_AUTHENTIC)
    dossier = db.session.get(Dossier, payload.ids[0])
    if dossier is None:
        return Verification(Status.NOT_AUTHENTIC)
    candidate = dossier.candidate
    facts = (
        ("Candidat", f"{candidate.full_name} (n° {candidate.number})"),
        ("Épreuve", dossier.unit_code),
        ("Fichiers déposés", str(len(dossier.files))),
        ("Dernier dépôt", local_datetime(dossier.deposited_at)),
    )
    if content_hash(receipt_content(dossier)) == payload.hash:
        return Verification(Status.AUTHENTIC, "Accusé de dépôt", facts)
    return Verification(Status.SUPERSEDED, "Accusé de dépôt", facts,
                        changed_at=dossier.deposited_at)
