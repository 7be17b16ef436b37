"""Every route, as every role: who gets in (200/302) and who gets 403.

ACCESS declares, for each endpoint, the roles allowed. A new route must be
declared here or ``test_every_route_is_declared`` fails. The world built by
``world`` gives each URL argument a value the allowed roles may see.
"""

from __future__ import annotations

import pytest

from exam_app.accounts.models import Role
from tests.conftest import csrf_token_from

ANONYMOUS = "anonyme"
PUBLIC = frozenset({ANONYMOUS, *Role})
LOGGED_IN = frozenset(Role)
G = Role.GESTIONNAIRE

ACCESS: dict[str, frozenset] = {
    "accounts.login": PUBLIC,
    "accounts.logout": PUBLIC,
    "accounts.home": LOGGED_IN,
    "enrolment.dashboard": frozenset({G}),
    "enrolment.session_dashboard": frozenset({G}),
    "enrolment.candidates": frozenset({G}),
    "enrolment.import_candidates": frozenset({G}),
    "enrolment.centres": frozenset({G}),
    "enrolment.establishments": frozenset({G}),
    "enrolment.users": frozenset({G}),
    "enrolment.centre_home": frozenset({Role.CHEF_CENTRE}),
    "enrolment.candidate_home": frozenset({Role.CANDIDAT}),
    "juries.home": frozenset({Role.EXAMINATEUR}),
    "e6.correcteur_home": frozenset({Role.CORRECTEUR}),
    "documents.verify_document": PUBLIC,
    "juries.server_time": frozenset({Role.EXAMINATEUR}),
    "juries.passage_page": frozenset({Role.EXAMINATEUR}),
    "juries.passage_state": frozenset({Role.EXAMINATEUR}),
    "juries.timer_action": frozenset({Role.EXAMINATEUR}),
    "juries.autosave": frozenset({Role.EXAMINATEUR}),
    "juries.reveal": frozenset({Role.EXAMINATEUR}),
    "juries.validate": frozenset({Role.EXAMINATEUR}),
    "juries.attendance": frozenset({Role.EXAMINATEUR}),
    "juries.commissions": frozenset({G}),
    "juries.planning": frozenset({G}),
    "juries.move": frozenset({G}),
    "juries.swap": frozenset({G}),
    "juries.reopen": frozenset({G}),
    "juries.board": frozenset({G}),
}

# Routes whose POST is not role-checked by design (login/logout are public).
UNCHECKED_POSTS = {"accounts.login", "accounts.logout"}


@pytest.fixture()
def world(create_session, create_centre, create_candidate, create_user, create_commission):
    """One session with one of everything, and one user per role scoped to it."""
    session = create_session()
    centre = create_centre(session)
    candidate = create_candidate(session, centre=centre)
    users = {
        Role.GESTIONNAIRE: create_user(Role.GESTIONNAIRE),
        Role.CHEF_CENTRE: create_user(Role.CHEF_CENTRE, centre=centre),
        Role.EXAMINATEUR: create_user(Role.EXAMINATEUR),
        Role.CORRECTEUR: create_user(Role.CORRECTEUR),
        Role.CANDIDAT: create_user(Role.CANDIDAT, candidate=candidate),
    }
    commission = create_commission(session, centre=centre, teacher=users[Role.EXAMINATEUR])
    args = {
        "code": session.code,
        "candidate_id": candidate.id,
        "centre_id": centre.id,
        "commission_id": commission.id,
        "token": "not-a-token",
        "passage_id": _passage_for(commission, candidate, users[Role.GESTIONNAIRE]).id,
        "grid": "commune",
    }
    return {"session": session, "users": users, "args": args}


def _passage_for(commission, candidate, actor):
    from exam_app.juries.planning import assign_candidates

    return assign_candidates(commission=commission, numbers=[candidate.number],
                             variant_code="ponctuel", actor=actor)[0]


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        yield rule


def test_every_route_is_declared(app):
    endpoints = {rule.endpoint for rule in _routes(app)}
    assert endpoints - set(ACCESS) == set()
    assert set(ACCESS) - endpoints == set()


@pytest.mark.parametrize("role", [ANONYMOUS, *Role], ids=lambda r: str(r))
def test_route_access(app, client, world, login_as, role):
    if role != ANONYMOUS:
        login_as(world["users"][role])
        token = csrf_token_from(client.get("/", follow_redirects=True).get_data(as_text=True))
    failures = []
    for rule in _routes(app):
        url = rule.build(world["args"], append_unknown=False)[1]
        allowed = role in ACCESS[rule.endpoint]
        if "GET" in rule.methods:
            status = client.get(url).status_code
            if allowed and status not in (200, 302):
                failures.append(f"GET {url}: {status}, expected 200/302")
            if not allowed:
                expected = 302 if role == ANONYMOUS else 403
                if status != expected:
                    failures.append(f"GET {url}: {status}, expected {expected}")
        if "POST" in rule.methods and rule.endpoint not in UNCHECKED_POSTS and role != ANONYMOUS:
            status = client.post(url, data={"csrf_token": token}).status_code
            if allowed and status == 403:
                failures.append(f"POST {url}: 403 for an allowed role")
            if not allowed and status != 403:
                failures.append(f"POST {url}: {status}, expected 403")
    assert failures == []
