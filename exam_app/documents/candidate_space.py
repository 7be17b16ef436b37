"""What the candidate's space shows of their documents (issue 14, §4): per oral situation
and for E6, the date, time and room with the convocation to download once the plan is
published, and the relevé de notes from its publication date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from exam_app.clock import utcnow
from exam_app.e6.models import E6Sitting
from exam_app.enrolment.models import Candidate
from exam_app.enrolment.sessions import releve_published
from exam_app.extensions import db
from exam_app.juries.models import Passage
from exam_app.juries.publication import last_publication
from exam_app.units import UnitKind, all_units


@dataclass(frozen=True)
class Sitting:
    """One oral situation or the E6 written exam, as the candidate's space lists it."""

    unit_code: str
    unit_title: str
    label: str  # the situation ("Ponctuel", "CCF — situation A") or "Épreuve écrite"
    scheduled_at: datetime | None  # None: not planned yet (or the plan not published)
    room: str
    passage_id: int | None = None  # the convocation to download (an oral, published)


def published_passage(passage: Passage) -> bool:
    """Whether the candidate may see this passage's date and room and its convocation:
    the session's plan is published and this passage with it (issue 15). What they see is
    what was published: a change not yet published is not shown (nor printed)."""
    return last_publication(passage.commission.session_id) is not None and \
        passage.published_scheduled_at is not None


def sittings(candidate: Candidate) -> list[Sitting]:
    """Each oral situation and the written exam the candidate sits, in unit order."""
    published = last_publication(candidate.session_id) is not None
    by_unit: dict[str, dict[str, Passage]] = {}
    for passage in db.session.scalars(sa.select(Passage).where(
            Passage.candidate_id == candidate.id).order_by(Passage.id)):
        by_unit.setdefault(passage.unit_code, {})[passage.variant_code] = passage
    rows: list[Sitting] = []
    for unit in all_units():
        if not candidate.sits(unit.code):
            continue
        if unit.kind == UnitKind.WRITTEN:
            seat = db.session.scalar(sa.select(E6Sitting).where(
                E6Sitting.candidate_id == candidate.id))
            room = seat.room if seat is not None else None
            rows.append(Sitting(unit.code, unit.title, "Épreuve écrite",
                                room.starts_at if room else None, room.name if room else ""))
            continue
        try:
            variants = unit.variants_for(candidate.form_for(unit.code))
        except LookupError:
            variants = ()
        own = by_unit.get(unit.code, {})
        if not variants:
            rows.append(Sitting(unit.code, unit.title, "Forme à préciser", None, ""))
        for variant in variants:
            passage = own.get(variant.code)
            if passage is None or not published or passage.published_scheduled_at is None:
                rows.append(Sitting(unit.code, unit.title, variant.label, None, ""))
            else:  # as published (a later change shows once it is published in turn)
                rows.append(Sitting(unit.code, unit.title, variant.label,
                                    passage.published_scheduled_at,
                                    passage.published_room or "", passage.id))
    return rows


@dataclass(frozen=True)
class ReleveState:
    published_at: datetime | None
    available: bool


def releve_state(candidate: Candidate, now: datetime | None = None) -> ReleveState:
    session = candidate.session
    return ReleveState(session.releve_published_at, releve_published(session, now or utcnow()))
