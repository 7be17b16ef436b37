"""Convocation: one per candidate and unit (one per passage, i.e. per situation)."""

from __future__ import annotations

from datetime import datetime

from exam_app.clock import utcnow
from exam_app.extensions import db
from exam_app.juries.models import Passage
from exam_app.printing import document, signing, verification
from exam_app.printing.signing import TokenPayload, content_hash
from exam_app.printing.verification import Status, Verification
from exam_app.units import UnitKind, get_unit

KIND = "convocation"


def convocation_content(passage: Passage) -> list:
    """What the convocation vouches for: who, which unit, when and where."""
    centre = passage.commission.centre
    return [passage.candidate.number, passage.candidate.last_name, passage.candidate.first_name,
            passage.unit_code, passage.variant_code, passage.scheduled_at, passage.room,
            [centre.code, centre.name, centre.address, centre.postal_code, centre.city]
            if centre else None]


def build(passage: Passage, *, now: datetime | None = None) -> document.Printed:
    now = now or utcnow()
    unit = get_unit(passage.unit_code)
    qr, url = signing.sign(kind=KIND, ids=[passage.id, signing.stamp(now)],
                           content=convocation_content(passage))
    commission = passage.commission
    html = document.render(
        "print/convocation.html", title=f"Convocation {unit.code}", session=commission.session,
        centre=commission.centre, now=now, passage=passage, candidate=passage.candidate,
        unit=unit, variant=unit.variant(passage.variant_code),
        own_equipment=unit.kind == UnitKind.ORAL and unit.has_dossier, qr=qr, verify_url=url)
    return document.Printed(KIND, f"convocation-{unit.code}-{passage.candidate.number}.pdf", html)


def check(payload: TokenPayload) -> Verification:
    if len(payload.ids) != 2:
        return Verification(Status.NOT_AUTHENTIC)
    passage = db.session.get(Passage, payload.ids[0])
    if passage is None:
        return Verification(Status.NOT_AUTHENTIC)
    c = passage.candidate
    facts = (("Session", passage.commission.session.name), ("Épreuve", passage.unit_code),
             ("Candidat", f"{c.number} — {c.last_name} {c.first_name}"))
    if content_hash(convocation_content(passage)) == payload.hash:
        return Verification(Status.AUTHENTIC, "Convocation", facts)
    changed = verification.changed_since(object_type="passage", object_ids=[passage.id],
                                         since=signing.from_stamp(payload.ids[1]))
    return Verification(Status.SUPERSEDED, "Convocation", facts, changed_at=changed)
