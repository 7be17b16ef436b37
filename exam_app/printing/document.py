"""A printed document's HTML: the template gets exactly what the signature covers.

A document module builds one plain *context* (dicts, lists, strings, numbers,
dates: no database object) holding everything its template prints, then calls
``printed``: the same dict is signed (unless the document is provisional) and
is the template's whole context, with only the print's own marks added
(``PRINT_MARKS``: when it was printed, whether provisional, its QR and URL).
So a template cannot print a value the QR code does not vouch for;
tests/printing/test_signed_fields.py checks every template against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import render_template

from exam_app.clock import utcnow, zone
from exam_app.printing import signing

# What a print adds to its signed context: not data, so not signed.
PRINT_MARKS = frozenset({"generated_at", "provisional", "qr", "verify_url"})


@dataclass
class Printed:
    """A rendered document: its HTML, and the file name it is offered under."""

    kind: str
    filename: str
    html: str


def session_facts(session) -> dict:
    """What a document prints of its exam session (the running header)."""
    return {"name": session.name, "academie": session.academie or "", "code": session.code,
            "timezone": session.timezone}


def centre_facts(centre, *, address: bool = False) -> dict | None:
    """What a document prints of a centre: name and code, and its address when asked."""
    if centre is None:
        return None
    facts = {"name": centre.name, "code": centre.code}
    if address:
        facts.update(address=centre.address or "", postal_code=centre.postal_code or "",
                     city=centre.city or "")
    return facts


def printed(template: str, context: dict[str, Any], *, kind: str, ids: list,
            fields: Mapping[str, str], now: datetime | None = None,
            provisional: bool = False, signed: bool = True) -> str:
    """Sign ``context`` (not when provisional, nor unsigned) and render ``template`` with it."""
    qr = url = ""
    if signed and not provisional:
        qr, url = signing.sign(kind=kind, ids=ids, content=context, fields=fields)
    # Dates and times print in the session's zone, which the signed context names.
    facts = context.get("doc_session") or context.get("session")
    with zone(facts.get("timezone") if isinstance(facts, Mapping) else None):
        return render_template(template, generated_at=now or utcnow(), provisional=provisional,
                               qr=qr, verify_url=url, **context)
