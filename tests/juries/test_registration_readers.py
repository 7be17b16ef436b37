"""Planning and jury results honour the per-unit registration (issue 14, §1)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from exam_app.accounts.models import Role
from exam_app.clock import utcnow
from exam_app.dossiers.models import DepositDeadline
from exam_app.juries import lifecycle, planning
from exam_app.juries.errors import JuryInvalid
from exam_app.juries.models import Attendance
from exam_app.results.compute import printed_unit_results as unit_results
from tests.registration_helpers import register


@pytest.fixture()
def world(db, create_session, create_centre, create_candidate, create_commission, create_user):
    session = create_session(year=2027)
    centre = create_centre(session)
    commission = create_commission(session, centre=centre)
    sitting, kept, exempt = (create_candidate(session, centre=centre, last_name=name)
                             for name in ("ASSIS", "BENEFICE", "DISPENSE"))
    register(kept, "E4", "benefice", kept_mark="14,5", kept_year="2025")
    register(exempt, "E4", "dispense")
    return {"session": session, "commission": commission, "sitting": sitting, "kept": kept,
            "exempt": exempt, "gestionnaire": create_user(Role.GESTIONNAIRE)}


def test_unassigned_candidates_are_only_those_who_sit_the_unit(world):
    assert [c.last_name for c in planning.unassigned_candidates(world["commission"])] == ["ASSIS"]


def test_assigning_a_candidate_who_does_not_sit_is_refused_with_the_reason(world):
    with pytest.raises(JuryInvalid) as caught:
        planning.assign_candidates(commission=world["commission"],
                                   numbers=[world["kept"].number, world["exempt"].number],
                                   variant_code="ponctuel", actor=world["gestionnaire"])
    kept, exempt = world["kept"], world["exempt"]
    assert str(caught.value) == (
        f"{kept.full_name} (n° {kept.number}) ne passe pas l'E4 : Bénéfice 2025 — 14,5. "
        f"{exempt.full_name} (n° {exempt.number}) ne passe pas l'E4 : Dispensé.")


def test_unit_results_print_the_registration_never_nv_nor_abs(db, world):
    session = world["session"]
    # The deadline has passed with no dossier: a candidate who sits E4 is NV.
    db.session.add(DepositDeadline(session_id=session.id, unit_code="E4",
                                   deadline_at=utcnow() - timedelta(days=1)))
    passage = planning.assign_candidates(commission=world["commission"],
                                         numbers=[world["sitting"].number],
                                         variant_code="ponctuel", actor=world["gestionnaire"])[0]
    lifecycle.set_attendance(passage=passage, attendance=Attendance.ABSENT,
                             actor=world["commission"].members[0].user)
    results = unit_results(session_id=session.id, unit_code="E4")
    assert results == {world["sitting"].id: "NV", world["kept"].id: "Bénéfice 2025 — 14,5",
                       world["exempt"].id: "Dispensé"}
    # A passage left from before the dispense prints the dispense, not ABS.
    register(world["sitting"], "E4", "dispense", reason="BTS AM obtenu")
    assert unit_results(session_id=session.id, unit_code="E4")[world["sitting"].id] == "Dispensé"
