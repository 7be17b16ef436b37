"""Dossiers honour the per-unit registration and the status (issue 14, §1): no dossier is
asked for a unit the candidate does not sit, it is never NV, and the 70-day internship
check applies only to the E4 dossier of the statuses whose training includes it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from exam_app.dossiers.common import DepositError, Limits
from exam_app.dossiers.conformity import automatic_checks
from exam_app.dossiers.dashboards import session_views
from exam_app.dossiers.deposit import create_upload
from exam_app.dossiers.internships import add_internship
from exam_app.dossiers.models import DepositDeadline
from exam_app.dossiers.state import dossier_view
from exam_app.dossiers.validity import UnitValidity, nv_candidate_ids, unit_validity
from exam_app.enrolment.models import CandidateStatus
from exam_app.extensions import db
from tests.registration_helpers import register

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
AFTER = NOW + timedelta(days=1)


@pytest.fixture()
def world(app, create_session, create_candidate):
    session = create_session(year=2027)
    sitting, kept, exempt = (create_candidate(session) for _ in range(3))
    register(kept, "E4", "benefice")
    register(exempt, "E4", "dispense")
    db.session.add(DepositDeadline(session_id=session.id, unit_code="E4", deadline_at=NOW))
    db.session.flush()
    return {"session": session, "sitting": sitting, "kept": kept, "exempt": exempt}


def test_no_dossier_is_asked_and_the_unit_is_never_nv(world):
    session, sitting = world["session"], world["sitting"]
    assert [v.candidate.id for v in session_views(session=session, unit_code="E4",
                                                  now=AFTER)] == [sitting.id]
    assert nv_candidate_ids(session_id=session.id, unit_code="E4", now=AFTER) == {sitting.id}
    assert [unit_validity(candidate_id=world[k].id, unit_code="E4", now=AFTER)
            for k in ("sitting", "kept", "exempt")] == [
        UnitValidity.NV, UnitValidity.NOT_REQUIRED, UnitValidity.NOT_REQUIRED]
    # E5 is still asked of them.
    assert unit_validity(candidate_id=world["kept"].id, unit_code="E5",
                         now=NOW - timedelta(days=1)) is UnitValidity.PENDING


def test_a_candidate_cannot_deposit_for_a_unit_they_do_not_sit(world):
    with pytest.raises(DepositError) as caught:
        create_upload(candidate=world["exempt"], unit_code="E4", piece_code="sommaire",
                      filename="a.pdf", size=10, actor=None, limits=Limits(),
                      now=NOW - timedelta(days=1))
    assert (caught.value.status, str(caught.value)) == (
        409, "Vous ne présentez pas l'épreuve E4 cette session (Dispensé) : aucun dossier "
             "n'est demandé.")


def _internship_check(candidate, unit_code):
    view = dossier_view(candidate=candidate, unit_code=unit_code, now=NOW)
    return [(c.label, c.ok, c.detail) for c in automatic_checks(view) if c.label.startswith("Stage")]


@pytest.mark.parametrize(("status", "checked"), [
    (CandidateStatus.SCOLAIRE, True), (CandidateStatus.DISTANCE, True), (None, True),
    (CandidateStatus.APPRENTISSAGE, False), (CandidateStatus.FORMATION_CONTINUE, False),
    (CandidateStatus.INDIVIDUEL, False),
])
def test_the_70_day_check_applies_to_e4_for_the_statuses_with_an_internship(
        app, create_session, create_candidate, status, checked):
    candidate = create_candidate(create_session(year=2027), status=status)
    add_internship(candidate=candidate, organisation="Mairie", start_date=date(2026, 1, 5),
                   end_date=date(2026, 2, 27), actor=None)  # 8 weeks: 40 working days
    expected = [("Stage déclaré ≥ 70 jours", False, "40 jour(s) ouvrés déclarés")]
    assert _internship_check(candidate, "E4") == (expected if checked else [])
    # The E5 dossier holds no internship attestation: never checked there.
    assert _internship_check(candidate, "E5") == []
