"""Bordereau de CCF of an establishment (issue 14, §2): every candidate of the
establishment who sits E5 in CCF, each situation (A, B) as held, and the unit's result
from the results module, with the session's rule that combines the situations.

Same PROVISOIRE policy as the commissions' bordereaux: while any result is pending, the
document is watermarked and carries no QR code. Its token names the session and the
establishment; ``check`` recomputes the same content.
"""

from __future__ import annotations

from datetime import datetime

from exam_app.clock import to_local, utcnow
from exam_app.documents.bordereau import juror_roles, jurors, printed_result
from exam_app.documents.changes import ACTIONS, dossier_ids, history
from exam_app.e5.definition import E5
from exam_app.enrolment import sessions
from exam_app.enrolment.models import Establishment, ExamSession
from exam_app.extensions import db
from exam_app.formatting import decimal_fr
from exam_app.juries import ccf
from exam_app.printing import document, signing, verification
from exam_app.printing.document import session_facts
from exam_app.printing.signing import TokenPayload, content_hash
from exam_app.printing.verification import Status, Verification
from exam_app.results.compute import unit_results
from exam_app.units import UnitForm

KIND = "bordereau_ccf"
TEMPLATE = "print/bordereau_etablissement_ccf.html"
FIELDS = {
    "doc_title": "Épreuve", "unit": "Épreuve", "doc_session": "Session",
    "doc_centre": "Établissement", "establishment": "Établissement",
    "situations": "Épreuve", "rows[*].number": "N° candidat", "rows[*].last_name": "Nom",
    "rows[*].first_name": "Prénom", "rows[*].situations": "Situations",
    "rows[*].result": "Notes", "counts": "Notes", "ccf_rule": "Règle de combinaison des situations",
    "commissions": "Commissions", "mark_step": "Pas de notation", "rules": "Règles de la session",
}


def establishment_facts(establishment: Establishment) -> dict:
    """What a document prints of an establishment (in the running header's place slot)."""
    return {"name": establishment.name, "code": establishment.uai}


def _situation_text(passage, zone: str) -> str:
    """'12/05/2027 — grille validée', '… — 14', 'ABS', 'prévue le …', 'à planifier'."""
    if passage is None:
        return "à planifier"
    day = f"{to_local(passage.scheduled_at, zone):%d/%m/%Y}" if passage.scheduled_at else ""
    if passage.is_absent:
        state = "ABS"
    elif passage.is_final:
        state = decimal_fr(passage.final_mark) if passage.final_mark is not None \
            else "grille validée"
    else:
        return f"prévue le {day}" if day else "à planifier"
    return f"{day} — {state}" if day else state


def rows(session: ExamSession, establishment: Establishment) -> list[dict]:
    """The establishment's CCF candidates, each with their situations and their E5 result."""
    candidates = ccf.ccf_candidates(session, establishment)
    results = unit_results(session.id, E5.code, candidate_ids={c.id for c in candidates})
    passages: dict[tuple[int, str], object] = {}
    for p in ccf.ccf_passages(session, establishment):
        passages.setdefault((p.candidate_id, p.variant_code), p)
    codes = [v.code for v in E5.variants_for(UnitForm.CCF)]
    found = []
    for c in candidates:
        result = results[c.id]
        found.append({"candidate_id": c.id, "number": c.number, "last_name": c.last_name,
                      "first_name": c.first_name,
                      "situations": [_situation_text(passages.get((c.id, code)),
                                                     session.timezone) for code in codes],
                      "passages": [passages.get((c.id, code)) for code in codes],
                      "result": printed_result(result), "rule": result.rule,
                      "pending": result.is_pending})
    return found


def context(session: ExamSession, establishment: Establishment, found: list[dict]) -> dict:
    """Everything the bordereau prints (and so vouches for)."""
    commissions = ccf.ccf_commissions(session, establishment)
    return {
        "doc_title": f"Bordereau de CCF {E5.code}",
        "doc_session": session_facts(session), "doc_centre": establishment_facts(establishment),
        "establishment": {**establishment_facts(establishment), "city": establishment.city},
        "unit": {"code": E5.code, "title": E5.title, "max_mark": E5.max_mark,
                 "coefficient": E5.coefficient},
        "situations": [v.label for v in E5.variants_for(UnitForm.CCF)],
        "rows": [{k: r[k] for k in ("number", "last_name", "first_name", "situations",
                                    "result")} for r in found],
        "counts": {"total": len(found),
                   "marked": sum(1 for r in found if r["result"] not in (None, "ABS", "NV")),
                   "absent": sum(1 for r in found if r["result"] == "ABS"),
                   "nv": sum(1 for r in found if r["result"] == "NV")},
        "ccf_rule": sessions.CCF_RULES[session.ccf_combination],
        "commissions": [{"code": c.code, "jurors": jurors(c), **juror_roles(c)}
                        for c in commissions],
        "mark_step": session.mark_step.normalize(),
        "rules": sessions.rules_content(session, "mark_step", "nv_excludes_interview"),
    }


def build(session: ExamSession, establishment: Establishment, *,
          now: datetime | None = None) -> document.Printed:
    now = now or utcnow()
    found = rows(session, establishment)
    html = document.printed(TEMPLATE, context(session, establishment, found), kind=KIND,
                            fields=FIELDS, now=now,
                            ids=[session.id, establishment.id, signing.stamp(now)],
                            provisional=not found or any(r["pending"] for r in found))
    return document.Printed(KIND, f"bordereau-ccf-{establishment.uai}.pdf", html)


def check(payload: TokenPayload) -> Verification:
    """Authentic while every situation and result of the establishment is what was printed."""
    if len(payload.ids) != 3:
        return Verification(Status.NOT_AUTHENTIC)
    session = db.session.get(ExamSession, payload.ids[0])
    establishment = db.session.get(Establishment, payload.ids[1])
    if session is None or establishment is None:
        return Verification(Status.NOT_AUTHENTIC)
    found = rows(session, establishment)
    facts = (("Session", session.name), ("Épreuve", f"{E5.code} (CCF)"),
             ("Établissement", f"{establishment.name} ({establishment.uai})"),
             ("Candidats", str(len(found))))
    title = "Bordereau de CCF"
    content = context(session, establishment, found)
    if content_hash(content) == payload.hash:
        return Verification(Status.AUTHENTIC, title, facts)
    passages = [p for r in found for p in r["passages"] if p is not None]
    commissions = ccf.ccf_commissions(session, establishment)
    ids = [r["candidate_id"] for r in found]
    events, updated = history(
        signing.from_stamp(payload.ids[2]), passages=passages, commissions=commissions,
        candidates=[p.candidate for p in passages],
        dossier_ids=dossier_ids(ids, E5.code) if ids else [])
    return verification.superseded(payload, title, facts, content=content, fields=FIELDS,
                                   events=events, actions=ACTIONS, changed_at=updated)


def passages_of(session: ExamSession, establishment: Establishment) -> list:
    """The establishment's CCF passages, for its fiches (by date, then candidate)."""
    return sorted(ccf.ccf_passages(session, establishment),
                  key=lambda p: (p.scheduled_at is None, p.scheduled_at or utcnow(),
                                 p.candidate.number, p.variant_code))


