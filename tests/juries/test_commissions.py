"""Forming commissions (issue 13, item 5): one teacher and one professional (or a teacher
replacing the professional, printed as such), no juror booked twice on a day nor on a
day they are unavailable, conflicts of interest at formation and at assignment,
concurrent edits, the pages and the CLI."""

from __future__ import annotations

import io
import threading
from datetime import date, timedelta
from html import unescape

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.enrolment.models import PersonProfile
from exam_app.errors import Conflict, Invalid
from exam_app.juries import commissions as service
from exam_app.juries import planning
from exam_app.juries.models import (
    Commission,
    CommissionDay,
    CommissionMember,
    Grid,
    JurorAvailability,
    Passage,
)
from tests.conftest import csrf_token_from

DAY = date(2027, 5, 12)


@pytest.fixture()
def jurors(db, create_user, create_establishment):
    """Builders of examinateurs with a teacher's or a professional's profile."""

    def teacher(establishment=None):
        user = create_user(Role.EXAMINATEUR)
        user.email = f"{user.username}@test.invalid"
        db.session.add(PersonProfile(user_id=user.id, company="",
                                     establishment_id=(establishment
                                                       or create_establishment()).id))
        db.session.flush()
        return user

    def professional(company="Société Alpha"):
        user = create_user(Role.EXAMINATEUR)
        user.email = f"{user.username}@test.invalid"
        db.session.add(PersonProfile(user_id=user.id, company=company))
        db.session.flush()
        return user

    return type("Jurors", (), {"teacher": staticmethod(teacher),
                               "professional": staticmethod(professional)})


@pytest.fixture()
def place(db, create_session, create_centre, create_user):
    session = create_session()
    return {"session": session, "centre": create_centre(session),
            "gestion": create_user(Role.GESTIONNAIRE)}


def form(place, teacher, second, *, code="E4-A", days=(DAY,), reason="", unit="E4"):
    return service.create_commission(
        session=place["session"], actor=place["gestion"], code=code, unit_code=unit,
        form="ponctuel", centre_id=place["centre"].id, days=list(days),
        jurors=service.Jurors(teacher.id, second.id if second else None, reason))


def count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_create_commission_records_days_members_and_audit(db, place, jurors):
    teacher, pro = jurors.teacher(), jurors.professional()
    commission = form(place, teacher, pro, code="e4-a", days=[DAY + timedelta(days=1), DAY])
    assert commission.code == "E4-A"
    assert commission.day_list == [DAY, DAY + timedelta(days=1)]
    assert [(m.user_id, m.member_role, m.is_replacement) for m in commission.members] == [
        (teacher.id, "enseignant", False), (pro.id, "professionnel", False)]
    teacher_profile = db.session.get(PersonProfile, teacher.id)
    assert commission.members[0].establishment_id == teacher_profile.establishment_id
    event = db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.action == "commission.create"))
    assert event.object_id == str(commission.id)
    assert event.after["days"] == ["2027-05-12", "2027-05-13"]
    assert [m["user_id"] for m in event.after["members"]] == [teacher.id, pro.id]


@pytest.mark.parametrize("case, field, message", [
    ("pro_as_teacher", "teacher_id", "n'a pas le profil d'enseignant"),
    ("teacher_as_pro", "professional_id", "n'a pas le profil de professionnel"),
    ("no_profile", "professional_id", "n'a pas le profil de professionnel"),
    ("same_person", "professional_id", "Une même personne ne peut occuper les deux sièges"),
    ("missing_pro", "professional_id", "Choisissez le professionnel de la commission."),
    ("replacement_by_pro", "professional_id", "seul un enseignant peut remplacer"),
])
def test_create_refuses_wrong_jurors_and_changes_nothing(db, place, jurors, create_user, case,
                                                         field, message):
    teacher, pro = jurors.teacher(), jurors.professional()
    first, second, reason = {
        "pro_as_teacher": (pro, jurors.professional("Autre"), ""),
        "teacher_as_pro": (teacher, jurors.teacher(), ""),
        "no_profile": (teacher, create_user(Role.EXAMINATEUR), ""),
        "same_person": (teacher, teacher, ""),
        "missing_pro": (teacher, None, ""),
        "replacement_by_pro": (teacher, pro, "Aucun professionnel disponible"),
    }[case]
    db.session.commit()
    with pytest.raises(Invalid) as refused:
        form(place, first, second, reason=reason)
    assert refused.value.field == field
    assert message in refused.value.message
    db.session.rollback()
    assert count(db, Commission) == 0
    assert count(db, CommissionMember) == 0


def test_create_refuses_a_taken_code_a_written_unit_and_no_day(db, place, jurors):
    form(place, jurors.teacher(), jurors.professional(), code="E4-A")
    with pytest.raises(Invalid) as taken:
        form(place, jurors.teacher(), jurors.professional(), code="e4-a",
             days=[DAY + timedelta(days=3)])
    assert (taken.value.field, taken.value.message) == (
        "code", "La commission E4-A existe déjà dans la session.")
    with pytest.raises(Invalid) as written:
        form(place, jurors.teacher(), jurors.professional(), code="E6-A", unit="E6")
    assert written.value.field == "unit_code"
    with pytest.raises(Invalid) as no_day:
        form(place, jurors.teacher(), jurors.professional(), code="E4-B", days=[])
    assert (no_day.value.field, no_day.value.message) == (
        "days", "Indiquez au moins un jour de passage.")


def test_a_juror_sits_in_one_commission_per_day(db, place, jurors):
    teacher, pros = jurors.teacher(), [jurors.professional(), jurors.professional("Beta")]
    form(place, teacher, pros[0], code="E4-A", days=[DAY, DAY + timedelta(days=1)])
    db.session.commit()
    with pytest.raises(Invalid) as refused:
        form(place, teacher, pros[1], code="E5-A", unit="E5",
             days=[DAY + timedelta(days=1)])
    assert refused.value.field == "teacher_id"
    assert refused.value.message == (
        f"{teacher.display_name} siège déjà dans la commission E4-A le 13/05/2027 : un juré "
        "ne siège que dans une commission à la fois.")
    db.session.rollback()
    other_day = form(place, teacher, pros[1], code="E5-A", unit="E5",
                     days=[DAY + timedelta(days=2)])
    assert other_day.day_list == [DAY + timedelta(days=2)]


def test_replacement_is_recorded_with_its_reason(db, place, jurors):
    teacher, replacing = jurors.teacher(), jurors.teacher()
    commission = form(place, teacher, replacing, reason="  Professionnel  malade ")
    seat = commission.members[1]
    assert (seat.user_id, seat.member_role, seat.is_replacement, seat.replacement_reason) == (
        replacing.id, "professionnel", True, "Professionnel malade")
    assert seat.role_label == "Enseignant(e) en remplacement du professionnel"
    assert seat.establishment_id == db.session.get(PersonProfile, replacing.id).establishment_id


def _pdf_text(pdf: bytes) -> str:
    return " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(pdf)).pages)


def test_replacement_is_printed_on_the_fiche_and_the_bordereau(app, db, place, jurors,
                                                               create_candidate):
    from exam_app.documents import bordereau, evaluation
    from exam_app.printing.pdf import render_pdf

    teacher, replacing = jurors.teacher(), jurors.teacher()
    commission = form(place, teacher, replacing, reason="Aucun professionnel disponible")
    candidate = create_candidate(place["session"], centre=place["centre"])
    passage = planning.assign_candidates(commission=commission, numbers=[candidate.number],
                                         variant_code="ponctuel", actor=place["gestion"])[0]
    with app.test_request_context():
        fiche = _pdf_text(render_pdf(evaluation.build(passage).html))
        sheet = _pdf_text(render_pdf(bordereau.build(commission).html))
    for text in (fiche, sheet):
        assert f"Enseignant : {teacher.display_name}" in text
        assert (f"Enseignant(e) en remplacement du professionnel : {replacing.display_name}"
                in text)
        assert "Motif : Aucun professionnel disponible" in text
        assert "Professionnel :" not in text


def test_without_replacement_the_documents_print_the_professional(app, db, place, jurors,
                                                                  create_candidate):
    from exam_app.documents import bordereau
    from exam_app.printing.pdf import render_pdf

    pro = jurors.professional()
    commission = form(place, jurors.teacher(), pro)
    context = bordereau.bordereau_context(commission, [])
    assert (context["juror_roles"], context["replacement_reason"]) == (
        ["Enseignant", "Professionnel"], "")
    with app.test_request_context():
        text = _pdf_text(render_pdf(bordereau.build(commission).html))
    assert f"Professionnel : {pro.display_name}" in text
    assert "remplacement" not in text


def test_teacher_conflict_is_warned_at_formation_and_refused_at_assignment(
        db, place, jurors, create_establishment, create_candidate):
    school = create_establishment(name="Lycée du Parc")
    own = create_candidate(place["session"], centre=place["centre"], establishment=school)
    other = create_candidate(place["session"], centre=place["centre"])
    teacher = jurors.teacher(school)
    commission = form(place, teacher, jurors.professional())
    db.session.commit()
    warnings = service.formation_warnings(commission)
    assert warnings == [
        f"Conflit d'intérêts : {teacher.display_name} enseigne à Lycée du Parc, "
        f"l'établissement de {own.full_name} (n° {own.number}) ; en forme ponctuelle, un "
        "enseignant n'interroge jamais un candidat de son établissement."]
    with pytest.raises(Exception) as refused:
        planning.assign_candidates(commission=commission, numbers=[own.number, other.number],
                                   variant_code="ponctuel", actor=place["gestion"])
    assert refused.value.message == warnings[0]
    db.session.rollback()
    assert count(db, Passage) == 0
    assert [c.id for c in planning.unassigned_candidates(commission)] == [other.id]


def test_professional_of_the_internship_company_is_refused_at_assignment_and_swap(
        db, place, jurors, create_candidate):
    from exam_app.dossiers.models import InternshipPeriod

    intern = create_candidate(place["session"], centre=place["centre"])
    db.session.add(InternshipPeriod(candidate_id=intern.id,
                                    organisation="Cabinet Roux & Associés",
                                    start_date=DAY - timedelta(days=300),
                                    end_date=DAY - timedelta(days=200)))
    db.session.flush()
    pro = jurors.professional(company="cabinet roux")
    conflicted = form(place, jurors.teacher(), pro, code="E4-A")
    expected = (f"Conflit d'intérêts : {pro.display_name} travaille pour cabinet roux, où "
                f"{intern.full_name} (n° {intern.number}) a fait son stage (Cabinet Roux & "
                "Associés) ; le professionnel n'interroge jamais un candidat de son entreprise.")
    assert service.formation_warnings(conflicted) == [expected]
    assert planning.unassigned_candidates(conflicted) == []
    with pytest.raises(Exception) as refused:
        planning.assign_candidates(commission=conflicted, numbers=[intern.number],
                                   variant_code="ponctuel", actor=place["gestion"])
    assert refused.value.message == expected
    # The same check guards a swap into the conflicted commission.
    clean = form(place, jurors.teacher(), jurors.professional("Banque Saône"), code="E4-B")
    mine = planning.assign_candidates(commission=clean, numbers=[intern.number],
                                      variant_code="ponctuel", actor=place["gestion"])[0]
    somebody = create_candidate(place["session"], centre=place["centre"])
    theirs = planning.assign_candidates(commission=conflicted, numbers=[somebody.number],
                                        variant_code="ponctuel", actor=place["gestion"])[0]
    with pytest.raises(Exception) as swap:
        planning.swap_passages(first=mine, second=theirs, actor=place["gestion"])
    assert swap.value.message == expected


def test_same_organisation_folds_case_accents_and_needs_whole_words():
    assert planning.same_organisation("Société Générale", "SOCIETE GENERALE") is True
    assert planning.same_organisation("Cabinet Roux", "Cabinet Roux & associés") is True
    assert planning.same_organisation("SA", "SA Dupont") is False  # too short to contain
    assert planning.same_organisation("Roux", "Leroux SARL") is False
    assert planning.same_organisation("", "Mairie") is False


def test_edit_refuses_a_new_juror_in_conflict_with_a_planned_candidate(
        db, place, jurors, create_establishment, create_candidate):
    school = create_establishment()
    candidate = create_candidate(place["session"], centre=place["centre"], establishment=school)
    teacher, pro = jurors.teacher(), jurors.professional()
    commission = form(place, teacher, pro)
    planning.assign_candidates(commission=commission, numbers=[candidate.number],
                               variant_code="ponctuel", actor=place["gestion"])
    conflicted = jurors.teacher(school)
    with pytest.raises(Invalid) as refused:
        service.update_commission(commission=commission, actor=place["gestion"], version=1,
                                  code="E4-A", days=[DAY], confirm_removal=True,
                                  centre_id=place["centre"].id,
                                  jurors=service.Jurors(conflicted.id, pro.id))
    assert refused.value.field == "teacher_id"
    assert refused.value.message.startswith(
        f"Conflit d'intérêts : {conflicted.display_name} enseigne à")


def test_removing_a_juror_of_a_commission_with_passages_needs_confirmation(
        db, place, jurors, create_candidate):
    teacher, pro, new_pro = jurors.teacher(), jurors.professional(), jurors.professional("Beta")
    commission = form(place, teacher, pro)
    candidate = create_candidate(place["session"], centre=place["centre"])
    passage = planning.assign_candidates(commission=commission, numbers=[candidate.number],
                                         variant_code="ponctuel", actor=place["gestion"])[0]
    db.session.commit()
    arguments = dict(commission=commission, actor=place["gestion"], version=1, code="E4-A",
                     days=[DAY], centre_id=place["centre"].id,
                     jurors=service.Jurors(teacher.id, new_pro.id))
    with pytest.raises(Conflict) as refused:
        service.update_commission(**arguments)
    assert refused.value.field == "confirm_removal"
    assert refused.value.message.startswith("Cette commission a 1 passage(s) : confirmez")
    db.session.rollback()
    service.update_commission(**arguments, confirm_removal=True)
    db.session.commit()
    keys = set(db.session.scalars(sa.select(Grid.key).where(Grid.passage_id == passage.id)))
    assert keys == {"agreed", f"juror:{teacher.id}", f"juror:{new_pro.id}"}
    event = db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.action == "commission.update"))
    assert [m["user_id"] for m in event.before["members"]] == [teacher.id, pro.id]
    assert [m["user_id"] for m in event.after["members"]] == [teacher.id, new_pro.id]
    assert db.session.get(Commission, commission.id).version == 2


def test_an_unavailable_juror_is_refused_and_a_late_unavailability_is_flagged(
        db, place, jurors):
    teacher, pro = jurors.teacher(), jurors.professional()
    service.set_availability(session=place["session"], actor=place["gestion"],
                             user_id=teacher.id, day=DAY, available=False, note="Jury de BAC")
    db.session.commit()
    with pytest.raises(Invalid) as refused:
        form(place, teacher, pro)
    assert (refused.value.field, refused.value.message) == (
        "teacher_id", f"{teacher.display_name} est indisponible le 12/05/2027.")
    db.session.rollback()
    commission = form(place, teacher, pro, days=[DAY + timedelta(days=1)])
    booked = service.set_availability(session=place["session"], actor=place["gestion"],
                                      user_id=pro.id, day=DAY + timedelta(days=1),
                                      available=False)
    assert booked == ["E4-A"]
    assert service.unavailable_flags(place["session"].id) == {
        commission.id: [f"{pro.display_name} indisponible le 13/05/2027"]}
    rows = db.session.scalars(sa.select(JurorAvailability).order_by(JurorAvailability.day)).all()
    assert [(r.user_id, r.day, r.is_available, r.note) for r in rows] == [
        (teacher.id, DAY, False, "Jury de BAC"), (pro.id, DAY + timedelta(days=1), False, "")]


def test_schedule_is_refused_on_a_day_the_commission_does_not_sit(db, place, jurors,
                                                                  create_candidate):
    from datetime import time

    from exam_app.juries.errors import JuryInvalid

    commission = form(place, jurors.teacher(), jurors.professional())
    candidate = create_candidate(place["session"], centre=place["centre"])
    planning.assign_candidates(commission=commission, numbers=[candidate.number],
                               variant_code="ponctuel", actor=place["gestion"])
    with pytest.raises(JuryInvalid) as refused:
        planning.generate_schedule(commission=commission, day=DAY + timedelta(days=1),
                                   day_start=time(8), break_minutes=10, lunch_start=time(12),
                                   lunch_minutes=60, workstations=2, room="B1",
                                   actor=place["gestion"])
    assert refused.value.message == ("La commission E4-A ne siège pas le 13/05/2027 : "
                                     "choisissez l'un de ses jours (12/05/2027).")


def _in_threads(app, work, n=2):
    """Run ``work(index)`` in ``n`` threads at once, each in its own app context; the
    outcomes ("ok" or the refusal's class name)."""
    barrier = threading.Barrier(n)
    outcomes: list[str] = [""] * n

    def run(index):
        from exam_app.extensions import db

        with app.app_context():
            barrier.wait()
            try:
                work(index)
                db.session.commit()
                outcomes[index] = "ok"
            except Exception as error:  # noqa: BLE001 - the outcome is what is asserted
                db.session.rollback()
                outcomes[index] = type(error).__name__
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return sorted(outcomes)


def test_two_edits_of_one_version_at_once_apply_one(app, db, place, jurors):
    teacher, pro = jurors.teacher(), jurors.professional()
    commission = form(place, teacher, pro)
    ids = {"commission": commission.id, "centre": place["centre"].id, "teacher": teacher.id,
           "pro": pro.id}
    db.session.commit()

    def edit(index):
        from exam_app.extensions import db as session_db

        target = session_db.session.get(Commission, ids["commission"])
        service.update_commission(commission=target, actor=None, version=1,
                                  code=f"E4-EDIT{index}", days=[DAY], centre_id=ids["centre"],
                                  jurors=service.Jurors(ids["teacher"], ids["pro"]))

    assert _in_threads(app, edit) == ["Conflict", "ok"]
    db.session.expire_all()
    stored = db.session.get(Commission, commission.id)
    assert stored.version == 2
    assert stored.code in {"E4-EDIT0", "E4-EDIT1"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "commission.update")) == 1


def test_two_commissions_booking_one_juror_at_once_form_one(app, db, place, jurors):
    teacher = jurors.teacher()
    pros = [jurors.professional(), jurors.professional("Beta")]
    ids = {"session": place["session"].id, "centre": place["centre"].id,
           "teacher": teacher.id, "pros": [p.id for p in pros]}
    db.session.commit()

    def create(index):
        from exam_app.enrolment.models import ExamSession
        from exam_app.extensions import db as session_db

        service.create_commission(
            session=session_db.session.get(ExamSession, ids["session"]), actor=None,
            code=f"E4-R{index}", unit_code="E4", form="ponctuel", centre_id=ids["centre"],
            days=[DAY], jurors=service.Jurors(ids["teacher"], ids["pros"][index]))

    assert _in_threads(app, create) == ["Invalid", "ok"]
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CommissionDay)) == 1


def test_cli_creates_a_commission_and_refuses_a_double_booking(app, db, place, jurors):
    teacher, pro = jurors.teacher(), jurors.professional()
    code = place["session"].code
    centre = place["centre"].code
    db.session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=[
        "create-commission", "--session", code, "--code", "E4-CLI", "--unit", "e4",
        "--centre", centre, "--day", "2027-05-12,2027-05-13", "--teacher", teacher.email,
        "--professional", pro.email])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        f"Commission E4-CLI formée (E4, 12/05/2027, 13/05/2027) : Enseignant "
        f"{teacher.display_name} ; Professionnel {pro.display_name}.")
    again = runner.invoke(args=[
        "create-commission", "--session", code, "--code", "E4-CLI2", "--unit", "E4",
        "--centre", centre, "--day", "2027-05-13", "--teacher", teacher.email,
        "--professional", jurors.professional("Gamma").email])
    assert again.exit_code == 1
    assert "siège déjà dans la commission E4-CLI le 13/05/2027" in again.output
    unknown = runner.invoke(args=[
        "create-commission", "--session", code, "--code", "E4-X", "--unit", "E4",
        "--centre", centre, "--day", "2027-05-20", "--teacher", "nobody@test.invalid",
        "--professional", pro.email])
    assert unknown.exit_code == 1
    assert "Aucun compte avec l'adresse « nobody@test.invalid »." in unknown.output
    away = runner.invoke(args=["set-juror-availability", "--session", code, "--juror",
                               pro.email, "--day", "2027-05-12", "--unavailable"])
    assert away.exit_code == 0, away.output
    assert "ce juré siège dans E4-CLI ces jours-là" in away.output
    db.session.expire_all()
    assert db.session.scalars(sa.select(Commission.code)).all() == ["E4-CLI"]


def _post(client, url, data):
    page = client.get(url)
    return client.post(url, data={"csrf_token": csrf_token_from(page.get_data(as_text=True)),
                                  **data})


def test_commission_pages_create_edit_and_show_errors_on_fields(client, login_as, db, place,
                                                                jurors):
    teacher, pro, other = jurors.teacher(), jurors.professional(), jurors.teacher()
    login_as(place["gestion"])
    code = place["session"].code
    url = f"/gestion/sessions/{code}/commissions/nouvelle"
    page = client.get(url).get_data(as_text=True)
    # The teacher's list holds teachers only; the professional's, professionals then teachers.
    teacher_select = page.split('id="teacher_id"')[1].split("</select>")[0]
    assert f'value="{teacher.id}"' in teacher_select
    assert f'value="{pro.id}"' not in teacher_select
    refused = _post(client, url, {"code": "E4-W", "unit_code": "E4", "form": "ponctuel",
                                  "centre_id": place["centre"].id, "days": "12/05/2027",
                                  "teacher_id": teacher.id, "professional_id": other.id})
    assert refused.status_code == 422
    html = unescape(refused.get_data(as_text=True))
    assert 'id="professional_id-error"' in html
    assert "n'a pas le profil de professionnel" in html
    assert db.session.scalar(sa.select(sa.func.count(Commission.id))) == 0
    bad_day = _post(client, url, {"code": "E4-W", "unit_code": "E4", "form": "ponctuel",
                                  "centre_id": place["centre"].id, "days": "31/02/2027",
                                  "teacher_id": teacher.id, "professional_id": pro.id})
    assert bad_day.status_code == 400
    assert "« 31/02/2027 » n'est pas une date (JJ/MM/AAAA)." in unescape(
        bad_day.get_data(as_text=True))
    created = _post(client, url, {"code": "E4-W", "unit_code": "E4", "form": "ponctuel",
                                  "centre_id": place["centre"].id,
                                  "days": "12/05/2027, 13/05/2027",
                                  "teacher_id": teacher.id, "professional_id": other.id,
                                  "replacement_reason": "Professionnel absent"})
    assert created.status_code == 302
    commission = db.session.scalar(sa.select(Commission))
    assert commission.day_list == [DAY, DAY + timedelta(days=1)]
    listing = client.get(f"/gestion/sessions/{code}/commissions").get_data(as_text=True)
    assert "enseignant(e) en remplacement du professionnel" in listing
    assert "12/05/2027, 13/05/2027" in listing
    edit_url = f"/gestion/commissions/{commission.id}/modifier"
    stale = client.get(edit_url).get_data(as_text=True)
    edited = client.post(edit_url, data={
        "csrf_token": csrf_token_from(stale), "version": 1, "code": "E4-W2",
        "centre_id": place["centre"].id, "days": "12/05/2027", "teacher_id": teacher.id,
        "professional_id": pro.id})
    assert edited.status_code == 302
    again = client.post(edit_url, data={
        "csrf_token": csrf_token_from(stale), "version": 1, "code": "E4-W3",
        "centre_id": place["centre"].id, "days": "12/05/2027", "teacher_id": teacher.id,
        "professional_id": pro.id})
    assert again.status_code == 409
    assert "vient d'être modifiée par quelqu'un d'autre" in unescape(again.get_data(as_text=True))
    db.session.expire_all()
    stored = db.session.get(Commission, commission.id)
    assert (stored.code, stored.version, stored.members[1].is_replacement) == ("E4-W2", 2, False)


def test_commission_pages_are_for_the_gestionnaire_only(client, login_as, db, place, jurors,
                                                        create_user):
    commission = form(place, jurors.teacher(), jurors.professional())
    code = place["session"].code
    urls = [f"/gestion/sessions/{code}/commissions/nouvelle",
            f"/gestion/commissions/{commission.id}/modifier",
            f"/gestion/sessions/{code}/disponibilites"]
    login_as(create_user(Role.EXAMINATEUR))
    assert [client.get(u).status_code for u in urls] == [403, 403, 403]
    client.post("/deconnexion")
    login_as(place["gestion"])
    assert [client.get(u).status_code for u in urls] == [200, 200, 200]


def test_availability_page_declares_days(client, login_as, db, place, jurors):
    teacher = jurors.teacher()
    form(place, teacher, jurors.professional())
    login_as(place["gestion"])
    url = f"/gestion/sessions/{place['session'].code}/disponibilites"
    response = _post(client, url, {"user_id": teacher.id, "days": "12/05/2027, 14/05/2027",
                                   "available": "0", "note": "Formation"})
    assert response.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert page.count("Indisponible</td>") == 2
    listing = client.get(f"/gestion/sessions/{place['session'].code}/commissions")
    assert f"{teacher.display_name} indisponible le 12/05/2027" in listing.get_data(as_text=True)


IMPORT_HEADER = "Code;Épreuve;Forme;Centre;UAI;Jours;Enseignant;Professionnel;Motif du remplacement"


def _csv(*lines: str) -> bytes:
    return ("\r\n".join([IMPORT_HEADER, *lines]) + "\r\n").encode("cp1252")


def test_import_is_all_or_nothing_with_line_and_column_errors(db, place, jurors):
    teacher, pro, other = jurors.teacher(), jurors.professional(), jurors.teacher()
    centre = place["centre"].code
    db.session.commit()
    data = _csv(
        f"E4-A;E4;ponctuel;{centre};;12/05/2027;{teacher.email};{pro.email};",
        f"E4-B;E4;ponctuel;{centre};;12/05/2027;{other.email};{pro.email};",
        f"E4-C;E4;ponctuel;ZZZ;;13/05/2027;{other.email};{teacher.email};",
        f"E4-D;E4;ponctuel;{centre};;30/02/2027;{other.email};{teacher.email};Absent",
    )
    report = service.import_commissions(session=place["session"], data=data,
                                        actor=place["gestion"], max_rows=100)
    db.session.rollback()
    assert [(e.line, e.column, e.message) for e in report.errors] == [
        (3, "Professionnel", f"{pro.display_name} siège déjà dans la commission E4-A le "
                             "12/05/2027 : un juré ne siège que dans une commission à la fois."),
        (4, "Centre", "Centre ZZZ inconnu dans la session."),
        (5, "Jours", "« 30/02/2027 » n'est pas une date (JJ/MM/AAAA)."),
    ]
    assert count(db, Commission) == 0


def test_import_creates_then_is_idempotent(db, place, jurors):
    teacher, pro, replacing = jurors.teacher(), jurors.professional(), jurors.teacher()
    centre = place["centre"].code
    db.session.commit()
    data = _csv(
        f"E4-A;E4;ponctuel;{centre};;12/05/2027, 13/05/2027;{teacher.email};{pro.email};",
        f"E5-A;E5;;{centre};;14/05/2027;{teacher.email};{replacing.email};Pas de professionnel",
    )
    first = service.import_commissions(session=place["session"], data=data,
                                       actor=place["gestion"], max_rows=100)
    db.session.commit()
    assert (first.ok, first.created, first.updated, first.unchanged) == (True, 2, 0, 0)
    again = service.import_commissions(session=place["session"], data=data,
                                       actor=place["gestion"], max_rows=100)
    db.session.commit()
    assert (again.ok, again.created, again.updated, again.unchanged) == (True, 0, 0, 2)
    e5 = db.session.scalar(sa.select(Commission).where(Commission.code == "E5-A"))
    assert (e5.members[1].is_replacement, e5.members[1].replacement_reason) == (
        True, "Pas de professionnel")
    assert e5.day_list == [DAY + timedelta(days=2)]


def test_import_page_and_cli_report_errors_and_import(client, login_as, app, db, place, jurors,
                                                      tmp_path):
    teacher, pro = jurors.teacher(), jurors.professional()
    centre, code = place["centre"].code, place["session"].code
    login_as(place["gestion"])
    url = f"/gestion/sessions/{code}/commissions/import"
    page = client.get(url)
    bad = _csv(f"E4-A;E4;ponctuel;{centre};;12/05/2027;{teacher.email};inconnu@test.invalid;")
    refused = client.post(url, data={
        "csrf_token": csrf_token_from(page.get_data(as_text=True)),
        "file": (io.BytesIO(bad), "commissions.csv")}, content_type="multipart/form-data")
    assert refused.status_code == 422
    text = unescape(refused.get_data(as_text=True))
    assert ("<td class=\"num\">2</td><td>Professionnel</td><td>Aucun compte avec l'adresse "
            "« inconnu@test.invalid ».</td>") in text
    good = tmp_path / "commissions.csv"
    good.write_bytes(_csv(f"E4-A;E4;ponctuel;{centre};;12/05/2027;{teacher.email};{pro.email};"))
    result = app.test_cli_runner().invoke(args=["import-commissions", str(good), "--session",
                                                code])
    assert result.exit_code == 0, result.output
    assert "Import terminé : 1 créé(s), 0 mis à jour, 0 inchangé(s)." in result.output
    db.session.expire_all()
    assert db.session.scalars(sa.select(Commission.code)).all() == ["E4-A"]
