"""Convocations, attendance sheets and bordereaux honour the per-unit registration
(issue 14, §1): a candidate who no longer sits the unit is neither convoked nor listed."""

from __future__ import annotations

from exam_app.documents import attendance, bordereau, packs
from tests.documents.conftest import DAY
from tests.registration_helpers import register


def test_a_dispensed_candidate_is_not_convoked_nor_on_the_attendance_sheet(jury_day, app):
    centre, nv = jury_day["centre"], jury_day["nv"]
    assert [p.candidate.last_name for p in attendance.day_passages(centre.id, DAY)] == [
        "DUPONT", "MARTIN", "NGUYEN"]
    register(nv, "E4", "dispense", reason="BTS GPME obtenu")
    assert [p.candidate.last_name for p in attendance.day_passages(centre.id, DAY)] == [
        "DUPONT", "MARTIN"]
    with app.test_request_context("/", base_url="https://examens.example/"):
        printed = packs.pack_documents(centre, DAY, ["convocation"])
    assert [p.filename for p in printed] == [
        f"convocation-E4-{jury_day['marked'].number}.pdf",
        f"convocation-E4-{jury_day['absent'].number}.pdf"]


def test_the_bordereau_lists_only_the_candidates_who_sit_the_unit(jury_day):
    register(jury_day["absent"], "E4", "benefice", kept_mark="12", kept_year="2026")
    rows = bordereau.bordereau_rows(jury_day["commission"])
    assert [(r["last_name"], r["result"]) for r in rows] == [("DUPONT", None), ("NGUYEN", "NV")]
