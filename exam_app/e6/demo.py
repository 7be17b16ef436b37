"""The E6 part of the demo session: rooms, attendance, anonymous copies, a barème,
lots for correcteur1..3 and some marks, so that every E6 page shows something."""

from __future__ import annotations

import random
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from exam_app.accounts.models import User
from exam_app.clock import PARIS
from exam_app.e6 import bareme, common, marking, sitting
from exam_app.e6.lots import enroll_corrector, form_lots
from exam_app.e6.models import Attendance
from exam_app.enrolment.models import Candidate
from exam_app.extensions import db

BAREME = ("1. Diagnostic de la situation RH ; 6\n"
          "2. Recrutement et intégration ; 5\n"
          "3. Formation et développement des compétences ; 5\n"
          "4. Communication et climat social ; 4")


# The demo's correcteurs and the establishment (index) each teaches in.
MAIN_MARKERS = {"correcteur1": 0, "correcteur2": 3, "correcteur3": None}


def load_e6(*, session, establishments, gestion, rng: random.Random) -> None:
    """Flushes; the caller commits. Each centre's chef de centre would do the same on the
    "Épreuve E6" pages: one room, its candidates seated, their attendance recorded."""
    starts_at = datetime(2027, 5, 18, 8, 0, tzinfo=PARIS)
    for centre in session.centres:
        seats = db.session.scalar(sa.select(sa.func.count(Candidate.id)).where(
            Candidate.centre_id == centre.id))
        # A room holds 1,000 seats at most: a large demo (bench/pages.py) opens more.
        rooms = [sitting.add_room(centre=centre, name="Amphithéâtre" + (f" {n + 1}" if n else ""),
                                  starts_at=starts_at, capacity=max(300, min(1000, seats - n * 1000)),
                                  actor=gestion)
                 for n in range(max(1, -(-seats // 1000)))]
        sitting.distribute_candidates(centre=centre, actor=gestion)
        for room in rooms:
            statuses = {line.candidate.id: (Attendance.PRESENT if rng.random() > 0.04
                                            else Attendance.ABSENT)
                        for line in sitting.room_roster(room, session)}
            sitting.record_attendance(room=room, statuses=statuses, actor=gestion,
                                      choice=rng.choice)
    bareme.set_bareme(session=session, text=BAREME, actor=gestion)
    markers = {u.username: u for u in db.session.scalars(sa.select(User).where(
        User.username.like("correcteur%")))}
    # correcteur4 and on exist in a large demo only (a lot of ~60 copies each).
    extra = sorted((name for name in markers if name not in MAIN_MARKERS),
                   key=lambda name: int(name.removeprefix("correcteur")))
    for index, username in enumerate([*MAIN_MARKERS, *extra]):
        establishment = (MAIN_MARKERS[username] if username in MAIN_MARKERS
                         else index % len(establishments))
        enroll_corrector(session=session, user=markers[username],
                         establishment=None if establishment is None
                         else establishments[establishment], actor=gestion)
    lots = form_lots(session=session, actor=gestion)
    questions = bareme.questions(session.id)
    # correcteur1 (the demo login): a few copies marked, the rest to do; correcteur2
    # and correcteur3 (more severe): lots marked and validated, so the harmonisation
    # page has two correcteurs to compare.
    plans = ((6, False, (0.3, 0.95)), (None, True, (0.3, 0.95)), (None, True, (0.2, 0.8)))
    plans += ((0, False, (0, 0)),) * (len(lots) - len(plans))  # the others: still to mark
    for lot, (how_many, validate, (low, high)) in zip(lots, plans, strict=True):
        copies = marking.lot_copies(lot)
        for copy in copies[:how_many]:
            level = rng.uniform(low, high)
            points = {q.id: min(q.max_points, max(Decimal(0), common.round_to_step(
                q.max_points * Decimal(level) + Decimal(rng.choice((-1, 0, 0, 1))) / 2,
                session.mark_step))) for q in questions}
            marking.save_copy(copy=copy, points=points, comment="", version=copy.version,
                              actor=lot.corrector)
        if validate:
            marking.validate_lot(lot=lot, actor=lot.corrector)
