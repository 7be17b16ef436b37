"""Publishing the plan (issue 15): the publication is recorded and every planned passage
keeps what it published (``Passage.published_scheduled_at`` and ``published_room``: what
its convocation prints). A change of a published passage after it (a repair, a move, a
swap on the board) leaves the printed convocation valid until the next publication,
which supersedes exactly the convocations whose date, time or room changed (their QR
code says so) and lists their candidates, the candidates to inform. A plan with a
conflict (``plan_board.session_conflicts``) is not published."""

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
from exam_app.juries.plan_board import session_conflicts

# The audited changes of a published passage the candidate must hear about.
CHANGES = ("passage.move", "passage.swap")


def last_publication(session_id: int) -> PlanPublication | None:
    return db.session.scalar(sa.select(PlanPublication).where(
        PlanPublication.session_id == session_id)
        .order_by(PlanPublication.published_at.desc(), PlanPublication.id.desc()).limit(1))


def publish_plan(*, session: ExamSession, actor, now: datetime | None = None) -> PlanPublication:
    """Publish the session's planned passages (one serialised decision): each keeps
    what it published; refused when no passage is planned or a conflict is left. The
    candidates whose published date, time or room changed are recorded with it (the
    candidates to inform, ``last_informed``)."""
    now = now or utcnow()
    db.session.flush()
    db.session.execute(sa.update(ExamSession).where(ExamSession.id == session.id)
                       .values(code=ExamSession.code)
                       .execution_options(synchronize_session=False))
    passages = db.session.scalars(
        sa.select(Passage).join(Commission, Commission.id == Passage.commission_id)
        .where(Commission.session_id == session.id)
        .execution_options(populate_existing=True)).all()
    planned = [p for p in passages if p.scheduled_at is not None]
    if not planned:
        raise JuryError("Aucun passage planifié : il n'y a rien à publier.")
    clashes = session_conflicts(session)
    if clashes:
        first = next(iter(clashes.values()))[0]
        raise JuryError(f"{len(clashes)} passage(s) en conflit : le planning n'est pas publié. "
                        f"Corrigez d'abord le tableau de planification (par exemple : {first})")
    informed = [_row(r) for r in to_inform(session.id)]
    new = 0
    for p in passages:
        if p.scheduled_at is None and p.published_scheduled_at is None:
            continue
        new += p.published_scheduled_at is None
        p.published_scheduled_at = p.scheduled_at
        p.published_room = p.room if p.scheduled_at is not None else None
    row = PlanPublication(session_id=session.id, published_at=now,
                          published_by_id=getattr(actor, "id", None), passages=len(planned))
    db.session.add(row)
    db.session.flush()
    record(actor=actor, action="planning.publish", object_type="session",
           object_id=session.id, session_id=session.id, now=now,
           after={"passages": len(planned), "new": new, "informed": informed})
    return row


def _row(r: ToInform) -> dict:
    return {"passage_id": r.passage_id, "number": r.number, "name": r.name,
            "unit_code": r.unit_code, "commission_code": r.commission_code,
            "scheduled_at": r.scheduled_at.isoformat() if r.scheduled_at else None,
            "changed_at": r.changed_at.isoformat(), "why": r.why}


def last_informed(session_id: int) -> list[ToInform]:
    """The candidates to inform that the last publication recorded: their convocation
    was superseded by it."""
    event = db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.session_id == session_id, AuditEvent.action == "planning.publish")
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(1))
    rows = ((event.after or {}).get("informed") or []) if event is not None else []
    return [ToInform(r["passage_id"], r["number"], r["name"], r["unit_code"],
                     r["commission_code"],
                     datetime.fromisoformat(r["scheduled_at"]) if r["scheduled_at"] else None,
                     datetime.fromisoformat(r["changed_at"]), r["why"]) for r in rows]


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
    """The candidates whose published passage changed since the last publication (the
    next publication supersedes their convocation: its date, time or room changed): one
    line a passage, with its current place and time and the last change's reason."""
    publication = last_publication(session_id)
    if publication is None:
        return []
    changed = [p for p in db.session.scalars(
        sa.select(Passage).join(Commission, Commission.id == Passage.commission_id)
        .where(Commission.session_id == session_id,
               Passage.published_scheduled_at.is_not(None)))
        if (p.published_scheduled_at, p.published_room or "") != (p.scheduled_at, p.room or "")]
    if not changed:
        return []
    ids = {p.id for p in changed}
    last: dict[int, AuditEvent] = {}
    for event in db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.session_id == session_id, AuditEvent.action.in_(CHANGES),
            AuditEvent.object_type == "passage", AuditEvent.at >= publication.published_at)
            .order_by(AuditEvent.at, AuditEvent.id)):
        for pid in (event.object_id or "").split(","):
            if pid.strip().isdigit() and int(pid) in ids:
                last[int(pid)] = event
    rows = []
    for p in changed:
        event = last.get(p.id)
        if event is None:
            reason, at = "Passage modifié", publication.published_at
        else:
            reason = (event.after or {}).get("reason") or (
                "Passages échangés" if event.action == "passage.swap" else "Passage déplacé")
            at = event.at
        rows.append(ToInform(p.id, p.candidate.number, p.candidate.full_name, p.unit_code,
                             p.commission.code, p.scheduled_at, at, reason))
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
