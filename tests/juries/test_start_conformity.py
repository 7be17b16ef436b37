"""Issue 11 item 13: a passage starts only once the conformity control has decided the
candidate's dossier, unless the gestionnaire grants an exception (audited, with a reason)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.dossiers import validity
from exam_app.dossiers.conformity import Reason, configure_reasons, decide
from exam_app.dossiers.models import Decision
from exam_app.juries import derogation, lifecycle
from exam_app.juries.errors import JuryError, JuryInvalid
from tests.conftest import csrf_token_from
from tests.juries.helpers import T0, decide_conforme, members

REFUSAL = ("Contrôle de conformité non décidé : le dossier E4 de ce candidat n'a pas de "
           "décision, le passage ne peut pas commencer. Le gestionnaire doit décider la "
           "conformité ou accorder une dérogation pour ce passage.")


def _events(action):
    from exam_app.extensions import db

    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id)).all()


def test_undecided_dossier_cannot_start(create_passage):
    passage = create_passage(conforme=False)
    with pytest.raises(JuryError) as error:
        lifecycle.start_passage(passage=passage, actor=members(passage)[0], now=T0)
    assert (error.value.message, error.value.status, error.value.code) == (
        REFUSAL, 409, "not_decided")
    assert (passage.started_at, passage.segments, passage.attendance) == (None, [], "unknown")
    assert _events("timer.start") == []


def test_decided_dossier_starts_conforme_or_non_conforme_without_nv_effect(create_passage,
                                                                          create_user):
    conforme = create_passage()
    lifecycle.start_passage(passage=conforme, actor=members(conforme)[0], now=T0)
    other = create_passage(commission=conforme.commission, conforme=False)
    configure_reasons(session=other.commission.session, actor=None,
                      reasons=[Reason("pieces_non_signees", "Pièces non signées", False)])
    decide(candidate=other.candidate, unit_code="E4", decision=Decision.NON_COMPLIANT,
           reasons=["pieces_non_signees"], comment="", actor=None, confirm_early=True, now=T0)
    lifecycle.start_passage(passage=other, actor=members(other)[0], now=T0)
    assert (conforme.started_at, other.started_at) == (T0, T0)
    assert validity.conformity_decided(candidate_id=other.candidate_id, unit_code="E6")


def test_exception_needs_a_reason_is_audited_and_lets_the_passage_start(create_passage,
                                                                      create_user):
    passage = create_passage(conforme=False)
    manager = create_user(Role.GESTIONNAIRE)
    assert derogation.needs_exception(passage)
    with pytest.raises(JuryInvalid) as empty:
        derogation.grant_start_exception(passage=passage, reason="  ", actor=manager, now=T0)
    assert empty.value.message == "Indiquez le motif de la dérogation."
    derogation.grant_start_exception(passage=passage, reason="Dossier remis en main propre",
                                     actor=manager, now=T0 - timedelta(minutes=30))
    derogation.grant_start_exception(passage=passage, reason="Dossier papier remis le matin",
                                     actor=manager, now=T0 - timedelta(minutes=10))
    assert not derogation.needs_exception(passage)
    lifecycle.start_passage(passage=passage, actor=members(passage)[0], now=T0)
    first, second = _events("passage.start_exception")
    assert (first.actor_id, first.reason, first.before, first.after) == (
        manager.id, "Dossier remis en main propre", None,
        {"unit": "E4", "candidate": passage.candidate_id,
         "reason": "Dossier remis en main propre"})
    assert (second.reason, second.before["reason"]) == ("Dossier papier remis le matin",
                                                        "Dossier remis en main propre")
    assert (passage.start_exception_reason, passage.start_exception_by_id,
            passage.start_exception_at, passage.started_at) == (
        "Dossier papier remis le matin", manager.id, T0 - timedelta(minutes=10), T0)
    with pytest.raises(JuryError) as started:
        derogation.grant_start_exception(passage=passage, reason="Encore", actor=manager, now=T0)
    assert started.value.message == "Le passage a déjà commencé : une dérogation n'a plus d'objet."


def test_exception_refused_when_the_dossier_is_decided(create_passage, create_user):
    passage = create_passage()
    with pytest.raises(JuryError) as error:
        derogation.grant_start_exception(passage=passage, reason="Au cas où",
                                         actor=create_user(Role.GESTIONNAIRE), now=T0)
    assert error.value.message.startswith("La conformité du dossier est déjà décidée")
    assert _events("passage.start_exception") == []


def test_timer_endpoint_refuses_with_the_reason(client, login_as, create_passage):
    passage = create_passage(conforme=False)
    login_as(members(passage)[0])
    html = client.get(f"/jury/passages/{passage.id}").get_data(as_text=True)
    import re

    token = re.search(r'data-csrf="([^"]+)"', html).group(1)
    response = client.post(f"/jury/passages/{passage.id}/minuteur", json={"action": "start"},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 409
    assert response.get_json() == {"error": "not_decided", "message": REFUSAL, "field": None,
                                   "details": []}


def test_gestionnaire_grants_the_exception_from_the_planning(client, login_as, create_passage,
                                                             create_user):
    passage = create_passage(conforme=False)
    manager = create_user(Role.GESTIONNAIRE, first_name="Gaëlle", last_name="Bureau")
    login_as(members(passage)[0])
    url = f"/gestion/passages/{passage.id}/derogation"
    assert client.get(url).status_code == 403
    login_as(manager)
    planning = client.get(f"/gestion/commissions/{passage.commission_id}/planning").get_data(
        as_text=True)
    assert f'href="{url}">Conformité non décidée : dérogation…' in planning
    page = client.get(url).get_data(as_text=True)
    token = csrf_token_from(page)
    refused = client.post(url, data={"csrf_token": token, "reason": ""})
    assert refused.status_code == 400
    assert "Indiquez le motif de la dérogation." in refused.get_data(as_text=True)
    done = client.post(url, data={"csrf_token": token, "reason": "Dossier papier reçu ce matin"})
    assert done.status_code == 302
    planning = client.get(f"/gestion/commissions/{passage.commission_id}/planning").get_data(
        as_text=True)
    assert "Dérogation conformité accordée" in planning
    [event] = _events("passage.start_exception")
    assert (event.actor_id, event.reason) == (manager.id, "Dossier papier reçu ce matin")
    lifecycle.start_passage(passage=passage, actor=members(passage)[0], now=T0)
    assert passage.started_at == T0


def test_decided_later_needs_no_exception(create_passage):
    passage = create_passage(conforme=False)
    decide_conforme(passage)
    assert not derogation.needs_exception(passage)
    lifecycle.start_passage(passage=passage, actor=members(passage)[0], now=T0)
    assert passage.started_at == T0
