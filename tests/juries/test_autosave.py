"""Autosave services: compare-and-set, replays, refused values, audited mark changes, private grids."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from exam_app.audit.models import AuditEvent
from exam_app.dossiers import validity
from exam_app.extensions import db as _db
from exam_app.juries import grids
from exam_app.juries.errors import JuryError
from exam_app.juries.models import AGREED
from tests.juries.helpers import T0, members, past_deadline, save, stored_field


@pytest.mark.parametrize("state, expected", [
    ("no deadline, no dossier", validity.UnitValidity.PENDING),
    ("deadline passed, no dossier", validity.UnitValidity.NV),
    ("deadline passed, extension running", validity.UnitValidity.PENDING),
    ("deadline passed, extension over", validity.UnitValidity.NV),
    ("deadline passed, complete, undecided", validity.UnitValidity.PENDING),
    ("deadline passed, incomplete, conforme", validity.UnitValidity.VALID),
    ("non conforme, NV reason", validity.UnitValidity.NV),
    ("non conforme, reason without NV", validity.UnitValidity.VALID),
])
def test_autosave_nv_check_agrees_with_full_validity(app, create_passage, state, expected):
    """The autosave reads the dossier's decision and deadline in its own query and calls
    the full check only when they do not settle it: same answer in every case."""
    from exam_app.dossiers.common import find_dossier
    from exam_app.dossiers.conformity import Reason, configure_reasons, decide
    from exam_app.dossiers.models import Decision
    from tests.dossiers.helpers import complete_dossier, deposit

    passage = create_passage(conforme=False)
    candidate = passage.candidate
    juror = members(passage)[0]
    if state != "no deadline, no dossier":
        past_deadline(passage)
    if "extension" in state:
        deposit(app, candidate, "E4", "sommaire")
        dossier = find_dossier(candidate_id=candidate.id, unit_code="E4")
        dossier.extended_until = T0 + timedelta(days=1 if "running" in state else -1)
    if "complete" in state:
        complete_dossier(app, candidate)
    if "incomplete" in state:
        deposit(app, candidate, "E4", "sommaire")
    if state == "non conforme, reason without NV":
        configure_reasons(
            session=passage.commission.session, actor=None,
            reasons=[Reason("pieces_non_signees", "Pièces non signées", False)])
    if "conforme" in state:
        decision = Decision.NON_COMPLIANT if "non conforme" in state else Decision.COMPLIANT
        reasons = ["pieces_non_signees"] if "reason without NV" in state else (
            ["pieces_manquantes"] if decision is Decision.NON_COMPLIANT else [])
        decide(candidate=candidate, unit_code="E4", decision=decision, reasons=reasons,
               comment="", actor=None, now=T0 - timedelta(days=2))
    _db.session.flush()
    full = validity.unit_validity(candidate_id=candidate.id, unit_code="E4", now=T0)
    try:
        outcome = save(passage, juror, "appreciation", "Bien", 0, f"op-{state}")[0]["status"]
    except JuryError as error:
        outcome = str(error)
    assert (full, outcome) == (expected, (
        "Dossier non valide (NV) : ce candidat ne peut pas être évalué."
        if expected is validity.UnitValidity.NV else "ok"))


def test_save_conflict_reported_never_overwritten(db, create_passage):
    passage = create_passage()
    first, second = members(passage)
    ok = save(passage, first, "c:outils_maitrise", "S", 0, "op-1")
    conflict = save(passage, second, "c:outils_maitrise", "TS", 0, "op-2")
    assert (ok[0]["status"], conflict[0]["status"], conflict[0]["value"],
            stored_field(db, passage, AGREED, "c:outils_maitrise").value) == ("ok", "conflict", "S", "S")


def test_save_replayed_operation_applied_once(db, create_passage):
    passage = create_passage()
    juror = members(passage)[0]
    save(passage, juror, "appreciation", "Bon oral", 0, "op-a")
    replay = save(passage, juror, "appreciation", "Bon oral", 0, "op-a")
    assert (replay[0]["status"], replay[0]["replayed"],
            stored_field(db, passage, AGREED, "appreciation").version) == ("ok", True, 1)


def test_replay_answers_exactly_what_the_save_answered(db, create_passage):
    # On PostgreSQL the save stores its result from SQL (one statement): the replay
    # must read back the same answer as the first time, and the revision moved once.
    passage = create_passage()
    juror = members(passage)[0]
    first = save(passage, juror, "s:performance", "Clair, « précis » : 12 €", 0, "op-json")
    replay = save(passage, juror, "s:performance", "Clair, « précis » : 12 €", 0, "op-json")
    db.session.refresh(passage)
    assert (replay[0], passage.agreed_revision) == ({**first[0], "replayed": True}, 1)
    assert first[0] == {"op": "op-json", "field": "s:performance", "status": "ok",
                        "version": 1, "value": "Clair, « précis » : 12 €"}


def test_save_bad_level_and_mark_step_refused(create_passage):
    passage = create_passage()
    juror = members(passage)[0]
    with pytest.raises(JuryError) as level:
        save(passage, juror, "c:outils_maitrise", "XX", 0, "op-x")
    with pytest.raises(JuryError) as mark:
        save(passage, juror, "mark", "12,3", 0, "op-y")
    assert (str(level.value), str(mark.value)) == (
        "Niveau inconnu : 'XX'.", "La note doit être un multiple de 0,5.")


def test_mark_change_audited_before_after(db, create_passage):
    passage = create_passage()
    juror = members(passage)[0]
    save(passage, juror, "mark", "10", 0, "op-c1")
    save(passage, juror, "mark", "11", 1, "op-c2")
    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "mark.change")
                                .order_by(AuditEvent.id)).all()
    assert [(e.before, e.after) for e in events] == [({"mark": ""}, {"mark": "10"}),
                                                     ({"mark": "10"}, {"mark": "11"})]


def test_independent_grid_private_until_both_reveal(create_passage):
    passage = create_passage()
    first, second = members(passage)
    save(passage, first, "c:outils_maitrise", "TS", 0, "op-i1", key=grids.grid_key_for(first.id))
    grids.reveal(passage=passage, actor=first, now=T0)
    before = grids.grids_view(passage, second.id)["other"]
    grids.reveal(passage=passage, actor=second, now=T0)
    after = grids.grids_view(passage, second.id)["other"]
    assert (before, after["c:outils_maitrise"]) == (None, {"value": "TS", "version": 1})
