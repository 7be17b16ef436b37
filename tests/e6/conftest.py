"""An E6 session ready for marking: candidates seated, barème, correcteurs, lots."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exam_app.accounts.models import Role
from exam_app.e6 import harmonisation, marking, release
from exam_app.e6.lots import form_lots
from exam_app.e6.models import Attendance
from tests.e6.builders import add_questions, add_room, enroll, seat


@pytest.fixture()
def e6_world(create_session, create_centre, create_candidate, create_establishment,
             create_user):
    session = create_session()
    centre = create_centre(session)
    room = add_room(centre)
    schools = [
        create_establishment(name="Lycée Témoin-Alpha", uai="0770001K"),
        create_establishment(name="Lycée Témoin-Bêta", uai="0770002L"),
    ]
    identities = [("ZARATHOUSTRA", "Philomène"), ("QUENTINOVSKI", "Barnabé"),
                  ("VLADIMIRESCU", "Ysoline"), ("ABRACADABRA", "Théodule"),
                  ("KORRIGANIUS", "Mélisande"), ("PAMPLEMOUSSE", "Eudoxie"),
                  ("ABSENTISSIME", "Fantômette")]
    candidates = []
    for index, (last, first) in enumerate(identities):
        candidate = create_candidate(session, centre=centre, establishment=schools[index % 2],
                                     last_name=last, first_name=first,
                                     number=f"0271{index:07d}")
        candidates.append(candidate)
        seat(candidate, room, Attendance.ABSENT if last == "ABSENTISSIME" else Attendance.PRESENT)
    questions = add_questions(session, ("6", "8", "6"))
    markers = [create_user(Role.CORRECTEUR, username=f"corr{n}") for n in (1, 2)]
    enroll(session, markers[0], schools[0])
    enroll(session, markers[1], schools[1])
    lots = form_lots(session=session, actor=None)
    gestionnaire = create_user(Role.GESTIONNAIRE)
    return {"session": session, "centre": centre, "room": room, "schools": schools,
            "candidates": candidates, "questions": questions, "markers": markers,
            "lots": lots, "gestionnaire": gestionnaire}


def mark_lot(lot, questions, values, actor):
    """Give every copy of the lot the same points per question, then validate the lot."""
    for copy in marking.lot_copies(lot):
        marking.save_copy(copy=copy, points={q.id: v for q, v in zip(questions, values,
                                                                       strict=True)},
                           comment="", version=copy.version, actor=actor)
    marking.validate_lot(lot=lot, actor=actor)


def lift(e6_world):
    """Mark both lots, adjust the second, make both final and lift anonymity;
    returns candidate id -> lot id."""
    first, second = e6_world["lots"]
    mark_lot(first, e6_world["questions"], ("3", "4", "4"), e6_world["markers"][0])  # 11
    mark_lot(second, e6_world["questions"], ("5", "6,5", "3"), e6_world["markers"][1])  # 14,5
    harmonisation.adjust_lot(lot=second, factor=Decimal(1), offset_points=Decimal("-1"),
                             reason="Harmonisation", actor=e6_world["gestionnaire"])  # 13,5
    for lot in (first, second):
        harmonisation.finalize_lot(lot=lot, actor=e6_world["gestionnaire"])
    release.lift_anonymity(session=e6_world["session"], actor=e6_world["gestionnaire"])
    return {c.candidate_id: c.lot_id for c in
            [*marking.lot_copies(first), *marking.lot_copies(second)]}
