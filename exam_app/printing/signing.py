"""Signed verification tokens: the one way a printed document is signed.

A printed document carries a QR code of ``<public url>/verifier/<token>``;
the token is signed with the app's secret key (HMAC-SHA256) over the document
kind, its subject ids and a hash of the content that matters (e.g. the marks
of a bordereau). A forged or altered token fails the signature; an authentic
token whose content hash no longer matches the database is "superseded".

``sign`` is what documents call: the QR code (SVG) and the verification URL
for one document. The URL points at the ``documents.verify_document`` route
(named, not imported: the route's package sits above this one), under the
configured ``PUBLIC_URL`` and nothing else: never the request's Host header,
which the client writes (``Host: evil.example`` would print a QR code to the
attacker's site). Without PUBLIC_URL, outside debug, nothing is signed
(``PublicUrlMissing``: a French page in the app, an error in the CLI).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app
from itsdangerous import BadSignature, URLSafeSerializer

from exam_app.errors import ServiceError
from exam_app.printing.qr import qr_svg

SALT = "exam_app.document.v1"
VERIFY_ENDPOINT = "documents.verify_document"
# In debug only (``flask --debug run`` on a developer's machine), without PUBLIC_URL.
DEBUG_PUBLIC_URL = "http://localhost:5000"
PUBLIC_URL_MISSING = (
    "Impossible de produire ce document signé : l'adresse publique du site (PUBLIC_URL) "
    "n'est pas configurée, et son QR code ne doit pointer que vers cette adresse. Prévenez "
    "l'administrateur du site. Rien n'a été imprimé."
)
PUBLIC_URL_INVALID = (
    "Impossible de produire ce document signé : l'adresse publique du site (PUBLIC_URL = "
    "« {value} ») n'est pas une adresse http:// ou https://. Prévenez l'administrateur du "
    "site. Rien n'a été imprimé."
)


class PublicUrlMissing(ServiceError):
    """No document is signed without the site's public address (a server setting)."""

    status = 503
    code = "public_url_missing"


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


def public_url(app: Flask | None = None) -> str:
    """The base URL printed in QR codes, without a trailing slash: PUBLIC_URL; in debug
    only, ``DEBUG_PUBLIC_URL``; else ``PublicUrlMissing``. Never the request's host."""
    app = app or current_app
    value = (app.config.get("PUBLIC_URL") or "").strip()
    if not value:
        if app.debug:
            return DEBUG_PUBLIC_URL
        raise PublicUrlMissing(PUBLIC_URL_MISSING)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise PublicUrlMissing(PUBLIC_URL_INVALID.format(value=value))
    return value.rstrip("/")


def verify_url(token: str) -> str:
    """The public URL that verifies ``token``: PUBLIC_URL + the route's path. The path is
    built without the request's script root: PUBLIC_URL already carries any prefix."""
    path = current_app.url_map.bind("", script_name="/").build(VERIFY_ENDPOINT,
                                                               {"token": token})
    return public_url() + path


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
