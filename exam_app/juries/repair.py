"""Repair on the morning (issue 15): a juror is absent or a commission-day is lost;
re-plan the applied passages with the fewest changes and show the diff before applying.

``propose_repair`` reads the session (``solver.extract``), takes the lost
commission-days out (or gives the absent juror's seat to a replacement, who keeps the
commission-day for every candidate without a conflict of interest with them), fixes
every unaffected passage where it is (its commission and start, as a pinned passage)
and lets the solver place only the affected ones: the fewest candidates moved is the
number of affected ones. When they cannot all be placed so, the passages of the
affected centres are released (the solver starts from the current plan, hinted) and
the proposal says so. ``apply_repair`` writes the moves in one serialised decision,
audited per passage (``passage.move``: the documents layer reads these events, so a
moved passage's printed convocation verifies as replaced), and refuses when a moved
passage has started or moved since the proposal.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime

import sqlalchemy as sa

from exam_app.accounts.models import User
from exam_app.audit.services import record
from exam_app.clock import local_zone, utcnow
from exam_app.enrolment.models import Candidate, ExamSession, PersonProfile
from exam_app.extensions import db
from exam_app.juries import solver
from exam_app.juries.commissions import _regrid
from exam_app.juries.errors import JuryError
from exam_app.juries.models import (
    Commission,
    CommissionMember,
    CommissionSettings,
    JurorAvailability,
    Passage,
)
from exam_app.juries.planning import conflict_with, internship_organisations, pro_companies


@dataclass(frozen=True)
class Lost:
    """What is lost on ``day``: a juror (``user_id``) or a commission-day
    (``commission_id``)."""

    day: date
    user_id: int | None = None
    commission_id: int | None = None


@dataclass
class Move:
    passage_id: int
    candidate_id: int
    number: str
    name: str
    unit_code: str
    from_code: str
    from_at: datetime
    to_commission_id: int
    to_code: str
    to_at: datetime

    @property
    def minutes(self) -> int:
        return abs(int((self.to_at - self.from_at).total_seconds() // 60))


@dataclass
class Seat:
    """A replacement juror taking the absent juror's seat in a commission."""

    commission_id: int
    code: str
    absent_id: int
    replacement_id: int


@dataclass
class RepairProposal:
    session_id: int
    lost: list[Lost]
    affected: int  # passages whose commission-day is lost (or with a conflict with the
    # replacement): the fewest candidates a repair moves
    moves: list[Move]
    seats: list[Seat]
    reasons: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    relaxed: bool = False  # unaffected passages had to move too
    seconds: float = 0.0
    least_moves: int | None = None  # no repair can move fewer passages (``least_moves``,
    # or the affected passages when only they moved)

    @property
    def complete(self) -> bool:
        return not self.reasons and not self.violations

    @property
    def minutes_moved(self) -> int:
        return sum(m.minutes for m in self.moves)

    def summary(self) -> str:
        if self.reasons:
            return "Aucune réparation possible : " + " ".join(self.reasons)
        return (f"{len(self.moves)} passage(s) déplacé(s) ({self.affected} touché(s) par "
                f"l'absence), {self.minutes_moved} min de décalage au total"
                + (" ; d'autres passages ont dû bouger." if self.relaxed else ".")
                + f" {self.seconds:.1f} s.")


def _local_minute(data: solver.PlanData, at: datetime) -> tuple[date, int]:
    local = at.astimezone(local_zone())
    return local.date(), local.hour * 60 + local.minute


def applied(data: solver.PlanData) -> dict[int, tuple[int, int]]:
    """The session's applied passages as a plan on ``data``: {demand index:
    (commission-day index, jury start)} (what ``solver.check`` verifies)."""
    day_index = {d: i for i, d in enumerate(data.days)}
    cday_at = {(c.commission_id, c.day): i for i, c in enumerate(data.cdays)}
    passages = {p.id: p for p in db.session.scalars(sa.select(Passage).where(
        Passage.id.in_([d.passage_id for d in data.demands if d.passage_id])))}
    plan = {}
    for i, d in enumerate(data.demands):
        p = passages.get(d.passage_id)
        if p is None or p.scheduled_at is None:
            continue
        day, minute = _local_minute(data, p.scheduled_at)
        if (p.commission_id, day) in cday_at:
            plan[i] = (cday_at[(p.commission_id, day)],
                       day_index[day] * solver.DAY + minute + d.solo)
    return plan


def propose_repair(*, session: ExamSession, lost: list[Lost],
                   replacements: dict[int, int] | None = None, time_limit: float = 20.0,
                   bounds: solver.Bounds | None = None, workers: int = 2) -> RepairProposal:
    """The fewest moves of the session's applied passages that make the plan whole again
    without what is ``lost`` (``replacements``: absent juror id -> replacement id).
    Reads only; ``apply_repair`` writes."""
    replacements = replacements or {}
    data = solver.extract(session, bounds)
    day_index = {d: i for i, d in enumerate(data.days)}
    passages = {p.id: p for p in db.session.scalars(
        sa.select(Passage).join(Commission, Commission.id == Passage.commission_id)
        .where(Commission.session_id == session.id))}
    cday_at = {(c.commission_id, c.day): i for i, c in enumerate(data.cdays)}

    # Which commission-days are lost, which get a replacement juror.
    dead: set[int] = set()
    seats: dict[int, Seat] = {}
    for item in lost:
        for k, c in enumerate(data.cdays):
            if c.day != item.day:
                continue
            if item.commission_id is not None and c.commission_id == item.commission_id:
                dead.add(k)
            elif item.user_id is not None and item.user_id in c.members:
                if item.user_id in replacements:
                    seats[c.commission_id] = Seat(c.commission_id, c.code, item.user_id,
                                                  replacements[item.user_id])
                else:
                    dead.add(k)
    # The replacement sits in the commission on all its days (the seat changes): the
    # candidates in conflict of interest with the new pair may not stay there.
    blocked: dict[int, set[int]] = {}  # demand index -> commission-days closed to it
    if seats:
        members = {m.commission_id: m for m in db.session.scalars(
            sa.select(CommissionMember).where(CommissionMember.commission_id.in_(seats)))
            if seats[m.commission_id].absent_id == m.user_id}
        users = {u.id: u for u in db.session.scalars(
            sa.select(User).where(User.id.in_({s.replacement_id for s in seats.values()})))}
        profiles = {p.user_id: p for p in db.session.scalars(sa.select(PersonProfile).where(
            PersonProfile.user_id.in_(users)))}
        candidates = {c.id: c for c in db.session.scalars(sa.select(Candidate).where(
            Candidate.id.in_({d.candidate_id for d in data.demands})))}
        organisations = internship_organisations(list(candidates))
        for cid, seat in seats.items():
            old = members.get(cid)
            if old is None or seat.replacement_id not in users:
                raise JuryError("Le juré remplaçant doit être un utilisateur connu.")
            profile = profiles.get(seat.replacement_id)
            new = CommissionMember(user_id=seat.replacement_id, user=users[seat.replacement_id],
                                   member_role=old.member_role,
                                   establishment_id=(profile.establishment_id
                                                     if profile is not None else None),
                                   is_replacement=False)
            others = [m for m in db.session.scalars(sa.select(CommissionMember).where(
                CommissionMember.commission_id == cid)) if m.user_id != seat.absent_id]
            companies = pro_companies([new])
            info = data.commissions[cid]
            info.members = tuple(sorted([*(m.user_id for m in others), seat.replacement_id]))
            for k, c in enumerate(data.cdays):
                if c.commission_id == cid:
                    data.cdays[k] = replace(c, members=info.members)
            for i, d in enumerate(data.demands):
                if d.unit_code != info.unit_code or d.centre_id != info.centre_id:
                    continue
                if conflict_with(form="ponctuel", members=[new], candidate=candidates[
                        d.candidate_id], companies=companies,
                        organisations=organisations.get(d.candidate_id, [])):
                    blocked.setdefault(i, set()).update(
                        k for k, c in enumerate(data.cdays) if c.commission_id == cid)
                    d.conflicts.add(cid)

    # Current positions; the affected demands are those whose commission-day is closed.
    demands, current, affected = [], {}, set()
    for i, d in enumerate(data.demands):
        p = passages.get(d.passage_id) if d.passage_id else None
        if p is None or p.scheduled_at is None:
            continue  # never applied: not part of a repair
        day, minute = _local_minute(data, p.scheduled_at)
        k = cday_at.get((p.commission_id, day))
        if k is None:
            continue
        closed = dead | blocked.get(i, set())
        n = len(demands)
        d = replace(d, eligible=[e for e in d.eligible if e not in closed], pinned=None)
        current[n] = (k, day_index[day] * solver.DAY + minute + d.solo)
        if k in closed:
            affected.add(n)
        demands.append(d)
    for k in dead:
        data.cdays[k] = replace(data.cdays[k], available=False)
    base = replace(data, demands=demands)

    def fixed(keep: set[int]) -> solver.PlanData:
        return replace(base, demands=[
            replace(d, pinned=current[n], eligible=[current[n][0]]) if n in keep else d
            for n, d in enumerate(demands)])

    began = solver.wallclock.monotonic()
    keep = set(range(len(demands))) - affected
    step = fixed(keep)
    reasons = solver.explain(step)
    seed = solver.best_greedy(step)
    # The affected passages move anyway: the solver pays for every minute they shift.
    result = solver.solve_by_parts(step, time_limit=time_limit * 0.6, workers=workers, seed=seed,
                                   keep={n: current[n] for n in affected})
    relaxed = False

    def moved(assignment: dict[int, tuple[int, int]]) -> int:
        return sum(1 for n, v in assignment.items() if v != current[n])

    # The affected passages move anyway: when only they moved, that is the fewest.
    least = len(affected)
    if len(result.assignment) < len(demands) or moved(result.assignment) > least:
        least = max(least, least_moves(base, current, affected, workers=workers,
                                       time_limit=max(1.0, time_limit * 0.1)) or 0)
    # Then release more and more: first the passages of the commission-days open to
    # the candidates left without a place (and the candidates' other orals), then every
    # passage of their centres. The solver starts from the best plan so far and pays for
    # every candidate moved, then every minute.
    for level in ("days", "centres"):
        if len(result.assignment) == len(demands) and (
                level == "days" or moved(result.assignment) <= least):
            break
        # "centres" after a complete "days" repair that moved more than the affected
        # passages: releasing the whole centre may move fewer (kept only if it does).
        after_days = len(result.assignment) == len(demands)
        stuck = [n for n in affected if n not in result.assignment] or [
            n for n in affected]
        centres = {demands[n].centre_id for n in stuck}
        if level == "days":
            opened = {k for n in stuck for k in demands[n].eligible}
            people = {demands[n].candidate_id for n in stuck}
            keep = {n for n in keep if current[n][0] not in opened
                    and demands[n].candidate_id not in people}
        else:
            keep = {n for n in keep if demands[n].centre_id not in centres}
        wider = fixed(keep)
        inside = [n for n in range(len(demands)) if demands[n].centre_id in centres]
        local = {n: e for e, n in enumerate(inside)}
        part = replace(wider, demands=[wider.demands[n] for n in inside])
        left = time_limit - (solver.wallclock.monotonic() - began)
        share = max(1.0, left * (0.4 if level == "days" else 0.8))
        found = solver.solve_by_parts(
            part, time_limit=share, workers=workers,
            seed={local[n]: v for n, v in result.assignment.items() if n in local},
            keep={local[n]: current[n] for n in inside if n not in keep})
        if len(found.assignment) < len(part.demands) and level == "days":
            continue
        assignment = {n: v for n, v in result.assignment.items() if n not in local}
        assignment.update({inside[e]: v for e, v in found.assignment.items()})
        if after_days and (len(assignment) < len(demands)
                           or moved(assignment) >= moved(result.assignment)):
            break  # the wider release found no fewer moves: the "days" repair stands
        result, step = replace(found, assignment=assignment), wider
        relaxed = True
    seconds = solver.wallclock.monotonic() - began
    moves = []
    for n, (k, at) in sorted(result.assignment.items()):
        if (k, at) == current[n]:
            continue
        d, p, c = demands[n], passages[demands[n].passage_id], step.cdays[k]
        moves.append(Move(p.id, d.candidate_id, p.candidate.number, p.candidate.full_name,
                          d.unit_code, p.commission.code, p.scheduled_at, c.commission_id,
                          c.code, solver._utc(step, at - d.solo)))
    if len(result.assignment) < len(demands) and not reasons:
        reasons.append(f"{len(demands) - len(result.assignment)} passage(s) sans créneau "
                       "après l'absence : ajoutez un juré remplaçant ou une journée.")
    return RepairProposal(session.id, list(lost), len(affected), moves,
                          list(seats.values()), reasons,
                          solver.check(step, result.assignment, complete=False), relaxed,
                          seconds, least)


def least_moves(data: solver.PlanData, current: dict[int, tuple[int, int]],
                affected: set[int], *, time_limit: float = 5.0,
                workers: int = 2) -> int | None:
    """A lower bound on the passages any repair moves (None: not found in time).

    A relaxation solved exactly: each passage of a centre and unit touched by the loss
    (``affected``: its commission-day closed to it) goes to one commission-day open to
    it (the others may also stay where they are), at most as many on a commission-day
    as it can hear (the group's shortest passage repeated, ``solver.lower_bounds``'
    count, and within its minutes with the breaks); the passages of a juror sitting in
    two commissions fit that juror's day; the passages off their commission-day are
    counted. Times, workstations and the candidates' other oral are left out, and a
    passage kept on its day but shifted is a move too, so every real repair moves at
    least this many."""
    from ortools.sat.python import cp_model

    touched = {(data.demands[n].centre_id, data.demands[n].unit_code) for n in affected}
    if not touched:
        return 0
    # The groups linked to a touched one by a juror sitting in both (their passages
    # compete for that juror's day) are part of the relaxation too.
    group_of = {cid: (info.centre_id, info.unit_code)
                for cid, info in data.commissions.items()}
    sits = defaultdict(set)  # juror -> commissions
    for cid, info in data.commissions.items():
        for u in info.members:
            sits[u].add(cid)
    while True:
        linked = {group_of[cid] for cids in sits.values()
                  if any(group_of[c] in touched for c in cids) for cid in cids}
        if linked <= touched:
            break
        touched |= linked
    inside = [n for n, d in enumerate(data.demands)
              if (d.centre_id, d.unit_code) in touched and n in current]
    m = cp_model.CpModel()
    per_day, cost = {}, []
    for n in inside:
        d = data.demands[n]
        choices = []
        options = d.eligible if n in affected else sorted({*d.eligible, current[n][0]})
        for k in options:
            b = m.NewBoolVar(f"a{n}_{k}")
            choices.append(b)
            per_day.setdefault(k, []).append((n, b))
            if k == current[n][0]:
                cost.append(b)
        if not choices:
            return None
        m.AddExactlyOne(choices)
    shortest = {}
    for n in inside:
        d = data.demands[n]
        key = (d.centre_id, d.unit_code)
        solo, jury = shortest.get(key, (d.solo, d.jury))
        shortest[key] = (min(solo, d.solo), min(jury, d.jury))

    def hold(c: solver.CDay, pause: int) -> int:
        """The most jury minutes, each with a break of ``pause``, a day holds (the
        break before lunch and the last one may spill)."""
        if c.lunch_end > c.lunch_start:
            return (max(0, c.lunch_start - c.start) + max(0, c.end - c.lunch_end)
                    + 2 * pause)
        return c.end - c.start + pause

    juror_day = defaultdict(list)  # (juror, day) -> (commission-day, terms)
    for k, items in per_day.items():
        c = data.cdays[k]
        info = data.commissions[c.commission_id]
        item = shortest[(info.centre_id, info.unit_code)]
        cap = solver._fits_in_one_day([item] * len(items), c,
                                      data.workstations.get(info.centre_id, 0))
        m.Add(sum(b for _, b in items) <= cap)
        m.Add(sum((data.demands[n].jury + c.break_minutes) * b for n, b in items)
              <= hold(c, c.break_minutes))
        for u in c.members:
            if len(sits[u]) > 1:
                juror_day[(u, c.day)].append((c, items))
    for spans in juror_day.values():
        if len(spans) < 2:
            continue
        pause = min(c.break_minutes for c, _ in spans)
        m.Add(sum((data.demands[n].jury + pause) * b for _, items in spans for n, b in items)
              <= max(hold(c, pause) for c, _ in spans))
    m.Maximize(sum(cost))
    engine = cp_model.CpSolver()
    engine.parameters.max_time_in_seconds = time_limit
    engine.parameters.num_workers = workers
    status = engine.Solve(m)
    if status == cp_model.OPTIMAL:
        return len(inside) - round(engine.ObjectiveValue())
    if status == cp_model.FEASIBLE:
        return len(inside) - math.floor(engine.BestObjectiveBound())
    return None


def apply_repair(*, session: ExamSession, repair: RepairProposal, actor,
                 now: datetime | None = None) -> list[Passage]:
    """Write a repair (seats, absences, moves) in one serialised decision; refused when a
    moved passage has started or moved since the proposal."""
    now = now or utcnow()
    if repair.session_id != session.id:
        raise JuryError("Cette réparation a été proposée pour une autre session.")
    if not repair.complete:
        raise JuryError("Cette réparation n'est pas complète : elle n'est pas appliquée. "
                        + " ".join(repair.reasons + repair.violations[:3]))
    solver._lock_session(session.id)
    ids = [m.passage_id for m in repair.moves]
    passages = {p.id: p for p in db.session.scalars(
        sa.select(Passage).where(Passage.id.in_(ids))
        .execution_options(populate_existing=True))}
    started = [p for p in passages.values() if p.started_at is not None or p.is_final]
    if started:
        raise JuryError(f"{len(started)} passage(s) à déplacer ont déjà commencé : la "
                        "réparation n'est pas appliquée.")
    for move in repair.moves:
        p = passages.get(move.passage_id)
        if p is None or p.scheduled_at != move.from_at or p.commission.code != move.from_code:
            raise JuryError("Les passages ont changé depuis la proposition : relancez la "
                            "réparation.")
    for seat in repair.seats:
        member = db.session.scalar(sa.select(CommissionMember).where(
            CommissionMember.commission_id == seat.commission_id,
            CommissionMember.user_id == seat.absent_id).with_for_update(of=CommissionMember))
        if member is None:
            raise JuryError("La commission a changé depuis la proposition : relancez la "
                            "réparation.")
        profile = db.session.scalar(sa.select(PersonProfile).where(
            PersonProfile.user_id == seat.replacement_id))
        member.user_id = seat.replacement_id
        member.user = db.session.get(User, seat.replacement_id)
        if member.member_role == "enseignant":
            member.establishment_id = profile.establishment_id if profile else None
        db.session.flush()
        unstarted = [p for p in db.session.scalars(sa.select(Passage).where(
            Passage.commission_id == seat.commission_id, Passage.started_at.is_(None)))
            if not p.is_final and p.id not in passages]
        _regrid(unstarted, removed={seat.absent_id}, added={seat.replacement_id})
        record(actor=actor, action="commission.replace_juror", object_type="commission",
               object_id=seat.commission_id, session_id=session.id, now=now,
               before={"user_id": seat.absent_id}, after={"user_id": seat.replacement_id})
    for item in repair.lost:
        if item.user_id is not None and item.user_id not in {s.absent_id for s in repair.seats}:
            row = db.session.scalar(sa.select(JurorAvailability).where(
                JurorAvailability.session_id == session.id,
                JurorAvailability.user_id == item.user_id, JurorAvailability.day == item.day))
            if row is None:
                db.session.add(JurorAvailability(session_id=session.id, user_id=item.user_id,
                                                 day=item.day, is_available=False,
                                                 note="Absence signalée (réparation)"))
    commissions = {c.id: c for c in db.session.scalars(
        sa.select(Commission).where(Commission.session_id == session.id))}
    rooms = {s.commission_id: s.room for s in db.session.scalars(
        sa.select(CommissionSettings).where(CommissionSettings.commission_id.in_(commissions)))}
    for move in repair.moves:
        p = passages[move.passage_id]
        before = {"commission": move.from_code, "scheduled_at": move.from_at.isoformat(),
                  "room": p.room}
        if p.commission_id != move.to_commission_id:
            old = {m.user_id for m in commissions[p.commission_id].members}
            new = {m.user_id for m in commissions[move.to_commission_id].members}
            p.commission_id = move.to_commission_id
            db.session.flush()
            _regrid([p], removed=old - new, added=new - old)
        p.scheduled_at = move.to_at
        p.room = rooms.get(move.to_commission_id, p.room)
        record(actor=actor, action="passage.move", object_type="passage", object_id=p.id,
               session_id=session.id, now=now, before=before,
               after={"commission": move.to_code, "scheduled_at": move.to_at.isoformat(),
                      "room": p.room, "reason": "Réparation du planning (absence)"})
    db.session.flush()
    for cid in {m.to_commission_id for m in repair.moves} | {
            passages[m.passage_id].commission_id for m in repair.moves}:
        rows = db.session.scalars(sa.select(Passage).where(Passage.commission_id == cid)
                                  .order_by(Passage.scheduled_at, Passage.id)).all()
        for position, p in enumerate(rows, 1):
            p.position = position
    db.session.flush()
    record(actor=actor, action="planning.repair", object_type="session", object_id=session.id,
           session_id=session.id, now=now,
           after={"lost": [{"day": x.day.isoformat(), "user_id": x.user_id,
                            "commission_id": x.commission_id} for x in repair.lost],
                  "moved": len(repair.moves), "affected": repair.affected,
                  "minutes": repair.minutes_moved,
                  "seats": [[s.commission_id, s.absent_id, s.replacement_id]
                            for s in repair.seats]})
    return list(passages.values())


def to_inform_csv(moves: list[Move]) -> str:
    """The candidates to inform of a change, one line a moved passage (semicolons)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(["N° candidat", "Nom", "Épreuve", "Avant", "Commission avant", "Après",
                     "Commission après"])
    for m in sorted(moves, key=lambda m: (m.name, m.unit_code)):
        writer.writerow([m.number, m.name, m.unit_code,
                         m.from_at.astimezone(local_zone()).strftime("%d/%m/%Y %H:%M"),
                         m.from_code, m.to_at.astimezone(local_zone()).strftime("%d/%m/%Y %H:%M"),
                         m.to_code])
    return out.getvalue()
