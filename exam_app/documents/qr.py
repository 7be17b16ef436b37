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
from itsdangerous import BadSignature, URLSafeSerializer

SALT = "exam_app.document.v1"
QR_BORDER = 2  # modules of quiet zone around the code


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
    """The QR code of ``data`` as an inline SVG of one path, one subpath per run of dark modules.

    WeasyPrint's cost for the SVG grows with the number of path commands: one
    rectangle per horizontal run instead of one per module (what qrcode's
    ``SvgPathImage`` writes) draws the same modules with about half the
    commands, and skips qrcode's per-module image drawing.
    """
    code = qrcode.QRCode(border=QR_BORDER)
    code.add_data(data)
    code.make(fit=True)
    matrix = code.get_matrix()  # with the quiet zone (border)
    size = len(matrix)
    runs = []
    for y, row in enumerate(matrix):
        x = 0
        while x < size:
            if row[x]:
                start = x
                while x < size and row[x]:
                    x += 1
                runs.append(f"M{start},{y}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    return (f'<svg width="{size}mm" height="{size}mm" version="1.1" viewBox="0 0 {size} {size}" '
            f'xmlns="http://www.w3.org/2000/svg"><path d="{"".join(runs)}" fill="#000000" '
            'stroke="none" /></svg>')
