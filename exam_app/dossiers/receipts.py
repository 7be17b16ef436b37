"""The accusé de dépôt: a PDF listing every file with its hash, and its QR verification."""

from __future__ import annotations

from exam_app.clock import utcnow
from exam_app.dossiers.models import Dossier
from exam_app.dossiers.state import dossier_view
from exam_app.extensions import db
from exam_app.formatting import local_datetime
from exam_app.printing import verification
from exam_app.printing.document import printed, session_facts
from exam_app.printing.signing import TokenPayload, content_hash, from_stamp, stamp
from exam_app.printing.verification import Status, Verification

KIND = "receipt"
TEMPLATE = "print/receipt.html"
FIELDS = {
    "doc_title": "Épreuve", "doc_session": "Session", "view.unit": "Épreuve",
    "view.candidate.last_name": "Nom", "view.candidate.first_name": "Prénom",
    "view.candidate.number": "N° candidat", "view.candidate.establishment": "Établissement",
    "view.deadline": "Date limite de dépôt", "view.deposited_at": "Date du dernier dépôt",
    "view.pieces": "Fichiers déposés", "view.file_count": "Fichiers déposés",
    "view.complete": "État du dossier",
}
ACTIONS = {
    "dossier.file_deposited": "Fichier déposé", "dossier.file_replaced": "Fichier remplacé",
    "dossier.file_removed": "Fichier retiré", "dossier.extension": "Délai de dépôt prolongé",
}


def receipt_context(view) -> dict:
    """Everything the receipt prints (and so vouches for): who, the deadline, each file."""
    c = view.candidate
    return {
        "doc_title": f"Accusé de dépôt {view.unit.code}", "doc_session": session_facts(c.session),
        "doc_centre": None,
        "view": {
            "unit": {"code": view.unit.code, "title": view.unit.title},
            "candidate": {"last_name": c.last_name, "first_name": c.first_name,
                          "number": c.number,
                          "establishment": {"name": c.establishment.name,
                                            "uai": c.establishment.uai}},
            "deadline": view.deadline,
            "deposited_at": view.dossier.deposited_at if view.dossier else None,
            "file_count": len(view.files), "complete": view.complete,
            "pieces": [{"label": state.piece.label,
                        "files": [{"original_name": f.original_name, "size": f.size,
                                   "pages": f.pages, "deposited_at": f.deposited_at,
                                   "sha256": f.sha256} for f in state.files]}
                       for state in view.pieces],
        },
    }


def render_receipt(view) -> bytes:
    """The receipt PDF of a dossier view (see ``state.dossier_view``); without a dossier,
    nothing to vouch for: no QR code."""
    now = utcnow()
    ids = [view.dossier.id, stamp(now)] if view.dossier is not None else []
    html = printed(TEMPLATE, receipt_context(view), kind=KIND, ids=ids, fields=FIELDS,
                   now=now, signed=view.dossier is not None)
    from exam_app.printing.pdf import render_pdf  # WeasyPrint: on the first render

    return render_pdf(html)


def check_receipt(payload: TokenPayload) -> Verification:
    """Authentic when the dossier, its deadline and the candidate are as the receipt lists."""
    if len(payload.ids) not in (1, 2) or not isinstance(payload.ids[0], int):
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
    context = receipt_context(dossier_view(candidate=candidate, unit_code=dossier.unit_code))
    if content_hash(context) == payload.hash:
        return Verification(Status.AUTHENTIC, "Accusé de dépôt", facts)
    # Receipts printed before they carried their print time: the last deposit dates it.
    since = from_stamp(payload.ids[1]) if len(payload.ids) == 2 else None
    events = verification.events_since(since, {"dossier": [dossier.id]})
    result = verification.superseded(payload, "Accusé de dépôt", facts, content=context,
                                     fields=FIELDS, events=events, actions=ACTIONS,
                                     changed_at=None if since else dossier.deposited_at)
    return verification.without_changed(result, "Candidat", ("Nom", "Prénom"),
                                        f"n° {candidate.number}")
