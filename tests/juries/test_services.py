"""Jury-day services: planning checks, attendance, timer, grids, validation, reopen."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.dossiers import validity
from exam_app.extensions import db as _db
from exam_app.juries import autosave, grids, lifecycle, planning, validation
from exam_app.juries.errors import JuryError
from exam_app.juries.models import AGREED, Attendance, Grid, GridField

T0 = datetime(2027, 5, 12, 7, 0, tzinfo=UTC)


def _members(passage):
    return [m.user for m in passage.commission.members]


def _field(db, passage, key, name):
    return db.session.scalar(sa.select(GridField).join(Grid).where(
        Grid.passage_id == passage.id, Grid.key == key, GridField.name == name))


def _save(passage, user, field, value, base, op, key=AGREED, now=T0):
    context = autosave.save_context(passage_id=passage.id, user_id=user.id, grid_key=key)
    results = autosave.save_fields(context=context, actor=user, now=now,
                                   ops=[{"op": op, "field": field, "value": value, "base": base}])
    # The save writes with bulk UPDATEs, as a request would in its own session.
    _db.session.expire_all()
    return results


def test_assign_conflict_of_interest_refused_naming_it(create_session, create_centre,
                                                       create_commission, create_candidate,
                                                       create_establishment, create_user):
    session = create_session()
    school = create_establishment(name="Lycée du Parc")
    teacher = create_user(Role.EXAMINATEUR, first_name="Anne", last_name="Roy")
    commission = create_commission(session, centre=create_centre(session), teacher=teacher,
                                   teacher_establishment=school)
    candidate = create_candidate(session, establishment=school, last_name="DURAND",
                                 first_name="Léa")
    with pytest.raises(JuryError) as error:
        planning.assign_candidates(commission=commission, numbers=[candidate.number],
                                   variant_code="ponctuel", actor=teacher)
    assert str(error.value) == (
        f"Conflit d'intérêts : Anne Roy enseigne à Lycée du Parc, l'établissement de "
        f"DURAND Léa (n° {candidate.number}) ; en forme ponctuelle, un enseignant n'interroge "
        "jamais un candidat de son établissement.")


def test_assign_ccf_own_teacher_allowed(create_passage):
    passage = create_passage(unit_code="E5", variant_code="ccf_a", form="ccf")
    assert (passage.variant_code, passage.commission.form) == ("ccf_a", "ccf")


def test_assign_duplicate_and_unknown_refused(create_passage, create_user):
    passage = create_passage()
    with pytest.raises(JuryError) as error:
        planning.assign_candidates(commission=passage.commission,
                                   numbers=[passage.candidate.number, "ZZZ"],
                                   variant_code="ponctuel", actor=create_user(Role.GESTIONNAIRE))
    assert str(error.value) == (
        f"{passage.candidate.full_name} (n° {passage.candidate.number}) a déjà un passage "
        f"(commission {passage.commission.code}). Candidat n° ZZZ inconnu dans cette session.")


def test_assign_creates_three_grids_from_definition(db, create_passage):
    passage = create_passage()
    keys = sorted(db.session.scalars(sa.select(Grid.key).where(Grid.passage_id == passage.id)))
    names = grids.field_names("E4", "ponctuel")
    assert (len(keys), names[0], names[-3:]) == (3, "c:comportementales",
                                                 ["s:performance", "appreciation", "mark"])


def test_swap_into_conflicting_commission_refused(create_passage, create_establishment,
                                                  create_commission, create_centre,
                                                  create_candidate, create_user):
    first = create_passage()
    session = first.commission.session
    school = create_establishment()
    other = create_commission(session, centre=create_centre(session),
                              teacher_establishment=first.candidate.establishment)
    second = create_passage(commission=other,
                            candidate=create_candidate(session, establishment=school))
    with pytest.raises(JuryError) as error:
        planning.swap_passages(first=first, second=second, actor=create_user(Role.GESTIONNAIRE))
    assert str(error.value).startswith("Conflit d'intérêts")


def test_generate_schedule_e4_with_lunch(create_passage, create_candidate, create_user):
    first = create_passage()
    commission = first.commission
    for _ in range(3):
        create_passage(commission=commission,
                       candidate=create_candidate(commission.session, e5_form="ponctuel"))
    passages = planning.generate_schedule(
        commission=commission, day=date(2027, 5, 12), day_start=time(9, 0), break_minutes=10,
        lunch_start=time(12, 0), lunch_minutes=60, workstations=1, room="B12",
        actor=create_user(Role.GESTIONNAIRE))
    # 09:00 Paris is 07:00 UTC in May.
    assert [p.scheduled_at.strftime("%H:%M") for p in passages] == ["07:00", "08:05", "11:00",
                                                                   "12:05"]


def test_absent_candidate_cannot_be_scored(create_passage):
    passage = create_passage()
    juror = _members(passage)[0]
    lifecycle.set_attendance(passage=passage, attendance=Attendance.ABSENT, actor=juror, now=T0)
    with pytest.raises(JuryError) as error:
        lifecycle.start_passage(passage=passage, actor=juror, now=T0)
    assert (str(error.value), lifecycle.result_label(passage, nv=False)) == (
        "Candidat absent (ABS) : ce passage ne peut pas être évalué.", "ABS")


def _past_deadline(passage, at=T0 - timedelta(days=30)):
    from exam_app.dossiers import services as dossiers

    dossiers.set_deadline(session=passage.commission.session, unit_code=passage.unit_code,
                          deadline_at=at, actor=None, now=at - timedelta(days=1))


def test_nv_candidate_cannot_be_scored(create_passage):
    # No dossier at a deadline that has passed: NV for real, no stand-in.
    # (start_passage reads the real clock: the deadline is in the real past.)
    from exam_app.clock import utcnow

    passage = create_passage()
    _past_deadline(passage, at=utcnow() - timedelta(days=1))
    juror = _members(passage)[0]
    with pytest.raises(JuryError) as start_error:
        lifecycle.start_passage(passage=passage, actor=juror, now=T0)
    with pytest.raises(JuryError) as save_error:
        _save(passage, juror, "mark", "12", 0, "op-nv")
    assert (str(start_error.value), str(save_error.value), lifecycle.status(passage, nv=True)) == (
        "Dossier non valide (NV) : ce candidat ne peut pas être évalué.",
        "Dossier non valide (NV) : ce candidat ne peut pas être évalué.", "nv")


@pytest.mark.parametrize("state, expected", [
    ("no deadline, no dossier", validity.UnitValidity.PENDING),
    ("deadline passed, no dossier", validity.UnitValidity.NV),
    ("deadline passed, extension running", validity.UnitValidity.PENDING),
    ("deadline passed, extension over", validity.UnitValidity.NV),
    ("deadline passed, complete, undecided", validity.UnitValidity.PENDING),
    ("deadline passed, incomplete, conforme", validity.UnitValidity.VALID),
    ("non conforme, NV reason", validity.UnitValidity.NV),
    ("non conforme, reason without NV", validity.UnitValidity.VALID),
])
def test_autosave_nv_check_agrees_with_full_validity(app, create_passage, state, expected):
    """The autosave reads the dossier's decision and deadline in its own query and calls
    the full check only when they do not settle it: same answer in every case."""
    from exam_app.dossiers import services as dossiers
    from exam_app.dossiers.models import Decision
    from tests.dossiers.helpers import complete_dossier, deposit

    passage = create_passage()
    candidate = passage.candidate
    juror = _members(passage)[0]
    if state != "no deadline, no dossier":
        _past_deadline(passage)
    if "extension" in state:
        deposit(app, candidate, "E4", "sommaire")
        dossier = dossiers.find_dossier(candidate_id=candidate.id, unit_code="E4")
        dossier.extended_until = T0 + timedelta(days=1 if "running" in state else -1)
    if "complete" in state:
        complete_dossier(app, candidate)
    if "incomplete" in state:
        deposit(app, candidate, "E4", "sommaire")
    if state == "non conforme, reason without NV":
        dossiers.configure_reasons(
            session=passage.commission.session, actor=None,
            reasons=[dossiers.Reason("pieces_non_signees", "Pièces non signées", False)])
    if "conforme" in state:
        decision = Decision.NON_CONFORME if "non conforme" in state else Decision.CONFORME
        reasons = ["pieces_non_signees"] if "reason without NV" in state else (
            ["pieces_manquantes"] if decision is Decision.NON_CONFORME else [])
        dossiers.decide(candidate=candidate, unit_code="E4", decision=decision, reasons=reasons,
                        comment="", actor=None, now=T0 - timedelta(days=2))
    _db.session.flush()
    full = validity.unit_validity(candidate_id=candidate.id, unit_code="E4", now=T0)
    try:
        outcome = _save(passage, juror, "appreciation", "Bien", 0, f"op-{state}")[0]["status"]
    except JuryError as error:
        outcome = str(error)
    assert (full, outcome) == (expected, (
        "Dossier non valide (NV) : ce candidat ne peut pas être évalué."
        if expected is validity.UnitValidity.NV else "ok"))


def test_timer_start_advance_pause_resume_with_injected_clock(app, create_passage):
    passage = create_passage(extra_time="1/3")
    juror, other = _members(passage)
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
        "present", "en_cours", 1, [37 * 60.0, 600.0], [2000, 2400])


def test_timer_pause_without_reason_refused(create_passage):
    passage = create_passage()
    juror = _members(passage)[0]
    lifecycle.start_passage(passage=passage, actor=juror, now=T0)
    with pytest.raises(JuryError) as error:
        lifecycle.pause(passage=passage, reason="  ", actor=juror, now=T0)
    assert str(error.value) == "Indiquez le motif de la pause (par exemple : panne de matériel)."


def test_timer_ends_after_last_segment(create_passage):
    passage = create_passage()
    juror = _members(passage)[0]
    lifecycle.start_passage(passage=passage, actor=juror, now=T0)
    lifecycle.advance(passage=passage, from_index=0, actor=juror, now=T0 + timedelta(minutes=20))
    lifecycle.advance(passage=passage, from_index=1, actor=juror, now=T0 + timedelta(minutes=52))
    assert (passage.ended_at, lifecycle.status(passage, nv=False)) == (
        T0 + timedelta(minutes=52), "termine")


def test_save_conflict_reported_never_overwritten(db, create_passage):
    passage = create_passage()
    first, second = _members(passage)
    ok = _save(passage, first, "c:posture", "S", 0, "op-1")
    conflict = _save(passage, second, "c:posture", "TS", 0, "op-2")
    assert (ok[0]["status"], conflict[0]["status"], conflict[0]["value"],
            _field(db, passage, AGREED, "c:posture").value) == ("ok", "conflict", "S", "S")


def test_save_replayed_operation_applied_once(db, create_passage):
    passage = create_passage()
    juror = _members(passage)[0]
    _save(passage, juror, "appreciation", "Bon oral", 0, "op-a")
    replay = _save(passage, juror, "appreciation", "Bon oral", 0, "op-a")
    assert (replay[0]["status"], replay[0]["replayed"],
            _field(db, passage, AGREED, "appreciation").version) == ("ok", True, 1)


def test_replay_answers_exactly_what_the_save_answered(db, create_passage):
    # On PostgreSQL the save stores its result from SQL (one statement): the replay
    # must read back the same answer as the first time, and the revision moved once.
    passage = create_passage()
    juror = _members(passage)[0]
    first = _save(passage, juror, "s:performance", "Clair, « précis » : 12 €", 0, "op-json")
    replay = _save(passage, juror, "s:performance", "Clair, « précis » : 12 €", 0, "op-json")
    db.session.refresh(passage)
    assert (replay[0], passage.agreed_revision) == ({**first[0], "replayed": True}, 1)
    assert first[0] == {"op": "op-json", "field": "s:performance", "status": "ok",
                        "version": 1, "value": "Clair, « précis » : 12 €"}


def test_save_bad_level_and_mark_step_refused(create_passage):
    passage = create_passage()
    juror = _members(passage)[0]
    with pytest.raises(JuryError) as level:
        _save(passage, juror, "c:posture", "XX", 0, "op-x")
    with pytest.raises(JuryError) as mark:
        _save(passage, juror, "mark", "12,3", 0, "op-y")
    assert (str(level.value), str(mark.value)) == (
        "Niveau inconnu : 'XX'.", "La note doit être un multiple de 0,5.")


def test_independent_grid_private_until_both_reveal(create_passage):
    passage = create_passage()
    first, second = _members(passage)
    _save(passage, first, "c:posture", "TS", 0, "op-i1", key=grids.grid_key_for(first.id))
    grids.reveal(passage=passage, actor=first, now=T0)
    before = grids.grids_view(passage, second.id)["other"]
    grids.reveal(passage=passage, actor=second, now=T0)
    after = grids.grids_view(passage, second.id)["other"]
    assert (before, after["c:posture"]) == (None, {"value": "TS", "version": 1})


def _validate_both(passage, mark="14,5"):
    first, second = _members(passage)
    lifecycle.start_passage(passage=passage, actor=first, now=T0)
    _save(passage, first, "mark", mark, 0, f"op-mark-{passage.id}")
    validation.validate(passage=passage, revision=passage.agreed_revision, actor=first, now=T0)
    return validation.validate(passage=passage, revision=passage.agreed_revision, actor=second,
                             now=T0)


def test_both_jurors_validate_mark_final(db, create_passage):
    passage = create_passage()
    final = _validate_both(passage)
    db.session.refresh(passage)
    assert (final, passage.final_mark, lifecycle.result_label(passage, nv=False)) == (
        True, Decimal("14.5"), "14.5")


def test_change_after_one_validation_clears_it(db, create_passage):
    passage = create_passage()
    first, second = _members(passage)
    _save(passage, first, "mark", "12", 0, "op-m1")
    db.session.refresh(passage)
    validation.validate(passage=passage, revision=passage.agreed_revision, actor=first, now=T0)
    _save(passage, second, "appreciation", "Correct", 0, "op-m2")
    db.session.refresh(passage)
    with pytest.raises(JuryError):
        validation.validate(passage=passage, revision=passage.agreed_revision - 1, actor=second,
                          now=T0)
    final = validation.validate(passage=passage, revision=passage.agreed_revision, actor=second,
                              now=T0)
    assert (final, [v.user_id for v in passage.validations], passage.final_mark) == (
        False, [second.id], None)


def test_final_mark_locked_then_reopened_with_audit(db, create_passage, create_user):
    passage = create_passage()
    _validate_both(passage, "15")
    juror = _members(passage)[0]
    with pytest.raises(JuryError) as locked:
        _save(passage, juror, "mark", "18", 1, "op-late")
    gestion = create_user(Role.GESTIONNAIRE)
    validation.reopen(passage=passage, reason="Erreur de report signalée", actor=gestion, now=T0)
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "mark.reopen"))
    after_reopen = _save(passage, juror, "mark", "16", 1, "op-after")
    assert (str(locked.value).startswith("La note est définitive et verrouillée"),
            event.before["mark"], event.after, event.reason, after_reopen[0]["status"]) == (
        True, "15", {"mark": None, "finalized_at": None}, "Erreur de report signalée", "ok")


def test_reopen_needs_a_final_mark_and_a_reason(create_passage, create_user):
    passage = create_passage()
    gestion = create_user(Role.GESTIONNAIRE)
    with pytest.raises(JuryError) as not_final:
        validation.reopen(passage=passage, reason="motif valable", actor=gestion)
    _validate_both(passage)
    with pytest.raises(JuryError) as no_reason:
        validation.reopen(passage=passage, reason=" ", actor=gestion)
    assert (str(not_final.value), str(no_reason.value)) == (
        "Cette note n'est pas définitive : rien à rouvrir.",
        "Indiquez le motif de la réouverture (5 caractères au moins).")


def test_mark_change_audited_before_after(db, create_passage):
    passage = create_passage()
    juror = _members(passage)[0]
    _save(passage, juror, "mark", "10", 0, "op-c1")
    _save(passage, juror, "mark", "11", 1, "op-c2")
    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "mark.change")
                                .order_by(AuditEvent.id)).all()
    assert [(e.before, e.after) for e in events] == [({"mark": ""}, {"mark": "10"}),
                                                     ({"mark": "10"}, {"mark": "11"})]


def test_nv_interviewed_when_session_allows_still_reads_nv(create_passage, monkeypatch):
    passage = create_passage()
    passage.commission.session.nv_excludes_interview = False
    juror = _members(passage)[0]
    monkeypatch.setattr(validity, "unit_validity", lambda **kw: validity.UnitValidity.NV)
    lifecycle.start_passage(passage=passage, actor=juror, now=T0)
    saved = _save(passage, juror, "mark", "12", 0, "op-nv-ok")
    assert (saved[0]["status"], lifecycle.result_label(passage, nv=True)) == ("ok", "NV")


def test_move_and_swap_audited(db, create_passage, create_candidate, create_user):
    first = create_passage()
    commission = first.commission
    second = create_passage(commission=commission,
                            candidate=create_candidate(commission.session, e5_form="ponctuel"))
    gestion = create_user(Role.GESTIONNAIRE)
    planning.move_passage(passage=first, scheduled_at=T0, actor=gestion, now=T0)
    planning.move_passage(passage=second, scheduled_at=T0 + timedelta(hours=1), actor=gestion,
                          now=T0)
    planning.swap_passages(first=first, second=second, actor=gestion, now=T0)
    actions = db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.action.in_(["passage.move", "passage.swap"])).order_by(AuditEvent.id)).all()
    assert (first.scheduled_at, second.scheduled_at, actions) == (
        T0 + timedelta(hours=1), T0, ["passage.move", "passage.move", "passage.swap"])


def test_started_passage_cannot_move(create_passage, create_user):
    passage = create_passage()
    lifecycle.start_passage(passage=passage, actor=_members(passage)[0], now=T0)
    with pytest.raises(JuryError) as error:
        planning.move_passage(passage=passage, scheduled_at=T0, actor=create_user(Role.GESTIONNAIRE))
    assert str(error.value) == (f"Le passage de {passage.candidate.full_name} a déjà commencé : "
                                "il ne peut plus être déplacé.")


def test_pause_reason_in_audit_trail(db, create_passage):
    passage = create_passage()
    juror = _members(passage)[0]
    lifecycle.start_passage(passage=passage, actor=juror, now=T0)
    lifecycle.pause(passage=passage, reason="Coupure réseau", actor=juror, now=T0)
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "timer.pause"))
    assert (event.reason, event.actor_id) == ("Coupure réseau", juror.id)


def test_generate_schedule_e5_ponctuel_pipelines(create_passage, create_candidate, create_user):
    first = create_passage(unit_code="E5")
    commission = first.commission
    for _ in range(2):
        create_passage(commission=commission,
                       candidate=create_candidate(commission.session, e5_form="ponctuel"))
    passages = planning.generate_schedule(
        commission=commission, day=date(2027, 5, 12), day_start=time(8, 0), break_minutes=10,
        lunch_start=time(12, 0), lunch_minutes=60, workstations=2, room="",
        actor=create_user(Role.GESTIONNAIRE))
    # Preparation 45 min alone, then 45 min with the commission; the next one prepares
    # meanwhile (UTC times; 08:00 Paris is 06:00 UTC in May).
    assert [p.scheduled_at.strftime("%H:%M") for p in passages] == ["06:00", "06:55", "07:50"]


def test_ccf_situation_a_validated_without_mark(create_passage):
    passage = create_passage(unit_code="E5", variant_code="ccf_a", form="ccf")
    first, second = _members(passage)
    lifecycle.start_passage(passage=passage, actor=first, now=T0)
    validation.validate(passage=passage, revision=0, actor=first, now=T0)
    final = validation.validate(passage=passage, revision=0, actor=second, now=T0)
    assert (final, passage.final_mark, passage.is_final,
            grids.carries_mark("E5", "ccf_a"), grids.carries_mark("E5", "ccf_b"),
            grids.carries_mark("E4", "ponctuel")) == (True, None, True, False, True, True)
