"""The timer: plan from the unit definitions, state from timestamps, planning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from exam_app.juries import timer

T0 = datetime(2027, 5, 12, 8, 0, tzinfo=UTC)


def test_plan_e4_two_phases_from_definition():
    segments = timer.plan("E4", "ponctuel")
    assert [(s.phase_code, s.allowed_seconds) for s in segments] == [
        ("presentation", 25 * 60), ("entretien", 30 * 60)]


def test_plan_e5_ponctuel_preparation_then_steps():
    segments = timer.plan("E5", "ponctuel")
    assert [(s.step_code, s.max_minutes, s.jury_present) for s in segments] == [
        ("preparation", 45, False), ("resultat", 10, True), ("entretien", 20, True),
        ("presentation_veille", 5, True), ("entretien_veille", 10, True)]


def test_plan_e5_ccf_situations():
    assert [s.max_minutes for s in timer.plan("E5", "ccf_a")] == [5, 10]
    assert [s.max_minutes for s in timer.plan("E5", "ccf_b")] == [45, 10, 20]


def test_plan_extra_time_one_third_on_every_phase():
    segments = timer.plan("E4", "ponctuel", extra_time=Fraction(1, 3))
    assert [s.allowed_seconds for s in segments] == [2000, 2400]


def test_plan_scaled_clock_for_tests():
    assert [s.allowed_seconds for s in timer.plan("E4", "ponctuel", seconds_per_minute=1)] == [25, 30]


def _state(runs, pauses=(), now=T0):
    return timer.compute(timer.plan("E4", "ponctuel"), list(runs), list(pauses), now)


def test_compute_not_started():
    state = _state([])
    assert (state.status, state.current) == ("upcoming", None)


def test_compute_running_remaining():
    state = _state([timer.SegmentRun(0, 1500, T0, None)], now=T0 + timedelta(minutes=10))
    assert (state.status, state.current, state.current_segment.remaining_seconds) == (
        "running", 0, 900.0)


def test_compute_overrun_keeps_counting():
    state = _state([timer.SegmentRun(0, 1500, T0, None)], now=T0 + timedelta(minutes=27))
    assert (state.current_segment.overrun, state.current_segment.remaining_seconds) == (True, -120.0)


def test_compute_pause_excluded_and_reason_shown():
    pauses = [timer.PauseRun(0, T0 + timedelta(minutes=5), T0 + timedelta(minutes=8), "panne"),
              timer.PauseRun(0, T0 + timedelta(minutes=12), None, "vidéoprojecteur")]
    state = _state([timer.SegmentRun(0, 1500, T0, None)], pauses, now=T0 + timedelta(minutes=15))
    assert (state.status, state.pause_reason, state.current_segment.elapsed_seconds,
            state.current_segment.paused_seconds) == ("paused", "vidéoprojecteur", 540.0, 360.0)


def test_compute_phase_order_and_actual_durations():
    runs = [timer.SegmentRun(0, 1500, T0, T0 + timedelta(minutes=26)),
            timer.SegmentRun(1, 1800, T0 + timedelta(minutes=26), T0 + timedelta(minutes=50))]
    state = _state(runs, now=T0 + timedelta(hours=2))
    assert (state.status, [s.elapsed_seconds for s in state.segments],
            [s.overrun for s in state.segments]) == ("finished", [1560.0, 1440.0], [True, False])


def _schedule(items, workstations=1, lunch_minutes=60):
    start = datetime(2027, 5, 12, 8, 0, tzinfo=UTC)
    times = timer.schedule(items, start=start, break_seconds=600,
                           lunch_start=start.replace(hour=12), lunch_seconds=lunch_minutes * 60,
                           workstations=workstations)
    return [t.strftime("%H:%M") for t in times]


def test_schedule_e4_break_and_lunch():
    e4 = (0, 55 * 60)
    assert _schedule([e4] * 5) == ["08:00", "09:05", "10:10", "13:00", "14:05"]


def test_schedule_e5_ponctuel_pipelines_preparation():
    e5 = (45 * 60, 45 * 60)
    # Candidate n+1 prepares while candidate n is with the commission.
    assert _schedule([e5] * 4, lunch_minutes=0) == ["08:00", "08:55", "09:50", "10:45"]


def test_schedule_e5_extra_time_candidate_prepares_earlier():
    e5, e5_extra = (2700, 2700), (3600, 3600)
    assert _schedule([e5, e5_extra], workstations=2, lunch_minutes=0) == ["08:00", "08:40"]


# ---- a fixed segment (the E5 preparation) ends by itself at its due time (issue 11, item 11)

def _e5(runs, pauses=(), now=T0):
    return timer.compute(timer.plan("E5", "ponctuel"), list(runs), list(pauses), now)


def test_compute_fixed_preparation_running_shows_when_it_ends():
    state = _e5([timer.SegmentRun(0, 2700, T0, None)], now=T0 + timedelta(minutes=44))
    assert (state.status, state.current, state.awaiting, state.current_segment.due_at,
            state.current_segment.remaining_seconds) == (
        "running", 0, None, T0 + timedelta(minutes=45), 60.0)


def test_compute_fixed_preparation_ends_at_its_due_time_then_waits_for_the_jury():
    # Nobody pressed anything and nothing was written: at 50 min, it ended at 45 min.
    state = _e5([timer.SegmentRun(0, 2700, T0, None)], now=T0 + timedelta(minutes=50))
    prep = state.segments[0]
    assert (state.status, state.current, state.awaiting, prep.ended_at, prep.elapsed_seconds,
            prep.overrun, prep.due_at, state.segments[1].started_at) == (
        "waiting", None, 1, T0 + timedelta(minutes=45), 2700.0, False, None, None)


def test_compute_fixed_preparation_due_time_moves_with_closed_pauses():
    pauses = [timer.PauseRun(0, T0 + timedelta(minutes=10), T0 + timedelta(minutes=13), "panne")]
    runs = [timer.SegmentRun(0, 2700, T0, None)]
    before = _e5(runs, pauses, now=T0 + timedelta(minutes=47))
    after = _e5(runs, pauses, now=T0 + timedelta(minutes=50))
    assert (before.status, before.current_segment.due_at, after.status,
            after.segments[0].ended_at, after.segments[0].elapsed_seconds) == (
        "running", T0 + timedelta(minutes=48), "waiting", T0 + timedelta(minutes=48), 2700.0)


def test_compute_fixed_preparation_does_not_end_during_an_open_pause():
    pauses = [timer.PauseRun(0, T0 + timedelta(minutes=40), None, "panne du poste")]
    state = _e5([timer.SegmentRun(0, 2700, T0, None)], pauses, now=T0 + timedelta(minutes=60))
    assert (state.status, state.current, state.current_segment.elapsed_seconds,
            state.current_segment.due_at) == ("paused", 0, 2400.0, None)


def test_compute_maximum_segment_never_ends_by_itself():
    # E4's 25 min are a maximum, not a fixed length: it keeps counting the overrun.
    state = _state([timer.SegmentRun(0, 1500, T0, None)], now=T0 + timedelta(minutes=50))
    assert (state.status, state.current, state.current_segment.due_at) == ("running", 0, None)
