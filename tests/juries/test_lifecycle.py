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


# ---- the E5 preparation ends by itself (issue 11, item 11) ----------------------------

def _prep(create_passage, variant="ponctuel", form="ponctuel"):
    passage = create_passage(unit_code="E5", variant_code=variant, form=form)
    juror, other = members(passage)
    lifecycle.start_passage(passage=passage, actor=juror, now=T0)
    return passage, juror, other


def _segments(passage):
    return [(s.index, s.started_at, s.ended_at) for s in sorted(passage.segments,
                                                                key=lambda s: s.index)]


def _events(db, passage, action):
    return db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.object_id == str(passage.id), AuditEvent.action == action)).all()


def test_preparation_still_running_before_its_due_time(db, create_passage):
    passage, _, _ = _prep(create_passage)
    state = lifecycle.timer_state(passage, now=T0 + timedelta(minutes=44, seconds=59))
    assert (lifecycle.close_due_fixed(passage=passage, now=T0 + timedelta(minutes=44, seconds=59)),
            state.status, state.current_segment.due_at) == (False, "running",
                                                            T0 + timedelta(minutes=45))


def test_preparation_closed_at_its_due_time_once_audited_as_automatic(db, create_passage):
    passage, _, _ = _prep(create_passage)
    at_50 = T0 + timedelta(minutes=50)
    first = lifecycle.close_due_fixed(passage=passage, now=at_50)
    second = lifecycle.close_due_fixed(passage=passage, now=at_50 + timedelta(minutes=1))
    state = lifecycle.timer_state(passage, now=at_50)
    [event] = _events(db, passage, "timer.auto_end")
    assert (first, second, _segments(passage), state.status, state.awaiting,
            lifecycle.status(passage, nv=False)) == (
        True, False, [(0, T0, T0 + timedelta(minutes=45))], "waiting", 1, "running")
    assert (event.actor_id, event.actor_label, event.at, event.after) == (
        None, "système", at_50, {"ended": "preparation/preparation",
                                 "at": (T0 + timedelta(minutes=45)).isoformat(),
                                 "seconds": 2700})


def test_next_after_due_time_ends_preparation_at_due_time_and_starts_next_once(
        db, create_passage):
    passage, juror, other = _prep(create_passage)
    # Nothing wrote the end; a juror presses at 52 min, then the other one too.
    done = lifecycle.advance(passage=passage, from_index=0, actor=juror,
                             now=T0 + timedelta(minutes=52))
    again = lifecycle.advance(passage=passage, from_index=0, actor=other,
                              now=T0 + timedelta(minutes=52, seconds=1))
    assert (done, again, _segments(passage)) == (True, False, [
        (0, T0, T0 + timedelta(minutes=45)), (1, T0 + timedelta(minutes=52), None)])
    assert ([len(_events(db, passage, a)) for a in ("timer.auto_end", "timer.start_step",
                                                     "timer.advance")]) == [1, 1, 0]


def test_poll_closes_then_juror_calls_the_candidate_in(db, create_passage):
    passage, juror, other = _prep(create_passage)
    lifecycle.close_due_fixed(passage=passage, now=T0 + timedelta(minutes=46))
    assert lifecycle.timer_state(passage, now=T0 + timedelta(minutes=47)).status == "waiting"
    done = lifecycle.advance(passage=passage, from_index=0, actor=other,
                             now=T0 + timedelta(minutes=48))
    state = lifecycle.timer_state(passage, now=T0 + timedelta(minutes=49))
    assert (done, _segments(passage), state.status, state.current,
            state.current_segment.elapsed_seconds) == (
        True, [(0, T0, T0 + timedelta(minutes=45)), (1, T0 + timedelta(minutes=48), None)],
        "running", 1, 60.0)


def test_next_before_due_time_ends_preparation_then_no_auto_end(db, create_passage):
    passage, juror, _ = _prep(create_passage)
    lifecycle.advance(passage=passage, from_index=0, actor=juror, now=T0 + timedelta(minutes=44))
    closed = lifecycle.close_due_fixed(passage=passage, now=T0 + timedelta(minutes=50))
    assert (closed, _segments(passage), _events(db, passage, "timer.auto_end")) == (
        False, [(0, T0, T0 + timedelta(minutes=44)), (1, T0 + timedelta(minutes=44), None)], [])


def test_preparation_pause_moves_its_due_time(db, create_passage):
    passage, juror, other = _prep(create_passage)
    lifecycle.pause(passage=passage, reason="Panne du poste", actor=juror,
                    now=T0 + timedelta(minutes=10))
    lifecycle.resume(passage=passage, actor=other, now=T0 + timedelta(minutes=15))
    early = lifecycle.close_due_fixed(passage=passage, now=T0 + timedelta(minutes=49))
    late = lifecycle.close_due_fixed(passage=passage, now=T0 + timedelta(minutes=51))
    assert (early, late, _segments(passage)) == (
        False, True, [(0, T0, T0 + timedelta(minutes=50))])


def test_preparation_open_pause_stops_the_end(db, create_passage):
    passage, juror, _ = _prep(create_passage)
    lifecycle.pause(passage=passage, reason="Panne du poste", actor=juror,
                    now=T0 + timedelta(minutes=40))
    closed = lifecycle.close_due_fixed(passage=passage, now=T0 + timedelta(minutes=60))
    assert (closed, lifecycle.timer_state(passage, now=T0 + timedelta(minutes=60)).status) == (
        False, "paused")


def test_pause_after_due_time_refused_and_preparation_ended_at_due_time(db, create_passage):
    passage, juror, _ = _prep(create_passage)
    with pytest.raises(JuryError) as error:
        lifecycle.pause(passage=passage, reason="Panne", actor=juror,
                        now=T0 + timedelta(minutes=46))
    assert (str(error.value), _segments(passage)) == (
        "Le minuteur ne tourne pas : rien à mettre en pause.",
        [(0, T0, T0 + timedelta(minutes=45))])


def test_extra_time_lengthens_the_fixed_preparation(db, create_passage):
    passage = create_passage(unit_code="E5", extra_time="1/3")
    juror = members(passage)[0]
    lifecycle.start_passage(passage=passage, actor=juror, now=T0)
    assert (lifecycle.close_due_fixed(passage=passage, now=T0 + timedelta(minutes=59)),
            lifecycle.close_due_fixed(passage=passage, now=T0 + timedelta(minutes=61)),
            _segments(passage)) == (False, True, [(0, T0, T0 + timedelta(minutes=60))])
