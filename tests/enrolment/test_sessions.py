"""Creating and editing a session (issue 13, item 1): the services in
``enrolment.sessions``, as the pages, the CLI and the demo loader call them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.audit.services import record
from exam_app.dossiers import deadlines
from exam_app.dossiers.common import DepositError
from exam_app.enrolment import sessions
from exam_app.enrolment.models import DepositDeadline, ExamSession, UnitCalendar
from exam_app.errors import Conflict, Invalid

PARIS = ZoneInfo("Europe/Paris")


def _events(db, action):
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id)).all()


@pytest.fixture()
def gestion(create_user):
    return create_user(Role.GESTIONNAIRE)


@pytest.fixture()
def session(db, gestion):
    return sessions.create_session(actor=gestion, code="SAM-2027-LYON", name="BTS SAM 2027",
                                   academie="Académie de Lyon", year=2027)


# --- create / identity ------------------------------------------------------------------

def test_create_session_stores_identity_default_rules_and_audits(db, session, gestion):
    assert (session.code, session.name, session.academie, session.year, session.timezone) == (
        "SAM-2027-LYON", "BTS SAM 2027", "Académie de Lyon", 2027, "Europe/Paris")
    assert (session.mark_step, session.internship_min_days, session.e6_duration_minutes,
            session.nv_excludes_interview) == (Decimal("0.5"), 70, 240, True)
    [event] = _events(db, "session.create")
    assert (event.actor_id, event.session_id, event.after["code"], event.after["timezone"]) == (
        gestion.id, session.id, "SAM-2027-LYON", "Europe/Paris")


def test_create_session_refuses_a_taken_code(db, session, gestion):
    with pytest.raises(Conflict) as refused:
        sessions.create_session(actor=gestion, code="sam-2027-lyon", name="Autre",
                                academie="Lyon", year=2027)
    assert refused.value.message == "Une session a déjà le code SAM-2027-LYON."
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ExamSession)) == 1


@pytest.mark.parametrize(("values", "field", "message"), [
    ({"code": "x"}, "code", "Code de session : 2 à 40 caractères"),
    ({"timezone": "Europe/Lyon"}, "timezone", "Fuseau horaire « Europe/Lyon » inconnu"),
    ({"year": "deux mille"}, "year", "Année : « deux mille » n'est pas un nombre entier."),
    ({"name": "  "}, "name", "Libellé : valeur obligatoire."),
    ({"rules": {"mark_step": "0,3"}}, "mark_step", "Pas de notation : 0,25, 0,5 ou 1 point."),
])
def test_create_session_refuses_bad_values_and_writes_nothing(db, gestion, values, field,
                                                              message):
    arguments = {"code": "S27", "name": "BTS", "academie": "Lyon", "year": 2027, **values}
    with pytest.raises(Invalid) as refused:
        sessions.create_session(actor=gestion, **arguments)
    assert refused.value.field == field
    assert refused.value.message.startswith(message)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ExamSession)) == 0
    assert _events(db, "session.create") == []


def test_update_identity_audits_before_and_after(db, session, gestion):
    changed = sessions.update_identity(session=session, actor=gestion, name="BTS SAM — 2027",
                                       timezone="America/Cayenne", academie="Académie de Lyon")
    assert changed == ["name", "timezone"]
    [event] = _events(db, "session.update")
    assert event.before == {"name": "BTS SAM 2027", "timezone": "Europe/Paris"}
    assert event.after == {"name": "BTS SAM — 2027", "timezone": "America/Cayenne"}
    assert sessions.update_identity(session=session, actor=gestion, name="BTS SAM — 2027") == []
    assert len(_events(db, "session.update")) == 1


# --- unit dates -------------------------------------------------------------------------

def _at(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def test_unit_dates_are_stored_and_the_deadline_is_the_dossiers_deadline(db, session, gestion):
    sessions.set_unit_dates(session=session, actor=gestion, unit_code="E4",
                            deposit_opens_at=_at(2027, 1, 11, 8, 0),
                            deposit_deadline_at=_at(2027, 4, 2, 23, 59),
                            orals_start_on=date(2027, 5, 10), orals_end_on=date(2027, 5, 21))
    sessions.set_unit_dates(session=session, actor=gestion, unit_code="E6",
                            written_at=_at(2027, 5, 18, 8, 0))
    dates = sessions.unit_dates(session)
    assert dates["E4"].deposit_deadline_at == datetime(2027, 4, 2, 21, 59, tzinfo=UTC)
    assert deadlines.session_deadline(session_id=session.id, unit_code="E4") == \
        datetime(2027, 4, 2, 21, 59, tzinfo=UTC)
    assert (dates["E4"].orals_start_on, dates["E4"].orals_end_on) == (date(2027, 5, 10),
                                                                       date(2027, 5, 21))
    assert dates["E6"].written_at == datetime(2027, 5, 18, 6, 0, tzinfo=UTC)
    [e4, _] = _events(db, "session.unit_dates")
    assert e4.before["deposit_deadline_at"] is None
    assert e4.after["deposit_deadline_at"] == "2027-04-02T21:59:00+00:00"


def test_a_deposit_deadline_after_the_orals_is_refused_with_the_reason(db, session, gestion):
    with pytest.raises(Invalid) as refused:
        sessions.set_unit_dates(session=session, actor=gestion, unit_code="E4",
                                deposit_deadline_at=_at(2027, 5, 12, 23, 59),
                                orals_start_on=date(2027, 5, 10), orals_end_on=date(2027, 5, 21))
    assert refused.value.field == "deposit_deadline_at"
    assert refused.value.message == (
        "E4 : la date limite de dépôt (12/05/2027 à 23 h 59) tombe après le début des oraux "
        "(10/05/2027) : les commissions doivent pouvoir lire les dossiers avant les oraux. "
        "Avancez la date limite ou reculez les oraux.")
    assert db.session.scalars(sa.select(UnitCalendar)).all() == []
    assert db.session.scalars(sa.select(DepositDeadline)).all() == []


@pytest.mark.parametrize(("dates", "field", "start"), [
    ({"deposit_opens_at": _at(2027, 4, 3, 8, 0), "deposit_deadline_at": _at(2027, 4, 2, 23, 59)},
     "deposit_opens_at", "E4 : l'ouverture des dépôts (03/04/2027 à 08 h 00) doit précéder"),
    ({"orals_start_on": date(2027, 5, 21), "orals_end_on": date(2027, 5, 10)},
     "orals_end_on", "E4 : le dernier jour des oraux (10/05/2027) précède le premier"),
    ({"orals_start_on": date(2027, 5, 21)}, "orals_end_on",
     "E4 : indiquez le premier et le dernier jour des oraux."),
    ({"deposit_deadline_at": _at(2028, 4, 2, 23, 59)}, "deposit_deadline_at",
     "E4 : le 02/04/2028 à 23 h 59 n'est pas dans la session 2027"),
    ({"written_at": _at(2027, 5, 18, 8, 0)}, "written_at",
     "L'épreuve E4 est orale : pas de date d'épreuve écrite."),
])
def test_contradictory_unit_dates_are_refused(db, session, gestion, dates, field, start):
    with pytest.raises(Invalid) as refused:
        sessions.set_unit_dates(session=session, actor=gestion, unit_code="E4", **dates)
    assert refused.value.field == field
    assert refused.value.message.startswith(start)
    assert _events(db, "session.unit_dates") == []


def test_the_dossiers_deadline_page_service_applies_the_same_checks(db, session, gestion):
    sessions.set_unit_dates(session=session, actor=gestion, unit_code="E4",
                            orals_start_on=date(2027, 5, 10), orals_end_on=date(2027, 5, 21))
    with pytest.raises(Invalid, match="tombe après le début des oraux"):
        deadlines.set_deadline(session=session, unit_code="E4",
                               deadline_at=_at(2027, 5, 11, 12, 0), actor=gestion)


def test_a_year_that_would_leave_dates_outside_the_session_is_refused(db, session, gestion):
    sessions.set_unit_dates(session=session, actor=gestion, unit_code="E6",
                            written_at=_at(2027, 5, 18, 8, 0))
    with pytest.raises(Invalid, match="n'est pas dans la session 2029"):
        sessions.update_identity(session=session, actor=gestion, year=2029)
    assert session.year == 2027


def test_deposits_are_refused_before_the_opening(db, session, gestion, create_candidate):
    candidate = create_candidate(session)
    sessions.set_unit_dates(session=session, actor=gestion, unit_code="E4",
                            deposit_opens_at=_at(2027, 1, 11, 8, 0),
                            deposit_deadline_at=_at(2027, 4, 2, 23, 59))
    with pytest.raises(DepositError) as refused:
        deadlines.check_open(candidate=candidate, unit_code="E4", dossier=None,
                             now=_at(2027, 1, 11, 7, 59))
    assert refused.value.code == "not_open"
    assert refused.value.message == ("Le dépôt n'est pas encore ouvert : il ouvre le "
                                     "11/01/2027 à 08 h 00 (heure de Paris).")
    deadlines.check_open(candidate=candidate, unit_code="E4", dossier=None,
                         now=_at(2027, 1, 11, 8, 0))


# --- rules ------------------------------------------------------------------------------

def test_an_unused_rule_changes_without_a_reason_and_is_audited(db, session, gestion):
    changed = sessions.change_rules(session=session, actor=gestion, mark_step="0,25",
                                    e6_duration_minutes=300, internship_min_days=70)
    assert changed == ["e6_duration_minutes", "mark_step"]
    assert (session.mark_step, session.e6_duration_minutes) == (Decimal("0.25"), 300)
    [event] = _events(db, "session.rules_change")
    assert event.before == {"mark_step": "0.50", "e6_duration_minutes": 240}
    assert event.after == {"mark_step": "0.25", "e6_duration_minutes": 300, "used": []}
    assert event.reason is None


def test_a_used_rule_needs_a_reason_then_is_audited_with_it(db, session, gestion):
    record(actor=gestion, action="mark.change", object_type="passage", object_id=1,
           session_id=session.id)
    assert sessions.rules_in_use(session)["mark_step"] is True
    assert sessions.rules_in_use(session)["internship_min_days"] is False
    with pytest.raises(Invalid) as refused:
        sessions.change_rules(session=session, actor=gestion, mark_step="1")
    assert refused.value.code == "reason_required"
    assert refused.value.message.startswith("Règle déjà appliquée (pas de notation)")
    assert session.mark_step == Decimal("0.5")
    # Another, unused rule needs none.
    assert sessions.change_rules(session=session, actor=gestion, internship_min_days=84) == [
        "internship_min_days"]
    sessions.change_rules(session=session, actor=gestion, mark_step="1",
                          reason="Circulaire rectificative du 3 mai")
    event = _events(db, "session.rules_change")[-1]
    assert (event.reason, event.after["used"]) == ("Circulaire rectificative du 3 mai",
                                                   ["mark_step"])


def test_printing_a_pack_counts_as_using_every_rule(db, session, gestion):
    record(actor=gestion, action="pack.request", object_type="print_pack", object_id=1,
           session_id=session.id)
    assert set(sessions.rules_in_use(session).values()) == {True}


def test_rules_content_names_only_the_rules_that_differ_from_their_default(db, session,
                                                                          gestion):
    assert sessions.rules_content(session, "mark_step", "e6_duration_minutes") == []
    sessions.change_rules(session=session, actor=gestion, mark_step="1")
    assert sessions.rules_content(session, "mark_step", "e6_duration_minutes") == [
        ["mark_step", "1"]]
    sessions.change_rules(session=session, actor=gestion, internship_min_days=84)
    assert sessions.rules_content(session, "e6_duration_minutes") == []


def test_two_saves_are_serialised_on_the_session_row(db, session, gestion):
    # The lock re-reads the row: a change made meanwhile (here by SQL) is seen, not lost.
    db.session.execute(sa.update(ExamSession).where(ExamSession.id == session.id)
                       .values(internship_min_days=90))
    sessions.change_rules(session=session, actor=gestion, mark_step="1")
    assert (session.internship_min_days, session.mark_step) == (90, Decimal("1"))
    assert _events(db, "session.rules_change")[-1].before == {"mark_step": "0.50"}

