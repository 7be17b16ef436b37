"""The E6 bordereau de notation (after the levée d'anonymat), one section per centre.

Its results come from the results module (exam_app.results.compute), as every
other reader's; it moved here from ``e6.documents`` so that it may ask it.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from exam_app.clock import utcnow
from exam_app.e6.definition import E6
from exam_app.e6.documents import ACTIONS, _session_actions
from exam_app.e6.release import release_of
from exam_app.enrolment.models import Candidate, Centre, ExamSession
from exam_app.extensions import db
from exam_app.printing import verification
from exam_app.printing.document import printed
from exam_app.printing.signing import content_hash, from_stamp, stamp
from exam_app.printing.verification import Status, Verification
from exam_app.results.compute import Kind, unit_results

BORDEREAU_KIND = "e6-bordereau"
BORDEREAU_FIELDS = {
    "session": "Session", "release": "Levée d'anonymat",
    "blocks[*].centre": "Centres", "blocks[*].rows[*].number": "N° candidat",
    "blocks[*].rows[*].last_name": "Nom", "blocks[*].rows[*].first_name": "Prénom",
    "blocks[*].rows[*].result": "Notes", "blocks[*].present": "Notes",
    "blocks[*].absent": "Notes", "blocks[*].nv": "Notes",
}


# ---- bordereau ---------------------------------------------------------------

def bordereau_rows(session_id: int) -> list[tuple[Centre | None, list[tuple[Candidate, object]]]]:
    """Per centre (by code, no centre last): each candidate with their E6 UnitResult."""
    results = unit_results(session_id, E6.code)
    candidates = db.session.scalars(
        sa.select(Candidate).where(Candidate.session_id == session_id)
        .order_by(Candidate.number)).all()
    by_centre: dict = {}
    for candidate in candidates:
        by_centre.setdefault(candidate.centre, []).append((candidate, results[candidate.id]))
    return sorted(by_centre.items(), key=lambda item: item[0].code if item[0] else "~")


def bordereau_context(session: ExamSession) -> dict:
    """Everything the E6 bordereau prints (and so vouches for)."""
    release = release_of(session.id)
    blocks = []
    for centre, rows in bordereau_rows(session.id):
        # A bénéfice or a dispense is printed in the result column but is not a mark.
        blocks.append({
            "centre": {"name": centre.name, "code": centre.code} if centre else None,
            "rows": [{"number": c.number, "last_name": c.last_name, "first_name": c.first_name,
                      "result": r.printed} for c, r in rows],
            "present": sum(1 for _, r in rows if r.kind is Kind.MARK),
            "absent": sum(1 for _, r in rows if r.kind is Kind.ABS),
            "nv": sum(1 for _, r in rows if r.kind is Kind.NV),
        })
    return {
        "session": {"name": session.name, "academie": session.academie or "",
                    "timezone": session.timezone,
                    "e6_duration_minutes": session.e6_duration_minutes,
                    "mark_step": session.mark_step},
        "release": {"lifted_at": release.lifted_at if release else None,
                    "lifted_by": release.lifted_by.display_name
                    if release and release.lifted_by else ""},
        "blocks": blocks,
    }


def bordereau_pdf(*, session: ExamSession, now: datetime | None = None) -> bytes:
    """The E6 bordereau de notation (after the levée d'anonymat), one section per centre."""
    now = now or utcnow()
    html = printed("print/e6_bordereau.html", bordereau_context(session), kind=BORDEREAU_KIND,
                   ids=[session.id, stamp(now)], fields=BORDEREAU_FIELDS, now=now)
    from exam_app.printing.pdf import render_pdf  # WeasyPrint: on the first render

    return render_pdf(html)


def check_bordereau(payload) -> Verification:
    session = db.session.get(ExamSession, payload.ids[0]) if payload.ids else None
    if session is None:
        return Verification(Status.NOT_AUTHENTIC)
    facts = (("Session", session.name), ("Épreuve", f"{E6.code} — bordereau de notation"))
    title = f"Bordereau {E6.code}"
    context = bordereau_context(session)
    if content_hash(context) == payload.hash:
        return Verification(Status.AUTHENTIC, title, facts)
    since = from_stamp(payload.ids[1]) if len(payload.ids) == 2 else None
    return verification.superseded(payload, title, facts, content=context,
                                   fields=BORDEREAU_FIELDS,
                                   events=_session_actions(session.id, since, ACTIONS),
                                   actions=ACTIONS)
