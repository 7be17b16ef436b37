"""Fiche d'évaluation: one per passage — the agreed grid with levels, the
appraisal, the mark, the actual phase durations and both jurors.

Same PROVISOIRE policy as the bordereau: while the passage's result is not
final (ABS, NV or a mark validated by both jurors), the fiche is watermarked
"PROVISOIRE" and carries no QR code.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from exam_app.clock import utcnow
from exam_app.documents.bordereau import jurors
from exam_app.dossiers.validity import UnitValidity, nv_candidate_ids, unit_validity
from exam_app.enrolment import sessions
from exam_app.extensions import db
from exam_app.juries.grids import carries_mark
from exam_app.juries.lifecycle import planned_segments, result_label
from exam_app.juries.models import AGREED, Grid, Passage
from exam_app.printing import document, signing, verification
from exam_app.printing.signing import TokenPayload, content_hash
from exam_app.printing.verification import Status, Verification
from exam_app.units import NOT_EVALUATED, get_unit

KIND = "fiche"


def _agreed_values(passage: Passage) -> dict[str, str]:
    grid = db.session.scalar(sa.select(Grid).where(Grid.passage_id == passage.id,
                                                   Grid.key == AGREED))
    return {f.name: f.value for f in grid.fields} if grid else {}


def _durations(passage: Passage) -> list[dict]:
    """Each planned segment with its allowed and actual length (minutes, seconds)."""
    ran = {s.index: s for s in passage.segments}
    rows = []
    for index, planned in enumerate(planned_segments(passage)):
        segment = ran.get(index)
        actual = None
        if segment is not None and segment.ended_at is not None:
            actual = int((segment.ended_at - segment.started_at).total_seconds())
            actual -= sum(int((p.ended_at - p.started_at).total_seconds())
                          for p in passage.pauses
                          if p.segment_index == index and p.ended_at is not None)
        label = planned.phase_label if planned.step_code == planned.phase_code else (
            f"{planned.phase_label} — {planned.step_label}")
        rows.append({"label": label, "allowed": planned.allowed_seconds,
                     "actual": actual})
    return rows


def start_exception_line(passage: Passage) -> str | None:
    """'Dérogation accordée par … le … : motif' when the passage started by exception."""
    from exam_app.formatting import local_datetime

    if passage.start_exception_at is None:
        return None
    by = passage.start_exception_by.display_name if passage.start_exception_by else "—"
    return (f"Dérogation accordée par {by} le {local_datetime(passage.start_exception_at)} : "
            f"{passage.start_exception_reason}")


def fiche_view(passage: Passage, *, nv: bool | None = None,
               values: dict[str, str] | None = None) -> dict:
    """What the fiche shows; ``nv`` and ``values`` (the agreed grid) when already known."""
    unit = get_unit(passage.unit_code)
    variant = unit.variant(passage.variant_code)
    values = _agreed_values(passage) if values is None else values
    levels = {lv.code: lv.label for lv in (*unit.grid.levels, NOT_EVALUATED)}
    sections = []
    for section in unit.grid.sections:
        if variant.grid_sections and section.code not in variant.grid_sections:
            continue
        sections.append({"label": section.label, "comment": values.get(f"s:{section.code}", ""),
                         "criteria": [{"label": c.label, "level": values.get(f"c:{c.code}", "")}
                                      for c in section.criteria]})
    if nv is None:
        nv = unit_validity(candidate_id=passage.candidate_id,
                           unit_code=passage.unit_code) == UnitValidity.NV
    return {"agreed": values, "unit": unit, "variant": variant, "levels": unit.grid.levels,
            "exception": start_exception_line(passage),
            "level_labels": levels,
            "sections": sections, "appreciation": values.get("appreciation", ""),
            "result": result_label(passage, nv=nv),
            "carries_mark": carries_mark(passage.unit_code, passage.variant_code),
            "durations": _durations(passage), "jurors": jurors(passage.commission)}


def fiche_content(passage: Passage, view: dict) -> list:
    """What the fiche vouches for: the agreed grid, the result, the durations, the jurors."""
    content = [passage.candidate.number, passage.unit_code, passage.variant_code,
               sorted(view["agreed"].items()), view["result"],
               [d["actual"] for d in view["durations"]], view["jurors"]]
    # Only fiches with an exception carry it: the fiches signed before keep their hash.
    content = content + [view["exception"]] if view["exception"] else content
    # The session's rules the fiche depends on, once changed (enrolment.sessions).
    rules = sessions.rules_content(passage.commission.session, "mark_step",
                                   "nv_excludes_interview")
    return content + [rules] if rules else content


def is_final(passage: Passage, view: dict) -> bool:
    if view["result"] in ("ABS", "NV"):
        return True
    return passage.is_final


def build(passage: Passage, *, now: datetime | None = None, nv: bool | None = None,
          values: dict[str, str] | None = None) -> document.Printed:
    now = now or utcnow()
    view = fiche_view(passage, nv=nv, values=values)
    provisional = not is_final(passage, view)
    qr = url = ""
    if not provisional:
        qr, url = signing.sign(kind=KIND, ids=[passage.id, signing.stamp(now)],
                               content=fiche_content(passage, view))
    commission = passage.commission
    html = document.render(
        "print/evaluation.html", title=f"Fiche d'évaluation {view['unit'].code}",
        session=commission.session, centre=commission.centre, now=now, provisional=provisional,
        passage=passage, candidate=passage.candidate, commission=commission, qr=qr,
        verify_url=url, **view)
    return document.Printed(KIND, f"fiche-{passage.unit_code}-{passage.candidate.number}.pdf",
                          html)


BATCH = 500  # passages per IN (...) query


def build_many(passages: Iterable[Passage], *, now: datetime | None = None
               ) -> Iterator[document.Printed]:
    """The fiches of many passages, in order, with a few queries per batch (print packs).

    One query for the agreed grids and one NV set per session and unit,
    instead of both per fiche; the result is the same as ``build`` per passage.
    """
    now = now or utcnow()
    passages = list(passages)
    for start in range(0, len(passages), BATCH):
        batch = passages[start:start + BATCH]
        ids = [p.id for p in batch]
        agreed: dict[int, dict[str, str]] = {p.id: {} for p in batch}
        for grid in db.session.scalars(sa.select(Grid).where(
                Grid.passage_id.in_(ids), Grid.key == AGREED).options(selectinload(Grid.fields))):
            agreed[grid.passage_id] = {f.name: f.value for f in grid.fields}
        nv_sets: dict[tuple[int, str], set[int]] = {}
        for p in batch:
            key = (p.candidate.session_id, p.unit_code)
            if key not in nv_sets:
                nv_sets[key] = nv_candidate_ids(
                    session_id=key[0], unit_code=key[1],
                    candidate_ids={q.candidate_id for q in batch if q.unit_code == key[1]})
        for p in batch:
            nv = p.candidate_id in nv_sets[(p.candidate.session_id, p.unit_code)]
            yield build(p, now=now, nv=nv, values=agreed[p.id])


def check(payload: TokenPayload) -> Verification:
    if len(payload.ids) != 2:
        return Verification(Status.NOT_AUTHENTIC)
    passage = db.session.get(Passage, payload.ids[0])
    if passage is None:
        return Verification(Status.NOT_AUTHENTIC)
    view = fiche_view(passage)
    c = passage.candidate
    facts = (("Session", passage.commission.session.name), ("Épreuve", passage.unit_code),
             ("Candidat", f"{c.number} — {c.last_name} {c.first_name}"))
    title = "Fiche d'évaluation"
    if content_hash(fiche_content(passage, view)) == payload.hash:
        return Verification(Status.AUTHENTIC, title, facts)
    changed = verification.changed_since(object_type="passage", object_ids=[passage.id],
                                         since=signing.from_stamp(payload.ids[1]))
    return Verification(Status.SUPERSEDED, title, facts, changed_at=changed)
