"""Publishing the plan (issue 15): the publication is recorded; every change of a
published passage after it (a repair, a move, a swap: audited per passage) supersedes
exactly that passage's printed convocation (the documents layer reads these audit
events) and puts its candidate on the list of candidates to inform."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from exam_app.audit.models import AuditEvent
from exam_app.audit.services import record
from exam_app.clock import local_zone, utcnow
from exam_app.enrolment.models import ExamSession
from exam_app.extensions import db
from exam_app.juries.errors import JuryError
from exam_app.juries.models import Commission, Passage, PlanPublication

# The audited changes of a published passage the candidate must hear about.
CHANGES = ("passage.move", "passage.swap")


def last_publication(session_id: int) -> PlanPublication | None:
    return db.session.scalar(sa.select(PlanPublication).where(
        PlanPublication.session_id == session_id)
        .order_by(PlanPublication.published_at.desc(), PlanPublication.id.desc()).limit(1))


def publish_plan(*, session: ExamSession, actor, now: datetime | None = None) -> PlanPublication:
    """Record the publication of the session's planned passages (one serialised
    decision); refused when no passage is planned."""
    now = now or utcnow()
    db.session.flush()
    db.session.execute(sa.update(ExamSession).where(ExamSession.id == session.id)
                       .values(code=ExamSession.code)
                       .execution_options(synchronize_session=False))
    count = db.session.scalar(sa.select(sa.func.count(Passage.id))
                              .join(Commission, Commission.id == Passage.commission_id)
                              .where(Commission.session_id == session.id,
                                     Passage.scheduled_at.is_not(None)))
    if not count:
        raise JuryError("Aucun passage planifié : il n'y a rien à publier.")
    row = PlanPublication(session_id=session.id, published_at=now,
                          published_by_id=getattr(actor, "id", None), passages=count)
    db.session.add(row)
    db.session.flush()
    record(actor=actor, action="planning.publish", object_type="session",
           object_id=session.id, session_id=session.id, now=now, after={"passages": count})
    return row


@dataclass
class ToInform:
    passage_id: int
    number: str
    name: str
    unit_code: str
    commission_code: str
    scheduled_at: datetime | None
    changed_at: datetime
    why: str


def to_inform(session_id: int) -> list[ToInform]:
    """The candidates whose published passage changed since the last publication (their
    convocation is superseded: its date, time or room changed): one line a passage, with
    its current place and time."""
    publication = last_publication(session_id)
    if publication is None:
        return []
    events = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.session_id == session_id, AuditEvent.action.in_(CHANGES),
        AuditEvent.object_type == "passage", AuditEvent.at > publication.published_at)
        .order_by(AuditEvent.at, AuditEvent.id)).all()
    last: dict[int, AuditEvent] = {}
    for event in events:
        before, after = event.before or {}, event.after or {}
        if event.action == "passage.move" and "room" in before and all(
                before.get(key) == after.get(key) for key in ("scheduled_at", "room")):
            continue  # another commission at the same time and room: nothing to tell
        for pid in (event.object_id or "").split(","):
            if pid.strip().isdigit():
                last[int(pid)] = event
    passages = {p.id: p for p in db.session.scalars(
        sa.select(Passage).where(Passage.id.in_(last)))}
    rows = []
    for pid, event in last.items():
        p = passages.get(pid)
        if p is None:
            continue
        reason = (event.after or {}).get("reason") or (
            "Passages échangés" if event.action == "passage.swap" else "Passage déplacé")
        rows.append(ToInform(p.id, p.candidate.number, p.candidate.full_name, p.unit_code,
                             p.commission.code, p.scheduled_at, event.at, reason))
    return sorted(rows, key=lambda r: (r.name, r.unit_code))


def to_inform_csv(rows: list[ToInform]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(["N° candidat", "Nom", "Épreuve", "Commission", "Nouvelle date",
                     "Motif"])
    for r in rows:
        writer.writerow([r.number, r.name, r.unit_code, r.commission_code,
                         r.scheduled_at.astimezone(local_zone()).strftime("%d/%m/%Y %H:%M")
                         if r.scheduled_at else "", r.why])
    return out.getvalue()
