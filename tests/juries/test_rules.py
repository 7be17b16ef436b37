"""Rules the jury screen enforces (issue 11): a joint validation needs a complete
grid (15), private grids lock with the mark (16), and a double start or advance
is an idempotent success, applied and audited once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from exam_app.audit.models import AuditEvent
from exam_app.juries import lifecycle, validation
from exam_app.juries.autosave import FINAL_PRIVATE
from exam_app.juries.errors import JuryError
from exam_app.juries.grids import grid_key_for
from exam_app.juries.models import GridField
from tests.juries.helpers import T0, complete_grid, members, save, stored_field, validate_both


def _validate(passage, juror):
    return validation.validate(passage=passage, revision=passage.agreed_revision, actor=juror,
                               now=T0)


def test_validation_refused_on_blank_criteria_naming_them(db, create_passage):
    passage = create_passage()
    juror = members(passage)[0]
    save(passage, juror, "mark", "12", 0, "op-blank")
    db.session.refresh(passage)
    with pytest.raises(JuryError) as refused:
        _validate(passage, juror)
    criteria = db.session.scalars(sa.select(GridField.name).join(GridField.grid).where(
        GridField.name.like("c:%"), GridField.grid.has(passage_id=passage.id, key="agreed"))
        .order_by(GridField.id)).all()
    error = refused.value
    assert (error.status, error.field, len(error.details), passage.validations) == (
        409, criteria[0], len(criteria) + 1, [])
    assert error.message.startswith(f"Grille commune incomplète ({len(criteria) + 1} éléments")
    assert error.details[0] == "Critère « Compétences comportementales » : niveau non renseigné."
    assert error.details[-1] == "L'appréciation est vide."


def test_validation_refused_without_appreciation(db, create_passage):
    passage = create_passage()
    juror = members(passage)[0]
    complete_grid(passage, skip=("appreciation",))
    save(passage, juror, "mark", "12", 0, "op-no-appreciation")
    db.session.refresh(passage)
    with pytest.raises(JuryError) as refused:
        _validate(passage, juror)
    assert (refused.value.field, refused.value.details) == (
        "appreciation", ["L'appréciation est vide."])


def test_not_evaluated_criterion_needs_a_reason_in_its_section(db, create_passage):
    passage = create_passage()
    juror = members(passage)[0]
    complete_grid(passage)
    save(passage, juror, "c:outils_pertinence", "NE", 0, "op-ne")
    save(passage, juror, "mark", "12", 0, "op-ne-mark")
    db.session.refresh(passage)
    with pytest.raises(JuryError) as refused:
        _validate(passage, juror)
    section = refused.value.field
    version = stored_field(db, passage, "agreed", section).version
    save(passage, juror, section, "Pas d'outil numérique présenté (panne).", version, "op-why")
    db.session.refresh(passage)
    accepted = _validate(passage, juror)
    assert (section.startswith("s:"), "non évalué : indiquez le motif" in
            refused.value.details[0], accepted, len(passage.validations)) == (
        True, True, False, 1)


def test_private_grid_locked_with_the_mark(db, create_passage):
    passage = create_passage()
    juror = members(passage)[0]
    key = grid_key_for(juror.id)
    before = save(passage, juror, "mark", "11", 0, "op-own-before", key=key)
    validate_both(passage, "15")
    with pytest.raises(JuryError) as refused:
        save(passage, juror, "mark", "16", 1, "op-own-after", key=key)
    with pytest.raises(JuryError):
        save(passage, juror, "appreciation", "Après coup", 0, "op-own-text", key=key)
    assert (before[0]["status"], str(refused.value), refused.value.status,
            stored_field(db, passage, key, "mark").value) == ("ok", FINAL_PRIVATE, 409, "11")


def _audited(db, passage, action):
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.object_id == str(passage.id), AuditEvent.action == action))


def test_double_start_and_advance_are_idempotent_and_audited_once(db, create_passage):
    passage = create_passage()
    first, second = members(passage)
    started = [lifecycle.start_passage(passage=passage, actor=juror, now=T0)
               for juror in (first, second)]
    advanced = [lifecycle.advance(passage=passage, from_index=0, actor=juror, now=T0)
                for juror in (first, second)]
    assert (started, advanced, [s.index for s in passage.segments],
            _audited(db, passage, "timer.start"), _audited(db, passage, "timer.advance")) == (
        [True, False], [True, False], [0, 1], 1, 1)


def test_advance_of_a_segment_not_reached_is_refused(db, create_passage):
    passage = create_passage()
    juror = members(passage)[0]
    with pytest.raises(JuryError) as not_started:
        lifecycle.advance(passage=passage, from_index=0, actor=juror, now=T0)
    lifecycle.start_passage(passage=passage, actor=juror, now=T0)
    with pytest.raises(JuryError) as ahead:
        lifecycle.advance(passage=passage, from_index=1, actor=juror, now=T0)
    assert str(not_started.value) == str(ahead.value) == (
        "Cette étape n'est pas en cours : rechargez la page.")


def test_timer_endpoint_says_already(client, login_as, create_passage, db):
    import re

    passage = create_passage()
    login_as(members(passage)[0])
    page = client.get(f"/jury/passages/{passage.id}").get_data(as_text=True)
    token = re.search(r'data-csrf="([^"]+)"', page).group(1)
    url = f"/jury/passages/{passage.id}/minuteur"

    def post(body):
        return client.post(url, json=body, headers={"X-CSRFToken": token}).get_json()

    answers = [post({"action": "start"}), post({"action": "start"}),
               post({"action": "next", "from": 0}), post({"action": "next", "from": 0})]
    assert [(a["ok"], a["already"], "déjà" in a.get("message", "")) for a in answers] == [
        (True, False, False), (True, True, True), (True, False, False), (True, True, True)]
