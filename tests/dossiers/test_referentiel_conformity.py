"""Issue 14 §5: the référentiel's checklist items and a conforme dossier's missing
elements (an insufficiency marked in the evaluation, never NV)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.documents import evaluation
from exam_app.dossiers import conformity
from exam_app.dossiers.common import DepositError
from exam_app.dossiers.models import Decision, DepositDeadline
from exam_app.dossiers.state import dossier_view
from exam_app.dossiers.validity import UnitValidity, unit_validity
from exam_app.juries import planning

NOW = datetime(2027, 5, 1, 8, 0, tzinfo=UTC)


@pytest.fixture()
def past_deadline(db, create_session, create_candidate):
    session = create_session()
    db.session.add(DepositDeadline(session_id=session.id, unit_code="E4",
                                   deadline_at=NOW - timedelta(days=1)))
    candidate = create_candidate(session)
    db.session.flush()
    return candidate


def test_e4_and_e5_checklists_carry_the_referentiel_items(past_deadline, db):
    e4 = conformity.automatic_checks(dossier_view(candidate=past_deadline, unit_code="E4",
                                                  now=NOW))
    e5 = conformity.automatic_checks(dossier_view(candidate=past_deadline, unit_code="E5",
                                                  now=NOW))
    item = next(c for c in e4 if c.label.startswith("Les quatre missions"))
    assert (item.label, item.manual, item.reason) == (
        "Les quatre missions correspondent chacune à une activité du bloc 1", True, None)
    assert any(c.manual and c.label.startswith("Les projets répondent à la définition du projet "
                                                "du référentiel") for c in e5)
    assert not any(c.label.startswith("Les projets") for c in e4)


def test_a_conforme_dossier_with_missing_elements_is_not_nv(past_deadline, db, create_user):
    gestionnaire = create_user(Role.GESTIONNAIRE)
    dossier = conformity.decide(
        candidate=past_deadline, unit_code="E4", decision=Decision.COMPLIANT, reasons=[],
        comment="", actor=gestionnaire, confirm_missing=True,
        missing_elements=["  Sommaire  ", "", "Sommaire", "Fiche de la mission 3"], now=NOW)
    assert dossier.missing_elements == ["Sommaire", "Fiche de la mission 3"]
    assert unit_validity(candidate_id=past_deadline.id, unit_code="E4") == UnitValidity.VALID
    event = db.session.query(AuditEvent).filter_by(action="dossier.conformity_decided").one()
    assert event.after["missing_elements"] == ["Sommaire", "Fiche de la mission 3"]
    assert conformity.recorded_missing_elements(candidate_id=past_deadline.id,
                                                unit_code="E4") == [
        "Sommaire", "Fiche de la mission 3"]


def test_a_refused_dossier_records_no_missing_elements(past_deadline, db, create_user):
    dossier = conformity.decide(
        candidate=past_deadline, unit_code="E4", decision=Decision.NON_COMPLIANT,
        reasons=["absence_dossier"], comment="", actor=create_user(Role.GESTIONNAIRE),
        missing_elements=["Sommaire"], now=NOW)
    assert dossier.missing_elements == []


def test_too_many_missing_elements_are_refused(past_deadline, db, create_user):
    with pytest.raises(DepositError, match="Au plus 20 éléments manquants"):
        conformity.decide(candidate=past_deadline, unit_code="E4",
                          decision=Decision.COMPLIANT, reasons=[], comment="",
                          actor=create_user(Role.GESTIONNAIRE), confirm_missing=True,
                          missing_elements=[f"Élément {n}" for n in range(21)], now=NOW)


def test_commission_sees_missing_elements_on_the_passage_screen_and_fiche(
        app, client, login_as, db, past_deadline, create_commission, create_user):
    conformity.decide(candidate=past_deadline, unit_code="E4", decision=Decision.COMPLIANT,
                      reasons=[], comment="", actor=create_user(Role.GESTIONNAIRE),
                      confirm_missing=True, missing_elements=["Sommaire"], now=NOW)
    commission = create_commission(past_deadline.session)
    passage = planning.assign_candidates(
        commission=commission, numbers=[past_deadline.number], variant_code="ponctuel",
        actor=create_user(Role.GESTIONNAIRE), now=NOW)[0]
    passage.scheduled_at = NOW + timedelta(days=10)
    db.session.commit()
    with app.test_request_context("/", base_url="https://examens.example/"):
        context = evaluation.fiche_context(passage, nv=False, values={})
        html = evaluation.build(passage, now=NOW, nv=False).html
    assert context["dossier_missing"] == ["Sommaire"]
    assert ("Éléments manquants du dossier (insuffisance à sanctionner dans l'évaluation, "
            "sans effet NV) : Sommaire.") in html
    login_as(commission.members[0].user)
    page = client.get(f"/jury/passages/{passage.id}").get_data(as_text=True)
    assert '<h2 id="missing-elements-title">Éléments manquants du dossier</h2>' in page
    assert "<li>Sommaire</li>" in page
