"""The joint validation's lean path (``validation_lean``) and its reference
(``validation.validate`` then ``validation.answer``) agree.

The same script (a validation of an older revision, a first validation, the same
juror again, a save that moves the revision, the other juror's validation, a stale
validation left by a raced edit, the pair completing the final mark, a validation of
a final mark) runs through each path on a passage of its own of the same commission.
The answers (or refusals) and the rows (validations, the passage's final mark, time,
revision and push version, the audit trail) must be the same, ids named by role.
The cases the lean path hands over (incomplete grid, no mark, absent, NV, closed
délibération, CCF) answer None and leave no trace, so that the reference decides.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from exam_app.audit.models import AuditEvent
from exam_app.extensions import db as _db
from exam_app.juries import validation, validation_lean
from exam_app.juries.errors import JuryError
from exam_app.juries.models import Attendance, Passage, Validation
from tests.juries.helpers import T0, complete_grid, members, save


def _through(path: str, passage_id: int, revision: int, actor, now):
    """One validation as the route makes it: (status, answer or message)."""
    try:
        if path == "lean":
            answer = validation_lean.validate(passage_id=passage_id, revision=revision,
                                              actor=actor, now=now)
            assert answer is not None, "the lean path handed over a usual validation"
        else:
            validation.validate(passage=passage_id, revision=revision, actor=actor, now=now)
            _db.session.flush()
            _db.session.expire_all()
            answer = validation.answer(_db.session.get(Passage, passage_id))
    except JuryError as error:
        _db.session.rollback()
        return "refused", error.message
    _db.session.commit()
    _db.session.expire_all()
    return "ok", answer


def _named(value, roles: dict):
    """``value`` with the jurors' ids replaced by their roles, the passage's by "passage"."""
    if isinstance(value, dict):
        return {k: ("passage" if k == "id" else roles.get(v, v) if k == "user_id"
                    else _named(v, roles)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_named(v, roles) for v in value]
    return value


def _rows(passage_id: int, roles: dict) -> tuple:
    _db.session.expire_all()
    passage = _db.session.get(Passage, passage_id)
    validations = _db.session.execute(
        sa.select(Validation.user_id, Validation.revision, Validation.mark,
                  Validation.validated_at).where(Validation.passage_id == passage_id)
        .order_by(Validation.id)).all()
    audit = _db.session.execute(
        sa.select(AuditEvent.action, AuditEvent.actor_id, AuditEvent.actor_label,
                  AuditEvent.session_id, AuditEvent.before, AuditEvent.after, AuditEvent.at)
        .where(AuditEvent.object_type == "passage", AuditEvent.object_id == str(passage_id),
               AuditEvent.action.like("mark.%")).order_by(AuditEvent.id)).all()
    return ((passage.final_mark, passage.finalized_at, passage.agreed_revision,
             passage.live_version),
            [(roles[v.user_id], v.revision, v.mark, v.validated_at) for v in validations],
            [(a.action, roles[a.actor_id], a.actor_label, a.session_id, a.before, a.after, a.at)
             for a in audit])


def _play(path: str, passage, a, b) -> list:
    """The script on one passage; the outcome of each step."""
    complete_grid(passage)
    save(passage, a, "mark", "12", 0, f"lean-m-{passage.id}")
    _db.session.commit()
    pid = passage.id
    steps = []
    now = T0 + timedelta(minutes=30)

    def step(actor, revision):
        nonlocal now
        now += timedelta(seconds=7)
        steps.append(_through(path, pid, revision, actor, now))

    step(a, 0)  # older revision: refused without the lock
    step(a, 1)  # first validation
    step(a, 1)  # the same juror again: its row updated
    save(passage, b, "appreciation", "Très solide.", 0, f"lean-a-{passage.id}", now=now)
    _db.session.commit()
    step(a, 1)  # the revision moved: refused
    step(b, 2)  # the other juror, alone at revision 2
    # A validation at an older revision that a raced edit left behind: dropped.
    _db.session.execute(sa.update(Validation).where(Validation.passage_id == pid)
                        .values(revision=1))
    _db.session.commit()
    step(a, 2)  # a alone again (b's stale row removed)
    step(b, 2)  # both: final
    step(a, 2)  # final: refused
    return steps


def test_lean_and_reference_give_the_same_answers_and_rows(db, create_passage):
    first = create_passage()
    second = create_passage(commission=first.commission)
    a, b = members(first)
    roles = {a.id: "a", b.id: "b"}
    outcomes, rows = {}, {}
    for path, passage in (("lean", first), ("reference", second)):
        outcomes[path] = _named(_play(path, passage, a, b), roles)
        rows[path] = _rows(passage.id, roles)
    assert outcomes["lean"] == outcomes["reference"]
    assert rows["lean"] == rows["reference"]
    # The script went where it says: refusals, then a final mark.
    assert [status for status, _ in outcomes["lean"]] == [
        "refused", "ok", "ok", "refused", "ok", "ok", "ok", "refused"]
    assert outcomes["lean"][6][1]["passage"]["final"] is True
    assert outcomes["lean"][6][1]["passage"]["final_mark"] == "12"
    assert [v["user_id"] for v in outcomes["lean"][6][1]["validations"]] == ["a", "b"]
    assert rows["lean"][0][0] == 12


def _ready(db, create_passage, **kwargs):
    passage = create_passage(**kwargs)
    a, _ = members(passage)
    complete_grid(passage)
    save(passage, a, "mark", "12", 0, f"lean-ready-{passage.id}")
    db.session.commit()
    return passage, a


def _no_trace(db, passage_id: int) -> tuple:
    db.session.expire_all()
    passage = db.session.get(Passage, passage_id)
    return (passage.live_version, passage.finalized_at,
            db.session.scalar(sa.select(sa.func.count()).select_from(Validation)
                              .where(Validation.passage_id == passage_id)),
            db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
                AuditEvent.object_id == str(passage_id), AuditEvent.action.like("mark.%"))))


def _incomplete(db, passage):
    from exam_app.juries.models import AGREED, Grid, GridField

    db.session.execute(sa.update(GridField).where(
        GridField.name == "appreciation",
        GridField.grid_id.in_(sa.select(Grid.id).where(Grid.passage_id == passage.id,
                                                       Grid.key == AGREED)))
        .values(value="").execution_options(synchronize_session=False))


def _absent(db, passage):
    db.session.execute(sa.update(Passage).where(Passage.id == passage.id)
                       .values(attendance=Attendance.ABSENT))


def _closed(db, passage):
    from exam_app.deliberation.models import Deliberation

    db.session.add(Deliberation(session_id=passage.commission.session_id, closed_at=T0))


@pytest.mark.parametrize("spoil", [_incomplete, _absent, _closed])
def test_lean_hands_the_other_cases_over_untouched(db, create_passage, spoil):
    """Each refused by the reference with its own message; the lean path answers None,
    its bump and reads rolled back, and the reference then refuses as always."""
    passage, a = _ready(db, create_passage)
    spoil(db, passage)
    db.session.commit()
    before = _no_trace(db, passage.id)
    assert validation_lean.validate(passage_id=passage.id, revision=1, actor=a, now=T0) is None
    assert _no_trace(db, passage.id) == before
    with pytest.raises(JuryError):
        validation.validate(passage=passage.id, revision=1, actor=a, now=T0)
    db.session.rollback()


def test_lean_hands_a_ccf_passage_over(db, create_passage):
    """A CCF commission of an establishment (its transmission may lock it): the reference's."""
    passage = create_passage(unit_code="E5", variant_code="ccf_a", form="ccf")
    passage.commission.establishment_id = passage.candidate.establishment_id
    complete_grid(passage)
    db.session.commit()
    a, _ = members(passage)
    before = _no_trace(db, passage.id)
    assert validation_lean.validate(passage_id=passage.id, revision=0, actor=a, now=T0) is None
    assert _no_trace(db, passage.id) == before


def test_a_grid_without_mark_validated_alike(db, create_passage):
    """A situation that records its grid only (E5 CCF situation A, no establishment's
    transmission): final without a mark, the same through both paths."""
    outcomes, rows = {}, {}
    first = create_passage(unit_code="E5", variant_code="ccf_a", form="ccf")
    second = create_passage(unit_code="E5", variant_code="ccf_a", form="ccf",
                            commission=first.commission)
    a, b = members(first)
    for path, passage in (("lean", first), ("reference", second)):
        complete_grid(passage)
        db.session.commit()
        roles = {a.id: "a", b.id: "b"}
        outcomes[path] = _named([_through(path, passage.id, 0, a, T0),
                                 _through(path, passage.id, 0, b, T0)], roles)
        rows[path] = _rows(passage.id, roles)
    assert outcomes["lean"] == outcomes["reference"]
    assert outcomes["lean"][1][1]["passage"]["final"] is True
    assert outcomes["lean"][1][1]["passage"]["final_mark"] is None
    assert rows["lean"] == rows["reference"]
