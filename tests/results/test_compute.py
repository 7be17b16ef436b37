"""The results module (exam_app.results.compute): mark, ABS, NV, pending, as the
exports and bordereaux print them."""

from datetime import UTC, datetime
from decimal import Decimal

from exam_app.dossiers import validity
from exam_app.juries.models import Attendance
from exam_app.results.compute import printed_unit_results as unit_results
from exam_app.results.exports import result_rows

FINALIZED = datetime(2027, 5, 12, 10, 0, tzinfo=UTC)


def test_unit_results_give_final_marks_abs_and_nv(db, monkeypatch, create_passage):
    marked = create_passage()
    commission = marked.commission
    absent = create_passage(commission=commission)
    pending = create_passage(commission=commission)
    not_valid = create_passage(commission=commission)
    marked.final_mark, marked.finalized_at = Decimal("14.50"), FINALIZED
    absent.attendance = Attendance.ABSENT.value
    pending.final_mark = Decimal("12")  # proposed, not validated by both jurors
    db.session.flush()
    monkeypatch.setattr(validity, "nv_candidate_ids",
                        lambda **kwargs: {not_valid.candidate_id})

    results = unit_results(session_id=commission.session_id, unit_code="E4")

    assert results == {marked.candidate_id: "14,5", absent.candidate_id: "ABS",
                       not_valid.candidate_id: "NV"}


def test_e5_ccf_result_comes_from_the_situation_that_carries_the_mark(db, monkeypatch,
                                                                       create_passage):
    situation_a = create_passage(unit_code="E5", variant_code="ccf_a", form="ccf")
    situation_b = create_passage(unit_code="E5", variant_code="ccf_b", form="ccf",
                                 candidate=situation_a.candidate,
                                 commission=situation_a.commission)
    situation_a.final_mark, situation_a.finalized_at = Decimal("3"), FINALIZED
    situation_b.final_mark, situation_b.finalized_at = Decimal("16"), FINALIZED
    db.session.flush()
    monkeypatch.setattr(validity, "nv_candidate_ids", lambda **kwargs: set())

    results = unit_results(session_id=situation_a.commission.session_id, unit_code="E5")

    assert results == {situation_a.candidate_id: "16"}


def test_results_export_carries_the_jury_marks(db, monkeypatch, create_passage):
    marked = create_passage()
    marked.final_mark, marked.finalized_at = Decimal("9.5"), FINALIZED
    db.session.flush()
    monkeypatch.setattr(validity, "nv_candidate_ids", lambda **kwargs: set())

    rows = result_rows(marked.commission.session_id)

    candidate = marked.candidate
    assert rows == [(candidate.number, candidate.last_name, candidate.first_name, "9,5", "", "")]


def test_a_page_s_candidates_of_another_session_are_left_out(db, create_candidate,
                                                             create_session):
    """The candidates of a page are read by their key: one of another session given with
    them is in none of the results (nor in the NV sets)."""
    from exam_app.results.compute import session_results

    ours, theirs = create_session(), create_session()
    mine = create_candidate(ours)
    stranger = create_candidate(theirs)
    results = session_results(ours.id, candidate_ids=[mine.id, stranger.id])
    assert results.candidate_ids == [mine.id]
    assert {cid for cid, _ in results} == {mine.id}
    for unit_code in ("E4", "E5"):
        assert stranger.id not in validity.nv_candidate_ids(
            session_id=ours.id, unit_code=unit_code, candidate_ids={mine.id, stranger.id})
    assert validity.nv_candidate_ids(session_id=theirs.id, unit_code="E4",
                                     candidate_ids={stranger.id}) == \
        validity.nv_candidate_ids(session_id=theirs.id, unit_code="E4")
