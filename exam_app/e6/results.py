"""The E6 result of each candidate as printed on the bordereau and in the exports."""

from __future__ import annotations

import sqlalchemy as sa

from exam_app.e6.definition import E6
from exam_app.e6.models import Attendance, E6Copy, E6Sitting
from exam_app.enrolment.models import Candidate
from exam_app.enrolment.registration import printed_registrations
from exam_app.extensions import db
from exam_app.formatting import decimal_fr


def e6_results(session_id: int) -> dict[int, str]:
    """Candidate id -> E6 result as printed: '14,5', 'ABS' or 'NV' ('' when unknown);
    for a candidate who does not sit E6, what the registration prints ('Bénéfice 2025 —
    14,5', 'Dispensé').

    Only meaningful after the levée d'anonymat; callers check :func:`is_released`."""
    from exam_app.dossiers.validity import nv_candidate_ids

    nv = nv_candidate_ids(session_id=session_id, unit_code=E6.code)
    results: dict[int, str] = printed_registrations(session_id=session_id, unit_code=E6.code)
    sittings = db.session.execute(
        sa.select(Candidate.id, E6Sitting.attendance)
        .outerjoin(E6Sitting, E6Sitting.candidate_id == Candidate.id)
        .where(Candidate.session_id == session_id)).all()
    marks = dict(db.session.execute(
        sa.select(E6Copy.candidate_id, E6Copy.mark).where(E6Copy.session_id == session_id)).all())
    for candidate_id, attendance in sittings:
        if candidate_id in results:
            continue
        if candidate_id in nv:
            results[candidate_id] = "NV"
        elif attendance == Attendance.ABSENT.value:
            results[candidate_id] = "ABS"
        elif marks.get(candidate_id) is not None:
            results[candidate_id] = decimal_fr(marks[candidate_id])
        else:
            results[candidate_id] = ""
    return results
