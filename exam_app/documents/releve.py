"""Relevé de notes (issue 14, §4): one page per candidate with their professional units'
results, as THE results module (``results.compute``) decides them, and a signed QR code.

One relevé is a candidate's own PDF (tagged PDF/UA: language, title); the pack of an
establishment is ONE HTML document of one page per candidate rendered into ONE PDF with
the thread's shared fonts (``printing.pdf.render_pdf``): building it costs one bulk read
of the results and registrations, then per candidate a signature, a QR code and a
template loop (bench/results.py measures it against WeasyPrint alone).

Each page signs exactly what it prints (``page_content``): the session, the candidate's
identity and, per unit, its title, form and printed result.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import render_template
from sqlalchemy.orm import selectinload

from exam_app.clock import utcnow, zone
from exam_app.enrolment.models import Candidate, Establishment, ExamSession
from exam_app.extensions import db
from exam_app.printing import signing, verification
from exam_app.printing.document import session_facts
from exam_app.printing.signing import TokenPayload, content_hash
from exam_app.printing.verification import Status, Verification
from exam_app.results import compute
from exam_app.units import UnitKind, all_units

KIND = "releve"
TEMPLATE = "print/releve.html"
TITLE = "Relevé de notes"
# The kinds of result of a unit not sat this session: no form is printed.
NOT_SAT = frozenset({compute.Kind.BENEFICE, compute.Kind.DISPENSE, compute.Kind.NOT_REGISTERED})


def fields() -> dict[str, str]:
    """Printed field (path prefix of a page's content) -> the label a verification names."""
    return {"doc_session": "Session", "candidate": "Candidat",
            **{f"results.{u.code}": f"Résultat {u.code}" for u in all_units()}}


def _form_label(candidate: Candidate, unit, result: compute.UnitResult) -> str:
    if result.kind in NOT_SAT:
        return "—"
    try:
        form = candidate.form_for(unit.code)
    except LookupError:
        return "forme non renseignée"
    return f"{form.label} ({'écrit' if unit.kind == UnitKind.WRITTEN else 'oral'})"


def page_content(session_doc: dict, candidate: Candidate,
                 results: dict[str, compute.UnitResult]) -> dict:
    """What one candidate's page prints (and so what its QR code vouches for)."""
    return {
        "doc_session": session_doc,
        "candidate": {"number": candidate.number, "last_name": candidate.last_name,
                      "first_name": candidate.first_name, "birth_date": candidate.birth_date,
                      "establishment": candidate.establishment.name},
        "results": {u.code: {"code": u.code, "title": u.title,
                             "form": _form_label(candidate, u, results[u.code]),
                             "result": results[u.code].label}
                    for u in all_units()},
    }


def _session_doc(session: ExamSession) -> dict:
    return {**session_facts(session), "year": session.year}


def _candidates(session_id: int, *, establishment_id: int | None = None,
                candidate_ids=None, offset: int = 0,
                limit: int | None = None) -> list[Candidate]:
    """The candidates by name (``offset``/``limit``: a slice of that order, in SQL)."""
    query = (sa.select(Candidate).where(Candidate.session_id == session_id)
             .options(selectinload(Candidate.unit_forms))
             .order_by(Candidate.last_name, Candidate.first_name, Candidate.number)
             .offset(offset).limit(limit))
    if establishment_id is not None:
        query = query.where(Candidate.establishment_id == establishment_id)
    if candidate_ids is not None:
        query = query.where(Candidate.id.in_(candidate_ids))
    return list(db.session.scalars(query))


def pages(session: ExamSession, candidates: list[Candidate], *, now: datetime) -> list[dict]:
    """One signed page per candidate: its content, QR code and verification URL."""
    results = compute.session_results(session.id, candidate_ids=[c.id for c in candidates])
    session_doc, labels, stamp = _session_doc(session), fields(), signing.stamp(now)
    out = []
    for candidate in candidates:
        content = page_content(session_doc, candidate,
                               {u.code: results.of(candidate.id, u.code) for u in all_units()})
        qr, url = signing.sign(kind=KIND, ids=[candidate.id, stamp], content=content,
                               fields=labels)
        out.append({"content": content, "qr": qr, "verify_url": url})
    return out


def render_html(session: ExamSession, page_list: list[dict], *, now: datetime) -> str:
    """The relevés' HTML: one page per entry of ``page_list``, in the session's zone."""
    with zone(session.timezone):
        return render_template(TEMPLATE, doc_session=_session_doc(session), pages=page_list,
                               generated_at=now)


def candidate_html(candidate: Candidate, *, now: datetime | None = None) -> str:
    now = now or utcnow()
    session = candidate.session
    [loaded] = _candidates(session.id, candidate_ids=[candidate.id])
    return render_html(session, pages(session, [loaded], now=now), now=now)


def candidate_pdf(candidate: Candidate, *, now: datetime | None = None) -> bytes:
    """A candidate's own relevé: a tagged PDF (PDF/UA-1, French, titled)."""
    from exam_app.printing.pdf import render_pdf  # WeasyPrint: on the first render

    return render_pdf(candidate_html(candidate, now=now), tagged=True)


def _count(session_id: int, establishment_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count(Candidate.id)).where(
        Candidate.session_id == session_id, Candidate.establishment_id == establishment_id))


def establishment_candidates(session: ExamSession, establishment_id: int) -> list[Candidate]:
    return _candidates(session.id, establishment_id=establishment_id)


# Candidates per downloaded PDF: a part renders in ~20 s of CPU (~0.14 s a page, bench),
# well within a proxy's read timeout (nginx: 60 s); a large establishment has several.
PART_SIZE = 150


def parts(count: int) -> list[tuple[int, int, int]]:
    """(part number, first, last candidate — 1-based) of a pack of ``count`` candidates."""
    return [(n + 1, start + 1, min(start + PART_SIZE, count))
            for n, start in enumerate(range(0, count, PART_SIZE))]


def pack_html(session: ExamSession, establishment_id: int, *, part: int | None = None,
              now: datetime | None = None) -> tuple[str, int]:
    """(the pack's HTML, its number of pages): the establishment's candidates in the
    session, by name — all of them, or the ``part``-th ``PART_SIZE`` of them."""
    now = now or utcnow()
    if part is None:
        candidates = establishment_candidates(session, establishment_id)
    elif part < 1 or (part - 1) * PART_SIZE >= _count(session.id, establishment_id):
        candidates = []  # past the last part (an offset the database need not read)
    else:  # only the part's candidates are read
        candidates = _candidates(session.id, establishment_id=establishment_id,
                                 offset=(part - 1) * PART_SIZE, limit=PART_SIZE)
    return render_html(session, pages(session, candidates, now=now), now=now), len(candidates)


def pack_pdf(session: ExamSession, establishment_id: int, *, part: int | None = None,
             now: datetime | None = None) -> tuple[bytes, int]:
    """(the establishment's relevés as one PDF, its pages), for the printer (untagged, as
    the other print packs); nothing is rendered without a candidate."""
    html, count = pack_html(session, establishment_id, part=part, now=now)
    from exam_app.printing.pdf import render_pdf  # WeasyPrint: on the first render

    return (render_pdf(html) if count else b""), count


def establishments(session: ExamSession) -> list[tuple[Establishment, int]]:
    """The establishments with candidates in the session, each with its candidate count."""
    rows = db.session.execute(
        sa.select(Establishment, sa.func.count(Candidate.id))
        .join(Candidate, Candidate.establishment_id == Establishment.id)
        .where(Candidate.session_id == session.id)
        .group_by(Establishment.id).order_by(Establishment.name)).all()
    return [(e, n) for e, n in rows]


def check(payload: TokenPayload) -> Verification:
    """A relevé is authentic while what its page printed is still what would print."""
    if len(payload.ids) != 2:
        return Verification(Status.NOT_AUTHENTIC)
    candidate = db.session.get(Candidate, payload.ids[0])
    if candidate is None:
        return Verification(Status.NOT_AUTHENTIC)
    session = candidate.session
    [loaded] = _candidates(session.id, candidate_ids=[candidate.id])
    results = compute.candidate_results(loaded)
    content = page_content(_session_doc(session), loaded, results)
    facts = (("Session", session.name),
             ("Candidat", f"{candidate.number} — {candidate.last_name} {candidate.first_name}"))
    if content_hash(content) == payload.hash:
        return Verification(Status.AUTHENTIC, TITLE, facts)
    result = verification.superseded(payload, TITLE, facts, content=content, fields=fields())
    # A corrected name is not what was printed: the public page then shows the number only.
    return verification.without_changed(result, "Candidat", ("Candidat",), candidate.number)
