"""The phase timer, derived from stored UTC timestamps.

Nothing here counts down: the plan comes from the unit definition (phases,
``Phase.segments()``) and the candidate's extra time; the state at ``now`` is
computed from the segment rows (``started_at``/``ended_at``) and the incident
pauses. Any device, at any time, derives the same state.

A fixed segment (the E5 preparation: exactly 45 min, without the commission)
ends by itself at its due time: its start plus its allowed time plus its
closed incident pauses. Once that time has passed, the state shows it ended
then, whether or not a row says so yet (``lifecycle.close_due_fixed`` writes
it), and the passage waits for the jury to start the next segment: the
candidate comes in when the commission is ready (status ``waiting``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from exam_app.units import get_unit


@dataclass(frozen=True)
class PlannedSegment:
    index: int
    phase_code: str
    phase_label: str
    step_code: str
    step_label: str
    max_minutes: int
    allowed_seconds: int
    jury_present: bool
    fixed: bool


def plan(unit_code: str, variant_code: str, *, extra_time: Fraction = Fraction(0),
         seconds_per_minute: int = 60) -> list[PlannedSegment]:
    """Every timed segment of a variant, in order, with extra time applied."""
    variant = get_unit(unit_code).variant(variant_code)
    segments: list[PlannedSegment] = []
    for phase in variant.phases:
        for step in phase.segments():
            allowed = Fraction(step.max_minutes * seconds_per_minute) * (1 + extra_time)
            segments.append(PlannedSegment(
                index=len(segments), phase_code=phase.code, phase_label=phase.label,
                step_code=step.code, step_label=step.label, max_minutes=step.max_minutes,
                allowed_seconds=round(allowed), jury_present=phase.jury_present,
                fixed=phase.fixed,
            ))
    return segments


def solo_and_jury_seconds(segments: list[PlannedSegment]) -> tuple[int, int]:
    """Seconds of the leading candidate-alone segments (preparation) and of the rest."""
    solo = 0
    for segment in segments:
        if segment.jury_present:
            break
        solo += segment.allowed_seconds
    return solo, sum(s.allowed_seconds for s in segments) - solo


@dataclass(frozen=True)
class SegmentRun:
    """What the database holds for one started segment (see ``PassageSegment``)."""

    index: int
    allowed_seconds: int
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class PauseRun:
    segment_index: int
    started_at: datetime
    ended_at: datetime | None
    reason: str = ""


@dataclass(frozen=True)
class SegmentState:
    index: int
    elapsed_seconds: float  # pauses excluded
    paused_seconds: float
    allowed_seconds: int
    started_at: datetime | None
    ended_at: datetime | None
    due_at: datetime | None = None  # a running fixed segment: when it ends by itself

    @property
    def remaining_seconds(self) -> float:
        return self.allowed_seconds - self.elapsed_seconds

    @property
    def overrun(self) -> bool:
        return self.elapsed_seconds > self.allowed_seconds


@dataclass(frozen=True)
class TimerState:
    status: str  # "upcoming", "running", "paused", "waiting", "finished"
    current: int | None
    segments: tuple[SegmentState, ...]
    pause_reason: str | None = None
    # "waiting": the segment that awaits the jury's start (after a fixed segment ended).
    awaiting: int | None = None

    @property
    def current_segment(self) -> SegmentState | None:
        return None if self.current is None else self.segments[self.current]


def _paused_seconds(pauses: list[PauseRun], index: int, now: datetime) -> float:
    return sum(((p.ended_at or now) - p.started_at).total_seconds()
               for p in pauses if p.segment_index == index)


def fixed_due_at(run: SegmentRun, pauses: list[PauseRun]) -> datetime | None:
    """When an open fixed segment ends by itself: its start, plus its allowed time, plus
    its closed incident pauses; None while one of its pauses is open (the time stops)."""
    own = [p for p in pauses if p.segment_index == run.index]
    if any(p.ended_at is None for p in own):
        return None
    paused = sum(((p.ended_at - p.started_at) for p in own), timedelta())
    return run.started_at + timedelta(seconds=run.allowed_seconds) + paused


def compute(planned: list[PlannedSegment], runs: list[SegmentRun], pauses: list[PauseRun],
            now: datetime) -> TimerState:
    """The timer at ``now``: current segment, elapsed and overrun of each segment.

    An open fixed segment whose due time has passed is shown ended at that time.
    """
    by_index = {run.index: run for run in runs}
    states = []
    current = None
    for segment in planned:
        run = by_index.get(segment.index)
        if run is None:
            states.append(SegmentState(segment.index, 0.0, 0.0, segment.allowed_seconds, None, None))
            continue
        ended_at, due = run.ended_at, None
        if ended_at is None and segment.fixed:
            due = fixed_due_at(run, pauses)
            if due is not None and due <= now:
                ended_at, due = due, None
        end = ended_at or now
        paused = _paused_seconds(pauses, segment.index, end)
        elapsed = max(0.0, (end - run.started_at).total_seconds() - paused)
        states.append(SegmentState(segment.index, elapsed, paused, run.allowed_seconds,
                                   run.started_at, ended_at, due))
        if ended_at is None:
            current = segment.index
    open_pause = next((p for p in pauses if p.ended_at is None), None)
    awaiting = None
    if not runs:
        status = "upcoming"
    elif current is None:
        awaiting = next((s.index for s in states if s.started_at is None), None)
        status = "finished" if awaiting is None else "waiting"
    elif open_pause is not None:
        status = "paused"
    else:
        status = "running"
    return TimerState(status, current, tuple(states),
                      open_pause.reason if open_pause is not None else None, awaiting)


def schedule(items: list[tuple[int, int]], *, start: datetime, break_seconds: int,
             lunch_start: datetime, lunch_seconds: int, workstations: int) -> list[datetime]:
    """Start times of a commission's passages, in order.

    Each item is ``(solo_seconds, jury_seconds)``. The commission sits for the
    jury part only, so a candidate's preparation (solo part, on one of
    ``workstations``) overlaps the previous candidate's jury part. No jury part
    overlaps lunch; a break separates two jury parts.
    """
    lunch_end = lunch_start + timedelta(seconds=lunch_seconds)
    jury_free = start
    stations = [start] * max(1, workstations)
    starts = []
    for solo, jury in items:
        solo_d, jury_d = timedelta(seconds=solo), timedelta(seconds=jury)
        jury_at = max(jury_free, start + solo_d)
        for _ in range(4):  # converges in at most two moves (station, then lunch)
            if solo:
                free = min(stations)
                if jury_at - solo_d < free:
                    jury_at = free + solo_d
            if lunch_seconds and jury_at < lunch_end and jury_at + jury_d > lunch_start:
                jury_at = lunch_end
                continue
            break
        if solo:
            stations[stations.index(min(stations))] = jury_at
        starts.append(jury_at - solo_d)
        jury_free = jury_at + jury_d + timedelta(seconds=break_seconds)
    return starts
