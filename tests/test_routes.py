"""Every route, as every role: who gets in (200/302) and who gets 403.

ACCESS declares, for each endpoint, the roles allowed. A new route must be
declared here or ``test_every_route_is_declared`` fails. The world built by
``world`` gives each URL argument a value the allowed roles may see.
"""

from __future__ import annotations

import pytest

from exam_app.accounts.models import Role
from tests.conftest import csrf_token_from
from tests.e6.builders import route_args as e6_route_args

ANONYMOUS = "anonyme"
PUBLIC = frozenset({ANONYMOUS, *Role})
LOGGED_IN = frozenset(Role)
G = Role.GESTIONNAIRE

ACCESS: dict[str, frozenset] = {
    "accounts.login": PUBLIC,
    "accounts.logout": PUBLIC,
    "accounts.home": LOGGED_IN,
    "accounts.change_password_page": LOGGED_IN,
    "accounts.activate": PUBLIC,
    "accounts.reset_password": PUBLIC,
    "accounts.forgot_password": PUBLIC,
    "enrolment.activation_links": frozenset({G}),
    "enrolment.dashboard": frozenset({G}),
    "overview.session_dashboard": frozenset({G}),
    "enrolment.candidates": frozenset({G}),
    "enrolment.import_candidates": frozenset({G}),
    "enrolment.candidate": frozenset({G}),
    "enrolment.candidate_status": frozenset({G}),
    "enrolment.candidate_registration": frozenset({G}),
    "enrolment.import_registrations": frozenset({G}),
    "enrolment.centres": frozenset({G}),
    "enrolment.establishments": frozenset({G}),
    "enrolment.import_establishments": frozenset({G}),
    "enrolment.new_session": frozenset({G}),
    "enrolment.session_settings": frozenset({G}),
    "enrolment.import_centres": frozenset({G}),
    "documents.centre_table": frozenset({G}),
    "documents.move_candidates": frozenset({G}),
    "enrolment.people_page": frozenset({G}),
    "enrolment.import_people": frozenset({G}),
    "enrolment.users": frozenset({G}),
    "overview.centre_home": frozenset({Role.CHEF_CENTRE}),
    "overview.centre_rooms": frozenset({G, Role.CHEF_CENTRE}),
    "enrolment.candidate_home": frozenset({Role.CANDIDAT}),
    "juries.home": frozenset({Role.EXAMINATEUR}),
    "e6.correcteur_home": frozenset({Role.CORRECTEUR}),
    "documents.verify_document": PUBLIC,
    "e6.sitting": frozenset({G, Role.CHEF_CENTRE}),
    "e6.add_room": frozenset({G, Role.CHEF_CENTRE}),
    "e6.distribute": frozenset({G, Role.CHEF_CENTRE}),
    "e6.room": frozenset({G, Role.CHEF_CENTRE}),
    "e6.labels": frozenset({G, Role.CHEF_CENTRE}),
    "e6.attendance_sheet": frozenset({G, Role.CHEF_CENTRE}),
    "e6.manage": frozenset({G}),
    "e6.bareme": frozenset({G}),
    "e6.add_corrector": frozenset({G}),
    "e6.remove_corrector": frozenset({G}),
    "e6.form_lots": frozenset({G}),
    "e6.correspondence": frozenset({G}),
    "e6.harmonisation": frozenset({G}),
    "e6.adjust_lot": frozenset({G}),
    "e6.finalize_lot": frozenset({G}),
    "e6.reopen_lot": frozenset({G}),
    "e6.move_copy": frozenset({G}),
    "e6.lift": frozenset({G}),
    "results.e6_bordereau_pdf": frozenset({G}),
    "results.export_csv": frozenset({G}),
    "results.export_xlsx": frozenset({G}),
    "e6.lot": frozenset({Role.CORRECTEUR}),
    "e6.save_copy": frozenset({Role.CORRECTEUR}),
    "e6.validate_lot": frozenset({Role.CORRECTEUR}),
    "dossiers.create_upload": frozenset({Role.CANDIDAT}),
    "dossiers.upload_status": frozenset({Role.CANDIDAT}),
    "dossiers.upload_chunk": frozenset({Role.CANDIDAT}),
    "dossiers.cancel_upload": frozenset({Role.CANDIDAT}),
    "dossiers.upload_form": frozenset({Role.CANDIDAT}),
    "dossiers.remove_file": frozenset({Role.CANDIDAT}),
    "dossiers.add_internship": frozenset({Role.CANDIDAT}),
    "dossiers.remove_internship": frozenset({Role.CANDIDAT}),
    "dossiers.receipt": frozenset({G, Role.CANDIDAT, Role.EXAMINATEUR}),
    "dossiers.file": frozenset({G, Role.CANDIDAT, Role.EXAMINATEUR}),
    "dossiers.view_dossier": frozenset({G, Role.CANDIDAT, Role.EXAMINATEUR}),
    "dossiers.deadlines": frozenset({G}),
    "dossiers.file_rules": frozenset({G}),
    "dossiers.extension": frozenset({G}),
    "dossiers.dashboard": frozenset({G}),
    "dossiers.dashboard_csv": frozenset({G}),
    "dossiers.queue": frozenset({G}),
    "dossiers.check": frozenset({G}),
    "juries.commission_dossiers": frozenset({G, Role.EXAMINATEUR}),
    "dossiers.reasons": frozenset({G}),
    "juries.server_time": frozenset({Role.EXAMINATEUR}),
    "juries.service_worker": PUBLIC,
    "juries.passage_page": frozenset({Role.EXAMINATEUR}),
    "juries.passage_state": frozenset({Role.EXAMINATEUR}),
    "juries.passage_wait": frozenset({Role.EXAMINATEUR}),
    "juries.timer_action": frozenset({Role.EXAMINATEUR}),
    "juries.autosave": frozenset({Role.EXAMINATEUR}),
    "juries.reveal": frozenset({Role.EXAMINATEUR}),
    "juries.validate": frozenset({Role.EXAMINATEUR}),
    "juries.attendance": frozenset({Role.EXAMINATEUR}),
    "juries.commissions": frozenset({G}),
    "juries.planning": frozenset({G}),
    "juries.planification": frozenset({G}),
    "juries.planification_start": frozenset({G}),
    "juries.planification_apply": frozenset({G}),
    "juries.planification_repair": frozenset({G}),
    "juries.planification_repair_apply": frozenset({G}),
    "juries.planification_publish": frozenset({G}),
    "juries.planification_to_inform_csv": frozenset({G}),
    "juries.plan_board_page": frozenset({G}),
    "juries.plan_board_move": frozenset({G}),
    "juries.plan_board_swap": frozenset({G}),
    "juries.plan_board_pin": frozenset({G}),
    "juries.plan_board_place": frozenset({G}),
    "juries.move": frozenset({G}),
    "juries.swap": frozenset({G}),
    "juries.swap_with": frozenset({G}),
    "juries.reopen": frozenset({G}),
    "juries.start_exception": frozenset({G}),
    "juries.board": frozenset({G}),
    "juries.board_wait": frozenset({G}),
    "juries.new_commission": frozenset({G}),
    "juries.edit_commission": frozenset({G}),
    "juries.availability": frozenset({G}),
    "juries.import_commissions": frozenset({G}),
    "documents.packs": frozenset({G, Role.CHEF_CENTRE}),
    "documents.pack": frozenset({G, Role.CHEF_CENTRE}),
    "documents.pack_state": frozenset({G, Role.CHEF_CENTRE}),
    "documents.pack_regenerate": frozenset({G, Role.CHEF_CENTRE}),
    "documents.pack_file": frozenset({G, Role.CHEF_CENTRE}),
    "deliberation.home": frozenset({Role.JURY_DELIBERATION}),
    "deliberation.candidates": frozenset({Role.JURY_DELIBERATION}),
    "deliberation.distributions": frozenset({Role.JURY_DELIBERATION}),
    "deliberation.candidate": frozenset({Role.JURY_DELIBERATION}),
    "deliberation.close": frozenset({Role.JURY_DELIBERATION}),
    "deliberation.pv": frozenset({G, Role.JURY_DELIBERATION}),
    "deliberation.manage": frozenset({G}),
    "deliberation.reopen": frozenset({G}),
    "deliberation.units": frozenset({G}),
    "deliberation.delete_unit": frozenset({G}),
    "deliberation.import_marks": frozenset({G}),
    "documents.candidate_convocation": frozenset({Role.CANDIDAT}),
    "documents.candidate_releve": frozenset({Role.CANDIDAT}),
    "documents.releves": frozenset({G}),
    "documents.releve_pack": frozenset({G}),
    "ccf.home": frozenset({Role.COORDINATEUR_CCF}),
    "ccf.establishment": frozenset({G, Role.COORDINATEUR_CCF}),
    "ccf.new_commission": frozenset({G, Role.COORDINATEUR_CCF}),
    "ccf.plan": frozenset({G, Role.COORDINATEUR_CCF}),
    "ccf.bordereau_pdf": frozenset({G, Role.COORDINATEUR_CCF}),
    "ccf.fiches_pdf": frozenset({G, Role.COORDINATEUR_CCF}),
    "ccf.transmit": frozenset({G, Role.COORDINATEUR_CCF}),
    "ccf.transmissions": frozenset({G}),
    "ccf.reopen": frozenset({G}),
}

# Routes whose POST is not role-checked by design (login/logout are public).
UNCHECKED_POSTS = {"accounts.login", "accounts.logout"}


@pytest.fixture()
def world(app, create_session, create_centre, create_candidate, create_user, create_commission):
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
        Role.JURY_DELIBERATION: create_user(Role.JURY_DELIBERATION),
        Role.COORDINATEUR_CCF: create_user(Role.COORDINATEUR_CCF,
                                           establishment=candidate.establishment),
    }
    commission = create_commission(session, centre=centre, teacher=users[Role.EXAMINATEUR])
    dossier_args = _dossier_world(app, session, candidate, users[Role.CANDIDAT])
    args = {
        **dossier_args,
        "code": session.code,
        "candidate_id": candidate.id,
        "number": candidate.number,
        "centre_id": centre.id,
        "establishment_id": candidate.establishment_id,
        "commission_id": commission.id,
        "token": "not-a-token",
        "passage_id": _passage_for(commission, candidate, users[Role.GESTIONNAIRE]).id,
        "grid": "commune",
    }
    args.update(e6_route_args(session=session, centre=centre, candidate=candidate,
                              correcteur=users[Role.CORRECTEUR]))
    args["pack_id"] = _pack_for(centre, users[Role.GESTIONNAIRE]).id
    args["unit_id"] = _deliberation_for(session, users).id
    args.update(_link_tokens(create_user))
    return {"session": session, "users": users, "args": args}


def _link_tokens(create_user) -> dict:
    """Open activation and reset links of an account outside the walk (nobody uses them:
    the walk's POSTs carry no password)."""
    from exam_app.accounts import tokens
    from exam_app.accounts.models import TokenPurpose

    person = create_user(Role.CORRECTEUR, username="a.activer")
    return {f"{purpose.value}_token": tokens.issue(user=person, purpose=purpose,
                                                   max_age_seconds=3600, actor=None,
                                                   channel="csv").secret
            for purpose in TokenPurpose}


def _dossier_world(app, session, candidate, user) -> dict:
    """A deposited E4 file, an upload in progress and an internship; the deadline is past,
    so that the walk's POSTs (remove a file, ...) change nothing the GETs need."""
    from datetime import timedelta

    from exam_app.clock import utcnow
    from exam_app.dossiers.models import DepositDeadline, InternshipPeriod, Upload
    from exam_app.extensions import db
    from tests.dossiers.helpers import deposit

    file = deposit(app, candidate, "E4", "sommaire")
    db.session.add(DepositDeadline(session_id=session.id, unit_code="E4",
                                   deadline_at=utcnow() - timedelta(days=1)))
    upload = Upload(token="w" * 32, dossier_id=file.dossier_id, user_id=user.id,
                    piece_code="sommaire", original_name="x.pdf", size=10)
    period = InternshipPeriod(candidate_id=candidate.id, organisation="Org",
                              start_date=utcnow().date(),
                              end_date=utcnow().date() + timedelta(days=30))
    db.session.add_all([upload, period])
    db.session.flush()
    return {"unit_code": "E4", "file_id": file.id, "upload_token": upload.token,
            "period_id": period.id}


def _passage_for(commission, candidate, actor):
    from exam_app.clock import utcnow
    from exam_app.juries.planning import assign_candidates

    passage = assign_candidates(commission=commission, numbers=[candidate.number],
                                variant_code="ponctuel", actor=actor)[0]
    # Planned today: the commission's juror reads the candidate's dossier (issue 12, item 9).
    passage.scheduled_at = utcnow()
    return passage


def _deliberation_for(session, users):
    """The session's jury (the jury user presides) and another unit of the diploma."""
    from exam_app.deliberation import other_units, services

    services.set_jury(session=session, president_id=users[Role.JURY_DELIBERATION].id,
                      member_ids=[], actor=users[G])
    return other_units.save_other_unit(session=session, code="U1", label="Culture générale",
                                       coefficient="3", actor=users[G])


def _pack_for(centre, actor):
    from datetime import date

    from exam_app.documents.packs import request_pack

    return request_pack(centre=centre, day=date(2027, 5, 12), kinds=["convocation"], fmt="pdf",
                        actor=actor)[0]


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
