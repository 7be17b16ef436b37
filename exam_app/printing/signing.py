"""Signed verification tokens: the one way a printed document is signed.

A printed document carries a QR code of ``<public url>/verifier/<token>``;
the token is signed with the app's secret key (HMAC-SHA256) over the document
kind, its subject ids and a hash of the content that matters (e.g. the marks
of a bordereau). A forged or altered token fails the signature; an authentic
token whose content hash no longer matches the database is "superseded".

``sign`` is what documents call: the QR code (SVG) and the verification URL
for one document. The URL points at the ``documents.verify_document`` route
(named, not imported: the route's package sits above this one).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app, has_request_context, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer

from exam_app.printing.qr import qr_svg

SALT = "exam_app.document.v1"
VERIFY_ENDPOINT = "documents.verify_document"


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=SALT,
                             signer_kwargs={"digest_method": hashlib.sha256})


def content_hash(content: Any) -> str:
    """A short, stable hash of the content a document vouches for."""
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class TokenPayload:
    kind: str
    ids: tuple
    hash: str


def make_token(*, secret_key: str, kind: str, ids: tuple | list, content: Any) -> str:
    """A token signed with ``secret_key`` for a document of ``kind`` about ``ids``."""
    return _serializer(secret_key).dumps({"k": kind, "i": list(ids), "h": content_hash(content)})


def read_token(*, secret_key: str, token: str) -> TokenPayload | None:
    """The payload of an authentic token, or None for a forged or damaged one."""
    try:
        data = _serializer(secret_key).loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not {"k", "i", "h"} <= data.keys():
        return None
    return TokenPayload(kind=str(data["k"]), ids=tuple(data["i"]), hash=str(data["h"]))


def app_token(kind: str, ids: list, content: Any) -> str:
    """A token signed with the current app's secret key."""
    return make_token(secret_key=current_app.config["SECRET_KEY"], kind=kind, ids=ids,
                      content=content)


def read_app_token(token: str) -> TokenPayload | None:
    """The payload of a token signed with the current app's secret key, or None."""
    return read_token(secret_key=current_app.config["SECRET_KEY"], token=token)


def verify_url(token: str) -> str:
    """The public URL that verifies ``token``: PUBLIC_URL, else the request's host."""
    base = current_app.config.get("PUBLIC_URL") or (
        request.host_url if has_request_context() else "http://localhost/")
    return base.rstrip("/") + url_for(VERIFY_ENDPOINT, token=token)


def sign(*, kind: str, ids: list, content: Any) -> tuple[str, str]:
    """(QR SVG, verification URL) for a document vouching for ``content``."""
    url = verify_url(app_token(kind, ids, content))
    return qr_svg(url), url


def stamp(moment: datetime) -> int:
    """The print time as whole seconds, carried in the token ids."""
    return int(moment.timestamp())


def from_stamp(value) -> datetime | None:
    """The print time carried in a token, or None when it is not a valid stamp."""
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
