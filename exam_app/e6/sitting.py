"""The E6 sitting in a centre: rooms, seating, attendance lists with end times,
and the anonymous number each present candidate's copy receives."""

from __future__ import annotations

import math
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.e6.common import E6Error, E6Locked
from exam_app.e6.definition import E6
from exam_app.e6.models import Attendance, E6Copy, E6Room, E6Sitting
from exam_app.e6.release import is_released
from exam_app.enrolment.models import Candidate, Centre, ExamSession
from exam_app.extensions import db


def add_room(*, centre: Centre, name: str, starts_at: datetime, capacity: int, actor,
             now: datetime | None = None) -> E6Room:
    """Add a room of the E6 sitting to a centre."""
    name = name.strip()
    if not name:
        raise E6Error("Donnez un nom à la salle.", field="name")
    if db.session.scalar(sa.select(E6Room.id).where(E6Room.centre_id == centre.id,
                                                    E6Room.name == name)):
        raise E6Error(f"Une salle « {name} » existe déjà dans ce centre.", field="name")
    if not 1 <= capacity <= 1000:
        raise E6Error("La capacité doit être comprise entre 1 et 1000 places.", field="capacity")
    room = E6Room(centre_id=centre.id, name=name, starts_at=starts_at, capacity=capacity)
    db.session.add(room)
    db.session.flush()
    record(actor=actor, action="e6.room.add", object_type="e6_room", object_id=room.id,
           session_id=centre.session_id, now=now,
           after={"centre": centre.code, "name": name, "starts_at": starts_at,
                  "capacity": capacity})
    return room


def centre_rooms(centre_id: int) -> list[E6Room]:
    """The centre's rooms by start time and name."""
    return list(db.session.scalars(
        sa.select(E6Room).where(E6Room.centre_id == centre_id).order_by(E6Room.starts_at,
                                                                        E6Room.name)))


def distribute_candidates(*, centre: Centre, actor, now: datetime | None = None) -> int:
    """Seat the centre's candidates who sit E6 and have no room yet, alphabetically,
    room after room."""
    rooms = centre_rooms(centre.id)
    if not rooms:
        raise E6Error("Ajoutez d'abord au moins une salle.")
    candidates = db.session.scalars(
        sa.select(Candidate).where(Candidate.centre_id == centre.id, Candidate.sits_in(E6.code))
        .order_by(Candidate.search_text, Candidate.id)).all()  # French order: É with E
    sittings = {s.candidate_id: s for s in db.session.scalars(
        sa.select(E6Sitting).where(E6Sitting.candidate_id.in_([c.id for c in candidates])))}
    seated = defaultdict(int)
    for sitting in sittings.values():
        if sitting.room_id:
            seated[sitting.room_id] += 1
    waiting = [c for c in candidates if not (c.id in sittings and sittings[c.id].room_id)]
    free = sum(max(room.capacity - seated[room.id], 0) for room in rooms)
    if len(waiting) > free:
        raise E6Error(f"Places insuffisantes : {len(waiting)} candidat(s) à placer pour "
                      f"{free} place(s) libre(s). Ajoutez une salle ou augmentez une capacité.")
    room_iter = iter(rooms)
    room = next(room_iter)
    for candidate in waiting:
        while seated[room.id] >= room.capacity:
            room = next(room_iter)
        sitting = sittings.get(candidate.id)
        if sitting is None:
            sitting = E6Sitting(candidate_id=candidate.id)
            db.session.add(sitting)
        sitting.room_id = room.id
        seated[room.id] += 1
    db.session.flush()
    record(actor=actor, action="e6.room.distribute", object_type="centre", object_id=centre.id,
           session_id=centre.session_id, now=now, after={"seated": len(waiting)})
    return len(waiting)


@dataclass(frozen=True)
class RosterLine:
    """One line of a room's attendance list."""
    sitting: E6Sitting
    candidate: Candidate
    ends_at: datetime
    has_extra_time: bool


def end_time(*, starts_at: datetime, duration_minutes: int, extra_fraction) -> datetime:
    """When a candidate's paper ends: the session's duration plus their extra time."""
    minutes = math.ceil(duration_minutes * (1 + extra_fraction))
    return starts_at + timedelta(minutes=minutes)


def room_roster(room: E6Room, session: ExamSession) -> list[RosterLine]:
    """The attendance list of a room, alphabetical, with each candidate's end time."""
    sittings = db.session.scalars(
        sa.select(E6Sitting).join(Candidate, Candidate.id == E6Sitting.candidate_id)
        .where(E6Sitting.room_id == room.id, Candidate.sits_in(E6.code))
        .order_by(Candidate.search_text, Candidate.id)).all()  # French order: É with E
    return [RosterLine(s, s.candidate,
                       end_time(starts_at=room.starts_at,
                                duration_minutes=session.e6_duration_minutes,
                                extra_fraction=s.candidate.extra_time_fraction),
                       bool(s.candidate.extra_time_fraction))
            for s in sittings]


ANONYMOUS_ALPHABET = "ACDEFHJKLMNPRTUVWXY3479"  # no look-alikes (0/O, 1/I, 5/S, 8/B)


def new_anonymous_number(session_id: int, *, taken: set[str] | None = None,
                         choice=secrets.choice) -> str:
    """A random, unguessable number, unique in the session (never derived from the candidate).

    ``choice`` is ``secrets.choice``; only the seeded demo passes another one."""
    taken = taken if taken is not None else set(db.session.scalars(
        sa.select(E6Copy.anonymous_number).where(E6Copy.session_id == session_id)))
    while True:
        body = "".join(choice(ANONYMOUS_ALPHABET) for _ in range(8))
        number = f"{body[:4]}-{body[4:]}"
        if number not in taken:
            taken.add(number)
            return number


def record_attendance(*, room: E6Room, statuses: dict[int, Attendance], actor,
                      now: datetime | None = None, choice=secrets.choice) -> dict[str, int]:
    """Record present/absent for the room's candidates; a present candidate's copy gets
    its anonymous number (drawn with ``choice``: only the seeded demo passes another one).
    Unmentioned candidates keep their status."""
    now = now or utcnow()
    session_id = room.centre.session_id
    if is_released(session_id):
        raise E6Locked("L'anonymat est levé : la présence ne peut plus être modifiée.")
    sittings = {s.candidate_id: s for s in db.session.scalars(
        sa.select(E6Sitting).join(Candidate, Candidate.id == E6Sitting.candidate_id)
        .where(E6Sitting.room_id == room.id, Candidate.sits_in(E6.code)))}
    unknown = set(statuses) - set(sittings)
    if unknown:
        raise E6Error("Un candidat de la liste n'est pas dans cette salle : rechargez la page.")
    copies = {c.candidate_id: c for c in db.session.scalars(
        sa.select(E6Copy).where(E6Copy.candidate_id.in_(list(sittings))))}
    taken = set(db.session.scalars(
        sa.select(E6Copy.anonymous_number).where(E6Copy.session_id == session_id)))
    changed = {"present": 0, "absent": 0}
    for candidate_id, status in statuses.items():
        sitting = sittings[candidate_id]
        if sitting.attendance == status.value:
            continue
        copy = copies.get(candidate_id)
        # A withdrawn copy's number is kept in the audit trail: its printed label then
        # verifies as "remplacé" from that moment (documents.check_copy).
        withdrawn = {}
        if status is Attendance.ABSENT and copy is not None:
            withdrawn = {"anonymous_number": copy.anonymous_number}
            if copy.lot_id is not None or copy.points:
                raise E6Locked(
                    "Un candidat déjà corrigé ou affecté à un lot ne peut plus être déclaré "
                    "absent : contactez la division des examens.")
            db.session.delete(copy)
        if status is Attendance.PRESENT and copy is None:
            db.session.add(E6Copy(session_id=session_id, candidate_id=candidate_id,
                                  anonymous_number=new_anonymous_number(session_id, taken=taken,
                                                                       choice=choice)))
        before = sitting.attendance
        sitting.attendance = status.value
        sitting.recorded_at = now
        sitting.recorded_by_id = getattr(actor, "id", None)
        changed[status.value] += 1
        record(actor=actor, action="e6.attendance", object_type="e6_sitting",
               object_id=sitting.id, session_id=session_id, now=now,
               before={"attendance": before, **withdrawn}, after={"attendance": status.value})
    db.session.flush()
    return changed


def centre_label_copies(centre_id: int) -> list[tuple[E6Room | None, E6Copy]]:
    """The centre's copies in attendance-list order (room, then alphabetical): the order
    the labels are printed and handed out, so the sheet itself names nobody."""
    rows = db.session.execute(
        sa.select(E6Copy, E6Room)
        .join(E6Sitting, E6Sitting.candidate_id == E6Copy.candidate_id)
        .join(Candidate, Candidate.id == E6Copy.candidate_id)
        .outerjoin(E6Room, E6Room.id == E6Sitting.room_id)
        .where(Candidate.centre_id == centre_id, Candidate.sits_in(E6.code))
        .order_by(E6Room.starts_at, E6Room.name, Candidate.search_text, Candidate.id)).all()
    return [(room, copy) for copy, room in rows]


def unseated_counts(session_id: int) -> list[tuple[int, str, int]]:
    """Per centre of the session: (centre id, name, candidates of the centre without an E6
    room), for the centres that have some. One query."""
    seated = sa.exists().where(E6Sitting.candidate_id == Candidate.id,
                               E6Sitting.room_id.is_not(None))
    return [tuple(row) for row in db.session.execute(
        sa.select(Centre.id, Centre.name, sa.func.count(Candidate.id))
        .join(Candidate, Candidate.centre_id == Centre.id)
        .where(Centre.session_id == session_id, ~seated)
        .group_by(Centre.id, Centre.name).order_by(Centre.name))]


def room_allocations(centre_id: int) -> dict[str, int]:
    """The centre's E6 rooms by name, with the candidates seated in each."""
    return {name: count for name, count in db.session.execute(
        sa.select(E6Room.name, sa.func.count(E6Sitting.id))
        .outerjoin(E6Sitting, E6Sitting.room_id == E6Room.id)
        .where(E6Room.centre_id == centre_id)
        .group_by(E6Room.id, E6Room.name))}
