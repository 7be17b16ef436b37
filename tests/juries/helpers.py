"""Helpers shared by the jury-day service tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from exam_app.extensions import db as _db
from exam_app.juries import autosave, lifecycle, validation
from exam_app.juries.models import AGREED, Grid, GridField

T0 = datetime(2027, 5, 12, 7, 0, tzinfo=UTC)


def members(passage):
    return [m.user for m in passage.commission.members]


def stored_field(db, passage, key, name):
    return db.session.scalar(sa.select(GridField).join(Grid).where(
        Grid.passage_id == passage.id, Grid.key == key, GridField.name == name))


def save(passage, user, field, value, base, op, key=AGREED, now=T0):
    context = autosave.save_context(passage_id=passage.id, user_id=user.id, grid_key=key)
    results = autosave.save_fields(context=context, actor=user, now=now,
                                   ops=[{"op": op, "field": field, "value": value, "base": base}])
    # The save writes with bulk UPDATEs, as a request would in its own session.
    _db.session.expire_all()
    return results


def decide_conforme(passage, at=T0 - timedelta(days=20)):
    """The conformity control decided the candidate's dossier conforme (a unit with a dossier)."""
    from exam_app.dossiers.common import find_dossier
    from exam_app.dossiers.models import Decision, Dossier
    from exam_app.units import get_unit

    if not get_unit(passage.unit_code).has_dossier:
        return
    dossier = find_dossier(candidate_id=passage.candidate_id, unit_code=passage.unit_code)
    if dossier is None:
        dossier = Dossier(candidate_id=passage.candidate_id, unit_code=passage.unit_code,
                          created_at=at, decision_reasons=[])
        _db.session.add(dossier)
    dossier.decision = Decision.COMPLIANT.value
    dossier.decided_at = at
    _db.session.flush()


def complete_grid(passage, *, skip=(), level="S", appreciation="Prestation solide."):
    """Fill the agreed grid's empty criteria and appréciation (not ``skip``) straight in the
    database, without a revision bump: a joint validation needs a complete grid."""
    rows = _db.session.scalars(sa.select(GridField).join(Grid).where(
        Grid.passage_id == passage.id, Grid.key == AGREED)).all()
    for row in rows:
        if row.name in skip or row.value:
            continue
        if row.name.startswith("c:"):
            row.value = level
        elif row.name == "appreciation":
            row.value = appreciation
    _db.session.flush()


def past_deadline(passage, at=T0 - timedelta(days=30)):
    from exam_app.dossiers import deadlines as dossiers

    dossiers.set_deadline(session=passage.commission.session, unit_code=passage.unit_code,
                          deadline_at=at, actor=None, now=at - timedelta(days=1))


def validate_both(passage, mark="14,5"):
    first, second = members(passage)
    lifecycle.start_passage(passage=passage, actor=first, now=T0)
    complete_grid(passage)
    save(passage, first, "mark", mark, 0, f"op-mark-{passage.id}")
    validation.validate(passage=passage, revision=passage.agreed_revision, actor=first, now=T0)
    return validation.validate(passage=passage, revision=passage.agreed_revision, actor=second,
                               now=T0)
