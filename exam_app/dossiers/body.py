"""The raw body of an upload request: the reference reader, and the choice of reader.

The reference is werkzeug's ``request.stream``: the WSGI server's
``wsgi.input`` behind a ``LimitedStream`` that never reads past
Content-Length (and answers 413 over ``MAX_CONTENT_LENGTH``). The storage
reads it in chunks. ``body_fast.py`` has a reader with the same interface
that receives straight from gunicorn's socket into the storage's buffers;
``DOSSIER_BODY_READER`` (``"fast"``, the default, or ``"reference"``) chooses,
and ``tests/dossiers/test_fast_paths.py`` checks that both give the same bytes.
"""

from __future__ import annotations

READERS = ("fast", "reference")


def request_body(request):
    """A readable for the request body (``read``), never past Content-Length."""
    return request.stream


def body_reader(config):
    """The ``request_body`` function selected by ``DOSSIER_BODY_READER``."""
    reader = config.get("DOSSIER_BODY_READER", "fast")
    if reader == "reference":
        return request_body
    if reader == "fast":
        from exam_app.dossiers import body_fast

        return body_fast.request_body
    raise ValueError(f"DOSSIER_BODY_READER must be one of {READERS}, not {reader!r}")
