"""Planning services: assigning (conflict of interest, forms, duplicates), schedules, moves, swaps."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.juries import grids, lifecycle, planning
from exam_app.juries.errors import JuryError
from exam_app.juries.models import Grid
from tests.juries.helpers import T0, members


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
    lifecycle.start_passage(passage=passage, actor=members(passage)[0], now=T0)
    with pytest.raises(JuryError) as error:
        planning.move_passage(passage=passage, scheduled_at=T0, actor=create_user(Role.GESTIONNAIRE))
    assert str(error.value) == (f"Le passage de {passage.candidate.full_name} a déjà commencé : "
                                "il ne peut plus être déplacé.")


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
