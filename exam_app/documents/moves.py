"""Moving candidates to another exam centre (issue 13, item 4), and applying the session's
establishment -> centre table.

Here rather than in enrolment: a move reaches the candidate's passages (juries) and E6
room (e6), and so the documents printed for them. A passage planned in a commission of
the old centre is withdrawn (the candidate is to be planned at the new one) and an E6
room of the old centre left: the convocations, fiches, attendance lists, bordereaux and
E6 room lists printed with them verify as superseded from then on
(``documents.changes``). A candidate whose passage has started, has a mark or an
attendance, or who sat the E6 written exam, is not moved: the whole move is refused,
with the reason for each.

One decision per move: the session row is locked (moves and the table's applications
are applied one after the other), the candidates and their passages are re-read under
the lock, and the move is audited once with each candidate's centre before and after.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.clock import to_local, utcnow
from exam_app.e6.models import E6Copy, E6Sitting
from exam_app.enrolment.centres import give_centre, lock_centres, table_centres
from exam_app.enrolment.models import Attendance, Candidate, Centre, CentreOrigin, ExamSession
from exam_app.errors import Invalid
from exam_app.extensions import db
from exam_app.juries.locking import lock_passage
from exam_app.juries.models import Passage

MAX_MOVE = 5000  # candidates in one move


@dataclass
class MovePlan:
    """What a move of these candidates to ``centre`` would do (nothing written)."""

    centre: Centre
    moving: list[Candidate] = field(default_factory=list)
    unchanged: list[Candidate] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)  # to withdraw
    sittings: list[E6Sitting] = field(default_factory=list)  # to take out of their room
    documents: dict[str, int] = field(default_factory=dict)  # kind label -> how many

    @property
    def documents_total(self) -> int:
        return sum(self.documents.values())

    @property
    def ok(self) -> bool:
        return not self.refusals


def _who(c: Candidate) -> str:
    return f"{c.last_name} {c.first_name} ({c.number})"


def _refusal(c: Candidate, passage: Passage) -> str | None:
    if passage.started_at is not None:
        what = "a commencé"
    elif passage.final_mark is not None or passage.finalized_at is not None:
        what = "a une note"
    elif passage.attendance != Attendance.UNKNOWN:
        what = "a une présence enregistrée"
    else:
        return None
    return (f"{_who(c)} : son passage {passage.unit_code} {what} ; il ne peut plus changer "
            "de centre.")


def plan_move(*, session: ExamSession, candidates: Iterable[Candidate],
              centre: Centre) -> MovePlan:
    """What moving ``candidates`` to ``centre`` withdraws and supersedes, or why not."""
    if centre.session_id != session.id:
        raise Invalid("Ce centre n'appartient pas à la session.", field="centre")
    plan = MovePlan(centre=centre)
    candidates = list(candidates)
    if any(c.session_id != session.id for c in candidates):
        raise Invalid("Un candidat choisi n'appartient pas à la session.", field="candidates")
    for c in candidates:
        (plan.unchanged if c.centre_id == centre.id else plan.moving).append(c)
    ids = [c.id for c in plan.moving]
    if not ids:
        return plan
    by_id = {c.id: c for c in plan.moving}
    passages = db.session.scalars(sa.select(Passage).where(Passage.candidate_id.in_(ids))
                                  .order_by(Passage.candidate_id, Passage.unit_code)).all()
    for passage in passages:
        reason = _refusal(by_id[passage.candidate_id], passage)
        if reason:
            plan.refusals.append(reason)
        elif passage.commission.centre_id is not None and passage.commission.centre_id != centre.id:
            plan.passages.append(passage)
    sat = set(db.session.scalars(sa.select(E6Copy.candidate_id).where(
        E6Copy.candidate_id.in_(ids))))
    for sitting in db.session.scalars(sa.select(E6Sitting).where(
            E6Sitting.candidate_id.in_(ids))):
        c = by_id[sitting.candidate_id]
        if sitting.attendance is not None or c.id in sat:
            plan.refusals.append(f"{_who(c)} : sa présence à l'épreuve écrite E6 est "
                                 "enregistrée ; il ne peut plus changer de centre.")
        elif sitting.room is not None and sitting.room.centre_id != centre.id:
            plan.sittings.append(sitting)
    scheduled = [p for p in plan.passages if p.scheduled_at is not None]
    plan.documents = {k: n for k, n in (
        ("convocations", len(scheduled)),
        ("fiches d'évaluation", len(scheduled)),
        ("listes d'émargement des oraux",
         len({(p.commission_id, to_local(p.scheduled_at).date()) for p in scheduled})),
        ("bordereaux de commission", len({p.commission_id for p in scheduled})),
        ("listes d'émargement E6", len({s.room_id for s in plan.sittings})),
    ) if n}
    return plan


def session_candidates(session: ExamSession, *, ids: Iterable[int] = (),
                       numbers: Iterable[str] = (), lock: bool = False) -> list[Candidate]:
    """The session's candidates with these ids or numbers (re-read; locked on request)."""
    ids, numbers = list(ids), [n.strip().upper() for n in numbers]
    if len(ids) + len(numbers) > MAX_MOVE:
        raise Invalid(f"{MAX_MOVE} candidats au plus par déplacement.", field="candidates")
    clauses = []
    if ids:
        clauses.append(Candidate.id.in_(ids))
    if numbers:
        clauses.append(Candidate.number.in_(numbers))
    if not clauses:
        return []
    statement = (sa.select(Candidate).where(Candidate.session_id == session.id, sa.or_(*clauses))
                 .order_by(Candidate.id).execution_options(populate_existing=True))
    if lock and db.session.get_bind().dialect.name != "sqlite":
        statement = statement.with_for_update(of=Candidate, key_share=True)
    found = list(db.session.scalars(statement).unique())
    missing = sorted(set(numbers) - {c.number for c in found})
    if missing:
        raise Invalid("Candidat(s) inconnu(s) dans cette session : " + ", ".join(missing) + ".",
                      field="candidates")
    return found


@dataclass(frozen=True)
class MoveResult:
    moved: int
    unchanged: int
    passages_withdrawn: int
    documents_superseded: int


def move_candidates(*, session: ExamSession, actor, centre: Centre,
                    candidate_ids: Iterable[int] = (), numbers: Iterable[str] = (),
                    origin: CentreOrigin = CentreOrigin.MANUAL, reason: str = "",
                    now: datetime | None = None, action: str = "candidate.move") -> MoveResult:
    """Move these candidates to ``centre``, all or none: withdraw their passages at other
    centres and take them out of another centre's E6 room; refused (``Invalid``, nothing
    written) when one of them may no longer move."""
    now = now or utcnow()
    session = lock_centres(session)
    candidates = session_candidates(session, ids=candidate_ids, numbers=numbers, lock=True)
    if not candidates:
        raise Invalid("Choisissez au moins un candidat.", field="candidates")
    # Lock each passage as a timer start does, then decide on what is read under the locks.
    for passage_id in db.session.scalars(sa.select(Passage.id).where(
            Passage.candidate_id.in_([c.id for c in candidates if c.centre_id != centre.id]))
            .order_by(Passage.id)):
        lock_passage(passage_id, timer=False, transmitted_ok=True)
    plan = plan_move(session=session, candidates=candidates, centre=centre)
    if not plan.ok:
        raise Invalid("Déplacement refusé : " + " ".join(plan.refusals), field="candidates",
                      details=plan.refusals)
    return _apply(session=session, actor=actor, plan=plan, origin=origin, reason=reason,
                  now=now, action=action)


def _apply(*, session: ExamSession, actor, plan: MovePlan, origin: CentreOrigin, reason: str,
           now: datetime, action: str) -> MoveResult:
    if not plan.moving:
        return MoveResult(0, len(plan.unchanged), 0, 0)
    codes = {c.id: c.code for c in db.session.scalars(
        sa.select(Centre).where(Centre.session_id == session.id))}
    before = {c.number: codes.get(c.centre_id) for c in plan.moving}
    why = reason or f"vers le centre {plan.centre.code}"
    for passage in plan.passages:
        record(actor=actor, action="passage.withdraw", object_type="passage",
               object_id=passage.id, session_id=session.id, now=now, reason=why,
               before={"candidate_number": passage.candidate.number,
                       "unit_code": passage.unit_code, "commission": passage.commission.code,
                       "scheduled_at": passage.scheduled_at.isoformat()
                       if passage.scheduled_at else None},
               after={"centre": plan.centre.code})
        db.session.delete(passage)
    rooms = {}
    for sitting in plan.sittings:
        rooms[sitting.candidate.number] = sitting.room.name if sitting.room else None
        sitting.room = None
        sitting.room_id = None
    for c in plan.moving:
        give_centre(c, plan.centre, origin, now=now)
    db.session.flush()
    record(actor=actor, action=action, object_type="exam_session", object_id=session.id,
           session_id=session.id, now=now, reason=reason or None,
           before={"centres": before, "e6_rooms": rooms},
           after={"centre": plan.centre.code, "origin": origin.value,
                  "candidates": sorted(before), "passages_withdrawn": len(plan.passages),
                  "documents_superseded": plan.documents})
    return MoveResult(len(plan.moving), len(plan.unchanged), len(plan.passages),
                      plan.documents_total)


@dataclass(frozen=True)
class TableResult:
    assigned: int  # candidates without centre who got one
    reassigned: int  # candidates whose table-given centre changed
    without_row: int  # candidates still without centre: their establishment has no row


def apply_centre_table(*, session: ExamSession, actor, reassign: bool = False,
                       now: datetime | None = None) -> TableResult:
    """Give each candidate without a centre their establishment's centre from the table;
    with ``reassign``, also move those whose centre came from the table and differs from
    it now (refused, nothing written, when one of them may no longer move). Idempotent."""
    now = now or utcnow()
    session = lock_centres(session)
    table = table_centres(session)
    centres = {c.id: c for c in db.session.scalars(
        sa.select(Centre).where(Centre.session_id == session.id))}
    assigned, reassigned = 0, 0
    newly: dict[str, str] = {}
    statement = (sa.select(Candidate).where(Candidate.session_id == session.id,
                                            Candidate.centre_id.is_(None))
                 .order_by(Candidate.id).execution_options(populate_existing=True))
    if db.session.get_bind().dialect.name != "sqlite":
        statement = statement.with_for_update(of=Candidate, key_share=True)
    without = list(db.session.scalars(statement).unique())
    for c in without:
        centre_id = table.get(c.establishment_id)
        if centre_id is not None:
            give_centre(c, centres[centre_id], CentreOrigin.TABLE, now=now)
            newly[c.number] = centres[centre_id].code
            assigned += 1
    if reassign:
        stale = db.session.scalars(sa.select(Candidate).where(
            Candidate.session_id == session.id, Candidate.centre_origin == CentreOrigin.TABLE,
            Candidate.centre_id.is_not(None)).order_by(Candidate.id)).all()
        by_target: dict[int, list[int]] = {}
        for c in stale:
            target = table.get(c.establishment_id)
            if target is not None and target != c.centre_id:
                by_target.setdefault(target, []).append(c.id)
        plans = []
        for target, ids in sorted(by_target.items()):
            locked = session_candidates(session, ids=ids, lock=True)
            for passage_id in db.session.scalars(sa.select(Passage.id).where(
                    Passage.candidate_id.in_(ids)).order_by(Passage.id)):
                lock_passage(passage_id, timer=False, transmitted_ok=True)
            plans.append(plan_move(session=session, candidates=locked, centre=centres[target]))
        refusals = [r for p in plans for r in p.refusals]
        if refusals:
            raise Invalid("Réaffectation refusée : " + " ".join(refusals), field="reassign",
                          details=refusals)
        for plan in plans:
            reassigned += _apply(session=session, actor=actor, plan=plan,
                                 origin=CentreOrigin.TABLE, reason="table établissement → centre",
                                 now=now, action="candidate.move").moved
    db.session.flush()
    if newly:
        record(actor=actor, action="centre_table.apply", object_type="exam_session",
               object_id=session.id, session_id=session.id, now=now,
               before={"centres": {n: None for n in newly}}, after={"centres": newly})
    left = sum(1 for c in without if c.centre_id is None)
    return TableResult(assigned, reassigned, left)
