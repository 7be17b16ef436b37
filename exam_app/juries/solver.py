"""Planning the session's orals with a constraint solver (issue 15, "The plan").

Three plain steps, each a function:

1. ``extract`` reads the session into plain data (``PlanData``): one *demand* per
   candidate and oral situation sat in a centre (E4, E5 ponctuel), its lengths in
   minutes with extra time applied to every phase, the commission-days it may go to
   (its unit and form, its centre, no conflict of interest — the one check
   ``planning.conflict_with`` — jurors available that day), and the centres'
   preparation workstations.
2. ``explain`` checks capacities per centre and unit before any solving and says in
   French why no plan can exist (never a silent partial plan); ``greedy`` builds a
   fast first plan; ``solve`` builds the CP-SAT model, seeds it with the greedy plan
   (``AddHint``) and returns the best plan found within the time limit, with its
   objective, bound and gap.
3. ``check`` verifies a plan against the data, independently of the model (the tests
   and the benchmark count its violations); ``propose_plan`` and ``apply_plan`` are
   the services (``apply_plan`` writes the passages in one serialised decision).

Time is in minutes on one axis: minute ``m`` of the ``k``-th planning day is
``k * 1440 + m``. A passage is its preparation (candidate alone, on a workstation of
the centre, E5) immediately followed by its jury part (the commission hears); the
commission takes its break after each jury part, never hears during lunch, and never
before its day's start nor after the day's end. CCF situations are planned by each
establishment and are not part of this plan.
"""

from __future__ import annotations

import math
import os
import time as wallclock
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.clock import local_zone, utcnow
from exam_app.enrolment.models import Candidate, Centre, ExamSession
from exam_app.extensions import db
from exam_app.juries import timer
from exam_app.juries.errors import JuryError
from exam_app.juries.grids import grid_key_for
from exam_app.juries.models import (
    AGREED,
    Commission,
    CommissionSettings,
    Grid,
    JurorAvailability,
    Passage,
)
from exam_app.juries.planning import (
    _create_grid,
    conflict_with,
    internship_organisations,
    pro_companies,
)
from exam_app.units import UnitForm, UnitKind, all_units

DAY = 1440
# Objective weights, in order of priority: a candidate left without a slot costs more
# than any number of commission-days, a commission-day more than any imbalance, a
# minute of imbalance more than splitting an establishment's candidates.
W_UNPLANNED = 10_000_000
W_DAY = 100_000
W_BALANCE = 10
W_GROUP = 1
# Repairing a published plan (``solve(..., keep=...)``): moving a candidate costs more
# than a commission-day, each minute a passage shifts a little.
W_MOVE = 1_000_000
W_SHIFT = 20


@dataclass(frozen=True)
class Bounds:
    """The session's planning rules (defaults: 8:00–18:30, 30 min between two orals
    of one candidate)."""

    day_start: time = time(8, 0)
    day_end: time = time(18, 30)
    rest_minutes: int = 30


def _minute(at: time) -> int:
    return at.hour * 60 + at.minute


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n <= 1 else (plural or word + 's')}"  # French: 0 jour, 1 jour


# ---- 1. data ------------------------------------------------------------------------


@dataclass
class Demand:
    """One candidate's passage to plan: a situation of a unit, in their centre."""

    candidate_id: int
    label: str  # "NOM Prénom (n° …)"
    establishment_id: int
    centre_id: int | None
    unit_code: str
    variant_code: str
    solo: int  # preparation minutes (candidate alone, on a workstation)
    jury: int  # minutes before the commission
    eligible: list[int] = field(default_factory=list)  # commission-day indexes
    conflicts: set[int] = field(default_factory=set)  # commission ids (conflict of interest)
    passage_id: int | None = None
    pinned: tuple[int, int] | None = None  # (commission-day index, jury start)


@dataclass
class CDay:
    """A commission sitting one day: its window and lunch on the minute axis."""

    commission_id: int
    code: str
    day: date
    start: int
    end: int
    lunch_start: int
    lunch_end: int
    break_minutes: int
    members: tuple[int, ...]
    available: bool = True  # False: a juror declared they cannot sit that day


@dataclass
class CommissionInfo:
    id: int
    code: str
    unit_code: str
    centre_id: int | None
    members: tuple[int, ...]


@dataclass
class PlanData:
    demands: list[Demand]
    cdays: list[CDay]
    commissions: dict[int, CommissionInfo]
    workstations: dict[int, int]  # centre id -> preparation workstations
    centre_names: dict[int, str]
    days: list[date]  # the planning days, in order (index = day on the minute axis)
    rest: int
    day_start: int
    day_end: int
    fingerprint: list = field(default_factory=list)  # the passages the data was read from
    started: int = 0  # passages already started in the session


def _durations(unit_code: str, variant_code: str, extra) -> tuple[int, int]:
    solo, jury = timer.solo_and_jury_seconds(timer.plan(unit_code, variant_code,
                                                         extra_time=extra))
    return math.ceil(solo / 60), math.ceil(jury / 60)


def _sat_form(candidate: Candidate, unit_code: str) -> UnitForm | None:
    """The form the candidate sits the unit in; None when they do not sit it (a bénéfice,
    a dispense, or E5 without a recorded form: ``Candidate.sits_in``)."""
    if not candidate.sits(unit_code):
        return None
    try:
        return candidate.form_for(unit_code)
    except LookupError:
        return None


def _centre_workstations(centre: Centre, settings: list[CommissionSettings]) -> int:
    """The centre's preparation workstations: those of its rooms, else the sum the
    centre's commissions declared in their settings (default 2 each)."""
    if centre.workstations:
        return centre.workstations
    return sum(s.prep_workstations for s in settings) or 2


def extract(session: ExamSession, bounds: Bounds | None = None,
            units: tuple[str, ...] | None = None) -> PlanData:
    """The session's candidates, commissions and rules as plain data (``units``: plan
    only these units, e.g. ``("E5",)``; default: every oral unit)."""
    bounds = bounds or Bounds()
    commissions = db.session.scalars(
        sa.select(Commission).where(Commission.session_id == session.id,
                                    Commission.form == UnitForm.PONCTUEL.value)
        .order_by(Commission.code)).all()
    settings = {s.commission_id: s for s in db.session.scalars(
        sa.select(CommissionSettings).where(
            CommissionSettings.commission_id.in_([c.id for c in commissions])))}
    unavailable = {(a.user_id, a.day) for a in db.session.scalars(
        sa.select(JurorAvailability).where(JurorAvailability.session_id == session.id,
                                           JurorAvailability.is_available.is_(False)))}
    days = sorted({d.day for c in commissions for d in c.days})
    day_index = {d: i for i, d in enumerate(days)}
    start, end = _minute(bounds.day_start), _minute(bounds.day_end)

    infos, cdays, by_commission = {}, [], defaultdict(list)
    for commission in commissions:
        members = tuple(sorted(m.user_id for m in commission.members))
        infos[commission.id] = CommissionInfo(commission.id, commission.code,
                                              commission.unit_code, commission.centre_id,
                                              members)
        s = settings.get(commission.id)
        own_start = max(start, _minute(s.day_start)) if s else start
        lunch_at = _minute(s.lunch_start) if s else 12 * 60
        lunch = s.lunch_minutes if s else 60
        pause = s.break_minutes if s else 10
        for d in commission.days:
            base = day_index[d.day] * DAY
            by_commission[commission.id].append(len(cdays))
            cdays.append(CDay(commission.id, commission.code, d.day, base + own_start,
                              base + end, base + lunch_at, base + lunch_at + lunch, pause,
                              members, not any((u, d.day) in unavailable for u in members)))

    centres = db.session.scalars(sa.select(Centre).where(Centre.session_id == session.id)).all()
    workstations = {c.id: _centre_workstations(c, [settings[k.id] for k in commissions
                                                   if k.centre_id == c.id and k.id in settings
                                                   and k.unit_code == "E5"])
                    for c in centres}

    candidates = db.session.scalars(
        sa.select(Candidate).where(Candidate.session_id == session.id)
        .order_by(Candidate.establishment_id, Candidate.last_name, Candidate.first_name,
                  Candidate.id)).all()
    organisations = internship_organisations([c.id for c in candidates])
    companies = pro_companies([m for c in commissions for m in c.members])
    passages = {(p.candidate_id, p.unit_code, p.variant_code): p for p in db.session.scalars(
        sa.select(Passage).join(Commission, Commission.id == Passage.commission_id)
        .where(Commission.session_id == session.id))}
    cday_at = {(c.commission_id, c.day): i for i, c in enumerate(cdays)}

    demands = []
    for unit in all_units():
        if unit.kind != UnitKind.ORAL or unit.grid is None or (units and unit.code not in units):
            continue
        for variant in unit.variants_for(UnitForm.PONCTUEL):
            group = [c for c in commissions if c.unit_code == unit.code]
            for candidate in candidates:
                if _sat_form(candidate, unit.code) != UnitForm.PONCTUEL:
                    continue
                solo, jury = _durations(unit.code, variant.code, candidate.extra_time_fraction)
                demand = Demand(candidate.id, f"{candidate.full_name} (n° {candidate.number})",
                                candidate.establishment_id, candidate.centre_id, unit.code,
                                variant.code, solo, jury)
                for commission in group:
                    if commission.centre_id != candidate.centre_id:
                        continue
                    if conflict_with(form=commission.form, members=list(commission.members),
                                     candidate=candidate, companies=companies,
                                     organisations=organisations.get(candidate.id, [])):
                        demand.conflicts.add(commission.id)
                        continue
                    demand.eligible += [i for i in by_commission[commission.id]
                                        if cdays[i].available]
                passage = passages.get((candidate.id, unit.code, variant.code))
                if passage is not None:
                    demand.passage_id = passage.id
                    if passage.pinned and passage.scheduled_at is not None:
                        local = passage.scheduled_at.astimezone(local_zone())
                        index = cday_at.get((passage.commission_id, local.date()))
                        if index is not None:
                            jury_at = (day_index[local.date()] * DAY
                                       + _minute(local.time()) + demand.solo)
                            demand.pinned = (index, jury_at)
                            demand.eligible = [index]
                demands.append(demand)
    fingerprint = sorted((p.id, p.commission_id, p.scheduled_at.isoformat()
                          if p.scheduled_at else None, p.pinned) for p in passages.values())
    started = sum(1 for p in passages.values() if p.started_at is not None or p.is_final)
    return PlanData(demands, cdays, infos, workstations, {c.id: c.name for c in centres},
                    days, bounds.rest_minutes, start, end, fingerprint, started)


# ---- 2a. capacity checks before solving ---------------------------------------------


def _fits_in_one_day(items: list[tuple[int, int]], cday: CDay, workstations: int) -> int:
    """How many of ``items`` (solo, jury minutes; shortest first) one commission-day
    hears in sequence, with its breaks and lunch (``timer.schedule``, the hand planning's
    rule), all the centre's workstations for itself: an optimistic count."""
    origin = datetime(2000, 1, 1)
    starts = timer.schedule([(s * 60, j * 60) for s, j in items],
                            start=origin + timedelta(minutes=cday.start % DAY),
                            break_seconds=cday.break_minutes * 60,
                            lunch_start=origin + timedelta(minutes=cday.lunch_start % DAY),
                            lunch_seconds=(cday.lunch_end - cday.lunch_start) * 60,
                            workstations=workstations)
    end = origin + timedelta(minutes=cday.end % DAY)
    count = 0
    for (solo, jury), at in zip(items, starts, strict=True):
        if at + timedelta(minutes=solo + jury) > end:
            break
        count += 1
    return count


def explain(data: PlanData) -> list[str]:
    """Why no complete plan can exist, in French (empty: the capacities suffice)."""
    reasons = []
    no_centre = [d for d in data.demands if d.centre_id is None]
    if no_centre:
        reasons.append(f"{_plural(len({d.candidate_id for d in no_centre}), 'candidat')} sans "
                       "centre d'examen : " + ", ".join(sorted({d.label for d in no_centre})[:5])
                       + (" …" if len(no_centre) > 5 else "") + ".")
    groups = defaultdict(list)
    for d in data.demands:
        if d.centre_id is not None:
            groups[(d.centre_id, d.unit_code)].append(d)
    for (centre_id, unit_code), demands in sorted(groups.items(),
                                                  key=lambda g: (data.centre_names[g[0][0]],
                                                                 g[0][1])):
        place = f"{unit_code} au {data.centre_names[centre_id]}"
        commissions = [c for c in data.commissions.values()
                       if c.centre_id == centre_id and c.unit_code == unit_code]
        cdays = [c for c in data.cdays if c.commission_id in {k.id for k in commissions}
                 and c.available]
        solo = any(d.solo for d in demands)
        stations = data.workstations.get(centre_id, 0)
        items = sorted((d.solo, d.jury) for d in demands)
        model = cdays[0] if cdays else CDay(0, "", date.min, data.day_start, data.day_end,
                                            12 * 60, 13 * 60, 10, ())
        per_day = _fits_in_one_day(items, model, stations)
        needed, left = 0, list(items)
        while left and per_day:
            taken = _fits_in_one_day(left, model, stations)
            if not taken:
                break
            left, needed = left[taken:], needed + 1
        header = (f"{place} : {_plural(len(demands), 'candidat')}"
                  + (f", {_plural(stations, 'poste')}" if solo else "")
                  + f", {_plural(len(commissions), 'commission')}"
                  + f", {_plural(len({c.day for c in cdays}), 'jour')}")
        if left:
            reasons.append(f"{header} — un passage ne tient pas dans une journée "
                           f"({data.centre_names[centre_id]}, de "
                           f"{data.day_start // 60}h{data.day_start % 60:02d} à "
                           f"{data.day_end // 60}h{data.day_end % 60:02d}).")
            continue
        if needed > len(cdays):
            missing = needed - len(cdays)
            reasons.append(f"{header} — il manque {_plural(missing, 'journée')} de commission.")
            continue
        for d in demands:
            if not d.eligible and d.conflicts and len(d.conflicts) == len(commissions):
                reasons.append(f"{d.label} : conflit d'intérêts avec chaque commission {place}.")
            elif not d.eligible and d.pinned is None:
                reasons.append(f"{d.label} : aucune journée de commission {place} où les "
                               "deux jurés sont disponibles.")
    # The centre's workstations, shared by its commissions: the preparations of a day
    # fit between the day's start and its end.
    preparing = defaultdict(list)
    for d in data.demands:
        if d.solo and d.centre_id is not None:
            preparing[d.centre_id].append(d.solo)
    for centre_id, solos in sorted(preparing.items()):
        days = {c.day for c in data.cdays if c.available
                and data.commissions[c.commission_id].centre_id == centre_id}
        window = (data.day_end - data.day_start) * len(days)
        stations = data.workstations.get(centre_id, 0)
        if window and sum(solos) > stations * window:
            missing = math.ceil(sum(solos) / window) - stations
            reasons.append(f"Préparation au {data.centre_names[centre_id]} : "
                           f"{_plural(len(solos), 'candidat')}, {_plural(stations, 'poste')}, "
                           f"{_plural(len(days), 'jour')} — il manque "
                           f"{_plural(missing, 'poste')} de préparation.")
    return reasons


def lower_bounds(data: PlanData) -> dict[tuple[int, str], int]:
    """Commission-days needed at least, per centre and unit (a commission hears one
    unit in one centre, so the groups share no commission-day). The larger of two
    valid bounds:

    - by count: the candidates divided by the most passages one commission-day can hear
      (every passage as short as the group's shortest, in sequence with the breaks and
      lunch, all the centre's workstations for itself; earliest start is optimal for
      equal passages), on the group's most generous commission-day;
    - by minutes: the jury minutes with their breaks divided by the most one
      commission-day can hold (its morning and afternoon, the break after the last
      passage of each allowed to spill).
    Both ignore conflicts of interest, jurors shared between commissions and the
    candidates' other oral, which can only need more days."""
    groups = defaultdict(list)
    for d in data.demands:
        if d.centre_id is not None:
            groups[(d.centre_id, d.unit_code)].append(d)
    bounds = {}
    for (centre_id, unit_code), demands in groups.items():
        cdays = [c for c in data.cdays if c.available
                 and data.commissions[c.commission_id].centre_id == centre_id
                 and data.commissions[c.commission_id].unit_code == unit_code]
        if not cdays:
            bounds[(centre_id, unit_code)] = len(demands)
            continue
        solo, jury = min(d.solo for d in demands), min(d.jury for d in demands)
        shapes = {(c.start % DAY, c.end % DAY, c.lunch_start % DAY, c.lunch_end % DAY,
                   c.break_minutes): c for c in cdays}
        per_day = max(_fits_in_one_day([(solo, jury)] * len(demands), c,
                                       data.workstations.get(centre_id, 0))
                      for c in shapes.values())
        by_count = math.ceil(len(demands) / per_day) if per_day else len(demands)
        hold = max(max(0, c.lunch_start - c.start - solo) + max(0, c.end - c.lunch_end)
                   + 2 * c.break_minutes if c.lunch_end > c.lunch_start
                   else c.end - c.start - solo + c.break_minutes
                   for c in shapes.values())
        minutes = sum(d.jury + min(c.break_minutes for c in cdays) for d in demands)
        by_minutes = math.ceil(minutes / hold) if hold > 0 else len(demands)
        bounds[(centre_id, unit_code)] = max(by_count, by_minutes)
    return bounds


def lower_bound_days(data: PlanData) -> int:
    """Commission-days needed at least (``lower_bounds`` added up)."""
    return sum(lower_bounds(data).values())


def minutes_lower_bound_days(data: PlanData) -> int:
    """The issue's coarse bound: per centre, the total jury minutes divided by the
    length of a day (no lunch, no break). Always at most ``lower_bound_days``."""
    minutes = defaultdict(int)
    for d in data.demands:
        if d.centre_id is not None:
            minutes[d.centre_id] += d.jury
    return sum(math.ceil(total / max(1, data.day_end - data.day_start))
               for total in minutes.values())


# ---- 2b. greedy seed ----------------------------------------------------------------


def best_greedy(data: PlanData) -> dict[int, tuple[int, int]]:
    """The best of a few greedy plans (most passages planned, then lowest objective)."""
    plans = [pack_greedy(data)] + [greedy(data, units_first=order)
                                   for order in ("solo", "E4", "E5")]
    return min(plans, key=lambda plan: (-len(plan), _objective_of(data, plan)))


def greedy(data: PlanData, units_first: str = "solo") -> dict[int, tuple[int, int]]:
    """A fast first plan: {demand index: (commission-day index, jury start)}.

    Pinned passages first, then by unit (``units_first``: passages with a preparation,
    or a unit code), the candidates with fewest commission-days open to them, in
    establishment order; each in an open commission-day if one can hear them (the
    earliest slot), else in the least loaded commission's next day, once the
    commission, its jurors, the workstations and the candidate's other oral allow it.
    Not optimal; it seeds the solver."""
    plan: dict[int, tuple[int, int]] = {}
    juror_busy: dict[int, list[tuple[int, int]]] = defaultdict(list)
    cday_free = {i: c.start for i, c in enumerate(data.cdays)}
    preps: dict[int, list[tuple[int, int]]] = defaultdict(list)
    cand_busy: dict[int, list[tuple[int, int]]] = defaultdict(list)
    opened: set[int] = set()
    load: dict[int, int] = defaultdict(int)
    best_key: tuple = ()

    def overlaps(spans, a, b):
        return any(a < y and x < b for x, y in spans)

    def busiest(spans, a, b):
        """The most spans running at once within [a, b)."""
        points = [a] + [x for x, _ in spans if a <= x < b]
        return max(sum(1 for x, y in spans if x <= p < y) for p in points)

    def unit_rank(d: Demand) -> int:
        return -d.solo if units_first == "solo" else int(d.unit_code != units_first)

    order = sorted(range(len(data.demands)),
                   key=lambda i: (data.demands[i].pinned is None, unit_rank(data.demands[i]),
                                  len(data.demands[i].eligible),
                                  data.demands[i].establishment_id))
    for i in order:
        d = data.demands[i]
        best = None
        for k in d.eligible:
            c = data.cdays[k]
            at = max(cday_free[k], c.start + d.solo) if d.pinned is None else d.pinned[1]
            for _ in range(200):
                end = at + d.jury
                moved = False
                if at < c.lunch_end and end > c.lunch_start:
                    at, moved = c.lunch_end, True
                for u in c.members:
                    for x, y in juror_busy[u]:
                        if at < y and x < end + c.break_minutes:
                            at, moved = max(at, y), True
                if d.solo and busiest(preps[d.centre_id], at - d.solo, at) >= \
                        data.workstations.get(d.centre_id, 0):
                    at, moved = at + 5, True
                if overlaps(cand_busy[d.candidate_id], at - d.solo - data.rest,
                            at + d.jury + data.rest):
                    at, moved = at + 5, True
                if not moved or d.pinned is not None:
                    break
            if at + d.jury > c.end:
                continue
            # Fill the commission-days already open before opening another (fewest
            # days), then the least loaded commission, then the earliest slot.
            key = (k not in opened, load[c.commission_id] if k not in opened else 0, at)
            if best is None or key < best_key:
                best, best_key = (k, at), key
        if best is None:
            continue
        k, at = best
        c = data.cdays[k]
        plan[i] = best
        opened.add(k)
        load[c.commission_id] += d.jury
        cday_free[k] = max(cday_free[k], at + d.jury + c.break_minutes)
        for u in c.members:
            juror_busy[u].append((at, at + d.jury + c.break_minutes))
        if d.solo:
            preps[d.centre_id].append((at - d.solo, at))
        cand_busy[d.candidate_id].append((at - d.solo, at + d.jury))
    return plan


def pack_greedy(data: PlanData) -> dict[int, tuple[int, int]]:
    """A packing first plan: {demand index: (commission-day index, jury start)}.

    Bin packing of the passages into commission-days, one commission-day filled at a
    time: per centre and unit (passages with a preparation first), the commission-day
    whose jurors are free that day and whose commission has sat fewest days is opened,
    then filled from its start, each time with a candidate who can start at the
    earliest free minute (no hole when one can), the longest passage first when it
    costs the day no other passage (extra time before lunch, where the breaks leave
    room), candidates with the fewest commission-days open to them first, an
    establishment's candidates together. Pinned passages stay where they are. The
    commission, its jurors, the centre's workstations and the candidate's other oral
    are respected as in ``greedy``; ``check`` verifies the result."""
    plan: dict[int, tuple[int, int]] = {}
    juror_busy: dict[int, list[tuple[int, int]]] = defaultdict(list)  # incl. break
    preps: dict[int, list[tuple[int, int]]] = defaultdict(list)
    cand_busy: dict[int, list[tuple[int, int]]] = defaultdict(list)
    days_sat: dict[int, int] = defaultdict(int)  # commission id -> commission-days opened
    opened: set[int] = set()
    filled: set[int] = set()  # commission-days filled (or found of no use) for the group

    def place(i: int, k: int, at: int) -> None:
        d, c = data.demands[i], data.cdays[k]
        plan[i] = (k, at)
        if k not in opened:
            opened.add(k)
            days_sat[c.commission_id] += 1
        for u in c.members:
            juror_busy[u].append((at, at + d.jury + c.break_minutes))
        if d.solo:
            preps[d.centre_id].append((at - d.solo, at))
        cand_busy[d.candidate_id].append((at - d.solo, at + d.jury))

    def earliest(k: int, solo: int, jury: int, free: int) -> int | None:
        """The earliest jury start >= ``free`` in commission-day ``k`` for a passage of
        these lengths (lunch, jurors, workstations), or None."""
        c = data.cdays[k]
        centre = data.commissions[c.commission_id].centre_id
        stations = data.workstations.get(centre, 0)
        at = max(free, c.start + solo)
        for _ in range(500):
            moved = False
            if at < c.lunch_end and at + jury > c.lunch_start:
                at, moved = c.lunch_end, True
            for u in c.members:
                for x, y in juror_busy[u]:
                    if at < y and x < at + jury + c.break_minutes:
                        at, moved = y, True
            if solo:
                running = [y for x, y in preps[centre] if x < at and y > at - solo]
                if len(running) >= stations:
                    # Wait for enough preparations to end that one workstation frees.
                    at, moved = sorted(running)[len(running) - stations] + solo, True
            if not moved:
                return at if at + jury <= c.end else None
            if at + jury > c.end:
                return None
        return None

    def own_free(i: int, at: int) -> bool:
        d = data.demands[i]
        return not any(at - d.solo - data.rest < y and x < at + d.jury + data.rest
                       for x, y in cand_busy[d.candidate_id])

    def fits_after(k: int, end: int, solo: int, jury: int) -> int:
        """How many passages of these lengths the day still hears from ``end`` (lunch
        and breaks only): to compare two choices."""
        c, count, at = data.cdays[k], 0, end
        while True:
            at = max(at, c.start + solo)
            if at < c.lunch_end and at + jury > c.lunch_start:
                at = c.lunch_end
            if at + jury > c.end:
                return count
            count, at = count + 1, at + jury + c.break_minutes

    for i, d in enumerate(data.demands):
        if d.pinned is not None and d.pinned[0] in d.eligible:
            place(i, *d.pinned)
    open_days = [set(d.eligible) for d in data.demands]
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, d in enumerate(data.demands):
        if i not in plan:
            groups[(d.solo == 0, d.centre_id or 0, d.unit_code)].append(i)
    for key in sorted(groups):
        pool = sorted(groups[key], key=lambda i: (len(data.demands[i].eligible),
                                                  data.demands[i].establishment_id, i))
        while pool:
            open_to = defaultdict(int)
            for i in pool:
                for k in data.demands[i].eligible:
                    open_to[k] += 1
            if not open_to:
                break
            # Fill first the commission-days already holding a pinned passage, then those
            # whose jurors sit nowhere else that day, of the commission that sat least.
            def opening(k: int, open_to=open_to) -> tuple:
                c = data.cdays[k]
                busy = sum(1 for u in c.members for x, y in juror_busy[u]
                           if x < c.end and y > c.start)
                return (k not in opened and 1, busy, days_sat[c.commission_id], c.start,
                        -open_to[k], k)

            candidates = [k for k in open_to if data.cdays[k].available and k not in filled]
            k = min(candidates, key=opening) if candidates else None
            if k is None:
                break
            c = data.cdays[k]
            free, last = c.start, None
            filled.add(k)
            urgent = {i: sum(1 for e in data.demands[i].eligible if e not in filled) <= 3
                      for i in pool}
            while True:
                # Candidates whose commission-days are nearly all filled first, then the
                # establishment just heard here, then the establishment with most
                # candidates left (so that the last candidates are not all of one
                # establishment, in conflict with the commissions left).
                left = Counter(data.demands[i].establishment_id for i in pool)
                here = sorted(
                    (i for i in pool if k in open_days[i]),
                    key=lambda i: (not urgent[i], data.demands[i].establishment_id != last,
                                   -left[data.demands[i].establishment_id],
                                   data.demands[i].establishment_id, i))
                classes: dict[tuple[int, int], list[int]] = defaultdict(list)
                for i in here:
                    classes[(data.demands[i].solo, data.demands[i].jury)].append(i)
                options = []  # (start, -(solo + jury), class, demand)
                for (solo, jury), members in classes.items():
                    at = earliest(k, solo, jury, free)
                    while at is not None:
                        who = next((i for i in members if own_free(i, at)), None)
                        if who is not None:
                            options.append((at, solo, jury, who))
                            break
                        at = earliest(k, solo, jury, at + 5)
                if not options:
                    break
                first = min(o[0] for o in options)
                now = [o for o in options if o[0] == first] or options
                short = min(now, key=lambda o: (o[1] + o[2], o[3]))
                keep = 1 + fits_after(k, first + short[2] + c.break_minutes, short[1],
                                      short[2])
                # The longest passage that leaves the day as many passages as the shortest.
                choice = min(now, key=lambda o: (
                    1 + fits_after(k, o[0] + o[2] + c.break_minutes, short[1], short[2])
                    < keep, -(o[1] + o[2]), here.index(o[3])))
                at, i = choice[0], choice[3]
                place(i, k, at)
                pool.remove(i)
                last = data.demands[i].establishment_id
                free = at + data.demands[i].jury + c.break_minutes
    return plan


# ---- 2c. the CP-SAT model -----------------------------------------------------------


@dataclass
class Result:
    """The best plan found: {demand index: (commission-day index, jury start)}."""

    assignment: dict[int, tuple[int, int]]
    status: str  # "optimal", "feasible", "unknown", "infeasible"
    objective: float | None
    bound: float | None
    seconds: float

    @property
    def gap(self) -> float | None:
        if self.objective is None or self.bound is None:
            return None
        return abs(self.objective - self.bound) / max(1.0, abs(self.objective))


def _objective_of(data: PlanData, assignment: dict[int, tuple[int, int]]) -> int:
    """The model's objective for a plan (the greedy seed's value, for comparison)."""
    used = {k for k, _ in assignment.values()}
    loads = defaultdict(int)
    for i, (k, _) in assignment.items():
        loads[data.cdays[k].commission_id] += data.demands[i].jury
    group_max = defaultdict(int)
    for cid, load in loads.items():
        info = data.commissions[cid]
        group_max[(info.centre_id, info.unit_code)] = max(
            group_max[(info.centre_id, info.unit_code)], load)
    spread = {(data.demands[i].establishment_id, data.cdays[k].commission_id)
              for i, (k, _) in assignment.items()}
    return (W_UNPLANNED * (len(data.demands) - len(assignment)) + W_DAY * len(used)
            + W_BALANCE * sum(group_max.values()) + W_GROUP * len(spread))


def solve(data: PlanData, *, time_limit: float = 30.0, workers: int = 2,
          progress: Callable[[dict], None] | None = None,
          seed: dict[int, tuple[int, int]] | None = None,
          keep: dict[int, tuple[int, int]] | None = None) -> Result:
    """Build the CP-SAT model, solve it within ``time_limit`` seconds, return the best
    plan found (the greedy ``seed`` when the solver finds nothing better).

    ``keep`` (a repair): the demands' published places; moving one costs ``W_MOVE``,
    each minute it shifts ``W_SHIFT``, before any commission-day."""
    from ortools.sat.python import cp_model

    began = wallclock.monotonic()
    m = cp_model.CpModel()
    n = len(data.demands)
    horizon = max(1, len(data.days)) * DAY
    x: dict[tuple[int, int], object] = {}
    jury_start, planned = [], []
    per_cday = defaultdict(list)  # commission-day -> [(demand, x)]
    jury_intervals = defaultdict(list)  # commission id -> intervals (jury part + break)
    preps = defaultdict(list)  # centre id -> preparation intervals
    own = defaultdict(list)  # candidate id -> passage intervals (+ rest)

    for i, d in enumerate(data.demands):
        if (seed and i % 64 == 63 and wallclock.monotonic() - began > 0.8 * time_limit
                and not check(data, seed, complete=False)):
            # Building the model alone would overrun the time limit: the seed stands.
            return Result(seed, "greedy", _objective_of(data, seed), None,
                          wallclock.monotonic() - began)
        j = m.NewIntVar(0, horizon, f"j{i}")
        p = m.NewBoolVar(f"p{i}")
        jury_start.append(j)
        planned.append(p)
        choices = []
        for k in d.eligible:
            c = data.cdays[k]
            if c.start + d.solo + d.jury > c.end:
                continue
            b = m.NewBoolVar(f"x{i}_{k}")
            x[(i, k)] = b
            choices.append(b)
            per_cday[k].append((i, b))
            m.Add(j >= c.start + d.solo).OnlyEnforceIf(b)
            m.Add(j + d.jury <= c.end).OnlyEnforceIf(b)
            jury_intervals[c.commission_id].append(
                m.NewOptionalFixedSizeIntervalVar(j, d.jury + c.break_minutes, b, f"h{i}_{k}"))
        if choices:
            m.Add(sum(choices) == p)
        else:
            m.Add(p == 0)
        if d.pinned is not None and (i, d.pinned[0]) in x:
            m.Add(x[(i, d.pinned[0])] == 1)
            m.Add(j == d.pinned[1])
        if d.solo and d.centre_id is not None:
            preps[d.centre_id].append(
                m.NewOptionalFixedSizeIntervalVar(j - d.solo, d.solo, p, f"w{i}"))
        own[d.candidate_id].append(
            m.NewOptionalFixedSizeIntervalVar(j - d.solo, d.solo + d.jury + data.rest, p,
                                              f"c{i}"))

    # A commission hears one candidate at a time, with a break after each, never at lunch.
    for cid, intervals in jury_intervals.items():
        lunches = []
        for c in data.cdays:
            if c.commission_id == cid and c.lunch_end > c.lunch_start:
                # A jury part may end right at lunch: its break overlaps the lunch.
                shift = c.break_minutes if c.lunch_end - c.lunch_start > c.break_minutes else 0
                lunches.append(m.NewIntervalVar(c.lunch_start + shift,
                                                c.lunch_end - c.lunch_start - shift,
                                                c.lunch_end, f"l{cid}_{c.day}"))
        m.AddNoOverlap(intervals + lunches)
    # A juror sitting in several commissions is in one place at a time.
    by_juror = defaultdict(set)
    for info in data.commissions.values():
        for user_id in info.members:
            by_juror[user_id].add(info.id)
    for cids in {frozenset(c) for c in by_juror.values() if len(c) > 1}:
        m.AddNoOverlap([iv for cid in sorted(cids) for iv in jury_intervals[cid]])
    # Never more candidates preparing than the centre's workstations.
    for centre_id, intervals in preps.items():
        m.AddCumulative(intervals, [1] * len(intervals), data.workstations.get(centre_id, 0))
    # A candidate's two orals never overlap and are separated by the rest.
    for intervals in own.values():
        if len(intervals) > 1:
            m.AddNoOverlap(intervals)

    # Objective: everyone planned, fewest commission-days, balanced load, establishments
    # grouped.
    used, used_by_cday = [], {}
    for k, members in per_cday.items():
        c = data.cdays[k]
        u = m.NewBoolVar(f"u{k}")
        used.append(u)
        used_by_cday[k] = u
        for _, b in members:
            m.AddImplication(b, u)
        # Each jury part with its break; the breaks before lunch and after the last
        # passage may fall outside the hearing time.
        capacity = c.end - c.start - (c.lunch_end - c.lunch_start) + 2 * c.break_minutes
        m.Add(sum((data.demands[i].jury + c.break_minutes) * b for i, b in members)
              <= capacity * u)
    loads = defaultdict(list)
    for (i, k), b in x.items():
        loads[data.cdays[k].commission_id].append(data.demands[i].jury * b)
    group_max = {}
    for cid, terms in loads.items():
        info = data.commissions[cid]
        key = (info.centre_id, info.unit_code)
        if key not in group_max:
            group_max[key] = m.NewIntVar(0, horizon, f"max{key}")
        m.Add(sum(terms) <= group_max[key])
    spread, spread_by_pair = [], {}
    by_pair = defaultdict(list)
    for (i, k), b in x.items():
        by_pair[(data.demands[i].establishment_id, data.cdays[k].commission_id)].append(b)
    for pair, bs in by_pair.items():
        y = m.NewBoolVar(f"g{pair}")
        spread_by_pair[pair] = y
        for b in bs:
            m.AddImplication(b, y)
        spread.append(y)
    changes = []
    for i, (k0, at0) in (keep or {}).items():
        stay = x.get((i, k0))
        moved = m.NewBoolVar(f"mv{i}")
        if stay is not None:
            m.Add(jury_start[i] == at0).OnlyEnforceIf(moved.Not())
            m.AddImplication(moved.Not(), stay)
        else:
            m.Add(moved == 1)
        shift = m.NewIntVar(0, horizon, f"sh{i}")
        m.Add(shift >= jury_start[i] - at0)
        m.Add(shift >= at0 - jury_start[i])
        changes += [W_MOVE * moved, W_SHIFT * shift]
        if seed:
            m.AddHint(moved, 0 if seed.get(i) == (k0, at0) else 1)
            m.AddHint(shift, abs(seed[i][1] - at0) if i in seed else 0)
    m.Minimize(W_UNPLANNED * (n - sum(planned)) + W_DAY * sum(used)
               + W_BALANCE * sum(group_max.values()) + W_GROUP * sum(spread) + sum(changes))

    if seed is not None and len(seed) == n:
        # The greedy plan is complete: everyone planned becomes a constraint (the bound
        # then speaks of commission-days and balance only).
        for p in planned:
            m.Add(p == 1)
        # Redundant cuts: each centre and unit needs at least its lower bound of
        # commission-days (a bound CP-SAT cannot see through its no-overlaps), and no
        # plan worth having uses more than the greedy plan (objective staging: the
        # search stays among plans with as few commission-days).
        by_group = defaultdict(list)
        for k, u in used_by_cday.items():
            info = data.commissions[data.cdays[k].commission_id]
            by_group[(info.centre_id, info.unit_code)].append(u)
        for key, least in lower_bounds(data).items():
            if by_group.get(key) and least <= len(by_group[key]):
                m.Add(sum(by_group[key]) >= least)
        if not keep:
            m.Add(sum(used) <= len({k for k, _ in seed.values()}))
    if seed:
        # A complete hint (every variable): CP-SAT starts from the greedy plan.
        for (i, k), b in x.items():
            m.AddHint(b, 1 if seed.get(i, (None,))[0] == k else 0)
        for i, p in enumerate(planned):
            m.AddHint(p, 1 if i in seed else 0)
            m.AddHint(jury_start[i], seed[i][1] if i in seed else 0)
        seed_used = {k for k, _ in seed.values()}
        for k, u in used_by_cday.items():
            m.AddHint(u, 1 if k in seed_used else 0)
        seed_loads = defaultdict(int)
        for i, (k, _) in seed.items():
            seed_loads[data.cdays[k].commission_id] += data.demands[i].jury
        for key, var in group_max.items():
            m.AddHint(var, max((load for cid, load in seed_loads.items()
                                if (data.commissions[cid].centre_id,
                                    data.commissions[cid].unit_code) == key), default=0))
        seed_pairs = {(data.demands[i].establishment_id, data.cdays[k].commission_id)
                      for i, (k, _) in seed.items()}
        for pair, y in spread_by_pair.items():
            m.AddHint(y, 1 if pair in seed_pairs else 0)

    solver = cp_model.CpSolver()
    # A tenth of what is left is kept for reading the solution back (and a loaded
    # machine, where CP-SAT's own clock overshoots).
    solver.parameters.max_time_in_seconds = max(
        0.1, 0.9 * (time_limit - (wallclock.monotonic() - began)))
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = 7
    # Probing and the symmetry search cost seconds of presolve on an académie (13 s
    # for a centre of 250 passages on a loaded machine, the greedy hint adopted only
    # after it) and gain nothing the hinted search needs.
    solver.parameters.symmetry_level = 0
    solver.parameters.cp_model_probing_level = 0
    solver.parameters.log_search_progress = bool(os.environ.get("SOLVER_LOG"))

    class Progress(cp_model.CpSolverSolutionCallback):
        def on_solution_callback(self):
            if progress is not None:
                progress({"seconds": round(wallclock.monotonic() - began, 1),
                          "objective": self.ObjectiveValue(), "bound": self.BestObjectiveBound(),
                          "planned": sum(self.Value(p) for p in planned), "demands": n})

    status = solver.Solve(m, Progress())
    seconds = wallclock.monotonic() - began
    names = {cp_model.OPTIMAL: "optimal", cp_model.FEASIBLE: "feasible",
             cp_model.INFEASIBLE: "infeasible"}
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        assignment = {}
        for (i, k), b in x.items():
            if solver.Value(b):
                assignment[i] = (k, solver.Value(jury_start[i]))
        objective = solver.ObjectiveValue()
        if seed and not keep and _objective_of(data, seed) < objective and not check(
                data, seed, complete=False):
            assignment, objective = seed, _objective_of(data, seed)
        return Result(assignment, names[status], objective, solver.BestObjectiveBound(),
                      seconds)
    if seed and not check(data, seed, complete=False):
        return Result(seed, "greedy", _objective_of(data, seed), None, seconds)
    return Result({}, names.get(status, "unknown"), None, None, seconds)


def parts(data: PlanData) -> list[list[int]]:
    """The demands in independent parts: centres share nothing but the jurors who sit in
    commissions of several centres, so centres linked by such a juror make one part."""
    parent: dict = {}

    def find(key):
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    centres_of = defaultdict(set)
    for info in data.commissions.values():
        for user_id in info.members:
            centres_of[user_id].add(info.centre_id)
    for centres in centres_of.values():
        first, *others = sorted(centres, key=lambda c: (c is None, c or 0))
        for other in others:
            parent[find(other)] = find(first)
    groups = defaultdict(list)
    for i, d in enumerate(data.demands):
        groups[find(d.centre_id)].append(i)
    return [groups[key] for key in sorted(groups, key=lambda k: (k is None, k or 0))]


def solve_by_parts(data: PlanData, *, time_limit: float, workers: int = 2,
                   progress: Callable[[dict], None] | None = None,
                   seed: dict[int, tuple[int, int]] | None = None,
                   keep: dict[int, tuple[int, int]] | None = None) -> Result:
    """``solve`` on each independent part (``parts``), the time limit shared by their
    sizes; the plans, objectives and bounds added up."""
    began = wallclock.monotonic()
    pieces = parts(data)
    assignment: dict[int, tuple[int, int]] = {}
    objective, bound, statuses = 0.0, 0.0, []
    planned_before = 0
    for number, indexes in enumerate(pieces, start=1):
        left = time_limit - (wallclock.monotonic() - began)
        share = max(1.0, left * len(indexes) / max(1, sum(len(p) for p in pieces[number - 1:])))
        local = {g: n for n, g in enumerate(indexes)}
        sub = replace(data, demands=[data.demands[g] for g in indexes])
        sub_seed = {local[g]: v for g, v in (seed or {}).items() if g in local}

        def report(step: dict, done=planned_before, part=number) -> None:
            if progress is not None:
                progress({**step, "planned": done + step["planned"],
                          "demands": len(data.demands), "part": f"{part}/{len(pieces)}",
                          "seconds": round(wallclock.monotonic() - began, 1)})

        sub_keep = {local[g]: v for g, v in (keep or {}).items() if g in local}
        result = solve(sub, time_limit=share, workers=workers, progress=report, seed=sub_seed,
                       keep=sub_keep or None)
        assignment.update({indexes[n]: v for n, v in result.assignment.items()})
        planned_before += len(result.assignment)
        statuses.append(result.status)
        objective = None if objective is None or result.objective is None else (
            objective + result.objective)
        bound = None if bound is None or result.bound is None else bound + result.bound
    status = ("optimal" if all(s == "optimal" for s in statuses)
              else "feasible" if all(s in ("optimal", "feasible") for s in statuses)
              else "greedy" if all(s in ("optimal", "feasible", "greedy") for s in statuses)
              else "unknown")
    return Result(assignment, status, objective, bound, wallclock.monotonic() - began)


# ---- 3a. the independent checker ----------------------------------------------------


def check(data: PlanData, assignment: dict[int, tuple[int, int]], *,
          complete: bool = True) -> list[str]:
    """Every rule a plan breaks (empty: none), recomputed from the data alone."""
    problems = []
    if complete:
        for i, d in enumerate(data.demands):
            if i not in assignment:
                problems.append(f"{d.label} : {d.unit_code} non planifiée.")
    heard = defaultdict(list)  # juror -> (start, end incl. break, label)
    by_commission = defaultdict(list)
    prep_spans = defaultdict(list)
    by_candidate = defaultdict(list)
    for i, (k, at) in assignment.items():
        d, c = data.demands[i], data.cdays[k]
        info = data.commissions[c.commission_id]
        if info.unit_code != d.unit_code or info.centre_id != d.centre_id:
            problems.append(f"{d.label} : commission {c.code} d'une autre épreuve ou d'un "
                            "autre centre.")
        if c.commission_id in d.conflicts:
            problems.append(f"{d.label} : conflit d'intérêts avec {c.code}.")
        if not c.available:
            problems.append(f"{d.label} : {c.code} n'a pas ses deux jurés le {c.day}.")
        if at - d.solo < c.start or at + d.jury > c.end:
            problems.append(f"{d.label} : hors de la journée de {c.code}.")
        if at < c.lunch_end and at + d.jury > c.lunch_start:
            problems.append(f"{d.label} : pendant le déjeuner de {c.code}.")
        by_commission[c.commission_id].append((at, at + d.jury, c.break_minutes, d.label))
        for u in c.members:
            heard[u].append((at, at + d.jury, c.code, d.label))
        if d.solo:
            prep_spans[d.centre_id].append((at - d.solo, at))
        by_candidate[d.candidate_id].append((at - d.solo, at + d.jury, d.label))
    for spans in by_commission.values():
        spans.sort()
        for (_a, b, pause, label), (a2, _, _, label2) in zip(spans, spans[1:], strict=False):
            if a2 < b + pause:
                problems.append(f"{label2} : commence avant la fin (pause comprise) de {label}.")
    for user_id, spans in heard.items():
        spans.sort()
        for (_a, b, code, label), (a2, _, code2, label2) in zip(spans, spans[1:],
                                                               strict=False):
            if a2 < b:
                problems.append(f"Juré {user_id} à deux endroits : {label} ({code}) et "
                                f"{label2} ({code2}).")
    for centre_id, spans in prep_spans.items():
        events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans],
                        key=lambda e: (e[0], e[1]))
        busy = 0
        for _, delta in events:
            busy += delta
            if busy > data.workstations.get(centre_id, 0):
                problems.append(f"{data.centre_names[centre_id]} : plus de candidats en "
                                "préparation que de postes.")
                break
    for spans in by_candidate.values():
        spans.sort()
        for (_, b, label), (a2, _, _) in zip(spans, spans[1:], strict=False):
            if a2 < b + data.rest:
                problems.append(f"{label} : moins de {data.rest} min entre ses deux oraux.")
    return problems


# ---- 3b. the services ---------------------------------------------------------------


@dataclass
class PlannedPassage:
    candidate_id: int
    label: str
    unit_code: str
    variant_code: str
    commission_id: int
    commission_code: str
    scheduled_at: datetime  # UTC start of the passage (its preparation, if any)
    pinned: bool


@dataclass
class Proposal:
    """A proposed plan: complete, or the reasons there is none."""

    session_id: int
    passages: list[PlannedPassage]
    demands: int
    reasons: list[str]
    status: str
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    seconds: float = 0.0
    days_used: int = 0
    days_lower_bound: int = 0
    violations: list[str] = field(default_factory=list)
    fingerprint: list = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.reasons and len(self.passages) == self.demands and not self.violations

    @property
    def days_gap(self) -> float | None:
        """Commission-days used over the lower bound, minus one (0: no plan can use
        fewer); None without a plan."""
        if not self.passages or not self.days_lower_bound:
            return None
        return self.days_used / self.days_lower_bound - 1

    def summary(self) -> str:
        if self.reasons:
            return "Aucun plan complet : " + " ".join(self.reasons)
        gap = f"{self.gap:.1%}" if self.gap is not None else "inconnu"
        return (f"{len(self.passages)}/{self.demands} passages planifiés, "
                f"{_plural(self.days_used, 'journée')} de commission (au moins "
                f"{self.days_lower_bound}), "
                f"écart à la borne {gap}, {self.seconds:.1f} s ({self.status}).")


def _utc(data: PlanData, minute: int) -> datetime:
    day = data.days[minute // DAY]
    at = datetime.combine(day, time(0, 0), local_zone()) + timedelta(minutes=minute % DAY)
    return at.astimezone(UTC)


def propose_plan(*, session: ExamSession, time_limit: float = 30.0,
                 bounds: Bounds | None = None, units: tuple[str, ...] | None = None,
                 workers: int = 2,
                 progress: Callable[[dict], None] | None = None) -> Proposal:
    """The best plan of the session's orals found within ``time_limit`` seconds, or the
    exact reasons none exists. Reads only; ``apply_plan`` writes."""
    began = wallclock.monotonic()
    data = extract(session, bounds, units)
    base = {"session_id": session.id, "demands": len(data.demands),
            "days_lower_bound": lower_bound_days(data), "fingerprint": data.fingerprint}
    reasons = explain(data)
    if reasons:
        return Proposal(passages=[], reasons=reasons, status="infeasible", **base)
    seed = best_greedy(data)
    if progress is not None:
        progress({"seconds": round(wallclock.monotonic() - began, 1), "planned": len(seed),
                  "demands": len(data.demands), "objective": _objective_of(data, seed),
                  "bound": None, "greedy": True})
    # The time limit covers reading the session and the greedy plan too.
    result = solve_by_parts(data, time_limit=max(1.0, time_limit - (wallclock.monotonic()
                                                                    - began)),
                            workers=workers, progress=progress, seed=seed)
    passages = [PlannedPassage(
        d.candidate_id, d.label, d.unit_code, d.variant_code, data.cdays[k].commission_id,
        data.cdays[k].code, _utc(data, at - d.solo), d.pinned is not None)
        for i, (k, at) in sorted(result.assignment.items(), key=lambda e: (e[1][0], e[1][1]))
        for d in [data.demands[i]]]
    reasons = []
    if len(passages) < len(data.demands):
        missing = len(data.demands) - len(passages)
        reasons.append(f"Le solveur n'a pas trouvé de plan complet en {result.seconds:.0f} s : "
                       f"{len(passages)} passages planifiés sur {len(data.demands)}, "
                       f"{_plural(missing, 'passage')} sans créneau.")
    return Proposal(passages=passages, reasons=reasons, status=result.status,
                    objective=result.objective, bound=result.bound, gap=result.gap,
                    seconds=wallclock.monotonic() - began,
                    days_used=len({k for k, _ in result.assignment.values()}),
                    violations=check(data, result.assignment, complete=False), **base)


def _lock_session(session_id: int) -> None:
    """Serialise plan applications: the session row is locked (PostgreSQL) or the
    database's write lock taken (SQLite) before the passages are re-read."""
    db.session.flush()
    db.session.execute(sa.update(ExamSession).where(ExamSession.id == session_id)
                       .values(code=ExamSession.code)
                       .execution_options(synchronize_session=False))


def apply_plan(*, session: ExamSession, proposal: Proposal, actor,
               now: datetime | None = None) -> list[Passage]:
    """Write a complete proposal's passages (create or move them; pinned ones kept), in
    one serialised decision; refused when a passage of the session has started or the
    passages changed since the proposal was made."""
    now = now or utcnow()
    if proposal.session_id != session.id:
        raise JuryError("Ce plan a été proposé pour une autre session.")
    if not proposal.complete:
        raise JuryError("Ce plan n'est pas complet : il n'est pas appliqué. "
                        + " ".join(proposal.reasons + proposal.violations[:3]))
    _lock_session(session.id)
    existing = {(p.candidate_id, p.unit_code, p.variant_code): p for p in db.session.scalars(
        sa.select(Passage).join(Commission, Commission.id == Passage.commission_id)
        .where(Commission.session_id == session.id)
        .execution_options(populate_existing=True))}
    started = [p for p in existing.values() if p.started_at is not None or p.is_final]
    if started:
        raise JuryError(f"{_plural(len(started), 'passage')} de la session "
                        f"{'a' if len(started) == 1 else 'ont'} déjà commencé : le plan n'est "
                        "pas appliqué (déplacez les passages un par un).")
    fingerprint = sorted((p.id, p.commission_id, p.scheduled_at.isoformat()
                          if p.scheduled_at else None, p.pinned) for p in existing.values())
    if fingerprint != proposal.fingerprint:
        raise JuryError("Les passages ont changé depuis la proposition : relancez la "
                        "planification.")
    commissions = {c.id: c for c in db.session.scalars(
        sa.select(Commission).where(Commission.session_id == session.id))}
    rooms = {s.commission_id: s.room for s in db.session.scalars(
        sa.select(CommissionSettings).where(CommissionSettings.commission_id.in_(commissions)))}
    written, created, moved = [], 0, 0
    for item in proposal.passages:
        passage = existing.get((item.candidate_id, item.unit_code, item.variant_code))
        if passage is not None and passage.pinned:
            written.append(passage)
            continue
        commission = commissions[item.commission_id]
        if passage is None:
            passage = Passage(commission_id=commission.id, candidate_id=item.candidate_id,
                              unit_code=item.unit_code, variant_code=item.variant_code,
                              room=rooms.get(commission.id, ""), scheduled_at=item.scheduled_at,
                              attendance="unknown", agreed_revision=0)
            db.session.add(passage)
            db.session.flush()
            _create_grid(passage, AGREED, None)
            for member in commission.members:
                _create_grid(passage, grid_key_for(member.user_id), member.user_id)
            created += 1
        else:
            if passage.commission_id != commission.id:
                for grid in db.session.scalars(sa.select(Grid).where(
                        Grid.passage_id == passage.id, Grid.key != AGREED)):
                    db.session.delete(grid)
                db.session.flush()
                passage.commission_id = commission.id
                for member in commission.members:
                    _create_grid(passage, grid_key_for(member.user_id), member.user_id)
            if (passage.commission_id, passage.scheduled_at) != (commission.id,
                                                                  item.scheduled_at):
                moved += 1
            passage.scheduled_at = item.scheduled_at
            passage.room = rooms.get(commission.id, "")
        written.append(passage)
    db.session.flush()
    by_commission = defaultdict(list)
    for passage in written:
        by_commission[passage.commission_id].append(passage)
    for passages in by_commission.values():
        for position, passage in enumerate(sorted(passages, key=lambda p: p.scheduled_at), 1):
            passage.position = position
    db.session.flush()
    record(actor=actor, action="planning.apply", object_type="session", object_id=session.id,
           session_id=session.id, now=now,
           after={"passages": len(written), "created": created, "moved": moved,
                  "commission_days": proposal.days_used, "gap": proposal.gap,
                  "status": proposal.status})
    return written
