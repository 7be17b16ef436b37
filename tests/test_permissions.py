"""The named permission checks, role by role and scope by scope."""

from __future__ import annotations

from flask_login import AnonymousUserMixin

from exam_app.accounts.models import Role
from exam_app.permissions import can_manage, can_view_candidate, can_view_centre, can_view_commission


def test_permissions_follow_roles_and_scopes(db, create_session, create_centre, create_candidate,
                                             create_user, create_commission):
    session = create_session()
    lyon, roanne = create_centre(session), create_centre(session)
    at_lyon = create_candidate(session, centre=lyon)
    at_roanne = create_candidate(session, centre=roanne)
    no_centre = create_candidate(session)
    commission_lyon = create_commission(session, centre=lyon)
    commission_roanne = create_commission(session, centre=roanne)
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

    assert [can_view_candidate(chef_lyon, c) for c in (at_lyon, at_roanne, no_centre)] == [
        True, False, False]
    assert [can_view_candidate(candidate_user, c) for c in (at_lyon, at_roanne, no_centre)] == [
        True, False, False]
    assert [can_view_candidate(gestionnaire, c) for c in (at_lyon, at_roanne, no_centre)] == [
        True, True, True]
    assert [can_view_candidate(u, at_lyon) for u in (juror, correcteur)] == [False, False]

    assert [can_view_commission(u, commission_lyon)
            for u in (gestionnaire, chef_lyon, juror, correcteur, candidate_user)] == [
        True, True, True, False, False]
    assert [can_view_commission(u, commission_roanne) for u in (chef_lyon, juror)] == [False, False]
