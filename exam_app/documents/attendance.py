"""Liste d'émargement: one per room and half-day of a centre, candidates in
passage order, with a signature column."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import orm

from exam_app.clock import to_local, utcnow
from exam_app.documents.changes import ACTIONS, history
from exam_app.enrolment.models import Candidate, Centre
from exam_app.extensions import db
from exam_app.formatting import local_datetime
from exam_app.juries.lifecycle import day_bounds
from exam_app.juries.models import Commission, Passage
from exam_app.printing import document, signing, verification
from exam_app.printing.document import centre_facts, session_facts
from exam_app.printing.signing import TokenPayload, content_hash
from exam_app.printing.verification import Status, Verification

KIND = "emargement"
HALVES = {"matin": "matin", "apres-midi": "après-midi"}


def half_of(moment: datetime) -> str:
    return "matin" if to_local(moment).hour < 13 else "apres-midi"


def day_passages(centre_id: int, day: date) -> list[Passage]:
    """The centre's passages of a (Paris) day, in passage order."""
    start, end = day_bounds(day)
    return list(db.session.scalars(
        sa.select(Passage).join(Commission, Commission.id == Passage.commission_id)
        .join(Candidate, Candidate.id == Passage.candidate_id)
        .where(Commission.centre_id == centre_id, Passage.scheduled_at >= start,
               Passage.scheduled_at < end,
               # A passage left from before a bénéfice or a dispense is not convoked.
               Candidate.sits_in(Passage.unit_code))
        .options(orm.contains_eager(Passage.candidate))
        .order_by(Passage.scheduled_at, Passage.position, Passage.id)))


def sheets(centre_id: int, day: date, *,
           passages: list[Passage] | None = None) -> list[tuple[str, str]]:
    """(room, half) pairs that have candidates that day, in order (``passages``: the
    day's, when the caller has them already)."""
    seen = []
    for passage in day_passages(centre_id, day) if passages is None else passages:
        key = (passage.room or "", half_of(passage.scheduled_at))
        if key not in seen:
            seen.append(key)
    return sorted(seen, key=lambda k: (k[1] != "matin", k[0]))


def roster(centre_id: int, day: date, room: str, half: str, *,
           passages: list[Passage] | None = None) -> list[Passage]:
    """The sheet's passages, from the day's (``passages``, or one query for the day)."""
    return [p for p in (day_passages(centre_id, day) if passages is None else passages)
            if (p.room or "") == room and half_of(p.scheduled_at) == half]


TEMPLATE = "print/attendance.html"
FIELDS = {
    "doc_title": "Titre", "doc_session": "Session", "doc_centre": "Centre", "day": "Date",
    "half": "Demi-journée", "room": "Salle", "passages[*].time": "Heures de passage",
    "passages[*].unit_code": "Épreuves", "passages[*].candidate.number": "N° candidat",
    "passages[*].candidate.last_name": "Nom", "passages[*].candidate.first_name": "Prénom",
}


def attendance_context(centre: Centre, day: date, room: str, half: str,
                       passages: list[Passage]) -> dict:
    """Everything the sheet prints (and so vouches for): the room, the half-day and each
    candidate's time, unit, number and names."""
    return {
        "doc_title": "Liste d'émargement", "doc_session": session_facts(centre.session),
        "doc_centre": centre_facts(centre), "day": day, "half": HALVES[half], "room": room,
        "passages": [{"time": local_datetime(p.scheduled_at).split(" à ")[-1],
                      "unit_code": p.unit_code,
                      "candidate": {"number": p.candidate.number,
                                    "last_name": p.candidate.last_name,
                                    "first_name": p.candidate.first_name}}
                     for p in passages],
    }


def build(centre: Centre, day: date, room: str, half: str, *,
          now: datetime | None = None, passages: list[Passage] | None = None) -> document.Printed:
    """One sheet; ``passages``: the centre's day, read once for all its sheets."""
    now = now or utcnow()
    context = attendance_context(centre, day, room, half,
                                 roster(centre.id, day, room, half, passages=passages))
    html = document.printed(TEMPLATE, context, kind=KIND, fields=FIELDS, now=now,
                            ids=[centre.id, day.isoformat(), room, half, signing.stamp(now)])
    slug = (room or "sans-salle").replace("/", "-").replace(" ", "-")
    return document.Printed(KIND, f"emargement-{day.isoformat()}-{half}-{slug}.pdf", html)


def check(payload: TokenPayload) -> Verification:
    if len(payload.ids) != 5 or payload.ids[3] not in HALVES:
        return Verification(Status.NOT_AUTHENTIC)
    centre = db.session.get(Centre, payload.ids[0])
    try:
        day = date.fromisoformat(str(payload.ids[1]))
    except ValueError:
        return Verification(Status.NOT_AUTHENTIC)
    if centre is None:
        return Verification(Status.NOT_AUTHENTIC)
    room, half = str(payload.ids[2]), payload.ids[3]
    passages = roster(centre.id, day, room, half)
    facts = (("Session", centre.session.name), ("Centre", centre.name),
             ("Salle", room or "—"), ("Demi-journée", f"{day:%d/%m/%Y} {HALVES[half]}"),
             ("Candidats", str(len(passages))))
    title = "Liste d'émargement"
    context = attendance_context(centre, day, room, half, passages)
    if content_hash(context) == payload.hash:
        return Verification(Status.AUTHENTIC, title, facts)
    # A passage moved out of the sheet is no longer in the roster: the commissions'
    # planning events of the centre say when.
    commissions = db.session.scalars(sa.select(Commission).where(
        Commission.centre_id == centre.id)).all()
    events, updated = history(signing.from_stamp(payload.ids[4]), passages=passages,
                              commissions=commissions, candidates=[p.candidate for p in passages])
    return verification.superseded(payload, title, facts, content=context, fields=FIELDS,
                                   events=events, actions=ACTIONS, changed_at=updated)
