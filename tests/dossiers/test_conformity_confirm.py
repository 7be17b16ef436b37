"""Issue 11 item 14: a conforme decision on a dossier with missing pieces, and any
decision before the deadline, need an explicit confirmation (service, form, JSON)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.dossiers.common import DepositError, find_dossier
from exam_app.dossiers.conformity import decide
from exam_app.dossiers.deadlines import grant_extension
from exam_app.dossiers.models import Decision, DepositDeadline
from exam_app.extensions import db
from tests.conftest import csrf_token_from
from tests.dossiers.helpers import complete_dossier, deposit

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
ALL_E4_PIECES = ("Sommaire, Description des missions menées, Attestation de non-plagiat, "
                 "Attestations de stage ou certificats de travail, "
                 "Fiches descriptives de mission")


def _deadline(session, at):
    db.session.add(DepositDeadline(session_id=session.id, unit_code="E4", deadline_at=at))
    db.session.flush()


def _events():
    return db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action.like("dossier.conformity%")).order_by(AuditEvent.id)).all()


def _refusal(**kwargs) -> DepositError:
    with pytest.raises(DepositError) as caught:
        decide(**kwargs)
    return caught.value


def test_absent_dossier_is_not_conforme_without_confirmation_naming_the_pieces(
        app, create_session, create_candidate, create_user):
    session = create_session()
    _deadline(session, NOW - timedelta(days=1))
    candidate = create_candidate(session)
    manager = create_user(Role.GESTIONNAIRE)
    args = dict(candidate=candidate, unit_code="E4", decision=Decision.COMPLIANT, reasons=[],
                comment="", actor=manager, now=NOW)
    error = _refusal(**args)
    assert (error.status, error.code, error.field) == (409, "confirm_missing", "confirm_missing")
    assert error.message == (f"Pièces manquantes : {ALL_E4_PIECES}. Confirmez pour déclarer ce "
                             "dossier conforme malgré tout.")
    assert len(error.details) == 5
    assert find_dossier(candidate_id=candidate.id, unit_code="E4") is None
    assert _events() == []
    decide(**args, confirm_missing=True)
    assert find_dossier(candidate_id=candidate.id, unit_code="E4").decision == "compliant"
    [event] = _events()
    assert event.after["confirmed_missing"] == error.details
    assert "confirmed_early" not in event.after


def test_partial_dossier_names_only_what_is_missing_and_non_conforme_needs_no_confirmation(
        app, create_session, create_candidate, create_user):
    session = create_session()
    _deadline(session, NOW - timedelta(days=1))
    candidate, other = create_candidate(session), create_candidate(session)
    for piece in ("sommaire", "description_missions", "non_plagiat", "attestations_stage"):
        deposit(app, candidate, "E4", piece)
    deposit(app, candidate, "E4", "fiches_mission", name="f1.pdf")
    error = _refusal(candidate=candidate, unit_code="E4", decision=Decision.COMPLIANT,
                     reasons=[], comment="", actor=None, now=NOW)
    assert error.details == ["Fiches descriptives de mission (1/4)"]
    decide(candidate=other, unit_code="E4", decision=Decision.NON_COMPLIANT,
           reasons=["absence_dossier"], comment="", actor=None, now=NOW)
    [event] = _events()
    assert "confirmed_missing" not in event.after


def test_complete_dossier_after_the_deadline_is_decided_at_once(app, create_session,
                                                              create_candidate):
    session = create_session()
    _deadline(session, NOW - timedelta(days=1))
    candidate = create_candidate(session)
    complete_dossier(app, candidate, "E4")
    decide(candidate=candidate, unit_code="E4", decision=Decision.COMPLIANT, reasons=[],
           comment="", actor=None, now=NOW)
    [event] = _events()
    assert (event.after["decision"], "confirmed_missing" in event.after,
            "confirmed_early" in event.after) == ("compliant", False, False)


@pytest.mark.parametrize("decision,reasons", [(Decision.COMPLIANT, []),
                                              (Decision.NON_COMPLIANT, ["hors_delai"])])
def test_nothing_is_decided_before_the_deadline_unless_confirmed(
        app, create_session, create_candidate, decision, reasons):
    session = create_session()
    deadline = NOW + timedelta(days=2)
    _deadline(session, deadline)
    candidate = create_candidate(session)
    complete_dossier(app, candidate, "E4")
    args = dict(candidate=candidate, unit_code="E4", decision=decision, reasons=reasons,
                comment="", actor=None, now=NOW)
    error = _refusal(**args)
    assert (error.status, error.code) == (409, "confirm_early")
    assert error.message == (
        "Décision avant la date limite : la date limite de dépôt (03/03/2027 à 13 h 00, heure de "
        "Paris) n'est pas passée, le candidat peut encore déposer. Confirmez pour décider dès "
        "maintenant.")
    assert _events() == []
    decide(**args, confirm_early=True)
    [event] = _events()
    assert event.after["confirmed_early"] == {"deadline": deadline.isoformat()}


def test_extension_counts_and_a_missing_deadline_needs_the_confirmation_too(
        app, create_session, create_candidate, create_user):
    session = create_session()
    _deadline(session, NOW - timedelta(days=1))
    extended, = (create_candidate(session),)
    complete_dossier(app, extended, "E4")
    grant_extension(candidate=extended, unit_code="E4", until=NOW + timedelta(hours=3),
                    reason="Hospitalisation", actor=None, now=NOW - timedelta(days=2))
    assert _refusal(candidate=extended, unit_code="E4", decision=Decision.COMPLIANT, reasons=[],
                    comment="", actor=None, now=NOW).code == "confirm_early"
    other_session = create_session()
    unset = create_candidate(other_session)
    error = _refusal(candidate=unset, unit_code="E4", decision=Decision.NON_COMPLIANT,
                     reasons=["absence_dossier"], comment="", actor=None, now=NOW)
    assert error.details == ["la date limite de dépôt n'est pas fixée"]


def test_both_confirmations_are_needed_and_recorded(app, create_session, create_candidate,
                                                   create_user):
    session = create_session()
    _deadline(session, NOW + timedelta(days=1))
    candidate = create_candidate(session)
    args = dict(candidate=candidate, unit_code="E4", decision=Decision.COMPLIANT, reasons=[],
                comment="", actor=create_user(Role.GESTIONNAIRE), now=NOW)
    assert _refusal(**args).code == "confirm_missing"
    assert _refusal(**args, confirm_missing=True).code == "confirm_early"
    assert _refusal(**args, confirm_early=True).code == "confirm_missing"
    decide(**args, confirm_missing=True, confirm_early=True)
    [event] = _events()
    assert len(event.after["confirmed_missing"]) == 5
    assert "deadline" in event.after["confirmed_early"]


def test_json_refusal_names_the_pieces_and_the_confirmation_decides(
        app, client, login_as, create_session, create_candidate, create_user):
    session = create_session()
    _deadline(session, datetime(2020, 1, 1, tzinfo=UTC))
    candidate = create_candidate(session)
    deposit(app, candidate, "E4", "sommaire")
    login_as(create_user(Role.GESTIONNAIRE))
    fragment = client.get(f"/gestion/conformite/{candidate.id}/E4?fragment=1").get_data(
        as_text=True)
    assert "data-missing='[\"Description des missions men\\u00e9es\"" in fragment
    assert 'name="confirm_missing"' in fragment and 'name="confirm_early"' not in fragment
    token = csrf_token_from(fragment)
    url = f"/gestion/conformite/{candidate.id}/E4"
    refused = client.post(url, data={"csrf_token": token, "decision": "compliant"},
                          headers={"Accept": "application/json"})
    assert refused.status_code == 409
    body = refused.get_json()
    assert (body["error"], body["field"]) == ("confirm_missing", "confirm_missing")
    assert body["message"].startswith("Pièces manquantes : Description des missions menées, ")
    assert find_dossier(candidate_id=candidate.id, unit_code="E4").decision is None
    accepted = client.post(url, data={"csrf_token": token, "decision": "compliant",
                                      "confirm_missing": "y"},
                           headers={"Accept": "application/json"})
    assert accepted.get_json() == {"decision": "compliant", "validity": "valid",
                                   "label": "Valide"}
    [event] = _events()
    assert event.after["confirmed_missing"][0] == "Description des missions menées"


def test_form_refusal_before_the_deadline_then_confirmed(app, client, login_as, create_session,
                                                         create_candidate, create_user):
    session = create_session()
    _deadline(session, datetime(2099, 6, 30, 21, 59, tzinfo=UTC))
    candidate = create_candidate(session)
    complete_dossier(app, candidate, "E4")
    login_as(create_user(Role.GESTIONNAIRE))
    url = f"/gestion/conformite/{candidate.id}/E4"
    page = client.get(url).get_data(as_text=True)
    assert "la date limite de dépôt (30/06/2099 à 23 h 59) n&#39;est pas passée" in page
    token = csrf_token_from(page)
    refused = client.post(url, data={"csrf_token": token, "decision": "compliant"})
    assert refused.status_code == 409
    text = refused.get_data(as_text=True)
    assert "Décision avant la date limite : la date limite de dépôt (30/06/2099 à 23 h 59, heure de " \
           "Paris) n&#39;est pas passée" in text
    assert find_dossier(candidate_id=candidate.id, unit_code="E4").decision is None
    done = client.post(url, data={"csrf_token": token, "decision": "compliant",
                                  "confirm_early": "y"})
    assert done.status_code == 302
    [event] = _events()
    assert event.after["confirmed_early"] == {"deadline": "2099-06-30T21:59:00+00:00"}
