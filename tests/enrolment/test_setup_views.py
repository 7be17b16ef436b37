"""The set-up pages (issue 13, items 1 and 2): from an empty database to a session with
its dates, rules, establishments and centres; CSRF, roles, French refusals."""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.audit.services import record
from exam_app.enrolment import sessions
from exam_app.enrolment.models import Centre, DepositDeadline, Establishment, ExamSession
from tests.conftest import csrf_token_from


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture()
def gestion(client, login_as, create_user):
    user = create_user(Role.GESTIONNAIRE)
    login_as(user)
    return user


def _token(client, url: str) -> str:
    return csrf_token_from(client.get(url).get_data(as_text=True))


def test_empty_database_first_page_offers_to_create_a_session(client, gestion):
    page = _text(client.get("/gestion/", follow_redirects=True))
    assert "Aucune session n'existe encore" in page
    assert 'href="/gestion/sessions/nouvelle">Créer une session</a>' in page


def test_gestionnaire_creates_a_session_then_lands_on_its_settings(client, db, gestion):
    token = _token(client, "/gestion/sessions/nouvelle")
    response = client.post("/gestion/sessions/nouvelle", data={
        "csrf_token": token, "code": "sam-2027-lyon", "name": "BTS SAM 2027",
        "academie": "Académie de Lyon", "year": "2027", "timezone": "Indian/Reunion"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/gestion/sessions/SAM-2027-LYON/parametres"
    session = db.session.scalar(sa.select(ExamSession))
    assert (session.code, session.timezone) == ("SAM-2027-LYON", "Indian/Reunion")
    page = _text(client.get(response.headers["Location"]))
    assert "Dates et heures à l'heure de La Réunion (Indian/Reunion)" in page
    assert "E4 — " in page and "Début de l'épreuve écrite" in page


def test_create_session_without_csrf_is_refused_and_writes_nothing(client, db, gestion):
    response = client.post("/gestion/sessions/nouvelle", data={
        "code": "S27", "name": "BTS", "academie": "Lyon", "year": "2027",
        "timezone": "Europe/Paris"})
    assert response.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ExamSession)) == 0


def test_create_session_shows_the_service_refusal_on_its_field(client, db, gestion):
    token = _token(client, "/gestion/sessions/nouvelle")
    response = client.post("/gestion/sessions/nouvelle", data={
        "csrf_token": token, "code": "S", "name": "BTS", "academie": "Lyon", "year": "2027",
        "timezone": "Europe/Paris"})
    assert response.status_code == 422
    assert 'id="code-error">Code de session : 2 à 40 caractères' in _text(response)


@pytest.mark.parametrize("role", [Role.CHEF_CENTRE, Role.EXAMINATEUR, Role.CORRECTEUR])
def test_other_roles_cannot_create_or_edit_a_session(client, login_as, create_user,
                                                     create_session, create_centre, role):
    session = create_session()
    user = create_user(role, centre=create_centre(session) if role == Role.CHEF_CENTRE else None)
    login_as(user)
    assert client.get("/gestion/sessions/nouvelle").status_code == 403
    assert client.get(f"/gestion/sessions/{session.code}/parametres").status_code == 403


@pytest.fixture()
def session(db, gestion):
    return sessions.create_session(actor=gestion, code="S27", name="BTS SAM 2027",
                                   academie="Lyon", year=2027)


def _settings(client, session, **data):
    url = f"/gestion/sessions/{session.code}/parametres"
    return client.post(url, data={"csrf_token": _token(client, url), **data})


def test_dates_form_saves_in_the_session_zone_and_refuses_contradictions(client, db, session):
    ok = _settings(client, session, section="dates-E4", **{
        "E4-csrf_token": _token(client, f"/gestion/sessions/{session.code}/parametres"),
        "E4-deposit_deadline_at": "2027-04-02T23:59", "E4-orals_start_on": "2027-05-10",
        "E4-orals_end_on": "2027-05-21"})
    assert ok.status_code == 302
    assert db.session.scalar(sa.select(DepositDeadline.deadline_at)) == datetime(
        2027, 4, 2, 21, 59, tzinfo=UTC)
    refused = _settings(client, session, section="dates-E4", **{
        "E4-csrf_token": _token(client, f"/gestion/sessions/{session.code}/parametres"),
        "E4-deposit_deadline_at": "2027-05-12T12:00", "E4-orals_start_on": "2027-05-10",
        "E4-orals_end_on": "2027-05-21"})
    assert refused.status_code == 422
    assert ("E4 : la date limite de dépôt (12/05/2027 à 12 h 00) tombe après le début des "
            "oraux (10/05/2027)") in _text(refused)
    db.session.expire_all()
    assert db.session.scalar(sa.select(DepositDeadline.deadline_at)) == datetime(
        2027, 4, 2, 21, 59, tzinfo=UTC)


def test_rules_form_asks_a_reason_once_the_rule_is_used(client, db, session, gestion):
    record(actor=gestion, action="mark.validate", object_type="passage", object_id=1,
           session_id=session.id)
    db.session.flush()
    rules = {"section": "regles", "mark_step": "1", "internship_min_days": "70",
             "e4_fiche_max_pages": "", "e6_duration_minutes": "240",
             "nv_excludes_interview": "1", "ccf_combination": "global"}
    page = _text(client.get(f"/gestion/sessions/{session.code}/parametres"))
    assert ("Déjà appliquées : pas de notation, conséquence d'un dossier non valide, "
            "combinaison des situations de CCF (E5).") in page
    refused = _settings(client, session, **rules)
    assert refused.status_code == 422
    assert 'id="reason-error">Règle déjà appliquée (pas de notation)' in _text(refused)
    db.session.expire_all()
    assert str(db.session.get(ExamSession, session.id).mark_step) == "0.50"
    saved = _settings(client, session, **rules, reason="Circulaire rectificative")
    assert saved.status_code == 302
    event = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "session.rules_change")).one()
    assert (event.reason, event.actor_id) == ("Circulaire rectificative", gestion.id)


def test_the_ccf_combination_rule_is_edited_on_the_settings_page(client, db, session, gestion):
    record(actor=gestion, action="mark.final", object_type="passage", object_id=1,
           session_id=session.id)
    db.session.flush()
    rules = {"section": "regles", "mark_step": "0.5", "internship_min_days": "70",
             "e4_fiche_max_pages": "", "e6_duration_minutes": "240",
             "nv_excludes_interview": "1", "ccf_combination": "global_absence_counted"}
    page = _text(client.get(f"/gestion/sessions/{session.code}/parametres"))
    # The session's rule (DOMAIN.md's default) is the one checked.
    assert re.search(r'<input[^>]*checked[^>]*value="global"', page)
    refused = _settings(client, session, **rules)
    assert refused.status_code == 422
    assert ('id="reason-error">Règle déjà appliquée (combinaison des situations de CCF (E5))'
            in _text(refused))
    saved = _settings(client, session, **rules, reason="Décision du jury académique")
    assert saved.status_code == 302
    db.session.expire_all()
    assert db.session.get(ExamSession, session.id).ccf_combination == "global_absence_counted"
    unknown = _settings(client, session, **{**rules, "ccf_combination": "moyenne"})
    assert unknown.status_code == 400


def test_pages_show_dates_in_the_session_zone(client, db, session, gestion):
    sessions.update_identity(session=session, actor=gestion, timezone="America/Cayenne")
    db.session.add(DepositDeadline(session_id=session.id, unit_code="E4",
                                   deadline_at=datetime(2027, 4, 3, 2, 59, tzinfo=UTC)))
    db.session.flush()
    page = _text(client.get(f"/gestion/sessions/{session.code}/dossiers/"))
    assert "<strong>02/04/2027 à 23 h 59</strong> (heure de Cayenne)" in page
    # A page whose URL names no session: the latest session's zone.
    assert "dates et heures à l'heure de Cayenne" in _text(client.get("/gestion/etablissements"))


def test_establishments_csv_upload_and_one_row_form(client, db, gestion):
    url = "/gestion/etablissements/import"
    data = "UAI;Nom;Type;Ville\r\n0690026D;Lycée Édouard-Herriot;Lycée public;Lyon\r\n"
    response = client.post(url, data={"csrf_token": _token(client, url),
                                      "file": (io.BytesIO(data.encode("cp1252")), "e.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    bad = client.post(url, data={"csrf_token": _token(client, url),
                                 "file": (io.BytesIO(b"UAI;Nom\r\n123;X\r\n"), "e.csv")},
                      content_type="multipart/form-data")
    assert bad.status_code == 422
    assert "« 123 » n'est pas un code UAI" in _text(bad)
    form = client.post("/gestion/etablissements", data={
        "csrf_token": _token(client, "/gestion/etablissements"), "uai": "0691664X",
        "name": "CFA Métiers du tertiaire", "kind": "cfa", "city": "Lyon"})
    assert form.status_code == 302
    page = _text(client.get("/gestion/etablissements"))
    assert "Lycée Édouard-Herriot" in page and "CFA Métiers du tertiaire" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Establishment)) == 2


def test_centres_csv_upload_and_one_row_form(client, db, session):
    url = f"/gestion/sessions/{session.code}/centres/import"
    data = ("Code centre;Nom;Adresse;Code postal;Ville;Salle;Capacité;Postes E5\r\n"
            "LYO01;Lycée Jean-Monnet;12 rue du Plat;69002;Lyon;B12;30;12\r\n")
    response = client.post(url, data={"csrf_token": _token(client, url),
                                      "file": (io.BytesIO(data.encode()), "c.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    centres_url = f"/gestion/sessions/{session.code}/centres"
    form = client.post(centres_url, data={
        "csrf_token": _token(client, centres_url), "code": "STE01", "name": "Lycée Fauriel",
        "room": "A1", "capacity": "abc"})
    assert form.status_code == 422
    assert "id=\"capacity-error\">Capacité : « abc » n'est pas un nombre entier de 1 à 1000." in _text(form)
    page = _text(client.get(centres_url))
    assert "B12 (30, 12)" in page
    assert db.session.scalars(sa.select(Centre.code)).all() == ["LYO01"]
