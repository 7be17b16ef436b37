"""A session whose E4, E5 and E6 results are all decided, and its jury de délibération."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from exam_app.accounts.models import Role
from exam_app.deliberation import services
from exam_app.e6.models import E6Copy, E6Release
from tests.juries.conftest import create_passage  # noqa: F401 (fixture)

FINAL = datetime(2027, 5, 12, 10, 0, tzinfo=UTC)


def final(passage, mark: str) -> None:
    passage.final_mark = Decimal(mark)
    passage.finalized_at = FINAL


@pytest.fixture()
def delib(app, db, create_passage, create_candidate, create_commission,  # noqa: F811
           create_user):
    first = create_passage()  # E4 ponctuel
    e4 = first.commission
    session = e4.session
    e5 = create_commission(session, unit_code="E5", form="ponctuel", centre=e4.centre)
    people = [first.candidate, create_candidate(session, centre=e4.centre, last_name="BERNARD"),
              create_candidate(session, centre=e4.centre, last_name="COLIN")]
    marks = {0: ("14.5", "12", "13"), 1: ("9", "11", "8.5"), 2: ("16", "15", "17")}
    for index, who in enumerate(people):
        e4_mark, e5_mark, e6_mark = marks[index]
        passage = first if index == 0 else create_passage(candidate=who, commission=e4)
        final(passage, e4_mark)
        final(create_passage(unit_code="E5", candidate=who, commission=e5), e5_mark)
        db.session.add(E6Copy(session_id=session.id, candidate_id=who.id,
                              anonymous_number=f"A-{index + 1:04d}", raw_total=Decimal(e6_mark),
                              mark=Decimal(e6_mark)))
    gestionnaire = create_user(Role.GESTIONNAIRE)
    db.session.add(E6Release(session_id=session.id, lifted_at=FINAL, lifted_by_id=gestionnaire.id))
    president = create_user(Role.JURY_DELIBERATION, first_name="Hélène", last_name="Président")
    member = create_user(Role.JURY_DELIBERATION, first_name="Marc", last_name="Membre")
    outsider = create_user(Role.JURY_DELIBERATION, first_name="Olga", last_name="Autre")
    deliberation = services.set_jury(session=session, president_id=president.id,
                                     member_ids=[member.id], actor=gestionnaire)
    db.session.flush()
    return {"session": session, "candidates": people, "president": president, "member": member,
            "outsider": outsider, "gestionnaire": gestionnaire, "deliberation": deliberation,
            "commissions": (e4, e5)}
