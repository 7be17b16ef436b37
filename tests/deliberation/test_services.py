"""The délibération's services: result changes as the results module's last word, the
superseding chain, the stale refusal, closing and the lock, reopening."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from exam_app.audit.models import AuditEvent
from exam_app.deliberation import services
from exam_app.deliberation.models import ResultChange
from exam_app.errors import Invalid
from exam_app.extensions import db
from exam_app.results import compute
from exam_app.results import deliberation as pages


def _change(delib, value="15", *, who="member", unit="E4", version=0, index=0,
            reason="Erreur de report constatée"):
    return services.change_result(session_id=delib["session"].id,
                                  candidate_id=delib["candidates"][index].id, unit_code=unit,
                                  value=value, reason=reason, version=version, before="14,5",
                                  actor=delib[who])


def test_change_becomes_the_result_with_its_provenance(delib):
    _change(delib, "15")
    result = compute.candidate_results(delib["candidates"][0])["E4"]
    assert (result.kind, result.mark, result.printed) == (compute.Kind.MARK, Decimal("15.00"),
                                                          "15")
    assert result.rule == compute.RULE_DELIBERATION
    assert [s.kind for s in result.provenance] == ["passage", "deliberation"]
    assert result.provenance[-1].label == \
        "Délibération : 14,5 → 15 (motif : Erreur de report constatée)"
    assert result.changed_by_jury


def test_change_to_a_code_and_the_superseding_chain(delib):
    _change(delib, "15")
    _change(delib, "abs", version=1, who="president", reason="Absence constatée au PV")
    rows = db.session.scalars(sa.select(ResultChange).order_by(ResultChange.sequence)).all()
    assert [(r.sequence, r.kind.value, r.mark) for r in rows] == [
        (1, "mark", Decimal("15.00")), (2, "ABS", None)]
    assert compute.candidate_results(delib["candidates"][0])["E4"].printed == "ABS"


def test_stale_version_is_refused_and_nothing_written(delib):
    _change(delib, "15")
    with pytest.raises(services.StaleResult) as caught:
        _change(delib, "16", version=0, who="president")
    assert "modifié entre-temps par Marc Membre" in caught.value.message
    assert db.session.scalar(sa.select(sa.func.count(ResultChange.id))) == 1


@pytest.mark.parametrize(("value", "reason", "message"), [
    ("21", "Motif valable", "La note doit être comprise entre 0 et 20."),
    ("douze", "Motif valable", "Saisissez une note sur 20 (ex. 12,5), ou ABS, ou NV."),
    ("12,555", "Motif valable", "La note a au plus deux décimales."),
    ("12", "bof", "Indiquez le motif de la modification (5 caractères au moins)."),
])
def test_bad_change_is_refused_in_french(delib, value, reason, message):
    with pytest.raises(Invalid) as caught:
        _change(delib, value, reason=reason)
    assert caught.value.message == message


def test_only_the_sessions_jury_may_change(delib):
    with pytest.raises(Invalid):
        _change(delib, who="outsider")
    with pytest.raises(Invalid):
        _change(delib, who="gestionnaire")


def test_change_is_audited_with_its_reason(delib):
    _change(delib, "15")
    event = db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.action == "deliberation.result.change"))
    assert (event.reason, event.before, event.after) == (
        "Erreur de report constatée", {"unit": "E4", "result": "14,5"},
        {"unit": "E4", "result": "15", "sequence": 1})


def test_only_the_president_closes(delib):
    with pytest.raises(Invalid) as caught:
        pages.close(session=delib["session"], actor=delib["member"])
    assert caught.value.message == "Seul le président du jury peut clore la délibération."
    pages.close(session=delib["session"], actor=delib["president"])
    assert services.is_locked(delib["session"].id)


def test_closing_is_refused_while_a_result_is_pending(delib, create_candidate):
    create_candidate(delib["session"])  # nothing marked yet
    with pytest.raises(Invalid) as caught:
        pages.close(session=delib["session"], actor=delib["president"])
    assert caught.value.message.startswith("3 résultat(s) E4, E5 ou E6 sont encore en attente")
    assert not services.is_locked(delib["session"].id)


def test_after_closing_every_mark_change_is_refused(delib):
    pages.close(session=delib["session"], actor=delib["president"])
    with pytest.raises(services.ResultsLocked) as caught:
        _change(delib, "18")
    assert caught.value.message == services.LOCKED_MESSAGE
    with pytest.raises(services.ResultsLocked):
        pages.close(session=delib["session"], actor=delib["president"])


def test_reopen_needs_a_reason_and_is_audited(delib):
    pages.close(session=delib["session"], actor=delib["president"])
    with pytest.raises(Invalid):
        services.reopen(session_id=delib["session"].id, reason="", actor=delib["gestionnaire"])
    services.reopen(session_id=delib["session"].id, reason="Erreur sur le PV",
                    actor=delib["gestionnaire"])
    assert not services.is_locked(delib["session"].id)
    event = db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.action == "deliberation.reopen"))
    assert event.reason == "Erreur sur le PV"
    _change(delib, "15")  # open again


def test_set_jury_refuses_an_account_without_the_role(delib, create_user):
    from exam_app.accounts.models import Role

    examiner = create_user(Role.EXAMINATEUR)
    with pytest.raises(Invalid):
        services.set_jury(session=delib["session"], president_id=examiner.id, member_ids=[],
                          actor=delib["gestionnaire"])


def test_weighted_total_only_with_other_units(delib):
    from exam_app.deliberation import other_units

    session = delib["session"]
    [row] = pages.rows_for(session, [delib["candidates"][0]])
    assert (row.total, row.others) == (None, [])
    other_units.save_other_unit(session=session, code="U1", label="Culture générale",
                                coefficient="3", actor=delib["gestionnaire"])
    [row] = pages.rows_for(session, [delib["candidates"][0]])
    assert (row.total, row.total_note) == (None, "U1 : pas de note")
    other_units.import_other_marks(session=session, data=(
        f"N° candidat;U1\n{delib['candidates'][0].number};10\n").encode(),
        actor=delib["gestionnaire"], max_rows=100)
    [row] = pages.rows_for(session, [delib["candidates"][0]])
    # (14,5×4 + 12×4 + 13×4 + 10×3) / 15
    assert (row.total, row.others) == (Decimal("12.53"), ["10"])
