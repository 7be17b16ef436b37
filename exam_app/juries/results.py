"""Each candidate's result for an oral unit, as printed (NV, ABS or the final mark)."""

from __future__ import annotations

import sqlalchemy as sa

from exam_app.dossiers import validity
from exam_app.enrolment.models import Candidate
from exam_app.enrolment.registration import printed_registrations
from exam_app.extensions import db
from exam_app.formatting import decimal_fr
from exam_app.juries.grids import carries_mark
from exam_app.juries.models import Attendance, Commission, Passage


def unit_results(*, session_id: int, unit_code: str) -> dict[int, str]:
    """Each candidate's result for a unit, as printed: 'NV', 'ABS' or the final mark ('14,5').

    Candidates still pending are left out. A candidate who does not sit the
    unit gets what their registration prints ('Bénéfice 2025 — 14,5',
    'Dispensé'), whatever passage is left. NV comes from the dossier validity
    and wins over everything else; absence from any situation of the unit
    gives ABS; otherwise the mark of the passage that carries the unit's mark,
    once both jurors have validated it.
    """
    not_sitting = printed_registrations(session_id=session_id, unit_code=unit_code)
    nv = validity.nv_candidate_ids(session_id=session_id, unit_code=unit_code)
    results = dict.fromkeys(nv, "NV")
    rows = db.session.execute(
        sa.select(Passage.candidate_id, Passage.variant_code, Passage.attendance,
                  Passage.final_mark, Passage.finalized_at)
        .join(Commission, Commission.id == Passage.commission_id)
        .join(Candidate, Candidate.id == Passage.candidate_id)
        .where(Commission.session_id == session_id, Passage.unit_code == unit_code,
               Candidate.sits_in(unit_code))
    ).all()
    for row in rows:
        if row.candidate_id not in nv and row.attendance == Attendance.ABSENT.value:
            results[row.candidate_id] = "ABS"
    for row in rows:
        if row.candidate_id in results or row.finalized_at is None or row.final_mark is None:
            continue
        if carries_mark(unit_code, row.variant_code):
            results[row.candidate_id] = decimal_fr(row.final_mark)
    return {**results, **not_sitting}
