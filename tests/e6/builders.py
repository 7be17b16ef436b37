"""E6 builders shared by the E6 tests and the route-access world."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from exam_app.e6 import sitting
from exam_app.e6.models import (
    Attendance,
    E6Copy,
    E6Corrector,
    E6Lot,
    E6Question,
    E6Room,
    E6Sitting,
)
from exam_app.extensions import db

START = datetime(2027, 5, 18, 6, 0, tzinfo=UTC)  # 08:00 in Paris


def add_questions(session, points=("12", "8")) -> list[E6Question]:
    questions = [E6Question(session_id=session.id, position=i, label=f"Question {i}",
                            max_points=Decimal(p)) for i, p in enumerate(points, start=1)]
    db.session.add_all(questions)
    db.session.flush()
    return questions


def add_room(centre, name="A", capacity=30) -> E6Room:
    room = E6Room(centre_id=centre.id, name=name, starts_at=START, capacity=capacity)
    db.session.add(room)
    db.session.flush()
    return room


def seat(candidate, room, attendance: Attendance | None = Attendance.PRESENT) -> E6Copy | None:
    """Seat a candidate; when present, give their copy an anonymous number."""
    db.session.add(E6Sitting(candidate_id=candidate.id, room_id=room.id,
                             attendance=attendance.value if attendance else None))
    if attendance is not Attendance.PRESENT:
        db.session.flush()
        return None
    copy = E6Copy(session_id=candidate.session_id, candidate_id=candidate.id,
                  anonymous_number=sitting.new_anonymous_number(candidate.session_id))
    db.session.add(copy)
    db.session.flush()
    return copy


def enroll(session, user, establishment=None) -> E6Corrector:
    corrector = E6Corrector(session_id=session.id, user_id=user.id,
                            establishment_id=establishment.id if establishment else None)
    db.session.add(corrector)
    db.session.flush()
    return corrector


def make_lot(session, user, copies, code="L01") -> E6Lot:
    lot = E6Lot(session_id=session.id, code=code, corrector_id=user.id)
    db.session.add(lot)
    db.session.flush()
    for copy in copies:
        copy.lot_id = lot.id
    db.session.flush()
    return lot


def route_args(*, session, centre, candidate, correcteur) -> dict:
    """URL arguments for tests/test_routes.py: one E6 object of each kind, in scope."""
    add_questions(session)
    room = add_room(centre)
    copy = seat(candidate, room)
    corrector = enroll(session, correcteur)
    lot = make_lot(session, correcteur, [copy])
    return {"room_id": room.id, "lot_id": lot.id, "anonymous_number": copy.anonymous_number,
            "corrector_id": corrector.id}
