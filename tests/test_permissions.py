"""The named permission checks, role by role and scope by scope."""

from __future__ import annotations

from flask_login import AnonymousUserMixin

from exam_app.accounts.models import Role
from exam_app.permissions import can_manage, can_view_centre


def test_permissions_follow_roles_and_scopes(db, create_session, create_centre, create_candidate,
                                             create_user, create_commission):
    session = create_session()
    lyon, roanne = create_centre(session), create_centre(session)
    at_lyon = create_candidate(session, centre=lyon)
    commission_lyon = create_commission(session, centre=lyon)
    juror = commission_lyon.members[0].user

    gestionnaire = create_user(Role.GESTIONNAIRE)
    chef_lyon = create_user(Role.CHEF_CENTRE, centre=lyon)
    candidate_user = create_user(Role.CANDIDAT, candidate=at_lyon)
    correcteur = create_user(Role.CORRECTEUR)

    assert [can_manage(u) for u in (gestionnaire, chef_lyon, juror, correcteur, candidate_user)] \
        == [True, False, False, False, False]
    assert can_manage(AnonymousUserMixin()) is False

    assert [can_view_centre(u, lyon) for u in (gestionnaire, chef_lyon, juror, candidate_user)] \
        == [True, True, False, False]
    assert can_view_centre(chef_lyon, roanne) is False
    assert can_view_centre(chef_lyon, None) is False
