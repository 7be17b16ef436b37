"""After the closing, every reader prints the jury's result with its provenance, and every
mark change is refused with the same French message (issue 14, §4)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.deliberation import services
from exam_app.documents import bordereau
from exam_app.e6 import harmonisation, marking
from exam_app.e6.common import E6Locked
from exam_app.e6.models import E6Copy
from exam_app.extensions import db
from exam_app.juries import validation
from exam_app.juries.errors import JuryError
from exam_app.juries.models import Passage
from exam_app.results import deliberation as pages
from exam_app.results import e6_bordereau, exports
from tests.deliberation.conftest import FINAL


@pytest.fixture()
def closed(delib):
    first, second = delib["candidates"][:2]
    for candidate, unit, value in ((first, "E4", "16"), (second, "E6", "ABS")):
        services.change_result(session_id=delib["session"].id, candidate_id=candidate.id,
                               unit_code=unit, value=value, reason="Décision du jury",
                               version=0, before="", actor=delib["member"])
    pages.close(session=delib["session"], actor=delib["president"])
    return delib


def test_every_reader_prints_the_jurys_result(closed):
    session = closed["session"]
    first, second = closed["candidates"][:2]
    rows = {r[0]: r[3:] for r in exports.result_rows(session.id)}
    assert rows[first.number] == ("16", "12", "13")
    assert rows[second.number] == ("9", "11", "ABS")
    e4 = closed["commissions"][0]
    printed = {r["number"]: r["result"] for r in bordereau.bordereau_context(
        e4, bordereau.bordereau_rows(e4))["rows"]}
    assert printed[first.number] == "16"
    e6_rows = {r["number"]: r["result"] for block in
               e6_bordereau.bordereau_context(session)["blocks"] for r in block["rows"]}
    assert e6_rows[second.number] == "ABS"
    [row] = pages.rows_for(session, [first])
    assert [s.kind for s in row.results[0].provenance] == ["passage", "deliberation"]


def test_the_csv_export_shows_the_jurys_result(closed, client, login_as):
    login_as(closed["gestionnaire"])
    body = client.get(f"/gestion/sessions/{closed['session'].code}/e6/resultats.csv") \
        .get_data().decode("utf-8-sig")
    assert f"{closed['candidates'][0].number};" in body
    line = next(line for line in body.splitlines()
                if line.startswith(closed["candidates"][0].number))
    assert line.endswith(";16;12;13")


def test_jury_validation_reopen_is_refused_once_closed(closed):
    passage = db.session.scalar(sa.select(Passage).where(
        Passage.candidate_id == closed["candidates"][0].id, Passage.unit_code == "E4"))
    with pytest.raises(JuryError) as caught:
        validation.reopen(passage=passage, reason="Erreur de saisie", actor=closed["gestionnaire"])
    assert caught.value.message == services.LOCKED_MESSAGE
    assert passage.final_mark == Decimal("14.5")


def test_e6_marking_and_harmonisation_are_refused_once_closed(closed, create_user):
    from tests.e6.builders import make_lot

    corrector = create_user(Role.CORRECTEUR)
    copies = db.session.scalars(sa.select(E6Copy).where(
        E6Copy.session_id == closed["session"].id)).all()
    lot = make_lot(closed["session"], corrector, copies)
    with pytest.raises(E6Locked) as caught:
        marking.save_copy(copy=copies[0], points={}, comment="x", version=copies[0].version,
                          actor=corrector)
    assert caught.value.message == services.LOCKED_MESSAGE
    with pytest.raises(E6Locked):
        marking.validate_lot(lot=lot, actor=corrector)
    lot.validated_at = FINAL  # validated before the closing: only harmonisation remains
    with pytest.raises(E6Locked):
        harmonisation.adjust_lot(lot=lot, factor=Decimal(1), offset_points=Decimal(1),
                                 reason="Harmoniser", actor=closed["gestionnaire"])


def test_reopened_results_can_change_again(closed):
    services.reopen(session_id=closed["session"].id, reason="Erreur matérielle",
                    actor=closed["gestionnaire"])
    services.change_result(session_id=closed["session"].id,
                           candidate_id=closed["candidates"][0].id, unit_code="E4", value="17",
                           reason="Après réouverture", version=1, before="16",
                           actor=closed["president"])
    rows = {r[0]: r[3:] for r in exports.result_rows(closed["session"].id)}
    assert rows[closed["candidates"][0].number][0] == "17"


def test_absence_and_conformity_cannot_change_a_closed_result(delib):
    """ABS and NV are results too: once the délibération is closed, a juror cannot turn
    an absent candidate present, nor the académie revise a conformity decision."""
    from exam_app.dossiers import conformity
    from exam_app.dossiers.common import DepositError
    from exam_app.dossiers.models import Decision
    from exam_app.juries import lifecycle
    from exam_app.juries.models import Attendance

    third = delib["candidates"][2]
    e5 = delib["commissions"][1]
    absent = db.session.scalar(sa.select(Passage).where(
        Passage.candidate_id == third.id, Passage.commission_id == e5.id))
    absent.final_mark, absent.finalized_at = None, None
    lifecycle.set_attendance(passage=absent, attendance=Attendance.ABSENT, actor=delib["member"])
    pages.close(session=delib["session"], actor=delib["president"])
    with pytest.raises(JuryError) as caught:
        lifecycle.set_attendance(passage=absent, attendance=Attendance.PRESENT,
                                 actor=delib["member"])
    assert caught.value.message == services.LOCKED_MESSAGE
    assert absent.attendance == Attendance.ABSENT.value
    with pytest.raises(DepositError) as refused:
        conformity.decide(candidate=third, unit_code="E4", decision=Decision.NON_COMPLIANT,
                          reasons=["absent"], comment="", actor=delib["gestionnaire"],
                          revision_reason="Erreur")
    assert refused.value.status == 409 and refused.value.message == services.LOCKED_MESSAGE
