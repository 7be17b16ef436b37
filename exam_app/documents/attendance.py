"""Liste d'émargement: one per room and half-day of a centre, candidates in
passage order, with a signature column."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa

from exam_app.clock import to_local, utcnow
from exam_app.enrolment.models import Centre
from exam_app.extensions import db
from exam_app.juries.lifecycle import day_bounds
from exam_app.juries.models import Commission, Passage
from exam_app.printing import document, signing
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
        .where(Commission.centre_id == centre_id, Passage.scheduled_at >= start,
               Passage.scheduled_at < end)
        .order_by(Passage.scheduled_at, Passage.position, Passage.id)))


def sheets(centre_id: int, day: date) -> list[tuple[str, str]]:
    """(room, half) pairs that have candidates that day, in order."""
    seen = []
    for passage in day_passages(centre_id, day):
        key = (passage.room or "", half_of(passage.scheduled_at))
        if key not in seen:
            seen.append(key)
    return sorted(seen, key=lambda k: (k[1] != "matin", k[0]))


def roster(centre_id: int, day: date, room: str, half: str) -> list[Passage]:
    return [p for p in day_passages(centre_id, day)
            if (p.room or "") == room and half_of(p.scheduled_at) == half]


def attendance_content(passages: list[Passage]) -> list:
    return [[p.candidate.number, p.unit_code, p.scheduled_at] for p in passages]


def build(centre: Centre, day: date, room: str, half: str, *,
          now: datetime | None = None) -> document.Printed:
    now = now or utcnow()
    passages = roster(centre.id, day, room, half)
    qr, url = signing.sign(kind=KIND,
                           ids=[centre.id, day.isoformat(), room, half, signing.stamp(now)],
                           content=attendance_content(passages))
    html = document.render(
        "print/attendance.html", title="Liste d'émargement", session=centre.session,
        centre=centre, now=now, day=day, room=room, half=HALVES[half], passages=passages,
        qr=qr, verify_url=url)
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
    if content_hash(attendance_content(passages)) == payload.hash:
        return Verification(Status.AUTHENTIC, "Liste d'émargement", facts)
    return Verification(Status.SUPERSEDED, "Liste d'émargement", facts)
