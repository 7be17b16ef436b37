"""Every route × every role × every scope: exact status codes.

Two complete worlds (see ``conftest.py``) share one session: "own" is the
logged-in user's world (A), "other" is another centre's (B): another
candidate, commission, centre, correcteur, lot and print pack. "sibling" is
another candidate with another commission in A's own centre.

``MATRIX`` classifies every endpoint of ``app.url_map``; a new route fails
``test_every_route_is_classified`` until it is added. For an endpoint with
object ids in its URL, each method maps each role allowed by
``tests.test_routes.ACCESS`` to the expected status, either one code for
every scope (the gestionnaire manages every session) or ``(own, other)`` /
``(own, other, sibling)``; every other role gets 403 (anonymous: 302 to the
login page). State-changing methods carry a valid CSRF token, so a 403 comes
from the scope check, and a refused request records no audit event. Every
answer a correcteur gets is searched for every candidate's name, number and
establishment (anonymity). ``MIXED`` names objects of both worlds in one
request (own lot, another's copy). Endpoints without object ids are listed in ``UNSCOPED``
with the reason; their listings are checked in
``test_listing_pages_show_only_own_objects``.
"""

from __future__ import annotations

import html

import pytest

from exam_app.accounts.models import Role
from tests.conftest import csrf_token_from
from tests.e6.test_anonymity import _identities, _leaks
from tests.scope.conftest import SIBLING_KEYS
from tests.test_routes import ACCESS, ANONYMOUS, _routes

C, E, K, H, G, X = (Role.CANDIDAT, Role.EXAMINATEUR, Role.CORRECTEUR, Role.CHEF_CENTRE,
                    Role.GESTIONNAIRE, Role.COORDINATEUR_CCF)
J = Role.JURY_DELIBERATION
SCOPES = ("other", "sibling", "own")  # own last: its POSTs may change what it names

# Routes with no object id in the URL, and why no scope applies.
UNSCOPED = {
    "accounts.login": "public",
    "accounts.logout": "public; ends the session (tests/accounts)",
    "accounts.home": "redirects to the user's role home",
    "accounts.change_password_page": "the logged-in user's own password (tests/accounts)",
    "enrolment.dashboard": "académie-wide list of sessions (gestionnaire)",
    "enrolment.establishments": "académie-wide list and form (gestionnaire)",
    "enrolment.import_establishments": "académie-wide reference data (gestionnaire)",
    "enrolment.new_session": "creates a session (gestionnaire; tests/enrolment/test_setup_views)",
    "enrolment.users": "académie-wide list (gestionnaire)",
    "overview.centre_home": "lists the user's own centres (listing test)",
    "enrolment.candidate_home": "lists the user's own candidacies (listing test)",
    "juries.home": "lists the user's own commissions and passages (listing test)",
    "ccf.home": "redirects to the coordinator's own establishment (tests/ccf)",
    "juries.server_time": "the server clock",
    "juries.service_worker": "public: the passage page's static service worker script",
    "e6.correcteur_home": "lists the user's own lots (listing test)",
    "documents.verify_document": "public: a signed token, no stored object",
    "accounts.activate": "public: a one-time activation token (tests/accounts/test_activation)",
    "accounts.forgot_password": "public: asks for a reset link (tests/accounts/test_activation)",
    "accounts.reset_password": "public: a one-time reset token (tests/accounts/test_activation)",
    "deliberation.home": "lists the user's own juries de délibération "
                         "(tests/deliberation/test_views)",
}

# Session pages: the académie's, one session for every world; one code per role.
SESSION = {"GET": {G: 200}}
SESSION_POST = {"POST": {G: 302}}

MATRIX: dict[str, dict[str, dict[Role, int | tuple]]] = {
    # -- the candidate's own dossier: another candidate's is 404 (not even detectable)
    "dossiers.create_upload": {"POST": {C: (400, 404, 404)}},
    "dossiers.upload_form": {"POST": {C: (302, 404, 404)}},
    "dossiers.add_internship": {"POST": {C: (302, 404, 404)}},
    "dossiers.upload_status": {"GET": {C: (200, 404, 404)}},
    "dossiers.upload_chunk": {"PATCH": {C: (400, 404, 404)}, "PUT": {C: (400, 404, 404)}},
    "dossiers.cancel_upload": {"DELETE": {C: (204, 404, 404)}},
    "dossiers.remove_file": {"POST": {C: (302, 404, 404)}},
    "dossiers.remove_internship": {"POST": {C: (302, 404, 404)}},
    # -- reading a dossier: the candidate, their commission's jurors, the académie
    "dossiers.view_dossier": {"GET": {C: (200, 404, 404), E: (200, 403, 403), G: 200}},
    "dossiers.receipt": {"GET": {C: (200, 404, 404), E: (200, 403, 403), G: 200}},
    "dossiers.file": {"GET": {C: (200, 404, 404), E: (200, 403, 403), G: 200}},
    "juries.commission_dossiers": {"GET": {E: (200, 403, 403), G: 200}},
    "dossiers.extension": {"GET": {G: 200}, "POST": {G: 400}},
    "dossiers.check": {"GET": {G: 200}, "POST": {G: 400}},
    # -- a passage: the jurors of its commission only
    "juries.passage_page": {"GET": {E: (200, 403, 403)}},
    "juries.passage_state": {"GET": {E: (200, 403, 403)}},
    "juries.passage_wait": {"GET": {E: (200, 403, 403)}},
    "juries.timer_action": {"POST": {E: (400, 403, 403)}},
    "juries.autosave": {"POST": {E: (400, 403, 403)}},
    "juries.reveal": {"POST": {E: (200, 403, 403)}},
    "juries.validate": {"POST": {E: (400, 403, 403)}},
    "juries.attendance": {"POST": {E: (302, 403, 403)}},
    "juries.planning": {"GET": {G: 200}, "POST": {G: 400}},
    "juries.move": {"POST": {G: 302}},
    "juries.swap": {"POST": {G: 302}},
    "juries.swap_with": {"GET": {G: 200}},
    "juries.reopen": {"GET": {G: 200}, "POST": {G: 400}},
    "juries.start_exception": {"GET": {G: 200}, "POST": {G: 400}},
    "juries.edit_commission": {"GET": {G: 200}, "POST": {G: 400}},
    # -- a centre's E6 sitting and print packs: its chef de centre and the académie
    "e6.sitting": {"GET": {H: (200, 403), G: 200}},
    "e6.add_room": {"POST": {H: (302, 403), G: 302}},
    "e6.distribute": {"POST": {H: (302, 403), G: 302}},
    "e6.room": {"GET": {H: (200, 403), G: 200}, "POST": {H: (302, 403), G: 302}},
    "e6.attendance_sheet": {"GET": {H: (200, 403), G: 200}},
    "e6.labels": {"GET": {H: (200, 403), G: 200}},
    "documents.packs": {"GET": {H: (200, 403), G: 200}, "POST": {H: (200, 403), G: 200}},
    "documents.pack": {"GET": {H: (200, 403), G: 200}},
    "documents.pack_state": {"GET": {H: (200, 403), G: 200}},
    "documents.pack_regenerate": {"POST": {H: (302, 403), G: 302}},
    "documents.pack_file": {"GET": {H: (302, 403), G: 302}},
    # -- the candidate's own convocations and relevé (not published in this world: the
    #    candidate is sent back to their space with the date; another's is 404)
    "documents.candidate_convocation": {"GET": {C: (302, 404, 404)}},
    "documents.candidate_releve": {"GET": {C: (302, 404, 404)}},
    "overview.centre_rooms": {"GET": {H: (200, 403), G: 200}, "POST": {H: (422, 403), G: 422}},
    # -- an establishment's CCF: its coordinator and the académie (issue 14, §2)
    "ccf.establishment": {"GET": {X: (200, 403), G: 200}},
    "ccf.new_commission": {"GET": {X: (200, 403), G: 200}, "POST": {X: (400, 403), G: 400}},
    "ccf.plan": {"POST": {X: (302, 403, 403), G: 302}},
    "ccf.bordereau_pdf": {"GET": {X: (200, 403), G: 200}},
    "ccf.fiches_pdf": {"GET": {X: (302, 403), G: 302}},
    "ccf.transmit": {"GET": {X: (200, 403), G: 200}, "POST": {X: (400, 403), G: 400}},
    "ccf.transmissions": SESSION,
    "ccf.reopen": {"GET": {G: 200}, "POST": {G: 400}},
    # -- a correcteur's lot: its correcteur only (the académie through its own pages)
    "e6.lot": {"GET": {K: (200, 403)}},
    "e6.save_copy": {"POST": {K: (400, 403)}},
    "e6.validate_lot": {"POST": {K: (302, 403)}},
    "e6.adjust_lot": {"POST": {G: 302}},
    "e6.finalize_lot": {"POST": {G: 302}},
    "e6.reopen_lot": {"POST": {G: 302}},
    "e6.move_copy": {"POST": {G: 302}},
    "e6.remove_corrector": {"POST": {G: 302}},
    # -- session pages (the académie's)
    "overview.session_dashboard": SESSION,
    "enrolment.candidates": SESSION,
    "enrolment.import_candidates": {"GET": {G: 200}, "POST": {G: 400}},
    "enrolment.candidate": SESSION,
    "enrolment.candidate_status": SESSION_POST,
    "enrolment.candidate_registration": {"POST": {G: 400}},
    "enrolment.import_registrations": {"GET": {G: 200}, "POST": {G: 400}},
    "enrolment.centres": {"GET": {G: 200}, "POST": {G: 400}},
    "enrolment.import_centres": {"GET": {G: 200}, "POST": {G: 400}},
    "enrolment.session_settings": {"GET": {G: 200}, "POST": {G: 400}},
    "enrolment.people_page": {"GET": {G: 200}, "POST": {G: 400}},
    "enrolment.import_people": {"GET": {G: 200}, "POST": {G: 400}},
    "enrolment.activation_links": {"POST": {G: 302}},
    "documents.centre_table": {"GET": {G: 200}, "POST": {G: 400}},
    "documents.move_candidates": {"POST": {G: 303}},
    "juries.new_commission": {"GET": {G: 200}, "POST": {G: 400}},
    "juries.planification": SESSION,
    "juries.planification_start": {"POST": {G: 400}},
    "juries.planification_apply": {"POST": {G: 302}},
    "juries.planification_repair": {"POST": {G: 400}},
    "juries.planification_repair_apply": {"POST": {G: 302}},
    "juries.planification_publish": {"POST": {G: 302}},
    "juries.planification_to_inform_csv": SESSION,
    # The planning board: a form POST is not the JSON its changes take (400); placing
    # without a centre goes back to the board (302). Passages and centres of another
    # session are refused by tests/juries/test_plan_board.py.
    "juries.plan_board_page": SESSION,
    "juries.plan_board_move": {"POST": {G: 400}},
    "juries.plan_board_swap": {"POST": {G: 400}},
    "juries.plan_board_pin": {"POST": {G: 400}},
    "juries.plan_board_place": {"POST": {G: 302}},
    "juries.import_commissions": {"GET": {G: 200}, "POST": {G: 400}},
    "juries.availability": {"GET": {G: 200}, "POST": {G: 400}},
    "juries.commissions": SESSION,
    "juries.board": SESSION,
    "juries.board_wait": SESSION,
    "dossiers.deadlines": {"GET": {G: 200}, "POST": {G: 400}},
    "dossiers.file_rules": {"POST": {G: 400}},
    "dossiers.dashboard": SESSION,
    "dossiers.dashboard_csv": SESSION,
    "dossiers.queue": SESSION,
    "dossiers.reasons": {"GET": {G: 200}, "POST": {G: 302}},
    "e6.manage": SESSION,
    "e6.bareme": {"GET": {G: 200}, "POST": {G: 400}},
    "e6.add_corrector": SESSION_POST,
    "e6.form_lots": SESSION_POST,
    "e6.lift": SESSION_POST,
    "e6.correspondence": SESSION,
    "e6.harmonisation": SESSION,
    "documents.releves": SESSION,
    # Without ?etablissement= the gestionnaire is sent back to the list.
    "documents.releve_pack": {"GET": {G: 302}},
    "results.e6_bordereau_pdf": {"GET": {G: 302}},
    "results.export_csv": {"GET": {G: 302}},
    "results.export_xlsx": {"GET": {G: 302}},
    # -- the jury de délibération: its members (own world's jury user presides the one
    # session both worlds share); non-members are 403 (tests/deliberation/test_views)
    "deliberation.candidates": {"GET": {J: 200}},
    "deliberation.distributions": {"GET": {J: 200}},
    "deliberation.candidate": {"GET": {J: (200, 200, 200)}, "POST": {J: (400, 400, 400)}},
    "deliberation.close": {"POST": {J: 302}},  # unconfirmed: refused, back to the list
    "deliberation.pv": {"GET": {G: 302, J: 302}},  # not closed yet: back, saying so
    "deliberation.manage": {"GET": {G: 200}, "POST": {G: 400}},
    "deliberation.reopen": {"POST": {G: 302}},
    "deliberation.units": {"GET": {G: 200}, "POST": {G: 400}},
    "deliberation.delete_unit": {"POST": {G: 302}},
    "deliberation.import_marks": {"GET": {G: 200}, "POST": {G: 400}},
}

# Requests whose URL and body name objects of two worlds: (endpoint, method, role, URL
# args from world A, overridden from world B, form data from world B) -> status.
MIXED = [
    # Own lot, another correcteur's copy: unknown in this lot.
    ("e6.save_copy", "POST", K, ("anonymous_number",), {}, 404),
    # Own room, another centre's candidate in the attendance list: refused, nothing saved.
    ("e6.room", "POST", H, (), {"presence-{candidate_id}": "absent"}, 409),
    ("e6.room", "POST", G, (), {"presence-{candidate_id}": "absent"}, 409),
]

def _rule(app, endpoint: str):
    return next(rule for rule in _routes(app) if rule.endpoint == endpoint)


def _methods(rule) -> set[str]:
    return set(rule.methods) - {"HEAD", "OPTIONS"}


def test_every_route_is_classified(app):
    endpoints = {rule.endpoint for rule in _routes(app)}
    assert endpoints - set(MATRIX) - set(UNSCOPED) == set(), "classify the new route"
    assert (set(MATRIX) | set(UNSCOPED)) - endpoints == set(), "remove the route"
    assert set(MATRIX) & set(UNSCOPED) == set()


def test_matrix_agrees_with_routes_and_access(app):
    """Each scoped route: every method listed, the roles that ACCESS allows, and a sibling
    answer exactly when its URL names a candidate's or a commission's object."""
    problems = []
    for rule in _routes(app):
        if rule.endpoint in UNSCOPED:
            tokens = {"token", "activation_token", "reset_token"}
            assert not (rule.arguments - tokens), f"{rule.endpoint} has object ids"
            continue
        methods = MATRIX[rule.endpoint]
        if set(methods) != _methods(rule):
            problems.append(f"{rule.endpoint}: methods {sorted(methods)}")
        for method, expected in methods.items():
            if set(expected) != set(ACCESS[rule.endpoint]):
                problems.append(f"{rule.endpoint} {method}: roles differ from ACCESS")
            for role, codes in expected.items():
                wants_sibling = bool(rule.arguments & SIBLING_KEYS) and role != G
                if isinstance(codes, tuple) and (len(codes) == 3) != wants_sibling:
                    problems.append(f"{rule.endpoint} {method} {role}: sibling answer")
    assert not problems, "\n".join(problems)


def expected_status(endpoint: str, method: str, role, scope: str) -> int | None:
    """The status the matrix expects; None when the scope does not apply to the route."""
    allowed = MATRIX[endpoint][method]
    if role not in allowed:
        return 302 if role == ANONYMOUS else 403
    codes = allowed[role]
    if not isinstance(codes, tuple):
        return codes
    index = {"own": 0, "other": 1, "sibling": 2}[scope]
    return codes[index] if index < len(codes) else None


def _login(client, login_as, worlds, role) -> str:
    """Log in as ``role`` of world A; the CSRF token of the session."""
    if role == ANONYMOUS:
        page = client.get("/connexion")
    else:
        user = worlds.gestionnaire if role == G else worlds.own.users[role]
        login_as(user)
        page = client.get("/", follow_redirects=True)
    return csrf_token_from(page.get_data(as_text=True))


def send(client, method: str, url: str, token: str, data: dict | None = None):
    """One request; non-GET ones carry a valid CSRF token (form field and header)."""
    if method == "GET":
        return client.get(url)
    return client.open(url, method=method, data={"csrf_token": token, **(data or {})},
                       headers={"X-CSRFToken": token, "Upload-Offset": "invalide"})


def _order(method: str) -> int:
    return {"GET": 0, "DELETE": 2}.get(method, 1)


def _cases(app, worlds):
    """(endpoint, method, scope, url), GETs first and DELETEs last, own after the others."""
    cases = []
    for rule in _routes(app):
        if rule.endpoint in UNSCOPED:
            continue
        for method in MATRIX[rule.endpoint]:
            for scope in SCOPES:
                if scope == "sibling" and not rule.arguments & SIBLING_KEYS:
                    continue
                url = rule.build(worlds.args(scope), append_unknown=False)[1]
                cases.append((rule.endpoint, method, scope, url))
    return sorted(cases, key=lambda c: (_order(c[1]), SCOPES.index(c[2]) == 2))


def _named(identities: set[str], body: str) -> list[str]:
    """Which of ``identities`` the body names (whole words, case-insensitive)."""
    folded = html.unescape(body).casefold()
    return sorted(i for i in identities if _leaks(i, folded))


@pytest.mark.parametrize("role", [ANONYMOUS, *Role], ids=str)
def test_scope_matrix(app, client, login_as, worlds, role):
    token = _login(client, login_as, worlds, role)
    identities = _identities()
    failures = []
    for endpoint, method, scope, url in _cases(app, worlds):
        expected = expected_status(endpoint, method, role, scope)
        if expected is None:
            continue
        before = _audit_count()
        response = send(client, method, url, token)
        if response.status_code != expected:
            failures.append(f"{method} {url} ({endpoint}, {scope}): "
                            f"{response.status_code}, expected {expected}")
        elif (expected in (403, 404) or role == ANONYMOUS) and _audit_count() != before:
            failures.append(f"{method} {url}: refused, yet an audit event was recorded")
        if role == K and (leaked := _named(identities, response.get_data(as_text=True))):
            failures.append(f"{method} {url}: a correcteur sees {leaked}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(("endpoint", "method", "role", "from_other", "data", "expected"),
                         MIXED, ids=lambda v: str(v) if not isinstance(v, dict | tuple) else "")
def test_objects_of_two_worlds_in_one_request(app, client, login_as, worlds, endpoint, method,
                                              role, from_other, data, expected):
    token = _login(client, login_as, worlds, role)
    args = {**worlds.own.args, **{k: worlds.other.args[k] for k in from_other}}
    rule = _rule(app, endpoint)
    url = rule.build(args, append_unknown=False)[1]
    form = {k.format(**worlds.other.args): v for k, v in data.items()}
    before = _audit_count()
    assert send(client, method, url, token, form).status_code == expected
    assert _audit_count() == before  # nothing changed


def _audit_count() -> int:
    from exam_app.audit.models import AuditEvent
    from exam_app.extensions import db

    return db.session.scalar(db.select(db.func.count(AuditEvent.id)))


LISTINGS = [
    # (role, page, which name): world A's shows, world B's never; the sibling's (another
    # candidate and commission in A's centre) shows only on the chef de centre's page.
    (C, "enrolment.candidate_home", "candidate", False),
    (H, "overview.centre_home", "candidate", True),
    (H, "overview.centre_home", "commission", True),
    (E, "juries.home", "commission", False),
    (E, "juries.home", "candidate", False),
    (E, "juries.commission_dossiers", "candidate", None),
    (E, "juries.commission_dossiers", "candidate", False),
    (K, "e6.correcteur_home", "lot", None),
    (H, "e6.sitting", "room", None),
    (H, "documents.packs", "pack", None),
]


def _shows(name: str, body: str) -> bool:
    return bool(_named({name}, body))


@pytest.mark.parametrize(("role", "endpoint", "name", "sibling"), LISTINGS, ids=str)
def test_listing_pages_show_only_own_objects(app, client, login_as, worlds, role, endpoint,
                                             name, sibling):
    _login(client, login_as, worlds, role)
    rule = _rule(app, endpoint)
    page = client.get(rule.build(worlds.own.args, append_unknown=False)[1])
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert _shows(worlds.own.names[name], body)
    assert not _shows(worlds.other.names[name], body)
    if sibling is not None:
        assert _shows(worlds.sibling.names[name], body) is sibling


def test_correcteur_json_and_pages_name_no_candidate(app, client, login_as, worlds):
    """A real save of the correcteur's own copy, then his pages: no candidate is named."""
    from exam_app.e6 import bareme
    from exam_app.e6.models import E6Copy
    from exam_app.extensions import db

    token = _login(client, login_as, worlds, K)
    copy = db.session.scalar(db.select(E6Copy).where(
        E6Copy.anonymous_number == worlds.own.args["anonymous_number"]))
    points = {str(q.id): "4" for q in bareme.questions(worlds.session.id)}
    saved = client.post(f"/correction/lots/{worlds.own.args['lot_id']}/copies/"
                        f"{copy.anonymous_number}",
                        json={"points": points, "comment": "Bien", "version": copy.version},
                        headers={"X-CSRFToken": token})
    assert saved.status_code == 200
    assert saved.get_json()["complete"] is True
    bodies = [saved.get_data(as_text=True)]
    for url in ("/correction/", f"/correction/lots/{worlds.own.args['lot_id']}"):
        page = client.get(url)
        assert page.status_code == 200
        bodies.append(page.get_data(as_text=True))
    assert copy.anonymous_number in bodies[-1]
    assert [_named(_identities(), body) for body in bodies] == [[], [], []]
