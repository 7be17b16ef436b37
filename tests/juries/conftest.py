"""Builders for jury-day tests: a commission with a passage."""

from __future__ import annotations

import pytest

from exam_app.accounts.models import Role
from exam_app.juries import planning
from tests.juries.helpers import decide_conforme


@pytest.fixture()
def create_passage(db, create_session, create_centre, create_candidate, create_commission,
                   create_user):
    def build(*, unit_code="E4", variant_code="ponctuel", form="ponctuel", candidate=None,
              commission=None, conforme=True, **candidate_values):
        """``conforme``: the candidate's dossier is decided conforme (a passage starts only
        after the conformity control); False leaves the dossier to the test."""
        session = commission.session if commission else create_session()
        if commission is None:
            centre = create_centre(session)
            commission = create_commission(session, unit_code=unit_code, form=form, centre=centre)
        candidate = candidate or create_candidate(session, e5_form=form, **candidate_values)
        gestionnaire = create_user(Role.GESTIONNAIRE)
        [passage] = planning.assign_candidates(commission=commission, numbers=[candidate.number],
                                               variant_code=variant_code, actor=gestionnaire)
        if conforme:
            decide_conforme(passage)
        return passage

    return build
