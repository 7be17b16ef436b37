"""Bordereau de notation: one per commission and unit.

PROVISOIRE policy: while any mark of the bordereau is not final (neither
ABS nor NV nor a mark validated by both jurors), the bordereau is printed with
a "PROVISOIRE" watermark and carries no QR code: it cannot be verified, so it
cannot pass for the final document.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import orm

from exam_app.clock import utcnow
from exam_app.documents.changes import ACTIONS, dossier_ids, history
from exam_app.dossiers.validity import nv_candidate_ids
from exam_app.enrolment import sessions
from exam_app.enrolment.models import Candidate
from exam_app.extensions import db
from exam_app.juries.grids import carries_mark
from exam_app.juries.lifecycle import result_label
from exam_app.juries.models import REPLACEMENT_LABEL, Commission, MemberRole, Passage
from exam_app.printing import document, signing, verification
from exam_app.printing.document import centre_facts, session_facts
from exam_app.printing.signing import TokenPayload, content_hash
from exam_app.printing.verification import Status, Verification
from exam_app.units import get_unit

KIND = "bordereau"


def bordereau_rows(commission: Commission) -> list[dict]:
    """The commission's candidates for the unit's mark, by candidate number."""
    passages = db.session.scalars(
        sa.select(Passage).join(Candidate, Candidate.id == Passage.candidate_id)
        .where(Passage.commission_id == commission.id, Candidate.sits_in(commission.unit_code))
        .options(orm.contains_eager(Passage.candidate))
        .order_by(Candidate.number, Passage.id)).all()
    # NV of the commission's candidates only: the bordereau's cost follows the commission.
    nv = nv_candidate_ids(session_id=commission.session_id, unit_code=commission.unit_code,
                          candidate_ids={p.candidate_id for p in passages})
    rows = []
    for passage in passages:
        if not carries_mark(passage.unit_code, passage.variant_code):
            continue
        c = passage.candidate
        result = result_label(passage, nv=passage.candidate_id in nv)
        rows.append({"passage_id": passage.id, "number": c.number, "last_name": c.last_name,
                     "first_name": c.first_name, "result": result})
    return rows


def jurors(commission: Commission) -> list[str]:
    """The teacher's and the professional's names, in that order."""
    names = []
    for role in (MemberRole.TEACHER, MemberRole.PROFESSIONAL):
        member = commission.member(role)
        names.append(member.user.display_name if member else "")
    return names


def juror_roles(commission: Commission) -> dict:
    """What the signatures call each seat (a teacher holding the professional's seat is
    printed as such), and the replacement's reason (empty otherwise)."""
    member = commission.member(MemberRole.PROFESSIONAL)
    replaced = member is not None and member.is_replacement
    return {"juror_roles": ["Enseignant", REPLACEMENT_LABEL if replaced else "Professionnel"],
            "replacement_reason": (member.replacement_reason or "") if replaced else ""}


TEMPLATE = "print/bordereau.html"
FIELDS = {
    "doc_title": "Épreuve", "unit": "Épreuve", "doc_session": "Session", "doc_centre": "Centre",
    "commission": "Commission", "rows[*].number": "N° candidat", "rows[*].last_name": "Nom",
    "rows[*].first_name": "Prénom", "rows[*].result": "Notes", "counts": "Notes",
    "jurors": "Examinateurs", "juror_roles": "Examinateurs",
    "replacement_reason": "Examinateurs", "rules": "Règles de la session",
}


def bordereau_context(commission: Commission, rows: list[dict]) -> dict:
    """Everything the bordereau prints (and so vouches for): who, and each result."""
    unit = get_unit(commission.unit_code)
    return {
        "doc_title": f"Bordereau de notation {unit.code}",
        "doc_session": session_facts(commission.session), "doc_centre": centre_facts(commission.centre),
        "unit": {"code": unit.code, "title": unit.title, "max_mark": unit.max_mark,
                 "coefficient": unit.coefficient},
        "commission": {"code": commission.code,
                       "centre": centre_facts(commission.centre)},
        "rows": [{k: r[k] for k in ("number", "last_name", "first_name", "result")} for r in rows],
        "counts": {"total": len(rows),
                   "marked": sum(1 for r in rows if r["result"] not in (None, "ABS", "NV")),
                   "absent": sum(1 for r in rows if r["result"] == "ABS"),
                   "nv": sum(1 for r in rows if r["result"] == "NV")},
        "jurors": jurors(commission), **juror_roles(commission),
        # The session's rules this document depends on, once changed from their default
        # (enrolment.sessions): changing one supersedes it.
        "rules": sessions.rules_content(commission.session, "mark_step",
                                        "nv_excludes_interview"),
    }


def build(commission: Commission, *, now: datetime | None = None) -> document.Printed:
    now = now or utcnow()
    rows = bordereau_rows(commission)
    html = document.printed(TEMPLATE, bordereau_context(commission, rows), kind=KIND,
                            fields=FIELDS, now=now, ids=[commission.id, signing.stamp(now)],
                            provisional=any(r["result"] is None for r in rows))
    return document.Printed(KIND, f"bordereau-{commission.code}.pdf", html)


def check(payload: TokenPayload) -> Verification:
    """Authentic while every result of the commission is what was printed."""
    if len(payload.ids) != 2:
        return Verification(Status.NOT_AUTHENTIC)
    commission = db.session.get(Commission, payload.ids[0])
    if commission is None:
        return Verification(Status.NOT_AUTHENTIC)
    rows = bordereau_rows(commission)
    facts = (("Session", commission.session.name), ("Épreuve", commission.unit_code),
             ("Commission", commission.code), ("Candidats", str(len(rows))))
    title = "Bordereau de notation"
    context = bordereau_context(commission, rows)
    if content_hash(context) == payload.hash:
        return Verification(Status.AUTHENTIC, title, facts)
    passages = db.session.scalars(sa.select(Passage).where(
        Passage.commission_id == commission.id)).all()
    events, updated = history(
        signing.from_stamp(payload.ids[1]), passages=passages, commissions=[commission],
        candidates=[p.candidate for p in passages],
        dossier_ids=dossier_ids([p.candidate_id for p in passages], commission.unit_code))
    return verification.superseded(payload, title, facts, content=context, fields=FIELDS,
                                   events=events, actions=ACTIONS, changed_at=updated)
