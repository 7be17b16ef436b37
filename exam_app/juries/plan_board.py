"""The planning board of a centre and a day (issue 15, "The gestionnaire adjusts"):
the commissions sitting that day as columns, their passages as blocks (the jury part,
extra time included, the preparation before it on a workstation), the lunch, the breaks
and the day's bounds; moving, swapping, pinning and placing passages.

One service decides every change (``move``, ``swap``, ``set_pinned``, ``place``): the
passage's ``plan_version`` named by the browser is checked by a conditional UPDATE (a
stale board is refused), then the rules:

- refused, with the reason: a started passage, a commission of another unit or centre,
  a commission not sitting that day, a conflict of interest (``planning.conflict_with``,
  the one check) — no arrangement of the day can make these right;
- kept and flagged on the blocks (``conflicts``, recomputed from the whole session's
  data after every change, the same rules as ``solver.check``): a juror at two places,
  two passages of a commission overlapping (break included), the lunch, the day's
  bounds, more candidates preparing than workstations, a candidate's two orals
  overlapping or closer than the minimum rest, a juror declared unavailable. Rearranging
  a day passes through such states (move one passage away, then the other in); the plan
  is published only once none is left (``publication.publish_plan``).

Same contract as every jury service: keyword-only arguments, flush and audit, never
commit, never read ``request``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from exam_app.accounts.models import User
from exam_app.audit.services import record
from exam_app.clock import local_zone, to_local, utcnow
from exam_app.enrolment.models import Candidate, Centre, ExamSession
from exam_app.errors import Conflict, Invalid, NotFound
from exam_app.extensions import db
from exam_app.juries import planning, solver, timer
from exam_app.juries.errors import JuryError
from exam_app.juries.models import Commission, CommissionDay, CommissionSettings, Passage
from exam_app.units import UnitForm, get_unit

STEP = 5  # minutes: a keyboard move, and the grid a drop snaps to
MOVE_REASON = "Passage déplacé sur le tableau de planification"


def hm(minute: int) -> str:
    """'14:05' for a minute of the day (or of the planning axis)."""
    minute %= solver.DAY
    return f"{minute // 60:02d}:{minute % 60:02d}"


def durations(passage: Passage) -> tuple[int, int]:
    """(preparation, jury) minutes of a passage, extra time included (as the solver)."""
    solo, jury = timer.solo_and_jury_seconds(timer.plan(
        passage.unit_code, passage.variant_code,
        extra_time=passage.candidate.extra_time_fraction))
    return math.ceil(solo / 60), math.ceil(jury / 60)


# ---- conflicts ------------------------------------------------------------------------


def _applied(data: solver.PlanData) -> dict[int, tuple[int, int]]:
    """The session's scheduled passages on ``data``'s axis: {demand: (cday, jury start)}."""
    day_index = {d: i for i, d in enumerate(data.days)}
    cday_at = {(c.commission_id, c.day): i for i, c in enumerate(data.cdays)}
    ids = [d.passage_id for d in data.demands if d.passage_id]
    rows = {pid: (cid, at) for pid, cid, at in db.session.execute(
        sa.select(Passage.id, Passage.commission_id, Passage.scheduled_at)
        .where(Passage.id.in_(ids), Passage.scheduled_at.is_not(None)))} if ids else {}
    plan = {}
    for i, d in enumerate(data.demands):
        if d.passage_id not in rows:
            continue
        cid, at = rows[d.passage_id]
        local = to_local(at)
        k = cday_at.get((cid, local.date()))
        if k is not None:
            plan[i] = (k, day_index[local.date()] * solver.DAY + local.hour * 60
                       + local.minute + d.solo)
    return plan


def conflicts(data: solver.PlanData, assignment: dict[int, tuple[int, int]],
              names: dict[int, str] | None = None) -> dict[int, list[str]]:
    """Every rule a plan breaks, per demand it concerns (both sides of a clash), in
    French; the rules of ``solver.check``."""
    names = names or {}
    out: dict[int, list[str]] = defaultdict(list)
    by_commission, heard = defaultdict(list), defaultdict(list)
    prep, by_candidate = defaultdict(list), defaultdict(list)
    for i, (k, at) in assignment.items():
        d, c = data.demands[i], data.cdays[k]
        info = data.commissions[c.commission_id]
        if info.unit_code != d.unit_code or info.centre_id != d.centre_id:
            out[i].append(f"La commission {c.code} est d'une autre épreuve ou d'un autre centre.")
        if c.commission_id in d.conflicts:
            out[i].append(f"Conflit d'intérêts avec la commission {c.code}.")
        if not c.available:
            out[i].append(f"Un juré de la commission {c.code} est indisponible ce jour-là.")
        if at - d.solo < c.start:
            out[i].append(f"Commence avant l'ouverture de la journée ({hm(c.start)}).")
        if at + d.jury > c.end:
            out[i].append(f"Dépasse la fin de la journée ({hm(c.end)}) de "
                          f"{at + d.jury - c.end} min.")
        if at < c.lunch_end and at + d.jury > c.lunch_start:
            out[i].append(f"Empiète sur le déjeuner de la commission {c.code} "
                          f"({hm(c.lunch_start)}–{hm(c.lunch_end)}).")
        by_commission[c.commission_id].append((at, at + d.jury, c.break_minutes, i))
        for user_id in c.members:
            heard[user_id].append((at, at + d.jury, c.commission_id, i))
        if d.solo:
            prep[d.centre_id].append((at - d.solo, at, i))
        by_candidate[d.candidate_id].append((at - d.solo, at + d.jury, i))

    def label(i: int) -> str:
        d = data.demands[i]
        k, at = assignment[i]
        return f"{d.label}, {d.unit_code} à {hm(at)} ({data.cdays[k].code})"

    for spans in by_commission.values():
        spans.sort()
        for n, (_a, b, pause, i) in enumerate(spans):
            for a2, _b2, _, j in spans[n + 1:]:
                if a2 >= b + pause:
                    break
                what = "chevauche" if a2 < b else "ne laisse pas la pause de " \
                    f"{pause} min avec"
                out[i].append(f"{what.capitalize()} le passage de {label(j)}.")
                out[j].append(f"{what.capitalize()} le passage de {label(i)}.")
    for user_id, spans in heard.items():
        spans.sort()
        for n, (_a, b, cid, i) in enumerate(spans):
            for a2, _b2, cid2, j in spans[n + 1:]:
                if a2 >= b:
                    break
                if cid2 == cid:
                    continue  # the commission's own overlap, said above
                who = names.get(user_id, "Un juré")
                out[i].append(f"{who} est aussi juré du passage de {label(j)}.")
                out[j].append(f"{who} est aussi juré du passage de {label(i)}.")
    for centre_id, spans in prep.items():
        capacity = data.workstations.get(centre_id, 0)
        for a, _b, i in spans:
            busy = [j for a2, b2, j in spans if a2 <= a < b2]
            if len(busy) > capacity:
                out[i].append(f"{len(busy)} candidats en préparation à {hm(a)} pour "
                              f"{capacity} poste(s) au centre.")
    for spans in by_candidate.values():
        spans.sort()
        for n, (_a, b, i) in enumerate(spans):
            for a2, _b2, j in spans[n + 1:]:
                if a2 >= b + data.rest:
                    break
                what = ("chevauche son autre oral" if a2 < b else
                        f"laisse moins de {data.rest} min de repos avant son autre oral")
                out[i].append(f"Le candidat {what} ({label(j)}).")
                out[j].append(f"Le candidat {what.replace('avant', 'après')} ({label(i)}).")
    return dict(out)


def session_conflicts(session: ExamSession) -> dict[int, list[str]]:
    """The conflicts of the session's scheduled passages, by passage id."""
    data = solver.extract(session)
    found = conflicts(data, _applied(data), _juror_names(data))
    return {data.demands[i].passage_id: texts for i, texts in found.items()}


def _juror_names(data: solver.PlanData) -> dict[int, str]:
    ids = {u for c in data.commissions.values() for u in c.members}
    if not ids:
        return {}
    return {u.id: u.display_name for u in db.session.scalars(
        sa.select(User).where(User.id.in_(ids)))}


# ---- the board ------------------------------------------------------------------------


@dataclass
class Column:
    commission_id: int
    code: str
    unit_code: str
    start: int  # minutes of the day
    end: int
    lunch_start: int
    lunch_end: int
    break_minutes: int
    jurors: list[str]
    available: bool
    room: str


@dataclass
class Block:
    passage_id: int
    version: int
    commission_id: int
    candidate_id: int
    label: str
    number: str
    unit_code: str
    variant_code: str
    solo: int
    jury: int
    jury_start: int  # minute of the day the commission starts hearing
    pinned: bool
    locked: bool  # started or final: it no longer moves
    published: str  # "" (no publication), "new", "changed", "published"
    conflicts: list[str] = field(default_factory=list)

    @property
    def start_text(self) -> str:
        return hm(self.jury_start)

    @property
    def end_text(self) -> str:
        return hm(self.jury_start + self.jury)

    def as_json(self) -> dict:
        return {"id": self.passage_id, "version": self.version,
                "commission_id": self.commission_id, "label": self.label,
                "number": self.number, "unit": self.unit_code, "solo": self.solo,
                "jury": self.jury, "start": self.jury_start, "start_text": self.start_text,
                "end_text": self.end_text, "pinned": self.pinned, "locked": self.locked,
                "published": self.published, "conflicts": self.conflicts}


@dataclass
class Board:
    session_id: int
    centre: Centre
    day: date
    columns: list[Column]
    blocks: list[Block]
    other_conflicts: int  # conflicts of the session outside this board
    published: bool  # the session's plan was published once

    @property
    def conflict_count(self) -> int:
        return sum(1 for b in self.blocks if b.conflicts)

    @property
    def changed_count(self) -> int:
        return sum(1 for b in self.blocks if b.published in ("new", "changed"))

    @property
    def first(self) -> int:
        return min([c.start for c in self.columns] or [8 * 60])

    @property
    def last(self) -> int:
        ends = [c.end for c in self.columns] + [b.jury_start + b.jury for b in self.blocks]
        return max(ends or [18 * 60 + 30])

    def as_json(self) -> dict:
        return {"blocks": [b.as_json() for b in self.blocks],
                "conflicts": self.conflict_count, "changed": self.changed_count,
                "other_conflicts": self.other_conflicts}


def places(session: ExamSession) -> list[tuple[Centre, list[date]]]:
    """The session's centres with the days their ponctuel commissions sit."""
    rows = db.session.execute(
        sa.select(Centre, CommissionDay.day)
        .join(Commission, Commission.centre_id == Centre.id)
        .join(CommissionDay, CommissionDay.commission_id == Commission.id)
        .where(Commission.session_id == session.id,
               Commission.form == UnitForm.PONCTUEL.value)
        .distinct().order_by(Centre.name, Centre.id, CommissionDay.day)).all()
    found: dict[int, tuple[Centre, list[date]]] = {}
    for centre, day in rows:
        found.setdefault(centre.id, (centre, []))[1].append(day)
    return list(found.values())


def busy_places(session: ExamSession) -> set[tuple[int, date]]:
    """The (centre, day) pairs with a scheduled ponctuel passage (the board opens on one)."""
    return {(centre_id, to_local(at).date()) for centre_id, at in db.session.execute(
        sa.select(Commission.centre_id, Passage.scheduled_at)
        .join(Commission, Commission.id == Passage.commission_id)
        .where(Commission.session_id == session.id, Commission.centre_id.is_not(None),
               Commission.form == UnitForm.PONCTUEL.value, Passage.scheduled_at.is_not(None)))}


def publication_state(passage: Passage, published: bool) -> str:
    """How the passage stands against the last publication (what the convocation prints)."""
    if not published:
        return ""
    if passage.published_scheduled_at is None:
        return "new"
    if (passage.published_scheduled_at, passage.published_room or "") != (
            passage.scheduled_at, passage.room or ""):
        return "changed"
    return "published"


def board(*, session: ExamSession, centre: Centre, day: date) -> Board:
    """The board of a centre's ponctuel commissions on a day, with every conflict."""
    from exam_app.juries.publication import last_publication

    data = solver.extract(session)
    assignment = _applied(data)
    found = conflicts(data, assignment, _juror_names(data))
    by_passage = {data.demands[i].passage_id: texts for i, texts in found.items()}
    commissions = db.session.scalars(
        sa.select(Commission).join(CommissionDay, CommissionDay.commission_id == Commission.id)
        .where(Commission.session_id == session.id, Commission.centre_id == centre.id,
               Commission.form == UnitForm.PONCTUEL.value, CommissionDay.day == day)
        .order_by(Commission.unit_code, Commission.code)).all()
    settings = {s.commission_id: s for s in db.session.scalars(sa.select(CommissionSettings)
                .where(CommissionSettings.commission_id.in_([c.id for c in commissions])))}
    cday = {(c.commission_id, c.day): c for c in data.cdays}
    columns = []
    for commission in commissions:
        c = cday[(commission.id, day)]
        columns.append(Column(
            commission.id, commission.code, commission.unit_code, c.start % solver.DAY,
            c.end % solver.DAY, c.lunch_start % solver.DAY, c.lunch_end % solver.DAY,
            c.break_minutes, [f"{m.user.display_name} ({m.role_label.lower()})"
                              for m in commission.members], c.available,
            settings[commission.id].room if commission.id in settings else ""))
    published = last_publication(session.id) is not None
    start, end = datetime.combine(day, time(0), local_zone()), \
        datetime.combine(day + timedelta(days=1), time(0), local_zone())
    passages = db.session.scalars(
        sa.select(Passage).where(Passage.commission_id.in_([c.id for c in commissions]),
                                 Passage.scheduled_at >= start.astimezone(UTC),
                                 Passage.scheduled_at < end.astimezone(UTC))
        .order_by(Passage.scheduled_at, Passage.id)).all() if commissions else []
    blocks = []
    for p in passages:
        solo, jury = durations(p)
        local = to_local(p.scheduled_at)
        blocks.append(Block(
            p.id, p.plan_version, p.commission_id, p.candidate_id, p.candidate.full_name,
            p.candidate.number, p.unit_code, p.variant_code, solo, jury,
            local.hour * 60 + local.minute + solo, p.pinned,
            p.started_at is not None or p.is_final, publication_state(p, published),
            by_passage.get(p.id, [])))
    shown = {b.passage_id for b in blocks}
    other = sum(1 for pid in by_passage if pid not in shown)
    return Board(session.id, centre, day, columns, blocks, other, published)


# ---- the changes ----------------------------------------------------------------------


def _claim(passage_id: int, version: int) -> Passage:
    """The passage, its plan version bumped from ``version`` (conditional UPDATE): the
    one serialised decision of a change; a stale version is refused."""
    bumped = db.session.execute(
        sa.update(Passage).where(Passage.id == passage_id, Passage.plan_version == version)
        .values(plan_version=Passage.plan_version + 1)
        .execution_options(synchronize_session=False))
    if bumped.rowcount != 1:
        raise Conflict("Ce passage vient d'être modifié (par quelqu'un d'autre ou dans un "
                       "autre onglet) : le tableau est rechargé, refaites le déplacement.")
    passage = db.session.scalar(sa.select(Passage).where(Passage.id == passage_id)
                                .execution_options(populate_existing=True))
    return passage


def passage_in(session: ExamSession, passage_id) -> Passage:
    """A passage of the session (404 otherwise: another session's passage is not shown)."""
    passage = db.session.get(Passage, passage_id) if isinstance(passage_id, int) else None
    if passage is None or passage.commission.session_id != session.id:
        raise NotFound("Ce passage n'existe pas dans cette session.")
    return passage


def _target(session: ExamSession, passage: Passage, commission_id, day: date) -> Commission:
    commission = db.session.get(Commission, commission_id) \
        if isinstance(commission_id, int) else None
    if commission is None or commission.session_id != session.id:
        raise Invalid("Cette commission n'existe pas dans la session.", field="commission_id")
    if commission.form != UnitForm.PONCTUEL.value or commission.unit_code != passage.unit_code:
        raise Invalid(f"La commission {commission.code} n'interroge pas l'épreuve "
                      f"{passage.unit_code} en forme ponctuelle.", field="commission_id")
    if commission.centre_id != passage.candidate.centre_id:
        raise Invalid(f"La commission {commission.code} siège dans un autre centre que celui "
                      f"de {passage.candidate.full_name}.", field="commission_id")
    if day not in commission.day_list:
        raise Invalid(f"La commission {commission.code} ne siège pas le {day:%d/%m/%Y}.",
                      field="commission_id")
    conflict = planning.conflict_of_interest(commission, passage.candidate)
    if conflict:
        raise JuryError(conflict)
    return commission


def _minute(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < solver.DAY:
        raise Invalid("Horaire invalide.", field="start")
    if value % STEP:
        raise Invalid(f"Un horaire se place par pas de {STEP} minutes.", field="start")
    return value


def _room(commission: Commission) -> str:
    settings = db.session.get(CommissionSettings, commission.id)
    return settings.room if settings is not None else ""


def _snapshot(passage: Passage) -> dict:
    return {"commission": passage.commission.code, "scheduled_at": passage.scheduled_at,
            "room": passage.room}


def _reseat(passage: Passage, commission: Commission) -> None:
    """The passage goes to another commission: the juror grids follow the jurors."""
    from exam_app.juries.commissions import _regrid

    if passage.commission_id == commission.id:
        return
    old = {m.user_id for m in passage.commission.members}
    new = {m.user_id for m in commission.members}
    passage.commission_id = commission.id
    db.session.flush()
    db.session.refresh(passage)
    _regrid([passage], removed=old - new, added=new - old)


def move(*, session: ExamSession, passage_id: int, version: int, commission_id: int,
         day: date, start: int, actor, now: datetime | None = None) -> Passage:
    """Move a passage to a commission and the minute of ``day`` its jury part starts."""
    now = now or utcnow()
    passage_in(session, passage_id)
    minute = _minute(start)
    passage = _claim(passage_id, version)
    if passage.started_at is not None or passage.is_final:
        raise JuryError(f"Le passage de {passage.candidate.full_name} a déjà commencé : il ne "
                        "peut plus être déplacé.")
    commission = _target(session, passage, commission_id, day)
    solo, _jury = durations(passage)
    before = _snapshot(passage)
    _reseat(passage, commission)
    passage.scheduled_at = (datetime.combine(day, time(0), local_zone())
                            + timedelta(minutes=minute - solo)).astimezone(UTC)
    passage.room = _room(commission) or passage.room
    db.session.flush()
    record(actor=actor, action="passage.move", object_type="passage", object_id=passage.id,
           session_id=session.id, now=now, before=before,
           after={**_snapshot(passage), "reason": MOVE_REASON})
    return passage


def swap(*, session: ExamSession, first_id: int, first_version: int, second_id: int,
         second_version: int, actor, now: datetime | None = None) -> None:
    """Swap two passages' slots (commission, time, room): ``planning.swap_passages``."""
    passage_in(session, first_id)
    passage_in(session, second_id)
    if first_id == second_id:
        raise Invalid("Choisissez deux passages différents.", field="second_id")
    first = _claim(first_id, first_version)
    second = _claim(second_id, second_version)
    planning.swap_passages(first=first, second=second, actor=actor, now=now)


def set_pinned(*, session: ExamSession, passage_id: int, version: int, pinned: bool, actor,
               now: datetime | None = None) -> Passage:
    """Pin a passage (the next solve keeps its commission and time) or unpin it."""
    passage_in(session, passage_id)
    passage = _claim(passage_id, version)
    if pinned and passage.scheduled_at is None:
        raise Invalid("Un passage sans horaire ne s'épingle pas.", field="pinned")
    before = passage.pinned
    passage.pinned = bool(pinned)
    db.session.flush()
    record(actor=actor, action="passage.pin", object_type="passage", object_id=passage.id,
           session_id=session.id, now=now, before={"pinned": before},
           after={"pinned": passage.pinned})
    return passage


# ---- placing a candidate found by name --------------------------------------------------


@dataclass
class Unplaced:
    """A candidate of the centre with a ponctuel situation of a unit not on a board yet."""

    candidate_id: int
    label: str
    unit_code: str
    variant_code: str
    variant_label: str
    passage_id: int | None  # assigned to a commission but without a time


def _folded(text: str) -> str:
    return planning._folded(text)


def search_unplaced(*, session: ExamSession, centre: Centre, query: str,
                    limit: int = 20) -> list[Unplaced]:
    """The centre's candidates whose name (or number) matches ``query`` and who have a
    ponctuel situation without a scheduled passage (server-side search, accents ignored)."""
    words = _folded(query).split()
    if not words:
        return []
    candidates = db.session.scalars(
        sa.select(Candidate).where(Candidate.session_id == session.id,
                                   Candidate.centre_id == centre.id)
        .order_by(Candidate.last_name, Candidate.first_name, Candidate.id)).all()
    passages = {(p.candidate_id, p.unit_code, p.variant_code): p for p in db.session.scalars(
        sa.select(Passage).where(Passage.candidate_id.in_([c.id for c in candidates])))} \
        if candidates else {}
    found = []
    units = _ponctuel_units(session)
    for candidate in candidates:
        text = _folded(f"{candidate.last_name} {candidate.first_name} {candidate.number}")
        if not all(w in text for w in words):
            continue
        for commission_unit in units:
            if candidate.form_for(commission_unit) != UnitForm.PONCTUEL:
                continue
            for variant in get_unit(commission_unit).variants_for(UnitForm.PONCTUEL):
                existing = passages.get((candidate.id, commission_unit, variant.code))
                if existing is not None and existing.scheduled_at is not None:
                    continue
                found.append(Unplaced(candidate.id,
                                      f"{candidate.full_name} (n° {candidate.number})",
                                      commission_unit, variant.code, variant.label,
                                      existing.id if existing else None))
                if len(found) >= limit:
                    return found
    return found


def _ponctuel_units(session: ExamSession) -> list[str]:
    return list(db.session.scalars(
        sa.select(Commission.unit_code).where(Commission.session_id == session.id,
                                              Commission.form == UnitForm.PONCTUEL.value)
        .distinct().order_by(Commission.unit_code)))


def place(*, session: ExamSession, candidate_id: int, unit_code: str, variant_code: str,
          commission_id: int, day: date, start: int, actor,
          now: datetime | None = None) -> Passage:
    """Place a candidate found by name: their passage (created when they have none,
    ``planning.assign_candidates`` with its checks) goes to the commission at ``start``."""
    now = now or utcnow()
    candidate = db.session.get(Candidate, candidate_id) if isinstance(candidate_id, int) \
        else None
    if candidate is None or candidate.session_id != session.id:
        raise Invalid("Choisissez un candidat de la session.", field="candidate_id")
    commission = db.session.get(Commission, commission_id) \
        if isinstance(commission_id, int) else None
    if commission is None or commission.session_id != session.id:
        raise Invalid("Choisissez une commission de la session.", field="commission_id")
    if commission.unit_code != unit_code:
        raise Invalid(f"La commission {commission.code} n'interroge pas l'épreuve {unit_code}.",
                      field="commission_id")
    passage = db.session.scalar(sa.select(Passage).where(
        Passage.candidate_id == candidate.id, Passage.unit_code == unit_code,
        Passage.variant_code == variant_code))
    if passage is None:
        if commission.form != UnitForm.PONCTUEL.value or day not in commission.day_list:
            raise Invalid(f"La commission {commission.code} ne siège pas le {day:%d/%m/%Y}.",
                          field="commission_id")
        [passage] = planning.assign_candidates(commission=commission,
                                               numbers=[candidate.number],
                                               variant_code=variant_code, actor=actor, now=now)
    elif passage.scheduled_at is not None:
        raise Conflict(f"{candidate.full_name} a déjà un horaire pour cette épreuve : "
                       "déplacez son passage sur le tableau.")
    return move(session=session, passage_id=passage.id, version=passage.plan_version,
                commission_id=commission.id, day=day, start=start, actor=actor, now=now)
