"""The candidate's form per unit (``candidate_unit_form``) and typed enum columns."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from exam_app.enrolment.models import Attendance, Candidate, CandidateUnitForm
from exam_app.units import UnitForm


def test_form_for_reads_the_recorded_form_or_the_unit_only_form(db, create_candidate):
    ccf = create_candidate(e5_form="ccf")
    db.session.expire_all()
    assert ccf.form_for("E5") is UnitForm.CCF
    assert ccf.form_for("E4") is UnitForm.PONCTUEL  # one form: no row needed
    assert ccf.form_for("E6") is UnitForm.PONCTUEL
    assert [(r.unit_code, r.form) for r in ccf.unit_forms] == [("E5", UnitForm.CCF)]


def test_form_for_refuses_to_guess_a_form_never_recorded(db, create_candidate):
    candidate = create_candidate()
    candidate.unit_forms.clear()
    db.session.flush()
    with pytest.raises(LookupError):
        candidate.form_for("E5")


def test_set_form_replaces_the_row_of_the_unit(db, create_candidate):
    candidate = create_candidate(e5_form="ponctuel")
    candidate.set_form("E5", "ccf")
    db.session.flush()
    db.session.expire_all()
    rows = db.session.execute(sa.select(CandidateUnitForm.unit_code, CandidateUnitForm.form)
                              .where(CandidateUnitForm.candidate_id == candidate.id)).all()
    assert rows == [("E5", UnitForm.CCF)]


def test_sits_in_selects_candidates_by_form(db, create_session, create_candidate):
    session = create_session()
    ccf = create_candidate(session, e5_form="ccf")
    ponctuel = create_candidate(session, e5_form="ponctuel")

    def ids(unit_code, form):
        return set(db.session.scalars(sa.select(Candidate.id).where(
            Candidate.session_id == session.id, Candidate.sits_in(unit_code, form))))

    assert ids("E5", "ccf") == {ccf.id}
    assert ids("E5", UnitForm.PONCTUEL) == {ponctuel.id}
    assert ids("E4", "ponctuel") == {ccf.id, ponctuel.id}
    assert ids("E4", "ccf") == set()


def test_one_form_per_candidate_and_unit_and_only_known_forms(db, create_candidate):
    candidate = create_candidate()
    for statement in (
        f"INSERT INTO candidate_unit_form (candidate_id, unit_code, form) "
        f"VALUES ({candidate.id}, 'E5', 'ccf')",
        f"UPDATE candidate_unit_form SET form = 'oral' WHERE candidate_id = {candidate.id}",
    ):
        with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
            db.session.execute(sa.text(statement))


def test_deleting_a_candidate_deletes_their_forms(db, create_candidate):
    candidate = create_candidate()
    db.session.delete(candidate)
    db.session.flush()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CandidateUnitForm)) == 0


def test_enum_columns_load_members_and_refuse_unknown_values(db, create_candidate):
    candidate = create_candidate(e5_form="ccf")
    db.session.expire_all()
    assert isinstance(candidate.unit_forms[0].form, UnitForm)
    candidate.unit_forms[0].form = "oral"
    with pytest.raises(sa.exc.StatementError, match="not among the defined enum values"):
        db.session.flush()
    db.session.rollback()


def test_attendance_is_one_enum_with_french_labels():
    from exam_app.e6.models import Attendance as E6Attendance
    from exam_app.juries.models import Attendance as JuryAttendance

    assert E6Attendance is Attendance is JuryAttendance
    assert [(a.value, a.label) for a in Attendance] == [
        ("unknown", "Non renseigné"), ("present", "Présent"), ("absent", "Absent")]
