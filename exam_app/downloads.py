"""Generated files (PDF, CSV, XLSX) sent as attachments: one way, through
``send_file`` (which writes ``Content-Disposition`` with an ASCII fallback and
``filename*`` for accented names), never cached since they hold personal data."""

from __future__ import annotations

import io
import unicodedata
from urllib.parse import quote

from flask import Response, send_file


def attachment(data: bytes, *, mimetype: str, filename: str):
    """The bytes as a download named ``filename``; ``Cache-Control: no-store``.

    Give text types without a charset: ``send_file`` adds ``; charset=utf-8``.
    """
    response = send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True,
                         download_name=filename)
    response.headers["Cache-Control"] = "no-store"
    return response


def attachment_stream(body, *, mimetype: str, filename: str):
    """A download produced while it is sent (an iterable of bytes), with the same headers
    as :func:`attachment` but no Content-Length."""
    response = Response(body, mimetype=mimetype)
    try:  # as send_file names it: an ASCII fallback and filename* for accented names
        filename.encode("ascii")
        names = {"filename": filename}
    except UnicodeEncodeError:
        names = {"filename": unicodedata.normalize("NFKD", filename).encode(
                     "ascii", "ignore").decode("ascii"),
                 "filename*": "UTF-8''" + quote(filename, safe="!#$&+^`|~")}
    response.headers.set("Content-Disposition", "attachment", **names)
    response.headers["Cache-Control"] = "no-store"
    return response


# The app's policy says ``object-src 'none'``; Chromium shows a PDF inside a frame
# through an internal <embed> governed by the PDF response's own ``object-src``, so a
# PDF served inline for the viewer says 'self' there (crbug.com/271452).
INLINE_PDF_CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'self'; "
    "frame-ancestors 'self'; base-uri 'self'; form-action 'self'"
)

# A deposited file sent as a download: were a browser to render it anyway, it is
# a sandboxed document of a unique origin (no script, no form, no plugin).
DOWNLOAD_CSP = ("sandbox; default-src 'none'; object-src 'none'; frame-ancestors 'none'; "
                "base-uri 'none'; form-action 'none'")
