"""Signed verification tokens: the one way a printed document is signed.

A printed document carries a QR code of ``<public url>/verifier/<token>``;
the token is signed with the app's secret key (HMAC-SHA256) over the document
kind, its subject ids and a hash of everything the document prints (its
template context, see ``printing.document``). A forged or altered token fails
the signature; an authentic token whose content hash no longer matches the
database is "superseded".

Besides the whole hash, a token carries one short digest per *field* of the
document (its printed fields grouped under a French label: "Prénom", "Salle"...),
so that the verification page can say which fields changed without the token
holding, or the server storing, any printed value.

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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
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


def _plain(value: Any) -> str:
    # A Decimal read back from a NUMERIC(4, 2) column is 0.50 where the new object held 0.5.
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def content_hash(content: Any) -> str:
    """A short, stable hash of the content a document vouches for."""
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, default=_plain)
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


DIGEST_LENGTH = 5  # hex characters per field digest: 20 bits, enough to tell fields apart
OTHER_FIELDS = "Autres mentions"


def leaves(content: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, value) of every printed value: dict keys joined by ".", list items as "[*]"."""
    if isinstance(content, dict):
        for key in sorted(content):
            yield from leaves(content[key], f"{path}.{key}" if path else str(key))
    elif isinstance(content, list | tuple):
        for item in content:
            yield from leaves(item, f"{path}[*]")
    else:
        yield path, content


def label_of(path: str, fields: Mapping[str, str]) -> str:
    """The field label of a printed value: its longest labelled path prefix."""
    best = ""
    for prefix in fields:
        if (path == prefix or path.startswith((prefix + ".", prefix + "["))) \
                and len(prefix) > len(best):
            best = prefix
    return fields[best] if best else OTHER_FIELDS


def field_digests(content: Any, fields: Mapping[str, str]) -> dict[str, str]:
    """label -> short digest of the values printed under that label (in print order)."""
    grouped: dict[str, list] = {}
    for path, value in leaves(content):
        grouped.setdefault(label_of(path, fields), []).append([path, value])
    return {label: content_hash([label, values])[:DIGEST_LENGTH]
            for label, values in grouped.items()}


@dataclass(frozen=True)
class TokenPayload:
    kind: str
    ids: tuple
    hash: str
    # Field digests (concatenated); None for a token signed before they existed.
    fields: str | None = None

    def changed_fields(self, content: Any, fields: Mapping[str, str]) -> tuple[str, ...] | None:
        """The labels of the fields whose printed values differ from ``content``'s (None when
        the token carries no field digests)."""
        if self.fields is None:
            return None
        signed = {self.fields[i:i + DIGEST_LENGTH]
                  for i in range(0, len(self.fields), DIGEST_LENGTH)}
        return tuple(label for label, digest in field_digests(content, fields).items()
                     if digest not in signed)


def make_token(*, secret_key: str, kind: str, ids: tuple | list, content: Any,
               fields: Mapping[str, str] | None = None) -> str:
    """A token signed with ``secret_key`` for a document of ``kind`` about ``ids``; with
    ``fields`` (path prefix -> label), one digest per labelled field too."""
    data = {"k": kind, "i": list(ids), "h": content_hash(content)}
    if fields is not None:
        data["f"] = "".join(field_digests(content, fields).values())
    return _serializer(secret_key).dumps(data)


def read_token(*, secret_key: str, token: str) -> TokenPayload | None:
    """The payload of an authentic token, or None for a forged or damaged one."""
    try:
        data = _serializer(secret_key).loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not {"k", "i", "h"} <= data.keys():
        return None
    fields = data.get("f")
    return TokenPayload(kind=str(data["k"]), ids=tuple(data["i"]), hash=str(data["h"]),
                        fields=fields if isinstance(fields, str) else None)


def app_token(kind: str, ids: list, content: Any, fields: Mapping[str, str] | None = None) -> str:
    """A token signed with the current app's secret key."""
    return make_token(secret_key=current_app.config["SECRET_KEY"], kind=kind, ids=ids,
                      content=content, fields=fields)


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


def sign(*, kind: str, ids: list, content: Any,
         fields: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(QR SVG, verification URL) for a document vouching for ``content``."""
    url = verify_url(app_token(kind, ids, content, fields))
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
