"""Signed verification tokens and their QR codes.

A printed document carries a QR code of ``<public url>/verifier/<token>``;
the token is signed with the app's secret key (HMAC-SHA256) over the document
kind, its subject ids and a hash of the content that matters (e.g. the marks
of a bordereau). A forged or altered token fails the signature; an authentic
token whose content hash no longer matches the database is "superseded".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import qrcode
import qrcode.image.svg
from itsdangerous import BadSignature, URLSafeSerializer

SALT = "exam_app.document.v1"


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


def qr_svg(data: str) -> str:
    """The QR code of ``data`` as an inline SVG made of one path (fast to render in PDFs)."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    svg = image.to_string(encoding="unicode")
    return svg[svg.index("<svg"):]
