"""Deadlines, extensions, internships, validity (NV) and the conformity decision."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.dossiers.common import DepositError, Limits, find_dossier
from exam_app.dossiers.conformity import DEFAULT_REASONS, configure_reasons, decide, reasons_for
from exam_app.dossiers.deadlines import grant_extension, session_deadline
from exam_app.dossiers.deposit import create_upload
from exam_app.dossiers.internships import add_internship, internship_days, internships
from exam_app.dossiers.models import ConformityReason, Decision, DepositDeadline, Dossier
from exam_app.dossiers.state import dossier_view
from exam_app.dossiers.validity import UnitValidity, nv_candidate_ids, unit_validity
from exam_app.extensions import db
from tests.conftest import csrf_token_from
from tests.dossiers.helpers import complete_dossier, deposit

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
PAST = datetime(2020, 1, 1, tzinfo=UTC)  # a deadline passed both for NOW and the real clock


def _deadline(session, unit="E4", at=NOW):
    db.session.add(DepositDeadline(session_id=session.id, unit_code=unit, deadline_at=at))
    db.session.flush()


def test_validity_before_and_after_the_deadline(app, create_session, create_candidate):
    session = create_session()
    absent, partial, complete = (create_candidate(session) for _ in range(3))
    deposit(app, partial, "E4", "sommaire")
    complete_dossier(app, complete, "E4")
    _deadline(session)
    before, after = NOW - timedelta(seconds=1), NOW + timedelta(seconds=1)
    assert [unit_validity(candidate_id=c.id, unit_code="E4", now=before)
            for c in (absent, partial, complete)] == [UnitValidity.PENDING] * 3
    assert [unit_validity(candidate_id=c.id, unit_code="E4", now=after)
            for c in (absent, partial, complete)] == [UnitValidity.NV, UnitValidity.NV,
                                                       UnitValidity.PENDING]
    assert nv_candidate_ids(session_id=session.id, unit_code="E4", now=after) == {absent.id,
                                                                                 partial.id}
    assert unit_validity(candidate_id=absent.id, unit_code="E6", now=after) is UnitValidity.VALID
    assert nv_candidate_ids(session_id=session.id, unit_code="E6", now=after) == set()


def test_extension_keeps_the_dossier_open_and_is_audited(app, create_session, create_candidate,
                                                         create_user):
    session = create_session()
    candidate = create_candidate(session)
    _deadline(session)
    manager = create_user(Role.GESTIONNAIRE)
    grant_extension(candidate=candidate, unit_code="E4", until=NOW + timedelta(days=2),
                             reason="Hospitalisation", actor=manager, now=NOW)
    upload = create_upload(candidate=candidate, unit_code="E4", piece_code="sommaire",
                                    filename="a.pdf", size=10, actor=None,
                                    limits=Limits(), now=NOW + timedelta(days=1))
    assert upload.id is not None
    assert unit_validity(candidate_id=candidate.id, unit_code="E4",
                         now=NOW + timedelta(days=1)) is UnitValidity.PENDING
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "dossier.extension"))
    assert (event.reason, event.actor_id) == ("Hospitalisation", manager.id)


def test_decisions_set_validity_and_revision_needs_a_reason(app, create_session, create_candidate,
                                                            create_user):
    session = create_session()
    _deadline(session, at=PAST)
    candidate = create_candidate(session)
    complete_dossier(app, candidate, "E4")
    manager = create_user(Role.GESTIONNAIRE)
    decide(candidate=candidate, unit_code="E4", decision=Decision.NON_COMPLIANT,
                    reasons=["stage_insuffisant"], comment="62 jours", actor=manager, now=NOW)
    assert unit_validity(candidate_id=candidate.id, unit_code="E4", now=NOW) is UnitValidity.NV
    try:
        decide(candidate=candidate, unit_code="E4", decision=Decision.COMPLIANT,
                        reasons=[], comment="", actor=manager, now=NOW)
    except DepositError as error:
        assert error.status == 409
    else:
        raise AssertionError("a revision without a reason was accepted")
    decide(candidate=candidate, unit_code="E4", decision=Decision.COMPLIANT, reasons=[],
                    comment="", actor=manager, revision_reason="Attestation reçue", now=NOW)
    assert unit_validity(candidate_id=candidate.id, unit_code="E4", now=NOW) is UnitValidity.VALID
    events = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action.like("dossier.conformity%")).order_by(AuditEvent.id)).all()
    assert [(e.action, e.reason, e.after["decision"]) for e in events] == [
        ("dossier.conformity_decided", None, "non_compliant"),
        ("dossier.conformity_revised", "Attestation reçue", "compliant")]
    assert events[1].before["reasons"] == ["stage_insuffisant"]


def test_reason_configured_without_nv_effect_keeps_the_unit_valid(app, create_session,
                                                                  create_candidate, create_user):
    session = create_session()
    _deadline(session, at=PAST)
    candidate = create_candidate(session)
    db.session.add_all([
        ConformityReason(session_id=session.id, code="pieces_non_signees",
                         label="Pièces non signées", makes_nv=False, position=1),
        ConformityReason(session_id=session.id, code="absence_dossier",
                         label="Absence de dossier", makes_nv=True, position=0)])
    db.session.flush()
    decide(candidate=candidate, unit_code="E4", decision=Decision.NON_COMPLIANT,
                    reasons=["pieces_non_signees"], comment="", actor=None, now=NOW)
    assert unit_validity(candidate_id=candidate.id, unit_code="E4", now=NOW) is UnitValidity.VALID


def test_internship_days_count_working_days_once(app, create_session, create_candidate):
    session = create_session()
    candidate = create_candidate(session)
    # Monday 4 Jan - Friday 29 Jan 2027 (20 days) and an overlapping week.
    add_internship(candidate=candidate, organisation="Mairie", start_date=date(2027, 1, 4),
                            end_date=date(2027, 1, 29), actor=None)
    add_internship(candidate=candidate, organisation="Mairie bis",
                            start_date=date(2027, 1, 25), end_date=date(2027, 2, 5), actor=None)
    assert internship_days(internships(candidate.id)) == 25


def test_candidate_declares_internships_and_sees_the_total(depositor):
    page = depositor.client.post(f"/candidat/{depositor.candidate.id}/stages", data={
        "csrf_token": depositor.token, "stage-organisation": "Cabinet Dupont",
        "stage-start_date": "2027-01-04", "stage-end_date": "2027-04-09"}, follow_redirects=True)
    text = page.get_data(as_text=True)
    assert "Période de stage enregistrée." in text
    assert "Total déclaré : <strong>70 jour(s) ouvrés</strong> sur les 70 jours exigés" in text
    bad = depositor.client.post(f"/candidat/{depositor.candidate.id}/stages", data={
        "csrf_token": depositor.token, "stage-organisation": "X",
        "stage-start_date": "2027-02-01", "stage-end_date": "2027-01-01"}, follow_redirects=True)
    assert "La date de fin précède la date de début." in bad.get_data(as_text=True)


def test_gestionnaire_sets_the_deadline_in_paris_time(client, login_as, create_session,
                                                     create_user):
    session = create_session()
    login_as(create_user(Role.GESTIONNAIRE))
    page = client.get(f"/gestion/sessions/{session.code}/dossiers/echeances")
    token = csrf_token_from(page.get_data(as_text=True))
    response = client.post(f"/gestion/sessions/{session.code}/dossiers/echeances",
                           data={"csrf_token": token, "unit": "E5", "deadline": "2027-03-15T23:59"})
    assert response.status_code == 302
    assert session_deadline(session_id=session.id, unit_code="E5") == datetime(
        2027, 3, 15, 22, 59, tzinfo=UTC)


def test_queue_decides_with_json_and_the_candidate_sees_the_reasons(app, client, login_as,
                                                                    create_session,
                                                                    create_candidate,
                                                                    create_user):
    session = create_session()
    _deadline(session, at=PAST)
    candidate = create_candidate(session)
    deposit(app, candidate, "E4", "sommaire")
    login_as(create_user(Role.GESTIONNAIRE))
    queue = client.get(f"/gestion/sessions/{session.code}/conformite/E4").get_data(as_text=True)
    assert candidate.full_name in queue
    fragment = client.get(f"/gestion/conformite/{candidate.id}/E4?fragment=1").get_data(
        as_text=True)
    assert "Pièce : Fiches descriptives de mission" in fragment
    assert "<html" not in fragment
    token = csrf_token_from(fragment)
    response = client.post(f"/gestion/conformite/{candidate.id}/E4", data={
        "csrf_token": token, "decision": "non_compliant", "reasons": ["pieces_manquantes"],
        "comment": "Fiches absentes"}, headers={"Accept": "application/json"})
    assert response.get_json() == {"decision": "non_compliant", "validity": "nv",
                                   "label": "NV (non valide)"}
    again = client.post(f"/gestion/conformite/{candidate.id}/E4", data={
        "csrf_token": token, "decision": "compliant"}, headers={"Accept": "application/json"})
    assert again.status_code == 409
    login_as(create_user(Role.CANDIDAT, candidate=candidate))
    home = client.get("/candidat/").get_data(as_text=True)
    assert "Non conforme</strong>" in home
    assert "Pièces manquantes" in home
    assert "Épreuve non valide (NV)" in home


def test_dashboard_counts_and_csv(app, client, login_as, create_session, create_candidate,
                                  create_user):
    session = create_session()
    absent, partial, complete = (create_candidate(session) for _ in range(3))
    deposit(app, partial, "E4", "sommaire")
    complete_dossier(app, complete, "E4")
    login_as(create_user(Role.GESTIONNAIRE))
    page = client.get(f"/gestion/sessions/{session.code}/dossiers/?unite=E4&statut=missing")
    text = page.get_data(as_text=True)
    assert absent.full_name in text
    assert partial.full_name not in text
    csv_text = client.get(f"/gestion/sessions/{session.code}/dossiers/depots.csv?unite=E4").get_data(
        as_text=True)
    rows = [line.split(";") for line in csv_text.lstrip("\ufeff").splitlines()]
    assert {r[0]: r[6] for r in rows[1:]} == {absent.number: "Absent", partial.number: "Incomplet",
                                             complete.number: "Déposé (complet)"}
    assert db.session.scalar(sa.select(sa.func.count(Dossier.id))) == 2



def test_depots_csv_neutralises_formulas_in_names(app, client, login_as, create_session,
                                                  create_candidate, create_user):
    session = create_session()
    tricky = create_candidate(session, last_name='=HYPERLINK("http://x";"clic")',
                              first_name="+33 6")
    deposit(app, tricky, "E4", "sommaire")
    login_as(create_user(Role.GESTIONNAIRE))
    response = client.get(f"/gestion/sessions/{session.code}/dossiers/depots.csv?unite=E4")
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename=depots-{session.code}-E4.csv")
    assert response.mimetype == "text/csv"
    data = response.get_data()
    assert data.startswith("\ufeff".encode()) and b"\r\n" in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[1][:3] == [tricky.number, "'=HYPERLINK(\"http://x\";\"clic\")", "'+33 6"]
    assert rows[1][6] == "Incomplet"

def test_gestionnaire_configures_reasons_and_their_nv_effect(client, login_as, create_session,
                                                            create_user):
    session = create_session()
    login_as(create_user(Role.GESTIONNAIRE))
    page = client.get(f"/gestion/sessions/{session.code}/conformite/motifs").get_data(as_text=True)
    data = {"csrf_token": csrf_token_from(page), "new_label": "Attestation illisible"}
    for reason in DEFAULT_REASONS:
        data[f"label-{reason.code}"] = reason.label
        if reason.code != "pieces_non_signees":
            data[f"nv-{reason.code}"] = "1"
    data["remove-hors_delai"] = "1"
    response = client.post(f"/gestion/sessions/{session.code}/conformite/motifs", data=data)
    assert response.status_code == 302
    assert [(r.code, r.makes_nv) for r in reasons_for(session.id)] == [
        ("absence_dossier", True), ("pieces_manquantes", True), ("stage_insuffisant", True),
        ("pieces_non_signees", False), ("attestation_illisible", False)]


def test_reason_used_by_a_decision_cannot_be_removed(app, create_session, create_candidate):
    session = create_session()
    _deadline(session, at=PAST)
    candidate = create_candidate(session)
    decide(candidate=candidate, unit_code="E4", decision=Decision.NON_COMPLIANT,
                    reasons=["hors_delai"], comment="", actor=None, now=NOW)
    kept = [r for r in DEFAULT_REASONS if r.code != "hors_delai"]
    try:
        configure_reasons(session=session, reasons=kept, actor=None)
    except DepositError as error:
        assert error.message.startswith("Motif utilisé par des décisions, il ne peut pas être "
                                        "retiré : Dépôt hors délai")
    else:
        raise AssertionError("a reason in use was removed")
    assert [r.code for r in reasons_for(session.id)] == [
        r.code for r in DEFAULT_REASONS]


def test_extension_form_sets_paris_time_and_reopens_the_dossier(client, login_as, create_session,
                                                                create_candidate, create_user):
    session = create_session()
    candidate = create_candidate(session)
    _deadline(session, at=datetime(2020, 1, 1, tzinfo=UTC))
    login_as(create_user(Role.GESTIONNAIRE))
    url = f"/gestion/dossiers/{candidate.id}/E4/derogation"
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    missing = client.post(url, data={"csrf_token": token, "until": "2099-06-30T12:00"})
    assert missing.status_code == 400
    assert "Indiquez le motif de la dérogation." in missing.get_data(as_text=True)
    response = client.post(url, data={"csrf_token": token, "until": "2099-06-30T12:00",
                                      "reason": "Hospitalisation"})
    assert response.status_code == 302
    dossier = find_dossier(candidate_id=candidate.id, unit_code="E4")
    assert (dossier.extended_until, dossier.extension_reason) == (
        datetime(2099, 6, 30, 10, 0, tzinfo=UTC), "Hospitalisation")
    assert dossier_view(candidate=candidate, unit_code="E4").is_open is True
