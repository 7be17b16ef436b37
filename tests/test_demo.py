"""The demo session is believable and respects the domain's rules."""

from __future__ import annotations

import collections
import re
from decimal import Decimal

import sqlalchemy as sa

from exam_app import demo
from exam_app.accounts.models import Role, RoleAssignment, User
from exam_app.enrolment.models import Candidate, Centre, Establishment, ExamSession
from exam_app.juries.models import Commission, Passage


def test_demo_session_is_complete_and_consistent(loaded_demo, demo_db):
    assert loaded_demo.loaded_before is False
    logins = loaded_demo.logins
    assert demo.is_loaded() is True

    candidates = demo_db.session.scalars(sa.select(Candidate)).all()
    assert len(candidates) == 150
    assert len({c.number for c in candidates}) == 150
    assert all(re.fullmatch(r"02\d{9}", c.number) for c in candidates)
    assert all(c.centre_id is not None for c in candidates)
    assert {c.form_for("E5") for c in candidates if c.sits("E5")} == {"ccf", "ponctuel"}
    assert all(c.search_text for c in candidates)

    establishments = demo_db.session.scalars(sa.select(Establishment)).all()
    assert len(establishments) == 8
    assert all(re.fullmatch(r"\d{7}[A-Z]", e.uai) for e in establishments)
    assert demo_db.session.scalar(sa.select(sa.func.count(Centre.id))) == 3

    commissions = demo_db.session.scalars(sa.select(Commission)).all()
    ponctuel = [c for c in commissions if c.form == "ponctuel"]
    assert sorted((c.unit_code, c.centre.code) for c in ponctuel) == sorted(
        (unit, centre.code) for unit in ("E4", "E5")
        for centre in demo_db.session.scalars(sa.select(Centre)))
    for commission in commissions:
        assert sorted(m.member_role for m in commission.members) == ["enseignant", "professionnel"]
    # Conflict of interest: in ponctuel form a teacher never examines their own students.
    for commission in ponctuel:
        teacher = next(m for m in commission.members if m.member_role == "enseignant")
        own_students = [c for c in candidates if c.centre_id == commission.centre_id
                        and c.establishment_id == teacher.establishment_id]
        assert own_students == [], commission.code
    # CCF: in the candidate's own establishment, by its own teachers.
    for commission in (c for c in commissions if c.form == "ccf"):
        teacher = next(m for m in commission.members if m.member_role == "enseignant")
        assert teacher.establishment_id == commission.establishment_id

    assert set(demo_db.session.scalars(sa.select(RoleAssignment.role))) == {r.value for r in Role}
    usernames = set(demo_db.session.scalars(sa.select(User.username)))
    assert {login.username for login in logins} <= usernames
    assert [login.username for login in demo.logins_for_display()] == [
        "gestion", "centre1", "jury1", "jury2", "jury7", "jury8", "correcteur1", "candidat1",
        "deliberation1", "deliberation2", "ccf1"]
    gestion = demo_db.session.scalar(sa.select(User).where(User.username == "gestion"))
    assert gestion.check_password(demo.demo_password()) is True


def test_demo_deliberation_has_its_jury_other_units_and_a_change(loaded_demo, demo_db):
    from exam_app.deliberation import other_units, services
    from exam_app.deliberation.models import ResultChange

    session = demo_db.session.scalar(sa.select(ExamSession).where(
        ExamSession.code == demo.DEMO_CODE))
    deliberation = services.deliberation_of(session.id)
    president = demo_db.session.scalar(sa.select(User).where(User.username == "deliberation1"))
    member = demo_db.session.scalar(sa.select(User).where(User.username == "deliberation2"))
    assert (deliberation.president_id, deliberation.member_ids()) == (
        president.id, {president.id, member.id})
    assert [(u.code, str(u.coefficient)) for u in other_units.other_units(session.id)] == [
        ("U1", "3.0"), ("U21", "2.0"), ("U3", "3.0")]
    assert len(other_units.other_marks(session.id)) == 120
    [change] = demo_db.session.scalars(sa.select(ResultChange)).all()
    assert (change.unit_code, change.created_by_id) == ("E4", member.id)


def test_demo_jurors_read_their_commissions_dossiers_on_the_demo_day(loaded_demo, demo_db):
    from exam_app.juries.models import Passage
    from exam_app.permissions import can_read_dossier

    jury1 = demo_db.session.scalar(sa.select(User).where(User.username == "jury1"))
    mine = demo_db.session.scalars(
        sa.select(Passage).join(Commission, Commission.id == Passage.commission_id)
        .where(Commission.code == "E4-LYO01")).all()
    assert mine and all(p.scheduled_at is not None for p in mine)
    subject = type("Subject", (), {"unit_code": "E4"})
    for passage in mine:
        subject.candidate = passage.candidate
        assert can_read_dossier(jury1, subject) is True
    planned = {p.candidate_id for p in mine}
    elsewhere = demo_db.session.scalar(sa.select(Candidate).where(Candidate.id.not_in(planned)))
    subject.candidate = elsewhere
    assert can_read_dossier(jury1, subject) is False


def test_demo_is_set_up_through_the_services_a_gestionnaire_uses(loaded_demo, demo_db):
    from exam_app.audit.models import AuditEvent
    from exam_app.e6.models import E6Copy, E6Room, E6Sitting
    from exam_app.enrolment.models import CentreOrigin, EstablishmentCentre

    def events(action):
        return demo_db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == action).order_by(AuditEvent.id)).all()

    gestion = demo_db.session.scalar(sa.select(User).where(User.username == "gestion"))
    # One candidate CSV import, then the establishment -> centre table gives each a centre.
    (imported,) = events("candidate.import")
    assert (imported.actor_id, imported.after["file"], imported.after["created"]) == (
        gestion.id, "candidats-demo.csv", 150)
    (applied,) = events("centre_table.apply")
    assert len(applied.after["centres"]) == 150
    candidates = demo_db.session.scalars(sa.select(Candidate)).all()
    assert {c.centre_origin for c in candidates} == {CentreOrigin.TABLE}
    table = {(row.establishment.uai, row.centre.code) for row in demo_db.session.scalars(
        sa.select(EstablishmentCentre))}
    assert table == {(uai, demo.CENTRES[index][0])
                     for uai, _, _, index, _ in demo.ESTABLISHMENTS}
    # Accounts through create-user's service: audited, with the demo password.
    created = [e.after["username"] for e in events("user.create")]
    assert len(created) == len(set(created)) == demo_db.session.scalar(
        sa.select(sa.func.count(User.id)))
    # E6: rooms, seats and attendance recorded as a chef de centre records them.
    assert len(events("e6.room.add")) == 3 and len(events("e6.room.distribute")) == 3
    sittings = demo_db.session.scalars(sa.select(E6Sitting)).all()
    assert len(sittings) == 150 and all(s.room_id is not None for s in sittings)
    assert len(events("e6.attendance")) == 150
    present = sum(1 for s in sittings if s.attendance == "present")
    assert demo_db.session.scalar(sa.select(sa.func.count(E6Copy.id))) == present
    assert {r.name for r in demo_db.session.scalars(sa.select(E6Room))} == {"Amphithéâtre"}


def test_demo_has_candidates_of_every_status_and_route(loaded_demo, demo_db):
    from exam_app.enrolment.models import CandidateStatus, RegistrationKind, UnitRegistration
    from exam_app.enrolment.registration import CCF_STATUSES
    from exam_app.units import UnitForm

    candidates = demo_db.session.scalars(sa.select(Candidate)).all()
    statuses = collections.Counter(c.status for c in candidates)
    assert statuses == {CandidateStatus.SCOLAIRE: 97, CandidateStatus.APPRENTISSAGE: 29,
                        CandidateStatus.INDIVIDUEL: 10, CandidateStatus.FORMATION_CONTINUE: 10,
                        CandidateStatus.DISTANCE: 4}
    # The lycées may run CCF, the CFA and the GRETA may not.
    allowed = {e.uai for e in demo_db.session.scalars(sa.select(Establishment))
               if e.is_ccf_allowed}
    assert allowed == {uai for uai, *_, route in demo.ESTABLISHMENTS if route == "ccf"}
    # E5 in CCF exactly for the statuses that sit it in an establishment allowed to run it.
    sitting = [c for c in candidates if c.sits("E5")]
    assert len(sitting) == 149
    for candidate in sitting:
        ccf = candidate.establishment.uai in allowed and candidate.status in CCF_STATUSES
        assert candidate.form_for("E5") == (UnitForm.CCF if ccf else UnitForm.PONCTUEL), \
            candidate.number
    assert sum(c.form_for("E5") == UnitForm.CCF for c in sitting) == 107

    # Bénéfices, dispenses and a unit not registered, from the registrations CSV import.
    rows = demo_db.session.scalars(sa.select(UnitRegistration).where(
        UnitRegistration.kind != RegistrationKind.SIT)).all()
    by_number = {c.id: c for c in candidates}
    year = demo_db.session.scalar(sa.select(demo.ExamSession.year)) - 2
    assert sorted((r.unit_code, r.kind, by_number[r.candidate_id].status, r.kept_mark,
                   r.kept_year) for r in rows) == [
        ("E4", RegistrationKind.BENEFICE, CandidateStatus.INDIVIDUEL, Decimal("11"), year),
        ("E4", RegistrationKind.BENEFICE, CandidateStatus.INDIVIDUEL, Decimal("12.5"), year),
        ("E4", RegistrationKind.BENEFICE, CandidateStatus.INDIVIDUEL, Decimal("14"), year),
        ("E4", RegistrationKind.DISPENSE, CandidateStatus.FORMATION_CONTINUE, None, None),
        ("E4", RegistrationKind.DISPENSE, CandidateStatus.FORMATION_CONTINUE, None, None),
        ("E5", RegistrationKind.NOT_REGISTERED, CandidateStatus.FORMATION_CONTINUE, None, None),
    ]
    assert all(r.reason for r in rows)
    assert {r.kind for r in demo_db.session.scalars(sa.select(UnitRegistration))} == \
        set(RegistrationKind)


def test_demo_results_hold_every_kind(loaded_demo, demo_db):
    from exam_app.results.compute import Kind, session_results

    session = demo_db.session.scalar(sa.select(demo.ExamSession))
    results = session_results(session.id)
    assert {r.kind for r in results.values()} == set(Kind)
    # E5 CCF in the first lycée: A and B validated (settled on B's mark), B validated
    # before A (A planned tomorrow: pending), and absent at B (ABS).
    ccf = {number: results.of(candidate_id, "E5") for number, candidate_id in
           demo_db.session.execute(sa.select(Candidate.number, Candidate.id))
           if results.of(candidate_id, "E5").provenance
           and results.of(candidate_id, "E5").provenance[0].variant_code.startswith("ccf")}
    assert sorted((r.kind, r.mark, [(s.variant_code, s.detail) for s in r.provenance])
                  for r in ccf.values()) == sorted([
        (Kind.MARK, Decimal("15"), [("ccf_a", "final"), ("ccf_b", "final")]),
        (Kind.PENDING, None, [("ccf_b", "final"), ("ccf_a", "en cours")]),
        (Kind.ABS, None, [("ccf_a", "final"), ("ccf_b", "absent")]),
    ])
    # The last candidate planned at E4-LYO01 has their dossier refused: NV.
    last = demo_db.session.scalars(
        sa.select(Passage).join(Commission, Commission.id == Passage.commission_id)
        .where(Commission.code == "E4-LYO01").order_by(Passage.scheduled_at.desc())).first()
    assert results.of(last.candidate_id, "E4").kind is Kind.NV
    benefices = sorted(r.printed for r in results.values() if r.kind is Kind.BENEFICE)
    assert benefices == [f"Bénéfice {session.year - 2} — {m}" for m in ("11", "12,5", "14")]
    assert sum(r.kind is Kind.DISPENSE for r in results.values()) == 2


def test_demo_names_last_for_a_large_demo_and_the_first_draw_is_unchanged():
    """A large demo (a correcteur per 60 copies: 84 at 5,000 candidates, plus the jurors)
    needs more than the 80 names drawn first; those 80 stay the seeded draw."""
    import random

    from exam_app import demo

    every = [(f, last) for f in demo.FIRST_NAMES for last in demo.LAST_NAMES]
    first_draw = random.Random(2027).sample(every, 80)
    jurors = demo._Jurors(random.Random(2027))
    names = [jurors.next_name() for _ in range(300)]
    assert names[:80] == first_draw
    assert len(set(names)) == 300
