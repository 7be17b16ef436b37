"""The CCF route run by an establishment's coordinator (issue 14, §2): scope, commission
formation, planning of situations A and B, the transmission's lock, the gestionnaire's
audited reopening, one decision for concurrent transmissions, bad input, documents."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time
from decimal import Decimal
from html import unescape

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.ccf import services
from exam_app.documents import ccf_bordereau
from exam_app.e5.definition import E5
from exam_app.enrolment.models import PersonProfile
from exam_app.errors import Conflict, Invalid
from exam_app.juries import ccf, commissions, lifecycle, validation
from exam_app.juries.errors import JuryError
from exam_app.juries.models import Attendance, CcfTransmission, Commission, Passage
from exam_app.printing.signing import read_app_token
from exam_app.printing.verification import Status, verify
from exam_app.results.compute import unit_results
from tests.conftest import csrf_token_from

DAY_A, DAY_B = date(2027, 3, 10), date(2027, 4, 14)
FINAL = datetime(2027, 4, 14, 12, 0, tzinfo=UTC)


@pytest.fixture()
def world(db, create_session, create_establishment, create_candidate, create_user):
    """Two lycées X and Y, each with its CCF candidates, a teacher and a coordinator; one
    professional; X's commission formed by its coordinator."""
    session = create_session()
    gestion = create_user(Role.GESTIONNAIRE)

    def lycee(key):
        place = create_establishment(name=f"Lycée {key}", is_ccf_allowed=True)
        teacher = create_user(Role.EXAMINATEUR, last_name=f"Prof{key}")
        db.session.add(PersonProfile(user_id=teacher.id, establishment_id=place.id, company=""))
        people = [create_candidate(session, e5_form="ccf", establishment=place,
                                   last_name=f"ELEVE{key}{i}") for i in (1, 2)]
        coordinator = create_user(Role.COORDINATEUR_CCF, establishment=place)
        return {"place": place, "teacher": teacher, "candidates": people,
                "coordinator": coordinator}

    x, y = lycee("X"), lycee("Y")
    pro = create_user(Role.EXAMINATEUR, last_name="Pro")
    db.session.add(PersonProfile(user_id=pro.id, company="Société Alpha"))
    db.session.flush()
    commission = ccf.create_commission(
        session=session, establishment=x["place"], actor=x["coordinator"], code="E5-CCF-X",
        days=[DAY_A, DAY_B], jurors=commissions.Jurors(x["teacher"].id, pro.id))
    return {"session": session, "gestion": gestion, "x": x, "y": y, "pro": pro,
            "commission": commission}


def _plan_both(world):
    """Situations A and B of X's two candidates, through the planning service."""
    passages = {}
    for i, who in enumerate(world["x"]["candidates"]):
        for code, day in (("ccf_a", DAY_A), ("ccf_b", DAY_B)):
            passages[(i, code)] = ccf.plan_situation(
                commission=world["commission"], candidate=who, variant_code=code, day=day,
                start=time(9 + i), actor=world["x"]["coordinator"])
    return passages


def _settle(passages, marks=("15", "11")):
    """Every situation validated (B carries the mark), as the joint validation leaves it."""
    for (i, code), passage in passages.items():
        passage.finalized_at = FINAL
        passage.final_mark = Decimal(marks[i]) if code == "ccf_b" else None


# ---- the commission and the planning -------------------------------------------------------


def test_coordinator_forms_a_ccf_commission_of_own_teacher_and_a_professional(world):
    commission = world["commission"]
    assert (commission.unit_code, commission.form, commission.establishment_id,
            commission.centre_id) == ("E5", "ccf", world["x"]["place"].id, None)
    assert [(m.user_id, m.member_role) for m in commission.members] == [
        (world["x"]["teacher"].id, "enseignant"), (world["pro"].id, "professionnel")]


def test_coordinator_cannot_seat_another_establishments_teacher(world):
    with pytest.raises(Invalid) as refused:
        ccf.create_commission(
            session=world["session"], establishment=world["x"]["place"],
            actor=world["x"]["coordinator"], code="E5-CCF-X2", days=[DAY_A],
            jurors=commissions.Jurors(world["y"]["teacher"].id, world["pro"].id))
    assert (refused.value.field, refused.value.message) == (
        "teacher_id", "Choisissez un enseignant de l'établissement.")


def test_plan_situations_a_and_b_sets_local_times(world):
    passages = _plan_both(world)
    a = passages[(0, "ccf_a")]
    assert (a.variant_code, a.commission_id) == ("ccf_a", world["commission"].id)
    # 09:00 Paris in March is 08:00 UTC.
    assert a.scheduled_at.replace(tzinfo=UTC) == datetime(2027, 3, 10, 8, 0, tzinfo=UTC)
    assert len({p.id for p in passages.values()}) == 4


def test_plan_refuses_a_and_b_on_the_same_day(world):
    who = world["x"]["candidates"][0]
    ccf.plan_situation(commission=world["commission"], candidate=who, variant_code="ccf_a",
                       day=DAY_A, start=time(9), actor=world["x"]["coordinator"])
    with pytest.raises(JuryError) as refused:
        ccf.plan_situation(commission=world["commission"], candidate=who, variant_code="ccf_b",
                           day=DAY_A, start=time(14), actor=world["x"]["coordinator"])
    assert "Les situations A et B se tiennent à des dates différentes" in refused.value.message


def test_plan_refuses_a_day_the_commission_does_not_sit(world):
    with pytest.raises(JuryError) as refused:
        ccf.plan_situation(commission=world["commission"], candidate=world["x"]["candidates"][0],
                           variant_code="ccf_a", day=date(2027, 3, 11), start=time(9),
                           actor=world["x"]["coordinator"])
    assert refused.value.message == ("La commission E5-CCF-X ne siège pas le 11/03/2027 : "
                                     "choisissez l'un de ses jours (10/03/2027, 14/04/2027).")


def test_plan_refuses_another_establishments_candidate(world):
    with pytest.raises(JuryError) as refused:
        ccf.plan_situation(commission=world["commission"], candidate=world["y"]["candidates"][0],
                           variant_code="ccf_a", day=DAY_A, start=time(9),
                           actor=world["x"]["coordinator"])
    assert refused.value.message == "Ce candidat n'est pas un candidat de l'établissement."


# ---- transmission, lock, reopening ---------------------------------------------------------


def test_transmit_refused_while_a_result_is_pending(world):
    passages = _plan_both(world)
    _settle({k: v for k, v in passages.items() if k[0] == 0})
    with pytest.raises(Invalid) as refused:
        services.transmit(session=world["session"], establishment=world["x"]["place"],
                          actor=world["x"]["coordinator"])
    assert refused.value.message.startswith("Transmission impossible : le résultat de 1 "
                                            "candidat(s) est en attente")
    assert refused.value.details == [
        "ELEVEX2 " + world["x"]["candidates"][1].first_name
        + f" (n° {world['x']['candidates'][1].number}) : situation A prévue le 10/03/2027 ; "
          "situation B prévue le 14/04/2027"]


def test_transmit_locks_jury_and_planning_then_reopen_is_audited(db, world):
    passages = _plan_both(world)
    _settle(passages)
    row = services.transmit(session=world["session"], establishment=world["x"]["place"],
                            actor=world["x"]["coordinator"])
    assert (row.count, row.transmitted_by_id) == (1, world["x"]["coordinator"].id)
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "ccf.transmit"))
    numbers = [c.number for c in world["x"]["candidates"]]
    assert event.after["results"] == {numbers[0]: "15", numbers[1]: "11"}
    b = passages[(0, "ccf_b")]
    # The jury, the gestionnaire's passage reopening and the planning are all refused.
    for attempt in (
        lambda: lifecycle.set_attendance(passage=passages[(1, "ccf_a")],
                                         attendance=Attendance.ABSENT, actor=None),
        lambda: validation.reopen(passage=b, reason="Erreur de saisie", actor=world["gestion"]),
        lambda: validation.validate(passage=b, revision=b.agreed_revision, actor=None),
        lambda: ccf.plan_situation(commission=world["commission"],
                                   candidate=world["x"]["candidates"][0], variant_code="ccf_b",
                                   day=DAY_B, start=time(15), actor=world["x"]["coordinator"]),
    ):
        with pytest.raises(JuryError) as refused:
            attempt()
        assert refused.value.message == ccf.TRANSMITTED
    with pytest.raises(Invalid) as no_reason:
        services.reopen(session=world["session"], establishment=world["x"]["place"],
                        reason="  ", actor=world["gestion"])
    assert no_reason.value.field == "reason"
    services.reopen(session=world["session"], establishment=world["x"]["place"],
                    reason="Note de B à corriger", actor=world["gestion"])
    reopened = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "ccf.reopen"))
    assert (reopened.reason, reopened.actor_id) == ("Note de B à corriger",
                                                    world["gestion"].id)
    # Open again: the gestionnaire reopens the mark, and the marks can be transmitted again.
    validation.reopen(passage=b, reason="Erreur de saisie", actor=world["gestion"])
    assert b.finalized_at is None
    b.finalized_at, b.final_mark = FINAL, Decimal("16")
    row = services.transmit(session=world["session"], establishment=world["x"]["place"],
                            actor=world["x"]["coordinator"])
    assert row.count == 2
    assert unit_results(world["session"].id, "E5")[world["x"]["candidates"][0].id].mark \
        == Decimal("16")


def test_transmit_twice_is_refused(world):
    _settle(_plan_both(world))
    services.transmit(session=world["session"], establishment=world["x"]["place"],
                      actor=world["x"]["coordinator"])
    with pytest.raises(Conflict) as refused:
        services.transmit(session=world["session"], establishment=world["x"]["place"],
                          actor=world["x"]["coordinator"])
    assert refused.value.message.startswith(
        "Les notes de CCF de Lycée X ont déjà été transmises le ")


def test_reopen_what_was_not_transmitted_is_refused(world):
    with pytest.raises(Conflict) as refused:
        services.reopen(session=world["session"], establishment=world["x"]["place"],
                        reason="Pour voir", actor=world["gestion"])
    assert refused.value.message == ("Les notes de CCF de Lycée X ne sont pas transmises : "
                                     "rien à rouvrir.")


def test_other_establishment_is_not_locked_by_xs_transmission(world, create_commission):
    _settle(_plan_both(world))
    services.transmit(session=world["session"], establishment=world["x"]["place"],
                      actor=world["x"]["coordinator"])
    assert not ccf.is_transmitted(world["session"].id, world["y"]["place"].id)
    other = Commission(session_id=world["session"].id, unit_code="E5", form="ccf",
                       code="E5-CCF-Y", establishment_id=world["y"]["place"].id)
    ccf.require_open(other)  # no refusal


def test_concurrent_transmissions_give_one_decision(app, db, world):
    _settle(_plan_both(world))
    ids = (world["session"].id, world["x"]["place"].id, world["x"]["coordinator"].id)
    db.session.commit()
    barrier = threading.Barrier(3)
    outcomes = [""] * 3

    def run(index):
        from exam_app.accounts.models import User
        from exam_app.enrolment.models import Establishment, ExamSession
        from exam_app.extensions import db as thread_db

        with app.app_context():
            session = thread_db.session.get(ExamSession, ids[0])
            place = thread_db.session.get(Establishment, ids[1])
            actor = thread_db.session.get(User, ids[2])
            barrier.wait()
            try:
                services.transmit(session=session, establishment=place, actor=actor)
                thread_db.session.commit()
                outcomes[index] = "ok"
            except Exception as error:  # noqa: BLE001 - the outcome is what is asserted
                thread_db.session.rollback()
                outcomes[index] = type(error).__name__
            finally:
                thread_db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["Conflict", "Conflict", "ok"]
    db.session.expire_all()
    row = db.session.scalar(sa.select(CcfTransmission))
    assert row.count == 1
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id)).where(
        AuditEvent.action == "ccf.transmit")) == 1


# ---- documents -----------------------------------------------------------------------------


def test_bordereau_prints_every_situation_and_result_and_verifies(app, world):
    passages = _plan_both(world)
    _settle(passages)
    passages[(1, "ccf_a")].attendance = Attendance.ABSENT.value
    passages[(1, "ccf_a")].finalized_at = None
    with app.test_request_context("/"):
        printed = ccf_bordereau.build(world["session"], world["x"]["place"])
        found = ccf_bordereau.rows(world["session"], world["x"]["place"])
        assert [(r["last_name"], r["situations"], r["result"]) for r in found] == [
            ("ELEVEX1", ["10/03/2027 — grille validée", "14/04/2027 — 15"], "15"),
            ("ELEVEX2", ["10/03/2027 — ABS", "14/04/2027 — 11"], "ABS")]
        html = unescape(printed.html)
        assert "PROVISOIRE" not in html
        assert "Note globale arrêtée après les situations A et B" in html
        token = html.split("https://examens.example/verifier/", 1)[1].split("<", 1)[0]
        assert verify(read_app_token(token)).status is Status.AUTHENTIC
        # A result changes: the printed bordereau is superseded.
        passages[(0, "ccf_b")].final_mark = Decimal("16")
        assert verify(read_app_token(token)).status is Status.SUPERSEDED


def test_bordereau_is_provisional_while_a_result_is_pending(app, world):
    _plan_both(world)
    with app.test_request_context("/"):
        html = ccf_bordereau.build(world["session"], world["x"]["place"]).html
    assert "PROVISOIRE" in html
    assert "/verifier/" not in html


def test_bordereau_signs_every_printed_field(app, world):
    from tests.printing.signed_fields import record_print, uncovered

    _settle(_plan_both(world))
    with app.test_request_context("/"), record_print(app) as recording:
        ccf_bordereau.build(world["session"], world["x"]["place"])
    [render], [(kind, content)] = recording.renders, recording.signed
    assert (render.template, kind) == ("print/bordereau_etablissement_ccf.html", "bordereau_ccf")
    assert uncovered(app, render, content) == []


# ---- pages: scope, bad input, lock shown ---------------------------------------------------


def _pages(world):
    session, x, y = world["session"], world["x"]["place"], world["y"]["place"]
    return {
        "own": [f"/ccf/sessions/{session.code}/etablissements/{x.id}",
                f"/ccf/sessions/{session.code}/etablissements/{x.id}/bordereau.pdf",
                f"/ccf/sessions/{session.code}/etablissements/{x.id}/transmettre"],
        "other": [f"/ccf/sessions/{session.code}/etablissements/{y.id}",
                  f"/ccf/sessions/{session.code}/etablissements/{y.id}/bordereau.pdf",
                  f"/ccf/sessions/{session.code}/etablissements/{y.id}/fiches.pdf",
                  f"/ccf/sessions/{session.code}/etablissements/{y.id}/commissions/nouvelle",
                  f"/ccf/sessions/{session.code}/etablissements/{y.id}/transmettre"],
    }


def test_coordinator_sees_only_own_establishment(db, client, login_as, world):
    db.session.commit()
    login_as(world["x"]["coordinator"])
    home = client.get("/ccf/")
    assert home.status_code == 302
    assert home.headers["Location"].endswith(
        f"/ccf/sessions/{world['session'].code}/etablissements/{world['x']['place'].id}")
    pages = _pages(world)
    assert [client.get(url).status_code for url in pages["own"]] == [200, 200, 200]
    assert [client.get(url).status_code for url in pages["other"]] == [403] * 5
    body = client.get(pages["own"][0]).get_data(as_text=True)
    assert "ELEVEX1" in body and "ELEVEY1" not in body
    assert client.get("/ccf/sessions/NOPE/etablissements/"
                      f"{world['x']['place'].id}").status_code == 404
    assert client.get(f"/ccf/sessions/{world['session'].code}/etablissements/999999") \
        .status_code == 404
    # Another establishment's candidate cannot be planned; nothing is written.
    token = csrf_token_from(body)
    refused = client.post(f"/ccf/candidats/{world['y']['candidates'][0].id}/planifier",
                          data={"csrf_token": token, "variant_code": "ccf_a",
                                "commission_id": world["commission"].id, "day": "2027-03-10",
                                "start": "09:00"})
    assert refused.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(Passage.id))) == 0
    # The académie's pages stay the académie's.
    assert client.get(f"/gestion/sessions/{world['session'].code}/ccf").status_code == 403


def test_plan_form_refuses_bad_input_in_french_and_writes_nothing(db, client, login_as, world):
    db.session.commit()
    login_as(world["x"]["coordinator"])
    page = client.get(_pages(world)["own"][0])
    token = csrf_token_from(page.get_data(as_text=True))
    who = world["x"]["candidates"][0]
    url = f"/ccf/candidats/{who.id}/planifier"
    cases = [
        ({"day": "31/02/2027", "start": "09:00", "commission_id": world["commission"].id},
         "Date illisible : écrivez-la JJ/MM/AAAA."),
        ({"day": "2027-03-10", "start": "9h", "commission_id": world["commission"].id},
         "Heure illisible : écrivez-la HH:MM."),
        ({"day": "2027-03-10", "start": "09:00", "commission_id": 999999},
         "choisissez une commission de CCF de l'établissement."),
        ({"day": "2027-03-10", "start": "09:00", "commission_id": world["commission"].id,
          "variant_code": "ponctuel"}, "Choisissez la situation A ou B."),
    ]
    for data, message in cases:
        answer = client.post(url, data={"csrf_token": token, "variant_code": "ccf_a", **data},
                             follow_redirects=True)
        assert message in unescape(answer.get_data(as_text=True)), message
    assert db.session.scalar(sa.select(sa.func.count(Passage.id))) == 0
    ok = client.post(url, data={"csrf_token": token, "variant_code": "ccf_a",
                                "commission_id": world["commission"].id, "day": "10/03/2027",
                                "start": "09:30"}, follow_redirects=True)
    assert "CCF — situation A (veille informationnelle) prévue le 10/03/2027 à 09:30" in \
        unescape(ok.get_data(as_text=True))


def test_transmit_page_needs_the_confirmation_then_locks(db, client, login_as, world):
    _settle(_plan_both(world))
    db.session.commit()
    login_as(world["x"]["coordinator"])
    url = _pages(world)["own"][2]
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    unconfirmed = client.post(url, data={"csrf_token": token})
    assert unconfirmed.status_code == 400
    assert "Cochez la confirmation." in unescape(unconfirmed.get_data(as_text=True))
    assert not ccf.is_transmitted(world["session"].id, world["x"]["place"].id)
    done = client.post(url, data={"csrf_token": token, "confirm": "y"}, follow_redirects=True)
    text = unescape(done.get_data(as_text=True))
    assert "Notes de CCF transmises à l'académie : elles sont verrouillées." in text
    assert "Verrouillé (transmis)" in text
    again = client.post(url, data={"csrf_token": token, "confirm": "y"})
    assert again.status_code == 409


def test_gestionnaire_reopens_with_a_reason(db, client, login_as, world):
    _settle(_plan_both(world))
    services.transmit(session=world["session"], establishment=world["x"]["place"],
                      actor=world["x"]["coordinator"])
    db.session.commit()
    login_as(world["gestion"])
    listing = client.get(f"/gestion/sessions/{world['session'].code}/ccf")
    assert "Transmises le" in unescape(listing.get_data(as_text=True))
    url = f"/gestion/sessions/{world['session'].code}/ccf/{world['x']['place'].id}/rouvrir"
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    short = client.post(url, data={"csrf_token": token, "reason": "x", "confirm": "y"})
    assert short.status_code == 400
    assert "Entre 5 et 1000 caractères." in unescape(short.get_data(as_text=True))
    assert ccf.is_transmitted(world["session"].id, world["x"]["place"].id)
    done = client.post(url, data={"csrf_token": token, "reason": "Erreur de note en B",
                                  "confirm": "y"})
    assert done.status_code == 302
    db.session.expire_all()
    assert not ccf.is_transmitted(world["session"].id, world["x"]["place"].id)


def test_fiches_pdf_prints_the_establishments_situations(db, client, login_as, world):
    import io

    from pypdf import PdfReader

    _settle(_plan_both(world))
    db.session.commit()
    login_as(world["x"]["coordinator"])
    answer = client.get(f"/ccf/sessions/{world['session'].code}/etablissements/"
                        f"{world['x']['place'].id}/fiches.pdf")
    assert answer.status_code == 200
    assert answer.mimetype == "application/pdf"
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(answer.data)).pages)
    assert text.count("Fiche d'évaluation E5") >= 4
    assert "Lycée X" in text


def test_rule_and_pending_result_are_shown_where_the_result_is(db, client, login_as, world):
    _plan_both(world)
    db.session.commit()
    login_as(world["x"]["coordinator"])
    text = unescape(client.get(_pages(world)["own"][0]).get_data(as_text=True))
    assert "en attente" in text
    assert "Note globale arrêtée après les situations A et B ; absence à l'une d'elles : ABS" \
        in text
    assert E5.variant("ccf_a").label in text


def test_lock_message_reaches_the_jury_screen_json(db, client, login_as, world):
    passages = _plan_both(world)
    _settle(passages)
    services.transmit(session=world["session"], establishment=world["x"]["place"],
                      actor=world["x"]["coordinator"])
    db.session.commit()
    login_as(world["x"]["teacher"])
    b = passages[(0, "ccf_b")]
    token = csrf_token_from(client.get("/", follow_redirects=True).get_data(as_text=True))
    answer = client.post(f"/jury/passages/{b.id}/valider", json={"revision": b.agreed_revision},
                         headers={"X-CSRFToken": token})
    assert answer.status_code == 409
    assert answer.get_json()["message"] == ccf.TRANSMITTED


def test_transmission_timestamps_are_in_utc(world):
    _settle(_plan_both(world))
    row = services.transmit(session=world["session"], establishment=world["x"]["place"],
                            actor=world["x"]["coordinator"],
                            now=datetime(2027, 4, 20, 8, 0, tzinfo=UTC))
    assert row.transmitted_at.replace(tzinfo=UTC) == datetime(2027, 4, 20, 8, 0, tzinfo=UTC)


def test_commission_form_refuses_bad_input_on_its_fields(db, client, login_as, world):
    db.session.commit()
    login_as(world["x"]["coordinator"])
    url = (f"/ccf/sessions/{world['session'].code}/etablissements/{world['x']['place'].id}"
           "/commissions/nouvelle")
    page = client.get(url)
    assert 'value="E5-CCF-' in page.get_data(as_text=True)  # a code is proposed
    token = csrf_token_from(page.get_data(as_text=True))
    cases = [
        ({"code": "E5-NEW", "days": "", "teacher_id": world["x"]["teacher"].id,
          "professional_id": world["pro"].id}, "Indiquez au moins un jour de passage."),
        ({"code": "E5-NEW", "days": "10/03/2027", "teacher_id": world["y"]["teacher"].id,
          "professional_id": world["pro"].id}, "Choisissez un enseignant de l'établissement."),
        ({"code": "E5-CCF-X", "days": "10/03/2027", "teacher_id": world["x"]["teacher"].id,
          "professional_id": world["pro"].id}, "La commission E5-CCF-X existe déjà"),
    ]
    for data, message in cases:
        answer = client.post(url, data={"csrf_token": token, **data})
        assert answer.status_code == 422, message
        assert message in unescape(answer.get_data(as_text=True))
    assert db.session.scalar(sa.select(sa.func.count(Commission.id))) == 1
