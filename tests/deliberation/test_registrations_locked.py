"""A candidate's status and registrations (bénéfice, dispense, form) decide results too:
once the délibération is closed they are locked with the marks, in the services, on the
candidate's page and in both imports; reopening unlocks them (issue 14, §4)."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from exam_app.audit.models import AuditEvent
from exam_app.deliberation import services
from exam_app.enrolment import registration
from exam_app.enrolment.models import Candidate, CandidateStatus, UnitRegistration
from exam_app.enrolment.services import import_candidates
from exam_app.extensions import db
from exam_app.results import deliberation as pages
from exam_app.results import exports
from tests.conftest import csrf_token_from


def _benefice(candidate):
    return registration.validate(session=candidate.session, candidate=candidate,
                                 unit_code="E4", kind="benefice", kept_mark="14,5",
                                 kept_year=str(candidate.session.year - 1), reason="demande")


def _registrations(candidate_id: int) -> list[tuple]:
    return list(db.session.execute(sa.select(UnitRegistration.unit_code, UnitRegistration.kind)
                                   .where(UnitRegistration.candidate_id == candidate_id)
                                   .order_by(UnitRegistration.unit_code)))


@pytest.fixture()
def closed(delib):
    pages.close(session=delib["session"], actor=delib["president"])
    db.session.commit()
    return delib


def test_status_and_registration_services_are_refused_once_closed(closed):
    candidate = closed["candidates"][0]
    before_rows, before_status = _registrations(candidate.id), candidate.status
    results_before = exports.result_rows(closed["session"].id)
    with pytest.raises(services.ResultsLocked) as refused:
        registration.set_registration(candidate=candidate, registration=_benefice(candidate),
                                      actor=closed["gestionnaire"])
    assert refused.value.message == services.LOCKED_MESSAGE
    db.session.rollback()
    with pytest.raises(services.ResultsLocked):
        registration.set_status(candidate=candidate, status=CandidateStatus.INDIVIDUEL,
                                actor=closed["gestionnaire"])
    db.session.rollback()
    candidate = db.session.get(Candidate, candidate.id)
    assert (_registrations(candidate.id), candidate.status) == (before_rows, before_status)
    assert exports.result_rows(closed["session"].id) == results_before
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id)).where(
        AuditEvent.action.in_(["candidate.registration", "candidate.status"]))) == 0


def test_both_imports_are_refused_whole_once_closed(closed):
    session, candidate = closed["session"], closed["candidates"][1]
    before = _registrations(candidate.id)
    data = (f"N° candidat;Épreuve;Inscription;Note;Session;Motif;Forme\n"
            f"{candidate.number};E6;dispensé;;;VAE;\n").encode()
    with pytest.raises(services.ResultsLocked):
        registration.import_registrations(session=session, data=data, actor=None, max_rows=10)
    db.session.rollback()
    assert _registrations(candidate.id) == before
    rows = (f"N° candidat;Nom;Prénom;Date de naissance;UAI;Statut\n"
            f"{candidate.number};{candidate.last_name};{candidate.first_name};01/02/2005;"
            f"{candidate.establishment.uai};candidat libre\n").encode()
    with pytest.raises(services.ResultsLocked):
        import_candidates(session=session, data=rows, actor=None, max_rows=10)
    db.session.rollback()
    assert db.session.get(Candidate, candidate.id).status != CandidateStatus.INDIVIDUEL


def test_reopening_unlocks_registrations(closed):
    services.reopen(session_id=closed["session"].id, reason="Erreur matérielle",
                    actor=closed["gestionnaire"])
    candidate = closed["candidates"][0]
    assert registration.set_registration(candidate=candidate, registration=_benefice(candidate),
                                         actor=closed["gestionnaire"]) is True
    assert ("E4", "benefice") in [(u, k.value) for u, k in _registrations(candidate.id)]


def test_candidate_page_says_locked_and_refuses_posts_with_409(client, login_as, closed):
    session, candidate = closed["session"], closed["candidates"][0]
    before = _registrations(candidate.id), candidate.status
    login_as(closed["gestionnaire"])
    url = f"/gestion/sessions/{session.code}/candidats/{candidate.number}"
    html = client.get(url).get_data(as_text=True)
    assert "data-results-locked" in html and "La délibération de cette session est close" in html
    assert 'disabled>Enregistrer le statut</button>' in html
    assert "disabled>Enregistrer l'E4</button>" in html
    token = csrf_token_from(html)
    status = client.post(url + "/statut", data={"csrf_token": token, "status": "individuel"})
    assert status.status_code == 409
    assert "Modification refusée : rien n&#39;a été modifié." in status.get_data(as_text=True)
    benefice = client.post(url + "/inscription/E4", data={
        "E4-csrf_token": token, "E4-kind": "benefice", "E4-kept_mark": "14,5",
        "E4-kept_year": str(session.year - 1), "E4-reason": "demande"})
    assert benefice.status_code == 409
    assert "La délibération de cette session est close" in benefice.get_data(as_text=True)
    imported = client.post(f"/gestion/sessions/{session.code}/candidats/inscriptions", data={
        "csrf_token": token, "file": (io.BytesIO(
            f"N° candidat;Épreuve;Inscription;Note;Session;Motif;Forme\n"
            f"{candidate.number};E6;dispensé;;;VAE;\n".encode()),
            "inscriptions.csv")}, content_type="multipart/form-data")
    assert imported.status_code == 409
    assert "Rien n&#39;a été importé." in imported.get_data(as_text=True)
    db.session.expire_all()
    assert (_registrations(candidate.id), db.session.get(Candidate, candidate.id).status) == before


def test_open_session_page_has_no_lock_notice(client, login_as, delib):
    login_as(delib["gestionnaire"])
    candidate = delib["candidates"][0]
    html = client.get(f"/gestion/sessions/{delib['session'].code}/candidats/"
                      f"{candidate.number}").get_data(as_text=True)
    assert "data-results-locked" not in html
    assert 'disabled>Enregistrer le statut' not in html


def test_session_rules_are_locked_with_the_results(closed):
    """The CCF combination and NV's rule decide results: not changed once closed."""
    from exam_app.enrolment import sessions

    session = closed["session"]
    rule = {"ccf_combination": "global_absence_counted"}
    with pytest.raises(services.ResultsLocked):
        sessions.change_rules(session=session, actor=closed["gestionnaire"],
                              reason="décision du recteur", **rule)
    db.session.rollback()
    assert db.session.get(type(session), session.id).ccf_combination == "global"
    services.reopen(session_id=session.id, reason="Erreur matérielle",
                    actor=closed["gestionnaire"])
    assert sessions.change_rules(session=session, actor=closed["gestionnaire"],
                                 reason="décision du recteur", **rule) == ["ccf_combination"]


def _candidates_file(candidate) -> bytes:
    return (f"N° candidat;Nom;Prénom;Date de naissance;UAI;Statut\n"
            f"{candidate.number};{candidate.last_name};{candidate.first_name};01/02/2005;"
            f"{candidate.establishment.uai};candidat libre\n").encode()


def test_candidate_import_page_refuses_with_the_lock_message(client, login_as, closed):
    session, candidate = closed["session"], closed["candidates"][1]
    before = candidate.status
    login_as(closed["gestionnaire"])
    url = f"/gestion/sessions/{session.code}/candidats/import"
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    response = client.post(url, data={"csrf_token": token, "file": (
        io.BytesIO(_candidates_file(candidate)), "candidats.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "La délibération de cette session est close" in html
    assert "Rien n&#39;a été importé." in html
    db.session.expire_all()
    assert db.session.get(Candidate, candidate.id).status == before


def test_candidate_import_command_refuses_with_the_lock_message(app, closed, tmp_path):
    candidate = closed["candidates"][1]
    path = tmp_path / "candidats.csv"
    path.write_bytes(_candidates_file(candidate))
    result = app.test_cli_runner().invoke(args=["import-candidates", str(path), "--session",
                                                closed["session"].code])
    assert result.exit_code == 1
    assert "La délibération de cette session est close" in result.output
    assert "Rien n'a été importé." in result.output
    assert "Traceback" not in result.output
