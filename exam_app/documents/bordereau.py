"""Bordereau de notation: one per commission and unit.

PROVISOIRE policy: while any mark of the bordereau is not final (neither
ABS nor NV nor a mark validated by both jurors), the bordereau is printed with
a "PROVISOIRE" watermark and carries no QR code: it cannot be verified, so it
cannot pass for the final document.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import orm

from exam_app.clock import to_local, utcnow
from exam_app.documents.changes import ACTIONS, dossier_ids, history
from exam_app.enrolment import sessions
from exam_app.enrolment.models import Candidate
from exam_app.extensions import db
from exam_app.juries.grids import carries_mark
from exam_app.juries.lifecycle import mark_text
from exam_app.juries.models import REPLACEMENT_LABEL, Commission, MemberRole, Passage
from exam_app.printing import document, signing, verification
from exam_app.printing.document import centre_facts, session_facts
from exam_app.printing.signing import TokenPayload, content_hash
from exam_app.printing.verification import Status, Verification
from exam_app.results.compute import Kind, UnitResult, unit_results
from exam_app.units import get_unit

KIND = "bordereau"


def bordereau_rows(commission: Commission) -> list[dict]:
    """The commission's candidates for the unit's mark, by candidate number, each with
    the unit's result from the results module (None while pending: a CCF situation B
    validated before situation A is settled is not a result yet)."""
    passages = [p for p in db.session.scalars(
        sa.select(Passage).join(Candidate, Candidate.id == Passage.candidate_id)
        .where(Passage.commission_id == commission.id, Candidate.sits_in(commission.unit_code))
        .options(orm.contains_eager(Passage.candidate))
        .order_by(Candidate.number, Passage.id))
        if carries_mark(p.unit_code, p.variant_code)]
    # The commission's candidates only: the bordereau's cost follows the commission.
    results = unit_results(commission.session_id, commission.unit_code,
                           candidate_ids={p.candidate_id for p in passages})
    rows = []
    for passage in passages:
        c = passage.candidate
        result = results[passage.candidate_id]
        rows.append({"passage_id": passage.id, "number": c.number, "last_name": c.last_name,
                     "first_name": c.first_name, "result": printed_result(result),
                     "rule": result.rule,
                     "several_situations": _several_situations(passage),
                     "scheduled_at": passage.scheduled_at})
    return rows


def _several_situations(passage: Passage) -> bool:
    """Whether the passage's form has several situations (E5 CCF: A and B)."""
    unit = get_unit(passage.unit_code)
    return len(unit.variants_for(unit.variant(passage.variant_code).form)) > 1


def printed_result(result: UnitResult) -> str | None:
    """As the bordereau has always signed it: 'ABS', 'NV', the mark ('14.5'), None pending."""
    if result.kind is Kind.MARK:
        return mark_text(result.mark)
    if result.kind is Kind.PENDING:
        return None
    return result.printed


def place_facts(commission: Commission) -> dict | None:
    """The running header's place: the centre (ponctuel), or the establishment holding a
    CCF commission (which has no centre)."""
    if commission.centre is None and commission.establishment is not None:
        return {"name": commission.establishment.name, "code": commission.establishment.uai}
    return centre_facts(commission.centre)


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
CCF_TEMPLATE = "print/bordereau_ccf.html"  # the same, with the session's CCF rule


def is_ccf(rows: list[dict]) -> bool:
    """Whether the bordereau's marks close a form of several situations (E5 CCF)."""
    return bool(rows) and rows[0]["several_situations"]
FIELDS = {
    "doc_title": "Épreuve", "unit": "Épreuve", "doc_session": "Session", "doc_centre": "Centre",
    "commission": "Commission", "rows[*].number": "N° candidat", "rows[*].last_name": "Nom",
    "rows[*].first_name": "Prénom", "rows[*].result": "Notes", "counts": "Notes",
    "jurors": "Examinateurs", "juror_roles": "Examinateurs",
    "replacement_reason": "Examinateurs", "rules": "Règles de la session",
    "ccf_rule": "Règle de combinaison des situations",
    "oral_dates": "Date(s) des oraux", "mark_step": "Pas de notation",
}


def oral_dates(commission: Commission, rows: list[dict]) -> list[date]:
    """The days the rows' orals were held, in the session's time zone, in order."""
    zone = commission.session.timezone
    return sorted({to_local(r["scheduled_at"], zone).date() for r in rows
                   if r.get("scheduled_at") is not None})


def bordereau_context(commission: Commission, rows: list[dict]) -> dict:
    """Everything the bordereau prints (and so vouches for): who, and each result."""
    unit = get_unit(commission.unit_code)
    return {
        "doc_title": f"Bordereau de notation {unit.code}",
        "doc_session": session_facts(commission.session), "doc_centre": place_facts(commission),
        "unit": {"code": unit.code, "title": unit.title, "max_mark": unit.max_mark,
                 "coefficient": unit.coefficient},
        "commission": {"code": commission.code,
                       "centre": centre_facts(commission.centre)},
        # How a CCF commission's situations make the unit's result (the session's rule),
        # printed with the results (CCF_TEMPLATE); absent for a single-situation form, whose
        # signed content is unchanged.
        **({"ccf_rule": rows[0]["rule"]} if is_ccf(rows) else {}),
        "rows": [{k: r[k] for k in ("number", "last_name", "first_name", "result")} for r in rows],
        "counts": {"total": len(rows),
                   "marked": sum(1 for r in rows if r["result"] not in (None, "ABS", "NV")),
                   "absent": sum(1 for r in rows if r["result"] == "ABS"),
                   "nv": sum(1 for r in rows if r["result"] == "NV")},
        "jurors": jurors(commission), **juror_roles(commission),
        "oral_dates": oral_dates(commission, rows),
        "mark_step": commission.session.mark_step.normalize(),
        # The session's rules this document depends on, once changed from their default
        # (enrolment.sessions): changing one supersedes it.
        "rules": sessions.rules_content(commission.session, "mark_step",
                                        "nv_excludes_interview"),
    }


def build(commission: Commission, *, now: datetime | None = None) -> document.Printed:
    now = now or utcnow()
    rows = bordereau_rows(commission)
    html = document.printed(CCF_TEMPLATE if is_ccf(rows) else TEMPLATE,
                            bordereau_context(commission, rows), kind=KIND, fields=FIELDS,
                            now=now, ids=[commission.id, signing.stamp(now)],
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
