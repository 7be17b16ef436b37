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

from exam_app.audit.services import record
from exam_app.clock import PARIS, utcnow
from exam_app.dossiers import validity
from exam_app.extensions import db
from exam_app.juries import timer
from exam_app.juries.errors import JuryError, JuryInvalid
from exam_app.juries.locking import lock_passage
from exam_app.juries.models import Attendance, Passage, PassageSegment, TimerPause

# ---- state and labels ----------------------------------------------------------


def is_nv(passage: Passage, now: datetime | None = None) -> bool:
    """Whether the candidate's dossier for the passage's unit is not valid (NV).

    The dossier row's decision and the deadline settle it in the usual cases
    (decided conforme, or deadline not passed), read in one query as the
    autosave does; otherwise the full dossier check (pieces and reasons).
    """
    now = now or utcnow()
    settled = validity.settled_without_files(**_validity_columns(passage), now=now)
    if settled is not None:
        return settled == validity.UnitValidity.NV
    return validity.unit_validity(candidate_id=passage.candidate_id, unit_code=passage.unit_code,
                                  now=now) == validity.UnitValidity.NV


def _validity_columns(passage: Passage) -> dict:
    """The dossier's decision and extension and the session's deadline, in one query."""
    from exam_app.dossiers.models import DepositDeadline, Dossier
    from exam_app.enrolment.models import Candidate

    dossier = sa.and_(Dossier.candidate_id == passage.candidate_id,
                      Dossier.unit_code == passage.unit_code)
    row = db.session.execute(sa.select(
        sa.select(Dossier.decision).where(dossier).scalar_subquery().label("decision"),
        sa.select(Dossier.extended_until).where(dossier).scalar_subquery().label("extended"),
        sa.select(DepositDeadline.deadline_at).join(
            Candidate, Candidate.session_id == DepositDeadline.session_id)
        .where(Candidate.id == passage.candidate_id,
               DepositDeadline.unit_code == passage.unit_code)
        .scalar_subquery().label("deadline"))).one()
    return {"decision": row.decision, "extended_until": row.extended,
            "session_deadline": row.deadline}


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
    """UTC bounds of a Europe/Paris day."""
    start = datetime.combine(day, time(0, 0), PARIS)
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


def timer_state(passage: Passage, now: datetime | None = None) -> timer.TimerState:
    """The timer at ``now``, from the stored segments and pauses."""
    now = now or utcnow()
    return timer.compute(
        planned_segments(passage),
        [timer.SegmentRun(s.index, s.allowed_seconds, s.started_at, s.ended_at)
         for s in passage.segments],
        [timer.PauseRun(p.segment_index, p.started_at, p.ended_at, p.reason)
         for p in passage.pauses],
        now,
    )


def _open_segment(passage: Passage) -> PassageSegment | None:
    return next((s for s in passage.segments if s.ended_at is None), None)


def _open_pause(passage: Passage) -> TimerPause | None:
    return next((p for p in passage.pauses if p.ended_at is None), None)


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
    advance once only; the second press is an idempotent success.
    """
    now = now or utcnow()
    passage = lock_passage(passage)
    current = _open_segment(passage)
    if current is None or current.index != from_index:
        if any(s.index == from_index and s.ended_at is not None for s in passage.segments):
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
