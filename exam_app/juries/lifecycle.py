"""A passage's lifecycle: state and labels, attendance, and the timer's steps
(start, advance, incident pause, resume).

Same contract as every service: keyword-only arguments, flush and audit,
never commit, never read ``request``; refusals raise ``JuryError``.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy import orm

from exam_app.audit.services import record
from exam_app.clock import local_zone, to_local, utcnow
from exam_app.deliberation.services import ResultsLocked, ensure_results_open
from exam_app.dossiers import validity
from exam_app.extensions import db
from exam_app.juries import timer
from exam_app.juries.errors import JuryError, JuryInvalid
from exam_app.juries.locking import lock_passage
from exam_app.juries.models import Attendance, Passage, PassageSegment, TimerPause
from exam_app.units import get_unit

# ---- state and labels ----------------------------------------------------------


def is_nv(passage: Passage, now: datetime | None = None, *,
          settled: tuple | None = None) -> bool:
    """Whether the candidate's dossier for the passage's unit is not valid (NV).

    Reads only this candidate's rows (``validity.candidate_validity``): the dossier
    row's decision and the deadline settle it in the usual cases (decided conforme,
    or deadline not passed), in one query, or none when the caller read them with
    ``validity.settling_columns`` (``settled``); otherwise the decision's reasons or
    the deposited pieces.
    """
    return validity.candidate_validity(
        candidate_id=passage.candidate_id, session_id=passage.commission.session_id,
        unit_code=passage.unit_code, now=now, settled=settled) == validity.UnitValidity.NV


def status(passage: Passage, *, nv: bool) -> str:
    """à venir, en cours, terminé, absent or NV."""
    if nv:
        return "nv"
    if passage.is_absent:
        return "absent"
    if passage.is_final or passage.ended_at is not None:
        return "finished"
    if passage.started_at is not None:
        return "running"
    return "upcoming"


STATUS_LABELS = {"upcoming": "À venir", "running": "En cours", "finished": "Terminé",
                 "absent": "Absent", "nv": "NV"}


def mark_text(mark: Decimal | None) -> str | None:
    """'14.5', '15': a mark without trailing zeros (the database gives 15.00)."""
    if mark is None:
        return None
    return str(mark.normalize()) if mark % 1 else str(int(mark))


def result_label(passage: Passage, *, nv: bool) -> str | None:
    """What the bordereau shows: NV, ABS, the final mark, or None while pending."""
    if nv:
        return "NV"
    if passage.is_absent:
        return "ABS"
    if passage.final_mark is not None:
        return mark_text(passage.final_mark)
    return None


def interview_blocked(passage: Passage, *, nv: bool | None = None) -> bool:
    """NV, and the session keeps NV candidates from being interviewed (the default).

    When the session allows it, an NV candidate is interviewed and scored, and
    the result still reads NV. ``nv``: ``is_nv(passage)`` when the caller has it.
    """
    if not passage.commission.session.nv_excludes_interview:
        return False
    return is_nv(passage) if nv is None else nv


def require_scorable(passage: Passage) -> None:
    """Refuse to evaluate a blocked NV candidate or an absent one."""
    if interview_blocked(passage):
        raise JuryError("Dossier non valide (NV) : ce candidat ne peut pas être évalué.")
    if passage.is_absent:
        raise JuryError("Candidat absent (ABS) : ce passage ne peut pas être évalué.")


def require_conformity_decided(passage: Passage) -> None:
    """Refuse to start before the conformity control has decided the dossier, unless the
    gestionnaire authorised this passage (``start_exception_at``)."""
    if passage.start_exception_at is not None or validity.conformity_decided(
            candidate_id=passage.candidate_id, unit_code=passage.unit_code):
        return
    raise JuryError(
        f"Contrôle de conformité non décidé : le dossier {passage.unit_code} de ce candidat n'a "
        "pas de décision, le passage ne peut pas commencer. Le gestionnaire doit décider la "
        "conformité ou accorder une dérogation pour ce passage.", code="not_decided")


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """UTC bounds of a day in the session's time zone (clock.local_zone)."""
    start = datetime.combine(day, time(0, 0), local_zone())
    return start, start + timedelta(days=1)


def extra_label(fraction: Fraction) -> str:
    """'+1/3' for a candidate's extra time, '' without."""
    return "" if not fraction else f"+{fraction.numerator}/{fraction.denominator}"


# ---- attendance --------------------------------------------------------------


def set_attendance(*, passage: Passage, attendance: Attendance, actor,
                   now: datetime | None = None) -> None:
    """Mark the candidate present or absent (ABS)."""
    now = now or utcnow()
    passage = lock_passage(passage)
    if passage.is_final:
        raise JuryError("La note est définitive : la présence ne peut plus changer.")
    # ABS is a result: once the délibération is closed, it cannot change either.
    try:
        ensure_results_open(passage.commission.session_id)
    except ResultsLocked as exc:
        raise JuryError(exc.message) from None
    if attendance is Attendance.ABSENT and passage.started_at is not None:
        raise JuryError("Le passage a commencé : le candidat ne peut plus être déclaré absent.")
    if attendance is Attendance.PRESENT and interview_blocked(passage):
        raise JuryError("Dossier non valide (NV) : ce candidat n'est pas interrogé.")
    before = passage.attendance
    if before == attendance.value:
        return
    passage.attendance = attendance.value
    passage.attendance_at = now
    db.session.flush()
    record(actor=actor, action="passage.attendance", object_type="passage", object_id=passage.id,
           session_id=passage.commission.session_id, now=now,
           before={"attendance": before}, after={"attendance": attendance.value})


# ---- the timer's steps -----------------------------------------------------------


def plan_for(passage: Passage, seconds_per_minute: int = 60) -> list[timer.PlannedSegment]:
    """The passage's timed segments, from the unit definition and the candidate's extra time."""
    return timer.plan(passage.unit_code, passage.variant_code,
                      extra_time=passage.candidate.extra_time_fraction,
                      seconds_per_minute=seconds_per_minute)


def planned_segments(passage: Passage) -> list[timer.PlannedSegment]:
    """``plan_for`` at the app's clock (tests shorten the exam minute)."""
    from flask import current_app

    return plan_for(passage, current_app.config.get("JURY_SECONDS_PER_MINUTE", 60))


def _runs(passage: Passage) -> list[timer.SegmentRun]:
    return [timer.SegmentRun(s.index, s.allowed_seconds, s.started_at, s.ended_at)
            for s in passage.segments]


def _pause_runs(passage: Passage) -> list[timer.PauseRun]:
    return [timer.PauseRun(p.segment_index, p.started_at, p.ended_at, p.reason)
            for p in passage.pauses]


def timer_state(passage: Passage, now: datetime | None = None) -> timer.TimerState:
    """The timer at ``now``, from the stored segments and pauses (a fixed segment whose
    time is up shows ended at its due time, written or not)."""
    now = now or utcnow()
    return timer.compute(planned_segments(passage), _runs(passage), _pause_runs(passage), now)


def ended_fixed_name(segment: timer.PlannedSegment) -> str:
    """'Préparation' for a candidate-alone fixed segment, else the step's label."""
    return "Préparation" if segment.fixed and not segment.jury_present else segment.step_label


def progress(passage: Passage, now: datetime | None = None, *,
             state: timer.TimerState | None = None) -> tuple[str, str] | None:
    """Where a started, unfinished passage stands, in a few words, and its kind: "fixed"
    (a preparation running, with the time it ends by itself), "due" (it has ended: the
    candidate is awaited by the jury), "paused", "over" or "running". For the juror's
    day and the board; None when not started or finished."""
    if passage.started_at is None or passage.ended_at is not None:
        return None
    state = state or timer_state(passage, now)  # the caller's, when it has computed it
    planned = planned_segments(passage)
    if state.status == "waiting":
        ended = state.segments[state.awaiting - 1].ended_at
        return (f"{ended_fixed_name(planned[state.awaiting - 1])} terminée à "
                f"{to_local(ended):%H:%M} — candidat attendu", "due")
    if state.current is None:
        return None
    segment, label = state.current_segment, planned[state.current].step_label
    if state.status == "paused":
        return f"{label} — en pause", "paused"
    if segment.due_at is not None:
        return f"{label} — se termine seule à {to_local(segment.due_at):%H:%M}", "fixed"
    if segment.overrun:
        return f"{label} — dépassement du maximum", "over"
    return label, "running"


def has_fixed_segments(unit_code: str) -> bool:
    """Whether some variant of the unit has a fixed segment (the E5 preparation)."""
    return any(phase.fixed for variant in get_unit(unit_code).variants for phase in variant.phases)


def other_preparations(passage: Passage, now: datetime | None = None) -> list[dict]:
    """The commission's other passages in a fixed segment (a candidate preparing alone)
    or just out of it (the candidate awaited): what the jury busy with ``passage`` must
    see coming. Each: id, name, kind ("fixed", "paused" or "due"), due_at, ended_at."""
    if not has_fixed_segments(passage.unit_code):
        return []
    now = now or utcnow()
    others = db.session.scalars(sa.select(Passage).where(  # with their timers: one statement
        Passage.commission_id == passage.commission_id, Passage.id != passage.id,
        Passage.started_at.is_not(None), Passage.ended_at.is_(None))
        .options(orm.joinedload(Passage.segments), orm.joinedload(Passage.pauses),
                 # the commission is ``passage``'s, already loaded; validations not read
                 orm.lazyload(Passage.commission), orm.lazyload(Passage.validations))
        .order_by(Passage.started_at)).unique().all()
    found = []
    for other in others:
        state = timer_state(other, now)
        planned = planned_segments(other)
        item = {"id": other.id, "name": other.candidate.full_name, "due_at": None,
                "ended_at": None}
        if state.status == "waiting" and planned[state.awaiting - 1].fixed:
            item.update(kind="due", ended_at=state.segments[state.awaiting - 1].ended_at)
        elif state.current is not None and planned[state.current].fixed:
            segment = state.current_segment
            item.update(kind="paused" if state.status == "paused" else "fixed",
                        due_at=segment.due_at)
        else:
            continue
        found.append(item)
    return found


def fixed_due(passage: Passage, now: datetime) -> tuple[PassageSegment, datetime] | None:
    """The open fixed segment whose time is up at ``now``, and when it ended by itself."""
    current = _open_segment(passage)
    if current is None:
        return None
    planned = planned_segments(passage)
    if current.index >= len(planned) or not planned[current.index].fixed:
        return None
    run = timer.SegmentRun(current.index, current.allowed_seconds, current.started_at, None)
    due = timer.fixed_due_at(run, _pause_runs(passage))
    if due is None or due > now:
        return None
    return current, due


def close_due_fixed(*, passage: Passage, now: datetime | None = None,
                    locked: bool = False) -> bool:
    """Write the end of a fixed segment (E5 preparation) whose time is up: ended at its
    due time, not at ``now``, audited as automatic (no actor). True when it wrote it.

    Idempotent and serialised: decided under the passage's row lock, so a poll, a
    juror's press and the other juror's press never end it twice, and a segment
    already ended (by a juror, or by this) is left alone. ``locked``: the caller
    holds the lock and has re-read the passage.
    """
    now = now or utcnow()
    if not locked:
        if fixed_due(passage, now) is None:  # the common case: no lock, no write
            return False
        passage = lock_passage(passage)
    found = fixed_due(passage, now)
    if found is None:
        return False
    segment, due = found
    segment.ended_at = due
    if segment.index == len(planned_segments(passage)) - 1:
        passage.ended_at = due
    db.session.flush()
    record(actor=None, action="timer.auto_end", object_type="passage", object_id=passage.id,
           session_id=passage.commission.session_id, now=now,
           after={"ended": f"{segment.phase_code}/{segment.step_code}", "at": due,
                  "seconds": round((due - segment.started_at).total_seconds())})
    return True


def _open_segment(passage: Passage) -> PassageSegment | None:
    return next((s for s in passage.segments if s.ended_at is None), None)


def _open_pause(passage: Passage) -> TimerPause | None:
    return next((p for p in passage.pauses if p.ended_at is None), None)


def _awaiting(passage: Passage) -> int | None:
    """The segment that waits for the jury's start: none open, the passage not ended."""
    if passage.started_at is None or passage.ended_at is not None or _open_segment(passage):
        return None
    started = {s.index for s in passage.segments}
    return next((i for i in range(len(planned_segments(passage))) if i not in started), None)


def _start_next(passage: Passage, index: int, actor, now: datetime) -> None:
    """Start segment ``index`` after a fixed segment ended by itself (audited)."""
    _start_segment(passage, index, actor, now)
    db.session.flush()
    planned = planned_segments(passage)[index]
    record(actor=actor, action="timer.start_step", object_type="passage", object_id=passage.id,
           session_id=passage.commission.session_id, now=now,
           after={"started": f"{planned.phase_code}/{planned.step_code}"})


def _start_segment(passage: Passage, index: int, actor, now: datetime) -> None:
    planned = planned_segments(passage)[index]
    passage.segments.append(PassageSegment(
        index=index, phase_code=planned.phase_code, step_code=planned.step_code,
        allowed_seconds=planned.allowed_seconds, started_at=now,
        started_by_id=getattr(actor, "id", None)))


def start_passage(*, passage: Passage, actor, now: datetime | None = None) -> bool:
    """Start the first phase; the candidate is then present. Idempotent: False when
    the passage had already started (a double press, or both jurors at once)."""
    now = now or utcnow()
    passage = lock_passage(passage)
    if passage.started_at is not None:
        return False
    require_scorable(passage)
    require_conformity_decided(passage)
    if passage.attendance != Attendance.PRESENT.value:
        set_attendance(passage=passage, attendance=Attendance.PRESENT, actor=actor, now=now)
    passage.started_at = now
    _start_segment(passage, 0, actor, now)
    db.session.flush()
    record(actor=actor, action="timer.start", object_type="passage", object_id=passage.id,
           session_id=passage.commission.session_id, now=now)
    return True


def advance(*, passage: Passage, from_index: int, actor, now: datetime | None = None) -> bool:
    """End segment ``from_index`` and start the next (or end the passage); False
    when that segment had already ended.

    Naming the segment makes a double press, or both jurors pressing at once,
    advance once only; the second press is an idempotent success. A fixed
    segment whose time is up is first ended at its due time (``close_due_fixed``);
    the press then starts the next segment, the candidate being in front of the
    jury ("Démarrer" after "Préparation terminée — candidat attendu").
    """
    now = now or utcnow()
    passage = lock_passage(passage)
    close_due_fixed(passage=passage, now=now, locked=True)
    current = _open_segment(passage)
    if current is None or current.index != from_index:
        ended = any(s.index == from_index and s.ended_at is not None for s in passage.segments)
        if ended and _awaiting(passage) == from_index + 1:
            # The fixed segment ended by itself: this press calls the candidate in.
            _start_next(passage, from_index + 1, actor, now)
            return True
        if ended:
            return False
        raise JuryError("Cette étape n'est pas en cours : rechargez la page.")
    pause = _open_pause(passage)
    if pause is not None:
        pause.ended_at = now
    current.ended_at = now
    planned = planned_segments(passage)
    if from_index + 1 < len(planned):
        _start_segment(passage, from_index + 1, actor, now)
    else:
        passage.ended_at = now
    db.session.flush()
    record(actor=actor, action="timer.advance", object_type="passage", object_id=passage.id,
           session_id=passage.commission.session_id, now=now,
           after={"ended": f"{current.phase_code}/{current.step_code}",
                  "seconds": round((now - current.started_at).total_seconds())})
    return True


def pause(*, passage: Passage, reason: str, actor, now: datetime | None = None) -> None:
    """Pause the timer for an incident; the reason is required and recorded."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise JuryInvalid("Indiquez le motif de la pause (par exemple : panne de matériel).",
                          field="reason")
    if len(reason) > 300:
        raise JuryInvalid("Le motif de la pause ne doit pas dépasser 300 caractères.",
                          field="reason")
    passage = lock_passage(passage)
    close_due_fixed(passage=passage, now=now, locked=True)
    current = _open_segment(passage)
    if current is None:
        raise JuryError("Le minuteur ne tourne pas : rien à mettre en pause.")
    if _open_pause(passage) is not None:
        return
    passage.pauses.append(TimerPause(segment_index=current.index, reason=reason, started_at=now,
                                     by_id=getattr(actor, "id", None)))
    db.session.flush()
    record(actor=actor, action="timer.pause", object_type="passage", object_id=passage.id,
           session_id=passage.commission.session_id, now=now, reason=reason)


def resume(*, passage: Passage, actor, now: datetime | None = None) -> None:
    """End the open incident pause."""
    now = now or utcnow()
    passage = lock_passage(passage)
    open_pause = _open_pause(passage)
    if open_pause is None:
        return
    open_pause.ended_at = now
    db.session.flush()
    record(actor=actor, action="timer.resume", object_type="passage", object_id=passage.id,
           session_id=passage.commission.session_id, now=now,
           after={"paused_seconds": round((now - open_pause.started_at).total_seconds())})
