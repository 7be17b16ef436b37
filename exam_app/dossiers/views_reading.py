"""Reading dossiers: the accusé de dépôt, a deposited file, a read-only dossier
(the candidate, the jurors of their commission, the académie) and the list of a
commission's dossiers."""

from __future__ import annotations

from flask import render_template, request, send_file

from exam_app.accounts.models import Role
from exam_app.db_types import database_int
from exam_app.dossiers import conformity, receipts, state
from exam_app.dossiers.blueprint import bp
from exam_app.dossiers.storage import get_storage
from exam_app.dossiers.validity import unit_validity
from exam_app.downloads import DOWNLOAD_CSP, INLINE_PDF_CSP, attachment
from exam_app.permissions import (
    dossier_file_for_reader_or_403,
    dossier_for_reader_or_403,
    roles_required,
)


@bp.route("/dossiers/<int:candidate_id>/<unit_code>/accuse-de-depot.pdf")
@roles_required(Role.CANDIDAT, Role.GESTIONNAIRE, Role.EXAMINATEUR)
def receipt(candidate_id: int, unit_code: str):
    """The accusé de dépôt (PDF with hashes and a verification QR code)."""
    candidate, _ = dossier_for_reader_or_403(candidate_id, unit_code)
    view = state.dossier_view(candidate=candidate, unit_code=unit_code)
    pdf = receipts.render_receipt(view)
    return attachment(pdf, mimetype="application/pdf",
                      filename=f"accuse-de-depot-{unit_code}-{candidate.number}.pdf")


@bp.route("/dossiers/fichiers/<int:file_id>")
@roles_required(Role.CANDIDAT, Role.GESTIONNAIRE, Role.EXAMINATEUR)
def file(file_id: int):
    """A deposited file, inline (PDF viewer) or as a download (``?telecharger=1``).

    A file flagged for active content is only ever a download, under a sandbox
    policy: nothing it could run is run by a viewer inside the app's pages.
    """
    row = dossier_file_for_reader_or_403(file_id)
    inline = not request.args.get("telecharger") and not row.is_flagged
    handle = _StoredFile(get_storage(), row.storage_key)
    response = send_file(handle, mimetype="application/pdf", as_attachment=not inline,
                         download_name=row.original_name, etag=row.sha256, conditional=False)
    response.content_length = row.size
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = INLINE_PDF_CSP if inline else DOWNLOAD_CSP
    return response


class _StoredFile:
    """A stored file for ``send_file``: opened only when the body is sent, closed once
    read to its end or when the server closes the response (whichever comes first)."""

    def __init__(self, storage, key: str):
        self._storage = storage
        self._key = key
        self._handle = None
        self._closed = False

    def _opened(self):
        if self._handle is None:
            self._handle = self._storage.open(self._key)
        return self._handle

    def read(self, size: int = -1) -> bytes:
        if self._closed:
            return b""
        data = self._opened().read(size)
        if not data:
            self.close()
        return data

    def fileno(self) -> int:
        return self._opened().fileno()  # lets gunicorn send it with sendfile(2)

    def close(self) -> None:
        self._closed = True
        if self._handle is not None:
            self._handle.close()

    def __del__(self) -> None:
        # A response dropped half-read (the test client does) closes its file, as a
        # generator's ``with`` block would.
        self.close()


@bp.route("/dossiers/<int:candidate_id>/<unit_code>")
@roles_required(Role.CANDIDAT, Role.GESTIONNAIRE, Role.EXAMINATEUR)
def view_dossier(candidate_id: int, unit_code: str):
    """A dossier, read-only, with an inline PDF viewer (jurors, académie, the candidate)."""
    candidate, _ = dossier_for_reader_or_403(candidate_id, unit_code)
    view = state.dossier_view(candidate=candidate, unit_code=unit_code)
    shown = request.args.get("fichier", type=database_int)
    current = next((f for f in view.files if f.id == shown), view.files[0] if view.files else None)
    return render_template("dossiers/view.html", view=view, current=current,
                           validity=unit_validity(candidate_id=candidate.id, unit_code=unit_code),
                           reasons={r.code: r.label
                                    for r in conformity.reasons_for(candidate.session_id)})
