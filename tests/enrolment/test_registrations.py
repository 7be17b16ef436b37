"""Candidate statuses and per-unit registrations (issue 14, §1): the status column of
the candidate import, the default E5 form, the registrations CSV, the services (audited),
the "who sits unit X" condition and the candidate's page."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.enrolment import csv_import, registration
from exam_app.enrolment.models import (
    Candidate,
    CandidateStatus,
    Establishment,
    RegistrationKind,
    UnitRegistration,
)
from exam_app.enrolment.registration import RegistrationError
from exam_app.enrolment.services import import_candidates
from exam_app.units import UnitForm
from tests.conftest import csrf_token_from

TODAY = date(2026, 11, 27)


def _csv(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


@pytest.fixture()
def schools(db, create_establishment):
    return {"ccf": create_establishment(uai="0690001A", name="Lycée habilité",
                                        is_ccf_allowed=True),
            "plain": create_establishment(uai="0690002B", name="Institut non habilité")}


# ---- status in the candidate import ---------------------------------------------------


def test_parse_reads_tolerant_status_values_and_makes_forme_e5_optional():
    data = _csv("N° candidat;Nom;Prénom;Date de naissance;UAI;Statut",
                "A1;UN;Un;01/02/2005;0690001A;Scolaire",
                "A2;DEUX;Deux;01/02/2005;0690001A;apprenti",
                "A3;TROIS;Trois;01/02/2005;0690001A;Formation continue",
                "A4;QUATRE;Quatre;01/02/2005;0690001A;candidat libre",
                "A5;CINQ;Cinq;01/02/2005;0690001A;CNED",
                "A6;SIX;Six;01/02/2005;0690001A;Enseignement à distance")
    result = csv_import.parse(data, max_rows=100, today=TODAY)
    assert result.errors == []
    assert [(r.number, r.status, r.e5_form) for r in result.rows] == [
        ("A1", "scolaire", ""), ("A2", "apprentissage", ""), ("A3", "formation_continue", ""),
        ("A4", "individuel", ""), ("A5", "distance", ""), ("A6", "distance", "")]


def test_parse_reports_an_unknown_status_and_a_row_without_form_nor_status():
    data = _csv("N° candidat;Nom;Prénom;Date de naissance;UAI;Statut;Forme E5",
                "A1;UN;Un;01/02/2005;0690001A;salarié;",
                "A2;DEUX;Deux;01/02/2005;0690001A;;")
    result = csv_import.parse(data, max_rows=100, today=TODAY)
    assert [str(e) for e in result.errors] == [
        "ligne 2, colonne « Statut » : « salarié » : attendu scolaire, apprentissage, formation "
        "continue, candidat individuel (libre) ou enseignement à distance.",
        "ligne 3, colonne « Forme E5 » : indiquez la forme E5 ou le statut du candidat."]
    assert result.rows == []


def test_import_gives_e5_in_ccf_only_to_a_ccf_status_of_an_allowed_establishment(
        db, create_session, schools):
    session = create_session()
    data = _csv("N° candidat;Nom;Prénom;Date de naissance;UAI;Statut;Forme E5",
                "B1;SCO;Habilite;01/02/2005;0690001A;scolaire;",
                "B2;APP;Habilite;01/02/2005;0690001A;apprentissage;",
                "B3;FC;Habilite;01/02/2005;0690001A;formation continue;",
                "B4;LIBRE;Habilite;01/02/2005;0690001A;individuel;",
                "B5;CNED;Habilite;01/02/2005;0690001A;distance;",
                "B6;SCO;Plain;01/02/2005;0690002B;scolaire;",
                "B7;LIBRE;Force;01/02/2005;0690001A;individuel;CCF")
    report = import_candidates(session=session, data=data, actor=None, max_rows=100)
    assert report.ok, report.errors
    forms = {c.number: (c.status.value, c.form_for("E5").value) for c in db.session.scalars(
        sa.select(Candidate).where(Candidate.session_id == session.id))}
    assert forms == {"B1": ("scolaire", "ccf"), "B2": ("apprentissage", "ccf"),
                     "B3": ("formation_continue", "ccf"), "B4": ("individuel", "ponctuel"),
                     "B5": ("distance", "ponctuel"), "B6": ("scolaire", "ponctuel"),
                     "B7": ("individuel", "ccf")}


def test_reimport_with_a_new_status_applies_its_default_but_keeps_a_benefice(
        db, create_session, schools):
    session = create_session()
    header = "N° candidat;Nom;Prénom;Date de naissance;UAI;Statut"
    import_candidates(session=session, data=_csv(header, "C1;UN;Un;01/02/2005;0690001A;scolaire",
                                                 "C2;DEUX;Deux;01/02/2005;0690001A;scolaire"),
                      actor=None, max_rows=100)
    c2 = db.session.scalar(sa.select(Candidate).where(Candidate.number == "C2"))
    registration.set_registration(candidate=c2, registration=registration.validate(
        session=session, candidate=c2, unit_code="E5", kind="benefice", kept_mark="12",
        kept_year="2025", reason="demande du 10/01"), actor=None)
    report = import_candidates(session=session, data=_csv(
        header, "C1;UN;Un;01/02/2005;0690001A;candidat libre",
        "C2;DEUX;Deux;01/02/2005;0690001A;candidat libre"), actor=None, max_rows=100)
    assert (report.updated, report.unchanged) == (2, 0)
    c1 = db.session.scalar(sa.select(Candidate).where(Candidate.number == "C1"))
    assert (c1.status, c1.form_for("E5")) == (CandidateStatus.INDIVIDUEL, UnitForm.PONCTUEL)
    assert c2.registration("E5").printed == "Bénéfice 2025 — 12"


# ---- the registration rules -------------------------------------------------------------


def test_default_form_by_status_and_establishment_flag(schools):
    for status in CandidateStatus:
        expected = (UnitForm.CCF if status in (CandidateStatus.SCOLAIRE,
                                               CandidateStatus.APPRENTISSAGE,
                                               CandidateStatus.FORMATION_CONTINUE)
                    else UnitForm.PONCTUEL)
        assert registration.default_form(status, schools["ccf"]) == expected
        assert registration.default_form(status, schools["plain"]) == UnitForm.PONCTUEL
    assert registration.default_form(None, schools["ccf"]) == UnitForm.PONCTUEL


@pytest.mark.parametrize(("values", "errors"), [
    ({"kind": "benefice", "kept_mark": "9,5", "kept_year": "2025", "reason": "demande"},
     {"kept_mark": "seule une note d'au moins 10 sur 20 se conserve."}),
    ({"kind": "benefice", "kept_mark": "douze", "kept_year": "2021", "reason": ""},
     {"kept_mark": "« douze » n'est pas une note (ex. 14,5).",
      "kept_year": "une note se conserve cinq ans : session de 2022 à 2026.",
      "reason": "indiquez la demande du candidat (ex. « demande du 12/01 »)."}),
    ({"kind": "benefice", "kept_mark": "", "kept_year": "2027", "reason": "x"},
     {"kept_mark": "indiquez la note conservée.",
      "kept_year": "une note se conserve cinq ans : session de 2022 à 2026."}),
    ({"kind": "dispense", "reason": " "},
     {"reason": "indiquez le motif de la dispense (ex. « bloc 1 validé »)."}),
    ({"kind": "sit", "form": "ccf", "unit": "E4"},
     {"form": "l'E4 se passe en forme Ponctuel."}),
])
def test_validate_refuses_with_a_french_message_per_field(db, create_session, create_candidate,
                                                          values, errors):
    session = create_session(year=2027)
    candidate = create_candidate(session)
    values = dict(values)
    unit = values.pop("unit", "E5")
    with pytest.raises(RegistrationError) as caught:
        registration.validate(session=session, candidate=candidate, unit_code=unit, **values)
    assert caught.value.errors == errors


def test_set_registration_and_status_are_audited(db, create_session, create_candidate,
                                                  create_user, schools):
    session = create_session(year=2027)
    gestionnaire = create_user(Role.GESTIONNAIRE)
    candidate = create_candidate(session, establishment=schools["ccf"], e5_form="ponctuel")
    value = registration.validate(session=session, candidate=candidate, unit_code="E4",
                                  kind="benefice", kept_mark="14,5", kept_year="2025",
                                  reason="demande du 12/01/2027")
    assert registration.set_registration(candidate=candidate, registration=value,
                                         actor=gestionnaire) is True
    assert registration.set_registration(candidate=candidate, registration=value,
                                         actor=gestionnaire) is False
    assert registration.set_status(candidate=candidate, status=CandidateStatus.SCOLAIRE,
                                   actor=gestionnaire) is True
    events = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.object_type == "candidate", AuditEvent.object_id == str(candidate.id))
        .order_by(AuditEvent.id)).all()
    assert [(e.action, e.actor_id) for e in events] == [
        ("candidate.registration", gestionnaire.id), ("candidate.status", gestionnaire.id)]
    assert events[0].before == {"unit": "E4", "kind": "sit"}
    assert events[0].after == {"unit": "E4", "kind": "benefice", "form": None,
                               "kept_mark": "14.5", "kept_year": 2025,
                               "reason": "demande du 12/01/2027"}
    assert events[1].before == {"status": None, "forms": {"E4": None, "E5": "ponctuel"}}
    assert events[1].after == {"status": "scolaire", "forms": {"E4": None, "E5": "ccf"}}
    assert candidate.registration("E4").printed == "Bénéfice 2025 — 14,5"


def test_sits_in_sql_agrees_with_sits_for_every_kind(db, create_session, create_candidate):
    session = create_session(year=2027)
    sitting = create_candidate(session, e5_form="ccf")
    kept = create_candidate(session)
    exempt = create_candidate(session)
    absent = create_candidate(session)
    for candidate, kind, extra in ((kept, "benefice", {"kept_mark": "11", "kept_year": "2026",
                                                       "reason": "demande"}),
                                   (exempt, "dispense", {"reason": "BTS AM obtenu"}),
                                   (absent, "not_registered", {})):
        for unit in ("E4", "E5", "E6"):
            registration.set_registration(candidate=candidate, actor=None,
                                          registration=registration.validate(
                                              session=session, candidate=candidate,
                                              unit_code=unit, kind=kind, **extra))
    everyone = [sitting, kept, exempt, absent]
    for unit in ("E4", "E5", "E6"):
        selected = set(db.session.scalars(sa.select(Candidate.id).where(
            Candidate.session_id == session.id, Candidate.sits_in(unit))))
        assert selected == {c.id for c in everyone if c.sits(unit)} == {sitting.id}
    assert set(db.session.scalars(sa.select(Candidate.id).where(
        Candidate.session_id == session.id, Candidate.sits_in("E5", "ccf")))) == {sitting.id}
    assert {c.registration("E5").printed for c in (kept, exempt, absent)} == {
        "Bénéfice 2026 — 11", "Dispensé", "Non inscrit"}


def test_database_refuses_a_benefice_without_its_mark(db, create_candidate):
    candidate = create_candidate()
    db.session.add(UnitRegistration(candidate_id=candidate.id, unit_code="E4",
                                    kind=RegistrationKind.BENEFICE, reason="x"))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()


# ---- the registrations CSV ----------------------------------------------------------------


def test_registrations_import_records_benefices_dispenses_and_forms(db, create_session,
                                                                    create_candidate, create_user):
    session = create_session(year=2027)
    one = create_candidate(session, number="R1")
    two = create_candidate(session, number="R2")
    gestionnaire = create_user(Role.GESTIONNAIRE)
    data = _csv("N° candidat;Épreuve;Inscription;Note;Session;Motif;Forme",
                "R1;E4;Bénéfice;14,5;2025;demande du 12/01;",
                "r2;e6;dispensé;;;Bloc 3 validé (VAE);",
                "R2;E5;présente;;;;CCF")
    report = registration.import_registrations(session=session, data=data, actor=gestionnaire,
                                               max_rows=100, filename="inscriptions.csv")
    assert (report.errors, report.changed, report.unchanged) == ([], 3, 0)
    assert one.registration("E4").printed == "Bénéfice 2025 — 14,5"
    assert (two.registration("E6").kind, two.registration("E6").reason) == (
        RegistrationKind.DISPENSE, "Bloc 3 validé (VAE)")
    assert two.form_for("E5") == UnitForm.CCF
    event = db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.action == "candidate.registrations_import"))
    assert (event.actor_id, event.after["rows"], event.after["changed"]) == (
        gestionnaire.id, 3, 3)
    again = registration.import_registrations(session=session, data=data, actor=gestionnaire,
                                              max_rows=100)
    assert (again.changed, again.unchanged) == (0, 3)


def test_registrations_import_lists_every_error_with_line_and_column_and_writes_nothing(
        db, create_session, create_candidate):
    session = create_session(year=2027)
    candidate = create_candidate(session, number="R1")
    data = _csv("Numéro candidat,Unité,Situation,Note,Année,Motif",
                "R1,E4,bénéfice,14,2025,demande",
                "R9,E4,dispensé,,,motif",
                "R1,E7,dispensé,,,motif",
                "R1,E5,bénéfice,8,2019,",
                "R1,E6,exempté,,,",
                "R1,E4,dispensé,,,autre")
    report = registration.import_registrations(session=session, data=data, actor=None,
                                               max_rows=100)
    assert [str(e) for e in report.errors] == [
        "ligne 3, colonne « N° candidat » : candidat n° R9 inconnu dans cette session.",
        "ligne 4, colonne « Épreuve » : « E7 » n'est pas une épreuve de la session (E4, E5, E6).",
        "ligne 5, colonne « Note » : seule une note d'au moins 10 sur 20 se conserve.",
        "ligne 5, colonne « Session » : une note se conserve cinq ans : session de 2022 à 2026.",
        "ligne 5, colonne « Motif » : indiquez la demande du candidat (ex. « demande du 12/01 »).",
        "ligne 6, colonne « Inscription » : « exempté » : attendu présente, bénéfice, dispensé "
        "ou non inscrit.",
        "ligne 7, colonne « Épreuve » : le candidat R1 a déjà une ligne pour l'E4 (ligne 2).",
    ]
    db.session.expire_all()
    assert candidate.registration("E4") is None


def test_registrations_import_names_missing_columns():
    report = registration.import_registrations(session=None, data=_csv("N° candidat;Note"),
                                               actor=None, max_rows=10)
    assert [str(e) for e in report.errors] == [
        "ligne 1 : colonne(s) obligatoire(s) absente(s) : « Épreuve », « Inscription ». "
        "En-têtes attendus : N° candidat ; Épreuve ; Inscription ; Note ; Session ; Motif ; "
        "Forme."]


# ---- the candidate's page ---------------------------------------------------------------------


@pytest.fixture()
def page(client, login_as, create_user, create_session, create_candidate, schools):
    session = create_session(year=2027)
    candidate = create_candidate(session, number="P1", establishment=schools["ccf"],
                                 e5_form="ponctuel")
    gestionnaire = create_user(Role.GESTIONNAIRE)
    login_as(gestionnaire)
    url = f"/gestion/sessions/{session.code}/candidats/P1"
    return {"session": session, "candidate": candidate, "url": url,
            "token": csrf_token_from(client.get(url).get_data(as_text=True)),
            "gestionnaire": gestionnaire}


def test_page_changes_the_status_and_the_default_form_follows(client, db, page):
    response = client.post(page["url"] + "/statut",
                           data={"csrf_token": page["token"], "status": "apprentissage"})
    assert response.status_code == 302
    candidate = db.session.get(Candidate, page["candidate"].id)
    db.session.refresh(candidate)
    assert (candidate.status, candidate.form_for("E5")) == (CandidateStatus.APPRENTISSAGE,
                                                            UnitForm.CCF)
    html = client.get(page["url"]).get_data(as_text=True)
    assert '<option selected value="apprentissage">Apprentissage</option>' in html
    assert "Présente l'épreuve (CCF)" in html


def test_page_records_a_benefice_and_refuses_a_bad_mark_on_its_field(client, db, page):
    bad = client.post(page["url"] + "/inscription/E4", data={
        "E4-csrf_token": page["token"], "E4-kind": "benefice", "E4-kept_mark": "25",
        "E4-kept_year": "2025", "E4-reason": "demande"})
    assert bad.status_code == 400
    html = bad.get_data(as_text=True)
    assert 'id="E4-kept_mark-error">seule une note d&#39;au moins 10 sur 20 se conserve.' in html
    assert db.session.scalar(sa.select(UnitRegistration).where(
        UnitRegistration.candidate_id == page["candidate"].id,
        UnitRegistration.unit_code == "E4")) is None
    good = client.post(page["url"] + "/inscription/E4", data={
        "E4-csrf_token": page["token"], "E4-kind": "benefice", "E4-kept_mark": "14,5",
        "E4-kept_year": "2025", "E4-reason": "demande du 12/01"})
    assert good.status_code == 302
    html = client.get(page["url"]).get_data(as_text=True)
    assert "Bénéfice 2025 — 14,5 — demande du 12/01" in html
    assert db.session.scalar(sa.select(AuditEvent.actor_id).where(
        AuditEvent.action == "candidate.registration")) == page["gestionnaire"].id


def test_page_refuses_a_post_without_csrf(client, db, page):
    response = client.post(page["url"] + "/inscription/E6", data={"E6-kind": "dispense",
                                                                  "E6-reason": "x"})
    assert response.status_code == 400
    assert page["candidate"].sits("E6") is True


def test_page_is_for_the_gestionnaire_only(client, login_as, create_user, page):
    login_as(create_user(Role.EXAMINATEUR))
    assert client.get(page["url"]).status_code == 403


def test_establishment_ccf_flag_is_set_by_its_form(client, db, login_as, create_user):
    login_as(create_user(Role.GESTIONNAIRE))
    token = csrf_token_from(client.get("/gestion/etablissements").get_data(as_text=True))
    response = client.post("/gestion/etablissements", data={
        "csrf_token": token, "uai": "0691234Z", "name": "CFA du Rhône", "kind": "cfa",
        "city": "Lyon", "ccf": "y"})
    assert response.status_code == 302
    assert db.session.scalar(sa.select(Establishment.is_ccf_allowed).where(
        Establishment.uai == "0691234Z")) is True


def test_kept_mark_is_stored_exactly(db, create_session, create_candidate):
    session = create_session(year=2027)
    candidate = create_candidate(session)
    registration.set_registration(candidate=candidate, actor=None,
                                  registration=registration.validate(
                                      session=session, candidate=candidate, unit_code="E6",
                                      kind="benefice", kept_mark="13.25", kept_year="2023",
                                      reason="demande"))
    db.session.expire_all()
    assert db.session.scalar(sa.select(UnitRegistration.kept_mark).where(
        UnitRegistration.candidate_id == candidate.id, UnitRegistration.unit_code == "E6")
    ) == Decimal("13.25")
