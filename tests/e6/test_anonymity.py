"""Anonymity is structural: nothing a correcteur can reach names a candidate.

Logged in as a correcteur, the crawl visits every declared route (built with
the world's arguments, whatever the role they allow), follows every same-site
link and GET form from the pages it gets, posts to the correcteur's JSON and
form endpoints (valid and invalid input, to see the error messages too), opens
the verification pages of the E6 documents, and searches every body (HTML,
JSON, PDF text) for every candidate's last name, first name, number and
establishment name and UAI.
"""

from __future__ import annotations

import html
import io
import re
from decimal import Decimal
from urllib.parse import urljoin, urlsplit

import pytest
from flask import current_app

from exam_app.e6 import documents, harmonisation, marking, release
from exam_app.printing.signing import make_token
from exam_app.results import e6_bordereau
from tests.conftest import csrf_token_from
from tests.e6.conftest import mark_lot
from tests.test_routes import ACCESS, world  # noqa: F401 - the route-access world fixture

LINK = re.compile(r'<(?:a|link)\b[^>]*\bhref="([^"#]*)', re.I)
SCRIPT = re.compile(r'<script\b[^>]*\bsrc="([^"]*)', re.I)
FORM = re.compile(r'<form\b([^>]*)>', re.I)


def _identities() -> set[str]:
    """Every candidate in the database: this session's and the route-access world's."""
    from exam_app.enrolment.models import Candidate

    values = set()
    for c in Candidate.query.all():
        values |= {c.last_name, c.first_name, c.number, c.establishment.name,
                   c.establishment.uai}
    return values


def _leaks(identity: str, body: str) -> bool:
    # Whole words only, so that candidate "NOM5" is not found in a user called "Nom56".
    return re.search(rf"(?<!\w){re.escape(identity.casefold())}(?!\w)", body) is not None


def _text(response) -> str:
    if response.mimetype == "application/pdf":
        from pypdf import PdfReader

        return " ".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    return response.get_data(as_text=True)


def _links(body: str) -> list[str]:
    found = LINK.findall(body) + SCRIPT.findall(body)
    for attributes in FORM.findall(body):
        method = re.search(r'method="([^"]*)"', attributes)
        action = re.search(r'action="([^"]*)"', attributes)
        if (method is None or method.group(1).lower() == "get") and action:
            found.append(action.group(1))
    return [html.unescape(u) for u in found]


def _prepare(e6_world, state: str) -> None:
    first, second = e6_world["lots"]
    q = e6_world["questions"]
    copy = marking.lot_copies(first)[0]
    marking.save_copy(copy=copy, points={q[0].id: "4", q[1].id: "5"}, comment="À revoir",
                      version=copy.version, actor=e6_world["markers"][0])
    if state == "marking":
        return
    for c in marking.lot_copies(first):
        marking.save_copy(copy=c, points={x.id: "2" for x in q}, comment="", version=c.version,
                          actor=e6_world["markers"][0])
    marking.validate_lot(lot=first, actor=e6_world["markers"][0])
    harmonisation.adjust_lot(lot=first, factor=Decimal(1), offset_points=Decimal(1),
                             reason="Harmonisation du lot", actor=e6_world["gestionnaire"])
    harmonisation.finalize_lot(lot=first, actor=e6_world["gestionnaire"])
    mark_lot(second, q, ("3", "3", "3"), e6_world["markers"][1])
    harmonisation.finalize_lot(lot=second, actor=e6_world["gestionnaire"])
    release.lift_anonymity(session=e6_world["session"], actor=e6_world["gestionnaire"])


@pytest.mark.parametrize("state", ["marking", "after_lifting"])
def test_nothing_a_correcteur_reaches_names_a_candidate(app, client, login_as, world,  # noqa: F811
                                                        e6_world, state):
    _prepare(e6_world, state)
    first = e6_world["lots"][0]
    copy = marking.lot_copies(first)[0]
    other_copy = marking.lot_copies(e6_world["lots"][1])[0]
    secret = current_app.config["SECRET_KEY"]
    # The world's arguments fill every declared route (other features' included);
    # this session's objects replace them where the correcteur has something to see.
    args = {
        **world["args"],
        "code": e6_world["session"].code, "centre_id": e6_world["centre"].id,
        "candidate_id": e6_world["candidates"][0].id,
        "room_id": e6_world["room"].id, "lot_id": first.id,
        "anonymous_number": copy.anonymous_number, "corrector_id": 1,
        "token": documents.copy_token(copy, e6_world["room"], e6_world["session"],
                                      e6_world["centre"]),
    }
    session, room, centre = e6_world["session"], e6_world["room"], e6_world["centre"]
    extra_tokens = [
        make_token(secret_key=secret, kind=e6_bordereau.BORDEREAU_KIND, ids=[session.id, 0],
                   content=e6_bordereau.bordereau_context(session),
                   fields=e6_bordereau.BORDEREAU_FIELDS),
        # A bordereau and a sheet printed before a change: the "remplacé" pages too.
        make_token(secret_key=secret, kind=e6_bordereau.BORDEREAU_KIND, ids=[session.id, 0],
                   content={}, fields=e6_bordereau.BORDEREAU_FIELDS),
        make_token(secret_key=secret, kind=documents.SHEET_KIND, ids=[room.id, 0],
                   content={}, fields=documents.SHEET_FIELDS),
        documents.copy_token(other_copy, room, session, centre),
        # A label whose copy was since given another number.
        make_token(secret_key=secret, kind=documents.COPY_KIND, ids=[session.id, "AAAA-AAAA", 0],
                   content={}, fields=documents.LABEL_FIELDS),
    ]
    identities = _identities()
    from exam_app.enrolment.models import Candidate
    from exam_app.extensions import db

    world_candidate = db.session.get(Candidate, world["args"]["candidate_id"])
    assert {world_candidate.number, world_candidate.last_name,
            *(c.last_name for c in e6_world["candidates"])} <= identities
    login_as(e6_world["markers"][0])

    queue = ["/", "/correction/"] + [f"/verifier/{t}" for t in extra_tokens]
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ACCESS and "GET" in rule.methods:
            queue.append(rule.build(args, append_unknown=False)[1])
    seen: set[str] = set()
    bodies: dict[str, str] = {}
    while queue and len(seen) < 300:
        url = queue.pop(0)
        if url in seen or url.startswith("/deconnexion"):
            continue
        seen.add(url)
        response = client.get(url)
        body = _text(response)
        response.close()  # static files are streamed
        bodies[f"GET {url} ({response.status_code})"] = body
        if response.mimetype == "text/html":
            for link in _links(body):
                target = urljoin(url, link)
                parts = urlsplit(target)
                if not parts.netloc or parts.netloc == "localhost":
                    queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))

    lot_url = f"/correction/lots/{first.id}"
    token = csrf_token_from(client.get(lot_url).get_data(as_text=True))
    q = e6_world["questions"]
    posts = [
        (f"{lot_url}/copies/{copy.anonymous_number}",
         {"version": copy.version, "points": {str(q[0].id): "5"}, "comment": "x"}),
        (f"{lot_url}/copies/{copy.anonymous_number}", {"version": -1, "points": {}}),
        (f"{lot_url}/copies/{copy.anonymous_number}",
         {"version": copy.version, "points": {str(q[0].id): "99"}}),
        (f"{lot_url}/copies/{other_copy.anonymous_number}", {"version": 0, "points": {}}),
        (f"/correction/lots/{e6_world['lots'][1].id}/copies/{other_copy.anonymous_number}",
         {"version": 0, "points": {}}),
    ]
    for url, payload in posts:
        response = client.post(url, json=payload, headers={"X-CSRFToken": token})
        bodies[f"POST {url} ({response.status_code})"] = response.get_data(as_text=True)
    response = client.post(f"{lot_url}/valider", data={"csrf_token": token, "confirm": "y"},
                           follow_redirects=True)
    bodies[f"POST {lot_url}/valider"] = response.get_data(as_text=True)

    # The crawl did reach the correcteur's pages, documents and error pages.
    visited = " ".join(bodies)
    assert f"GET {lot_url} (200)" in visited
    assert "/verifier/" in visited
    assert "(403)" in visited
    assert copy.anonymous_number in bodies[f"GET {lot_url} (200)"]
    leaks = []
    for where, body in bodies.items():
        folded = html.unescape(body).casefold()
        for identity in identities:
            if _leaks(identity, folded):
                leaks.append(f"{identity!r} in {where}")
    assert leaks == []
