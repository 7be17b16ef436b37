"""Issue 14 §5: what the référentiel makes the printed documents say — the real
duration with extra time, the rule of conduct — and times in the session's zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from exam_app.accounts.models import Role
from exam_app.documents import convocation, evaluation
from exam_app.juries import planning
from tests.documents.conftest import T0

CAYENNE_T0 = datetime(2027, 5, 12, 13, 0, tzinfo=UTC)  # 10 h 00 in Cayenne, 15 h 00 in Paris


@pytest.fixture()
def request_context(app):
    with app.test_request_context("/", base_url="https://examens.example/"):
        yield


def test_convocation_states_the_length_without_extra_time(jury_day):
    passage = jury_day["passages"][0]
    context = convocation.convocation_context(passage)
    assert context["duration"] == "55 minutes au plus"


def test_convocation_states_the_real_length_with_a_third_extra_time(jury_day, db):
    passage = jury_day["passages"][0]
    passage.candidate.extra_time = "1/3"
    db.session.flush()
    context = convocation.convocation_context(passage)
    # 25 + 30 min, each phase majorée d'un tiers, as the jury's timer counts it.
    assert context["duration"] == "73 minutes 20 secondes au plus, temps majoré compris"


def test_a_90_minute_e5_oral_with_a_third_prints_120_minutes(db, create_session,
                                                              create_candidate,
                                                              create_commission):
    session = create_session()
    commission = create_commission(session, unit_code="E5")
    candidate = create_candidate(session, extra_time="1/3")
    gestionnaire_passages = planning.assign_candidates(
        commission=commission, numbers=[candidate.number], variant_code="ponctuel",
        actor=commission.members[0].user, now=T0)
    context = convocation.convocation_context(gestionnaire_passages[0])
    assert context["duration"] == "120 minutes au plus, temps majoré compris"


def test_convocation_prints_the_duration_and_the_rule_of_conduct(jury_day, db,
                                                                  request_context):
    passage = jury_day["passages"][0]
    passage.candidate.extra_time = "1/3"
    db.session.flush()
    html = convocation.build(passage, now=T0).html
    assert ("73 minutes 20 secondes au plus, temps majoré compris "
            "(55 minutes majorées de 1/3)") in html
    assert "il est interdit de communiquer avec quiconque" in html
    assert "temps majoré : 1/3" not in html


def test_e4_fiche_shows_the_sources_of_evidence_as_guidance(jury_day, request_context):
    passage = jury_day["passages"][0]
    context = evaluation.fiche_context(passage, nv=False, values={})
    assert [c["label"] for s in context["sections"] for c in s["criteria"]][-2:] == [
        "Pertinence des outils de gestion de projet présentés",
        "Maîtrise des outils de gestion utilisés dans le projet"]
    assert context["evidence"][1] == "Compétences numériques mobilisées"
    html = evaluation.build(passage, now=T0, nv=False).html
    assert ("Chaque critère est apprécié à partir des sources suivantes (non notées) : "
            "Compétences mobilisées lors des missions ou lors de la présentation ; "
            "Compétences numériques mobilisées ; ") in html


# ---- the session's time zone ------------------------------------------------------


def _cayenne_day(db, create_session, create_centre, create_candidate, create_commission,
                 create_user):
    session = create_session(timezone="America/Cayenne", academie="Académie de la Guyane")
    centre = create_centre(session, name="Lycée Melkior-Garré", city="Cayenne")
    teacher = create_user(Role.EXAMINATEUR, first_name="Anne", last_name="Roy")
    commission = create_commission(session, centre=centre, teacher=teacher)
    candidate = create_candidate(session, centre=centre, last_name="DUPONT",
                                 first_name="Léa")
    passage = planning.assign_candidates(
        commission=commission, numbers=[candidate.number], variant_code="ponctuel",
        actor=create_user(Role.GESTIONNAIRE), now=T0)[0]
    passage.scheduled_at = CAYENNE_T0
    passage.room = "A3"
    # A later session in Paris: the "latest session" is not the one these pages are about.
    create_session(timezone="Europe/Paris")
    db.session.flush()
    return passage, teacher


def test_convocation_of_a_cayenne_session_prints_cayenne_time(
        db, create_session, create_centre, create_candidate, create_commission, create_user,
        request_context):
    passage, _ = _cayenne_day(db, create_session, create_centre, create_candidate,
                              create_commission, create_user)
    html = convocation.build(passage, now=T0).html
    assert "mercredi 12 mai 2027" in html  # the date line, then the time line (issue 17)
    assert "10 h 00 (heure de Cayenne)" in html
    assert "15 h 00" not in html


def test_jury_day_of_a_cayenne_session_shows_cayenne_time(
        app, client, login_as, db, create_session, create_centre, create_candidate,
        create_commission, create_user):
    passage, teacher = _cayenne_day(db, create_session, create_centre, create_candidate,
                                    create_commission, create_user)
    db.session.commit()
    login_as(teacher)
    page = client.get("/jury/?jour=2027-05-12").get_data(as_text=True)
    assert '<span class="passage-card__time">10:00</span>' in page
    screen = client.get(f"/jury/passages/{passage.id}").get_data(as_text=True)
    assert 'data-zone="America/Cayenne"' in screen


# ---- the bordereau: dates of the orals and the mark step -----------------------------


def test_bordereau_carries_the_oral_dates_and_the_mark_step(jury_day, db, request_context):
    from datetime import date, timedelta

    from exam_app.documents import bordereau

    commission = jury_day["commission"]
    jury_day["passages"][2].scheduled_at = T0 + timedelta(days=1)
    db.session.flush()
    context = bordereau.bordereau_context(commission, bordereau.bordereau_rows(commission))
    assert context["oral_dates"] == [date(2027, 5, 12), date(2027, 5, 13)]
    assert str(context["mark_step"]) == "0.5"
    html = bordereau.build(commission, now=T0).html
    assert "mercredi 12 mai 2027 ; jeudi 13 mai 2027" in html
    assert "notes au 0,5 point près" in html


def test_bordereau_dates_are_the_session_zone_days(
        db, create_session, create_centre, create_candidate, create_commission, create_user,
        request_context):
    from datetime import date, timedelta

    from exam_app.documents import bordereau

    passage, _ = _cayenne_day(db, create_session, create_centre, create_candidate,
                              create_commission, create_user)
    # 01:30 UTC on the 13th is still the 12th, 22 h 30, in Cayenne.
    passage.scheduled_at = CAYENNE_T0 + timedelta(hours=12, minutes=30)
    db.session.flush()
    rows = bordereau.bordereau_rows(passage.commission)
    assert bordereau.oral_dates(passage.commission, rows) == [date(2027, 5, 12)]


# ---- E5: the nouvelle demande given and the project it bears on -------------------------


def test_e5_fiche_records_the_nouvelle_demande_and_its_project(
        db, create_session, create_candidate, create_commission, request_context):
    from exam_app.juries import grids
    from tests.documents.conftest import save_agreed

    session = create_session()
    commission = create_commission(session, unit_code="E5")
    candidate = create_candidate(session)
    passage = planning.assign_candidates(
        commission=commission, numbers=[candidate.number], variant_code="ponctuel",
        actor=commission.members[0].user, now=T0)[0]
    names = grids.field_names("E5", "ponctuel")
    assert names[names.index("s:simulation") - 2:names.index("s:simulation")] == [
        "r:projet", "r:nouvelle_demande"]
    assert "r:projet" not in grids.field_names("E5", "ccf_a")
    save_agreed(passage, commission.members[0].user,
                {"r:projet": "Salon des métiers 2027",
                 "r:nouvelle_demande": "Réduire le budget de 15 %"})
    context = evaluation.fiche_context(passage, nv=False)
    assert context["sections"][0]["records"] == [
        {"label": "Projet sur lequel porte la nouvelle demande",
         "value": "Salon des métiers 2027"},
        {"label": "Nouvelle demande remise au candidat", "value": "Réduire le budget de 15 %"}]
    html = evaluation.build(passage, now=T0, nv=False).html
    assert "<strong>Nouvelle demande remise au candidat :</strong> Réduire le budget de 15 %" \
        in html
