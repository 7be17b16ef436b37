"""The planning board (issue 15): one service decides every move — refused (started,
other unit or centre, a day the commission does not sit, conflict of interest, stale
version) or kept and flagged (juror at two places, overlap and break, lunch, day bounds,
workstations, a candidate's two orals and the rest between them); swap, pin, place a
candidate found by name; the JSON endpoints; publishing refused while a conflict is
left, then superseding exactly the changed convocations."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.clock import to_local
from exam_app.errors import Conflict, Invalid, NotFound
from exam_app.extensions import db as _db
from exam_app.juries import plan_board, publication
from exam_app.juries.errors import JuryError
from exam_app.juries.models import CommissionDay, Passage
from tests.conftest import csrf_token_from

DAY = date(2027, 5, 18)
BASE = "https://examens.example"


@pytest.fixture()
def request_context(app):
    with app.test_request_context("/", base_url=BASE + "/"):
        yield


class World:
    pass


@pytest.fixture()
def world(db, create_session, create_centre, create_commission, create_candidate, create_user):
    """One centre on DAY: E4 commissions A and B, E5 commissions X, Y, Z; candidates."""
    w = World()
    w.session = create_session()
    w.centre = create_centre(w.session, name="Lycée Quinet")
    w.gestionnaire = create_user(Role.GESTIONNAIRE)

    def commission(unit_code="E4", **kwargs):
        c = create_commission(w.session, unit_code=unit_code, centre=w.centre, **kwargs)
        c.days = [CommissionDay(day=DAY)]
        db.session.flush()
        return c

    w.commission = commission
    w.a, w.b = commission("E4"), commission("E4")
    w.x, w.y, w.z = commission("E5"), commission("E5"), commission("E5")
    w.people = [create_candidate(w.session, e5_form="ponctuel", centre=w.centre)
                for _ in range(4)]

    def place(candidate, commission, minute, unit="E4"):
        return plan_board.place(session=w.session, candidate_id=candidate.id, unit_code=unit,
                                variant_code="ponctuel", commission_id=commission.id, day=DAY,
                                start=minute, actor=w.gestionnaire)

    def move(passage, commission, minute, version=None):
        return plan_board.move(session=w.session, passage_id=passage.id,
                               version=passage.plan_version if version is None else version,
                               commission_id=commission.id, day=DAY, start=minute,
                               actor=w.gestionnaire)

    def board():
        return plan_board.board(session=w.session, centre=w.centre, day=DAY)

    def block(passage):
        return next(b for b in board().blocks if b.passage_id == passage.id)

    w.place, w.move, w.board, w.block = place, move, board, block
    return w


def _hm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def test_board_shows_columns_and_blocks_sized_with_extra_time(world):
    world.people[1].extra_time = "1/3"
    first = world.place(world.people[0], world.a, 9 * 60)
    second = world.place(world.people[1], world.b, 9 * 60)
    board = world.board()
    assert [c.code for c in board.columns] == [world.a.code, world.b.code, world.x.code,
                                               world.y.code, world.z.code]
    column = board.columns[0]
    assert (column.start, column.end, column.lunch_start, column.lunch_end) == (
        480, 1110, 720, 780)
    plain, longer = world.block(first), world.block(second)
    assert (plain.jury_start, plain.commission_id) == (540, world.a.id)
    assert plain.jury == plan_board.durations(first)[1]
    assert (plain.jury, longer.jury) == (55, 74)  # 55 min, each phase + 1/3
    assert board.conflict_count == 0
    assert to_local(first.scheduled_at) == datetime(2027, 5, 18, 9, 0, tzinfo=to_local(
        first.scheduled_at).tzinfo)


def test_a_move_to_another_commission_and_time_is_written_and_audited(world):
    passage = world.place(world.people[0], world.a, 9 * 60)
    version = passage.plan_version
    world.move(passage, world.b, 10 * 60 + 15)
    _db.session.expire_all()
    passage = _db.session.get(Passage, passage.id)
    assert (passage.commission_id, to_local(passage.scheduled_at).strftime("%H:%M")) == (
        world.b.id, "10:15")
    assert passage.plan_version == version + 1
    event = _db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "passage.move", AuditEvent.object_id == str(passage.id))
        .order_by(AuditEvent.id.desc())).first()
    assert event.after["reason"] == plan_board.MOVE_REASON
    # The juror grids follow the commission's jurors.
    owners = {g.owner_id for g in passage_grids(passage)}
    assert owners == {None, *(m.user_id for m in world.b.members)}


def passage_grids(passage):
    from exam_app.juries.models import Grid

    return _db.session.scalars(sa.select(Grid).where(Grid.passage_id == passage.id)).all()


def test_a_stale_version_is_refused(world):
    passage = world.place(world.people[0], world.a, 9 * 60)
    seen = passage.plan_version
    world.move(passage, world.a, 10 * 60, version=seen)
    with pytest.raises(Conflict, match="vient d'être modifié"):
        world.move(passage, world.a, 11 * 60, version=seen)
    _db.session.expire_all()
    assert to_local(_db.session.get(Passage, passage.id).scheduled_at).hour == 10


def test_commission_overlap_and_break_are_flagged_on_both_blocks(world):
    first = world.place(world.people[0], world.a, 9 * 60)
    jury = world.block(first).jury
    second = world.place(world.people[1], world.a, 9 * 60 + jury)  # no break left
    assert any("pause de 10 min" in t for t in world.block(second).conflicts)
    assert any("pause de 10 min" in t for t in world.block(first).conflicts)
    world.move(second, world.a, 9 * 60 + 5)
    assert any(t.startswith("Chevauche le passage de") for t in world.block(second).conflicts)
    world.move(second, world.a, 9 * 60 + jury + 10)
    assert world.block(second).conflicts == [] and world.block(first).conflicts == []


def test_lunch_and_day_bounds_are_flagged(world):
    passage = world.place(world.people[0], world.a, 11 * 60 + 50)
    assert world.block(passage).conflicts == [
        f"Empiète sur le déjeuner de la commission {world.a.code} (12:00–13:00)."]
    world.move(passage, world.a, 18 * 60)
    jury = world.block(passage).jury
    assert world.block(passage).conflicts == [
        f"Dépasse la fin de la journée (18:30) de {18 * 60 + jury - 1110} min."]
    world.move(passage, world.a, 7 * 60)
    assert world.block(passage).conflicts == ["Commence avant l'ouverture de la journée (08:00)."]


def test_a_juror_at_two_places_is_flagged(world):
    shared = world.commission("E5", teacher=world.a.members[0].user)
    first = world.place(world.people[0], world.a, 9 * 60)
    second = world.place(world.people[1], shared, 9 * 60, unit="E5")
    name = world.a.members[0].user.display_name
    assert any(t.startswith(f"{name} est aussi juré du passage de") for t in
               world.block(first).conflicts)
    assert any(t.startswith(f"{name} est aussi juré") for t in world.block(second).conflicts)


def test_a_candidates_two_orals_overlap_or_lack_rest(world):
    person = world.people[0]
    e4 = world.place(person, world.a, 9 * 60)
    e4_jury = world.block(e4).jury
    e5 = world.place(person, world.x, 14 * 60, unit="E5")
    assert world.block(e4).conflicts == [] and world.block(e5).conflicts == []
    solo = world.block(e5).solo
    # E5's preparation starts 10 min after the E4 ends: less than 30 min of rest.
    world.move(e5, world.x, 9 * 60 + e4_jury + 10 + solo)
    assert any("moins de 30 min de repos" in t for t in world.block(e4).conflicts)
    assert any("moins de 30 min de repos" in t for t in world.block(e5).conflicts)
    world.move(e5, world.x, 9 * 60 + solo)
    assert any("chevauche son autre oral" in t for t in world.block(e5).conflicts)


def test_more_candidates_preparing_than_workstations_is_flagged(world):
    from exam_app.enrolment.models import CentreRoom

    _db.session.add(CentreRoom(centre_id=world.centre.id, name="Salle 1", capacity=20,
                               workstations=2))
    _db.session.flush()
    passages = [world.place(p, c, 14 * 60, unit="E5")
                for p, c in zip(world.people[:3], (world.x, world.y, world.z), strict=True)]
    for p in passages:
        assert any("3 candidats en préparation" in t and "2 poste(s)" in t
                   for t in world.block(p).conflicts)
    world.move(passages[2], world.z, 16 * 60)
    assert all(world.block(p).conflicts == [] for p in passages)


def test_refusals_other_unit_other_centre_day_not_sat_started_interest(world, create_centre,
                                                                        create_commission):
    passage = world.place(world.people[0], world.a, 9 * 60)
    with pytest.raises(Invalid, match="n'interroge pas l'épreuve E4"):
        world.move(passage, world.x, 10 * 60)
    elsewhere = create_commission(world.session, unit_code="E4",
                                  centre=create_centre(world.session))
    elsewhere.days = [CommissionDay(day=DAY)]
    _db.session.flush()
    with pytest.raises(Invalid, match="autre centre"):
        world.move(passage, elsewhere, 10 * 60)
    world.b.days = [CommissionDay(day=date(2027, 5, 19))]
    _db.session.flush()
    with pytest.raises(Invalid, match="ne siège pas le 18/05/2027"):
        world.move(passage, world.b, 10 * 60)
    with pytest.raises(Invalid, match="pas de 5 minutes"):
        world.move(passage, world.a, 9 * 60 + 3)
    # A teacher of the candidate's establishment examines no one of it (ponctuel).
    mine = world.commission("E4", teacher_establishment=world.people[0].establishment)
    with pytest.raises(JuryError, match="Conflit d'intérêts"):
        world.move(passage, mine, 10 * 60)
    _db.session.get(Passage, passage.id).started_at = datetime(2027, 5, 18, 7, tzinfo=UTC)
    _db.session.flush()
    with pytest.raises(JuryError, match="a déjà commencé"):
        world.move(_db.session.get(Passage, passage.id), world.a, 10 * 60)


def test_another_sessions_passage_is_not_found(world, create_session):
    passage = world.place(world.people[0], world.a, 9 * 60)
    other = create_session()
    with pytest.raises(NotFound):
        plan_board.move(session=other, passage_id=passage.id, version=passage.plan_version,
                        commission_id=world.a.id, day=DAY, start=600, actor=world.gestionnaire)


def test_swap_and_pin(world):
    first = world.place(world.people[0], world.a, 9 * 60)
    second = world.place(world.people[1], world.b, 10 * 60)
    plan_board.swap(session=world.session, first_id=first.id,
                    first_version=first.plan_version, second_id=second.id,
                    second_version=second.plan_version, actor=world.gestionnaire)
    _db.session.expire_all()
    assert (world.block(first).commission_id, world.block(first).jury_start) == (
        world.b.id, 600)
    assert (world.block(second).commission_id, world.block(second).jury_start) == (
        world.a.id, 540)
    with pytest.raises(Conflict):
        plan_board.swap(session=world.session, first_id=first.id, first_version=1,
                        second_id=second.id, second_version=second.plan_version,
                        actor=world.gestionnaire)
    plan_board.set_pinned(session=world.session, passage_id=first.id,
                          version=first.plan_version, pinned=True, actor=world.gestionnaire)
    assert world.block(first).pinned is True


def test_search_by_name_then_place(world):
    person = world.people[2]
    person.last_name, person.first_name = "Lefèvre", "Zoé"
    person.refresh_search_text()
    _db.session.flush()
    found = plan_board.search_unplaced(session=world.session, centre=world.centre,
                                       query="lefevre zo")
    assert [(f.candidate_id, f.unit_code) for f in found] == [(person.id, "E4"),
                                                              (person.id, "E5")]
    world.place(person, world.b, 8 * 60 + 30)
    found = plan_board.search_unplaced(session=world.session, centre=world.centre,
                                       query="Lefèvre")
    assert [f.unit_code for f in found] == ["E5"]
    with pytest.raises(Conflict, match="a déjà un horaire"):
        world.place(person, world.a, 9 * 60)


def test_two_threads_moving_one_passage_one_wins(app, world):
    passage = world.place(world.people[0], world.a, 9 * 60)
    _db.session.commit()
    ids = (world.session.id, passage.id, passage.plan_version, world.a.id, world.b.id,
           world.gestionnaire.id)
    barrier = threading.Barrier(2)
    results = []

    def worker(target_id, minute):
        from exam_app.accounts.models import User
        from exam_app.enrolment.models import ExamSession

        with app.app_context():
            session = _db.session.get(ExamSession, ids[0])
            actor = _db.session.get(User, ids[5])
            barrier.wait()
            try:
                plan_board.move(session=session, passage_id=ids[1], version=ids[2],
                                commission_id=target_id, day=DAY, start=minute, actor=actor)
                _db.session.commit()
                results.append("moved")
            except Conflict:
                _db.session.rollback()
                results.append("stale")
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=worker, args=(ids[3], 600)),
               threading.Thread(target=worker, args=(ids[4], 660))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["moved", "stale"]
    _db.session.expire_all()
    assert _db.session.get(Passage, passage.id).plan_version == ids[2] + 1


def test_publish_refused_with_a_conflict_then_supersedes_exactly_the_changed(
        world, client, request_context):
    from exam_app.documents import convocation

    first = world.place(world.people[0], world.a, 9 * 60)
    second = world.place(world.people[1], world.b, 9 * 60)
    world.move(second, world.a, 9 * 60 + 5)  # overlaps the first
    with pytest.raises(JuryError, match="en conflit : le planning n'est pas publié"):
        publication.publish_plan(session=world.session, actor=world.gestionnaire)
    world.move(second, world.b, 9 * 60)
    publication.publish_plan(session=world.session, actor=world.gestionnaire,
                             now=datetime(2027, 5, 10, 8, tzinfo=UTC))
    printed = {p.id: convocation.build(p, now=datetime(2027, 5, 10, 9, tzinfo=UTC))
               for p in (first, second)}
    # Moved after the publication: not printable, its printed convocation still holds.
    world.move(second, world.b, 10 * 60)
    assert "publiez le planning" in convocation.printable(second)
    assert convocation.printable(first) is None
    assert "Document authentique et à jour." in _verify(client, printed[second.id])
    assert [r.passage_id for r in publication.to_inform(world.session.id)] == [second.id]
    world.place(world.people[3], world.b, 15 * 60)  # a new passage: not printable
    newcomer = _db.session.scalar(sa.select(Passage).where(
        Passage.candidate_id == world.people[3].id))
    assert "pas encore publié" in convocation.printable(newcomer)
    # The centre's pack prints only the convocation that stands as published.
    from exam_app.documents.packs import pack_documents

    assert [d.filename for d in pack_documents(world.centre, DAY, ["convocation"])] == [
        f"convocation-E4-{world.people[0].number}.pdf"]
    publication.publish_plan(session=world.session, actor=world.gestionnaire,
                             now=datetime(2027, 5, 11, 8, tzinfo=UTC))
    assert [r.passage_id for r in publication.last_informed(world.session.id)] == [second.id]
    assert publication.to_inform(world.session.id) == []
    superseded = _verify(client, printed[second.id])
    assert "Document authentique mais remplacé" in superseded
    assert "changé depuis l'impression : Date et heure" in superseded
    assert "Document authentique et à jour." in _verify(client, printed[first.id])
    assert convocation.printable(newcomer) is None
    assert len(pack_documents(world.centre, DAY, ["convocation"])) == 3


def _verify(client, printed) -> str:
    import re

    token = printed.html.split(f"{BASE}/verifier/", 1)[1].split("<", 1)[0].split('"', 1)[0]
    page = client.get(f"/verifier/{token}").get_data(as_text=True)
    section = page.split('id="verify-title"', 1)[1].split("</section>", 1)[0]
    text = re.sub(r"<[^>]+>", " ", section.split(">", 1)[1])
    return " ".join(text.split())


def test_views_are_json_and_gestionnaire_only(world, client, login_as, create_user):
    passage = world.place(world.people[0], world.a, 9 * 60)
    _db.session.commit()
    code = world.session.code
    url = f"/gestion/sessions/{code}/planification/tableau"
    login_as(create_user(Role.EXAMINATEUR))
    assert client.get(url).status_code == 403
    login_as(world.gestionnaire)
    page = client.get(f"{url}?centre={world.centre.id}&jour={DAY.isoformat()}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'id="pb-p{passage.id}"' in html and world.a.code in html
    token = csrf_token_from(html)
    version = passage.plan_version
    body = {"centre_id": world.centre.id, "day": DAY.isoformat(), "passage_id": passage.id,
            "version": version, "commission_id": world.b.id, "start": 600}
    moved = client.post(f"{url}/deplacer", json=body, headers={"X-CSRFToken": token})
    assert moved.status_code == 200, moved.get_data(as_text=True)
    data = moved.get_json()
    assert data["message"].endswith(f"déplacé : {world.b.code}, 10:00.")
    [block] = data["board"]["blocks"]
    assert (block["commission_id"], block["start"], block["version"]) == (
        world.b.id, 600, version + 1)
    stale = client.post(f"{url}/deplacer", json=body, headers={"X-CSRFToken": token})
    assert stale.status_code == 409
    assert "vient d'être modifié" in stale.get_json()["message"]
    pinned = client.post(f"{url}/epingler", json={**body, "version": block["version"],
                                                  "pinned": True},
                         headers={"X-CSRFToken": token})
    assert pinned.status_code == 200 and pinned.get_json()["board"]["blocks"][0]["pinned"]
    found = client.get(f"{url}?centre={world.centre.id}&jour={DAY.isoformat()}"
                       f"&q={world.people[1].last_name}").get_data(as_text=True)
    assert world.people[1].full_name in found and 'id="pb-found"' in found
    placed = client.post(f"{url}/placer", data={
        "csrf_token": token, "centre_id": world.centre.id, "candidate_id": world.people[1].id,
        "unit_code": "E4", "variant_code": "ponctuel", "day": DAY.isoformat(),
        "commission_id": world.a.id, "start": "11:00"})
    assert placed.status_code == 302
    _db.session.expire_all()
    assert to_local(_db.session.scalar(sa.select(Passage.scheduled_at).where(
        Passage.candidate_id == world.people[1].id))).strftime("%H:%M") == "11:00"



def test_a_candidate_without_an_e5_form_does_not_break_the_board(world, create_candidate):
    from exam_app.enrolment.models import UnitRegistration

    odd = create_candidate(world.session, centre=world.centre)
    _db.session.execute(sa.delete(UnitRegistration).where(
        UnitRegistration.candidate_id == odd.id, UnitRegistration.unit_code == "E5"))
    _db.session.expire_all()
    passage = world.place(world.people[0], world.a, 9 * 60)
    assert [b.passage_id for b in world.board().blocks] == [passage.id]
