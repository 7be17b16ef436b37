"""A passage's lifecycle: attendance, NV and ABS refusals, the timer's steps and pauses."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from exam_app.audit.models import AuditEvent
from exam_app.juries import lifecycle
from exam_app.juries.errors import JuryError
from exam_app.juries.models import Attendance
from tests.juries.helpers import T0, members, past_deadline, save


def test_absent_candidate_cannot_be_scored(create_passage):
    passage = create_passage()
    juror = members(passage)[0]
    lifecycle.set_attendance(passage=passage, attendance=Attendance.ABSENT, actor=juror, now=T0)
    with pytest.raises(JuryError) as error:
        lifecycle.start_passage(passage=passage, actor=juror, now=T0)
    assert (str(error.value), lifecycle.result_label(passage, nv=False)) == (
        "Candidat absent (ABS) : ce passage ne peut pas être évalué.", "ABS")


def test_nv_candidate_cannot_be_scored(create_passage):
    # No dossier at a deadline that has passed: NV for real, no stand-in.
    # (start_passage reads the real clock: the deadline is in the real past.)
    from exam_app.clock import utcnow

    passage = create_passage(conforme=False)
    past_deadline(passage, at=utcnow() - timedelta(days=1))
    juror = members(passage)[0]
    with pytest.raises(JuryError) as start_error:
        lifecycle.start_passage(passage=passage, actor=juror, now=T0)
    with pytest.raises(JuryError) as save_error:
        save(passage, juror, "mark", "12", 0, "op-nv")
    assert (str(start_error.value), str(save_error.value), lifecycle.status(passage, nv=True)) == (
        "Dossier non valide (NV) : ce candidat ne peut pas être évalué.",
        "Dossier non valide (NV) : ce candidat ne peut pas être évalué.", "nv")


def test_timer_start_advance_pause_resume_with_injected_clock(app, create_passage):
    passage = create_passage(extra_time="1/3")
    juror, other = members(passage)
    lifecycle.start_passage(passage=passage, actor=juror, now=T0)
    lifecycle.pause(passage=passage, reason="Panne du vidéoprojecteur", actor=other,
                    now=T0 + timedelta(minutes=10))
    lifecycle.resume(passage=passage, actor=juror, now=T0 + timedelta(minutes=13))
    # Both jurors press "next" on segment 0: it advances once.
    lifecycle.advance(passage=passage, from_index=0, actor=juror, now=T0 + timedelta(minutes=40))
    lifecycle.advance(passage=passage, from_index=0, actor=other, now=T0 + timedelta(minutes=40))
    state = lifecycle.timer_state(passage, now=T0 + timedelta(minutes=50))
    assert (passage.attendance, state.status, state.current,
            [s.elapsed_seconds for s in state.segments],
            [s.allowed_seconds for s in state.segments]) == (
        "present", "running", 1, [37 * 60.0, 600.0], [2000, 2400])


def test_timer_pause_without_reason_refused(create_passage):
    passage = create_passage()
    juror = members(passage)[0]
    lifecycle.start_passage(passage=passage, actor=juror, now=T0)
    with pytest.raises(JuryError) as error:
        lifecycle.pause(passage=passage, reason="  ", actor=juror, now=T0)
    assert str(error.value) == "Indiquez le motif de la pause (par exemple : panne de matériel)."


def test_timer_ends_after_last_segment(create_passage):
    passage = create_passage()
    juror = members(passage)[0]
    lifecycle.start_passage(passage=passage, actor=juror, now=T0)
    lifecycle.advance(passage=passage, from_index=0, actor=juror, now=T0 + timedelta(minutes=20))
    lifecycle.advance(passage=passage, from_index=1, actor=juror, now=T0 + timedelta(minutes=52))
    assert (passage.ended_at, lifecycle.status(passage, nv=False)) == (
        T0 + timedelta(minutes=52), "finished")


def test_pause_reason_in_audit_trail(db, create_passage):
    passage = create_passage()
    juror = members(passage)[0]
    lifecycle.start_passage(passage=passage, actor=juror, now=T0)
    lifecycle.pause(passage=passage, reason="Coupure réseau", actor=juror, now=T0)
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "timer.pause"))
    assert (event.reason, event.actor_id) == ("Coupure réseau", juror.id)
