"""The demo session is believable and respects the domain's rules."""

from __future__ import annotations

import re

import sqlalchemy as sa

from exam_app import demo
from exam_app.accounts.models import Role, RoleAssignment, User
from exam_app.enrolment.models import Candidate, Centre, Establishment
from exam_app.juries.models import Commission


def test_demo_session_is_complete_and_consistent(loaded_demo, demo_db):
    assert loaded_demo.loaded_before is False
    logins = loaded_demo.logins
    assert demo.is_loaded() is True

    candidates = demo_db.session.scalars(sa.select(Candidate)).all()
    assert len(candidates) == 150
    assert len({c.number for c in candidates}) == 150
    assert all(re.fullmatch(r"02\d{9}", c.number) for c in candidates)
    assert all(c.centre_id is not None for c in candidates)
    assert {c.form_for("E5") for c in candidates} == {"ccf", "ponctuel"}
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
        "gestion", "centre1", "jury1", "jury2", "jury7", "jury8", "correcteur1", "candidat1"]
    gestion = demo_db.session.scalar(sa.select(User).where(User.username == "gestion"))
    assert gestion.check_password(demo.demo_password()) is True


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
