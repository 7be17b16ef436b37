"""Two complete worlds in one session, for the route × role × scope matrix.

World "own" (A) and world "other" (B) each have their centre, candidate (with a
deposited E4 file, an upload in progress and an internship), commission with a
passage, E6 room, anonymous copy and correcteur's lot, and print pack, plus one
user per scoped role. World "sibling" (S) is a second candidate in A's centre
with their own commission (same unit) and passage: another candidate and
another commission, but the same centre. The gestionnaire is shared.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest

from exam_app.accounts.models import Role
from exam_app.clock import utcnow
from exam_app.documents.packs import request_pack
from exam_app.dossiers.models import DepositDeadline, InternshipPeriod, Upload
from exam_app.juries.planning import assign_candidates
from tests.dossiers.helpers import deposit
from tests.e6.builders import add_questions, add_room, enroll, make_lot, seat

# URL arguments that name a candidate's or a commission's objects: the sibling world
# has its own; for the others (centre, room, lot, pack...) it shares world A's.
SIBLING_KEYS = frozenset({"candidate_id", "commission_id", "passage_id", "file_id",
                          "upload_token", "period_id"})


@dataclass
class World:
    """One world's users (by role) and URL arguments."""

    users: dict
    args: dict
    candidate: object
    centre: object
    names: dict = field(default_factory=dict)  # what its listing pages show


@dataclass
class Worlds:
    session: object
    gestionnaire: object
    own: World
    other: World
    sibling: World

    def args(self, scope: str) -> dict:
        if scope == "sibling":
            return {**self.own.args, **self.sibling.args}
        return {"own": self.own, "other": self.other}[scope].args


@pytest.fixture()
def worlds(app, db, create_session, create_centre, create_candidate, create_user,
           create_commission) -> Worlds:
    session = create_session()
    gestionnaire = create_user(Role.GESTIONNAIRE)
    # Past deadline: the walk's POSTs (remove a file...) then change nothing the GETs need.
    db.session.add(DepositDeadline(session_id=session.id, unit_code="E4",
                                   deadline_at=utcnow() - timedelta(days=1)))
    add_questions(session)

    def candidate_side(key: str, centre) -> World:
        candidate = create_candidate(session, centre=centre)
        examinateur = create_user(Role.EXAMINATEUR)
        commission = create_commission(session, centre=centre, teacher=examinateur)
        [passage] = assign_candidates(commission=commission, numbers=[candidate.number],
                                      variant_code="ponctuel", actor=gestionnaire)
        passage.scheduled_at = utcnow()  # today: on the jurors' home page
        file = deposit(app, candidate, "E4", "sommaire")
        user = create_user(Role.CANDIDAT, candidate=candidate)
        upload = Upload(token=secrets.token_hex(16), dossier_id=file.dossier_id, user_id=user.id,
                        piece_code="sommaire", original_name="x.pdf", size=10)
        period = InternshipPeriod(candidate_id=candidate.id, organisation=f"Org {key}",
                                  start_date=utcnow().date(),
                                  end_date=utcnow().date() + timedelta(days=30))
        db.session.add_all([upload, period])
        db.session.flush()
        return World(
            users={Role.CANDIDAT: user, Role.EXAMINATEUR: examinateur},
            args={"code": session.code, "unit_code": "E4", "candidate_id": candidate.id,
                  "number": candidate.number,
                  "commission_id": commission.id, "passage_id": passage.id,
                  "file_id": file.id, "upload_token": upload.token, "period_id": period.id,
                  "grid": "commune", "token": "pas-un-jeton"},
            candidate=candidate, centre=centre,
            names={"candidate": candidate.last_name, "commission": commission.code})

    def world(key: str) -> World:
        centre = create_centre(session, name=f"Centre {key}")
        built = candidate_side(key, centre)
        correcteur = create_user(Role.CORRECTEUR)
        built.users[Role.CHEF_CENTRE] = create_user(Role.CHEF_CENTRE, centre=centre)
        built.users[Role.CORRECTEUR] = correcteur
        built.users[Role.COORDINATEUR_CCF] = create_user(
            Role.COORDINATEUR_CCF, establishment=built.candidate.establishment)
        built.args["establishment_id"] = built.candidate.establishment_id
        room = add_room(centre, name=f"Salle-{key}")
        copy = seat(built.candidate, room)
        corrector = enroll(session, correcteur)
        lot = make_lot(session, correcteur, [copy], code=f"LOT-{key}")
        pack, _ = request_pack(centre=centre, day=date(2027, 5, 12), kinds=["convocation"],
                               fmt="pdf", actor=gestionnaire)
        built.args.update({"centre_id": centre.id, "room_id": room.id, "lot_id": lot.id,
                           "anonymous_number": copy.anonymous_number,
                           "corrector_id": corrector.id, "pack_id": pack.id})
        built.names.update({"room": room.name, "lot": lot.code,
                            "pack": f"/impressions/{pack.id}"})
        return built

    own, other = world("A"), world("B")
    # The jury de délibération of the session both worlds share, and another unit.
    from exam_app.deliberation import other_units, services

    jury = create_user(Role.JURY_DELIBERATION)
    services.set_jury(session=session, president_id=jury.id, member_ids=[], actor=gestionnaire)
    unit = other_units.save_other_unit(session=session, code="U1", label="Culture générale",
                                       coefficient="3", actor=gestionnaire)
    own.users[Role.JURY_DELIBERATION] = jury
    for built in (own, other):
        built.args["unit_id"] = unit.id
    sibling = candidate_side("S", own.centre)
    sibling.args = {k: v for k, v in sibling.args.items() if k in SIBLING_KEYS}
    return Worlds(session=session, gestionnaire=gestionnaire, own=own, other=other,
                  sibling=sibling)
