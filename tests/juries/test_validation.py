"""Joint validation of the agreed grid, final marks and their reopening."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.dossiers import validity
from exam_app.juries import grids, lifecycle, validation
from exam_app.juries.errors import JuryError
from tests.juries.helpers import T0, complete_grid, members, save, validate_both


def test_both_jurors_validate_mark_final(db, create_passage):
    passage = create_passage()
    final = validate_both(passage)
    db.session.refresh(passage)
    assert (final, passage.final_mark, lifecycle.result_label(passage, nv=False)) == (
        True, Decimal("14.5"), "14.5")


def test_change_after_one_validation_clears_it(db, create_passage):
    passage = create_passage()
    first, second = members(passage)
    complete_grid(passage)
    save(passage, first, "mark", "12", 0, "op-m1")
    db.session.refresh(passage)
    validation.validate(passage=passage, revision=passage.agreed_revision, actor=first, now=T0)
    save(passage, second, "appreciation", "Correct", 0, "op-m2")
    db.session.refresh(passage)
    with pytest.raises(JuryError):
        validation.validate(passage=passage, revision=passage.agreed_revision - 1, actor=second,
                            now=T0)
    final = validation.validate(passage=passage, revision=passage.agreed_revision, actor=second,
                                now=T0)
    assert (final, [v.user_id for v in passage.validations], passage.final_mark) == (
        False, [second.id], None)


def test_final_mark_locked_then_reopened_with_audit(db, create_passage, create_user):
    passage = create_passage()
    validate_both(passage, "15")
    juror = members(passage)[0]
    with pytest.raises(JuryError) as locked:
        save(passage, juror, "mark", "18", 1, "op-late")
    gestion = create_user(Role.GESTIONNAIRE)
    validation.reopen(passage=passage, reason="Erreur de report signalée", actor=gestion, now=T0)
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "mark.reopen"))
    after_reopen = save(passage, juror, "mark", "16", 1, "op-after")
    assert (str(locked.value).startswith("La note est définitive et verrouillée"),
            event.before["mark"], event.after, event.reason, after_reopen[0]["status"]) == (
        True, "15", {"mark": None, "finalized_at": None}, "Erreur de report signalée", "ok")


def test_reopen_needs_a_final_mark_and_a_reason(create_passage, create_user):
    passage = create_passage()
    gestion = create_user(Role.GESTIONNAIRE)
    with pytest.raises(JuryError) as not_final:
        validation.reopen(passage=passage, reason="motif valable", actor=gestion)
    validate_both(passage)
    with pytest.raises(JuryError) as no_reason:
        validation.reopen(passage=passage, reason=" ", actor=gestion)
    assert (str(not_final.value), str(no_reason.value)) == (
        "Cette note n'est pas définitive : rien à rouvrir.",
        "Indiquez le motif de la réouverture (5 caractères au moins).")


def test_nv_interviewed_when_session_allows_still_reads_nv(create_passage, monkeypatch):
    passage = create_passage()
    passage.commission.session.nv_excludes_interview = False
    juror = members(passage)[0]
    monkeypatch.setattr(validity, "unit_validity", lambda **kw: validity.UnitValidity.NV)
    lifecycle.start_passage(passage=passage, actor=juror, now=T0)
    saved = save(passage, juror, "mark", "12", 0, "op-nv-ok")
    assert (saved[0]["status"], lifecycle.result_label(passage, nv=True)) == ("ok", "NV")


def test_ccf_situation_a_validated_without_mark(create_passage):
    passage = create_passage(unit_code="E5", variant_code="ccf_a", form="ccf")
    first, second = members(passage)
    lifecycle.start_passage(passage=passage, actor=first, now=T0)
    complete_grid(passage)
    validation.validate(passage=passage, revision=0, actor=first, now=T0)
    final = validation.validate(passage=passage, revision=0, actor=second, now=T0)
    assert (final, passage.final_mark, passage.is_final,
            grids.carries_mark("E5", "ccf_a"), grids.carries_mark("E5", "ccf_b"),
            grids.carries_mark("E4", "ponctuel")) == (True, None, True, False, True, True)


@pytest.mark.parametrize("final", [False, True], ids=["stale-revision", "final"])
def test_settled_refusal_does_not_wait_for_the_passage_lock(db, create_passage, final):
    """A validation that one committed read already refuses (an older revision, or a
    mark already final) answers at once, without queueing behind the transaction that
    holds the passage's lock (issue 11, contended case); the old code waited for it."""
    passage = create_passage()
    first, second = members(passage)
    complete_grid(passage)
    save(passage, first, "mark", "12", 0, "op-lock-1")
    save(passage, first, "mark", "13", 1, "op-lock-2")
    if final:
        validate_both(passage, "13")
    db.session.commit()
    stale, passage_id = passage.agreed_revision - 1, passage.id
    holder = db.engine.connect()
    try:
        holder.begin()
        if holder.dialect.name == "sqlite":  # the database's write lock, as lock_passage takes it
            holder.execute(sa.text("UPDATE passage SET agreed_revision = agreed_revision "
                                   "WHERE id = :id"), {"id": passage_id})
        else:
            holder.execute(sa.text("SELECT id FROM passage WHERE id = :id FOR UPDATE"),
                           {"id": passage_id})
            db.session.execute(sa.text("SET LOCAL lock_timeout = '3s'"))
        with pytest.raises(JuryError) as refused:
            validation.validate(passage=passage_id, revision=stale, actor=second, now=T0)
    finally:
        holder.rollback()
        holder.close()
        db.session.rollback()
    assert str(refused.value) == (validation.ALREADY_FINAL if final
                                  else validation.REVISION_CHANGED)


def test_revalidation_replaces_own_stale_validation(db, create_passage):
    """A juror's validation left at an older revision (a save that raced it did not clear
    it) is replaced when the juror validates again, not a unique violation (a 500 seen
    once in the contended bench)."""
    from exam_app.juries.models import Validation

    passage = create_passage()
    first, _ = members(passage)
    complete_grid(passage)
    save(passage, first, "mark", "12", 0, "op-stale-1")
    db.session.refresh(passage)
    passage.validations.append(Validation(user_id=first.id, revision=passage.agreed_revision - 1,
                                          mark=Decimal("11"), validated_at=T0))
    db.session.commit()
    final = validation.validate(passage=passage.id, revision=passage.agreed_revision,
                                actor=first, now=T0)
    db.session.flush()
    rows = db.session.execute(sa.select(Validation.user_id, Validation.revision, Validation.mark)
                              .where(Validation.passage_id == passage.id)).all()
    assert (final, [tuple(r) for r in rows]) == (
        False, [(first.id, passage.agreed_revision, Decimal("12"))])
