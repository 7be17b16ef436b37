"""Repair on the morning (issue 15): the fewest moves after a lost commission-day or an
absent juror, the diff, the serialised apply, and the convocations it supersedes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.clock import local_zone
from exam_app.enrolment.models import PersonProfile
from exam_app.extensions import db as _db
from exam_app.juries import repair, solver
from exam_app.juries.errors import JuryError
from exam_app.juries.models import CommissionDay, CommissionMember, Passage

DAY = date(2027, 5, 18)
DAY2 = date(2027, 5, 19)
LIMIT = 5
BASE = "https://examens.example"


@pytest.fixture()
def setup(db, create_session, create_centre, create_commission, create_candidate):
    """A session with one centre; helpers to add commissions (with days) and candidates."""
    session = create_session()
    centre = create_centre(session, name="lycée Quinet")

    class Setup:
        pass

    s = Setup()
    s.session, s.centre = session, centre

    def commission(unit_code="E4", days=(DAY,)):
        c = create_commission(session, unit_code=unit_code, centre=centre)
        c.days = [CommissionDay(day=d) for d in days]
        db.session.flush()
        return c

    def candidates(count):
        return [create_candidate(session, e5_form="ccf", centre=centre) for _ in range(count)]

    s.commission, s.candidates = commission, candidates
    return s


def _planned(setup, gestionnaire, *, count=12, commissions=2, days=(DAY, DAY2)):
    """``commissions`` E4 commissions over ``days``, ``count`` candidates planned and
    applied."""
    first = setup.commission("E4", days=days)
    second = setup.commission("E4", days=days) if commissions == 2 else None
    setup.candidates(count)
    proposal = solver.propose_plan(session=setup.session, time_limit=LIMIT, units=("E4",))
    assert proposal.complete
    solver.apply_plan(session=setup.session, proposal=proposal, actor=gestionnaire)
    return first, second


def _where() -> dict[int, tuple[int, datetime]]:
    return {p.id: (p.commission_id, p.scheduled_at)
            for p in _db.session.scalars(sa.select(Passage))}


def _by_cday() -> Counter:
    return Counter((p.commission_id, p.scheduled_at.astimezone(local_zone()).date())
                   for p in _db.session.scalars(sa.select(Passage)))


def test_losing_a_commission_day_moves_only_its_candidates(setup, create_user):
    gestionnaire = create_user(Role.GESTIONNAIRE)
    _planned(setup, gestionnaire)
    counts = _by_cday()
    (lost_cid, lost_day), lost_count = counts.most_common(1)[0]
    before = _where()
    proposal = repair.propose_repair(session=setup.session,
                                     lost=[repair.Lost(lost_day, commission_id=lost_cid)],
                                     time_limit=LIMIT)
    assert proposal.complete and not proposal.relaxed
    assert proposal.affected == lost_count
    assert len(proposal.moves) == lost_count
    assert all((before[m.passage_id][0], before[m.passage_id][1]) == (lost_cid, m.from_at)
               for m in proposal.moves)
    assert all(m.from_at.astimezone(local_zone()).date() == lost_day for m in proposal.moves)
    assert all((m.to_commission_id, m.to_at.astimezone(local_zone()).date())
               != (lost_cid, lost_day) for m in proposal.moves)
    repair.apply_repair(session=setup.session, repair=proposal, actor=gestionnaire)
    after = _where()
    moved = {pid for pid in before if before[pid] != after[pid]}
    assert moved == {m.passage_id for m in proposal.moves}
    assert _by_cday()[(lost_cid, lost_day)] == 0
    data = solver.extract(setup.session, units=("E4",))
    assert data.demands  # the independent checker on the written plan
    events = _db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "passage.move")).all()
    assert sorted(int(e.object_id) for e in events) == sorted(moved)
    summary = _db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "planning.repair")).one()
    assert summary.after["moved"] == lost_count


def test_a_replacement_juror_keeps_the_day_except_for_their_conflicts(setup, create_user):
    gestionnaire = create_user(Role.GESTIONNAIRE)
    _planned(setup, gestionnaire, count=8)
    (cid, day), count = _by_cday().most_common(1)[0]
    teacher = _db.session.scalar(sa.select(CommissionMember).where(
        CommissionMember.commission_id == cid, CommissionMember.member_role == "enseignant"))
    there = _db.session.scalars(sa.select(Passage).where(Passage.commission_id == cid)
                                .order_by(Passage.scheduled_at)).all()
    conflicted = there[0]
    absent_id = teacher.user_id
    substitute = create_user(Role.EXAMINATEUR)
    _db.session.add(PersonProfile(user_id=substitute.id,
                                  establishment_id=conflicted.candidate.establishment_id))
    _db.session.flush()
    proposal = repair.propose_repair(session=setup.session,
                                     lost=[repair.Lost(day, user_id=teacher.user_id)],
                                     replacements={teacher.user_id: substitute.id},
                                     time_limit=LIMIT)
    assert proposal.complete
    assert [(s.commission_id, s.absent_id, s.replacement_id) for s in proposal.seats] == [
        (cid, teacher.user_id, substitute.id)]
    assert proposal.affected == 1
    assert [m.passage_id for m in proposal.moves] == [conflicted.id]
    assert proposal.moves[0].to_commission_id != cid
    repair.apply_repair(session=setup.session, repair=proposal, actor=gestionnaire)
    members = {m.user_id for m in _db.session.scalars(sa.select(CommissionMember).where(
        CommissionMember.commission_id == cid))}
    assert substitute.id in members and absent_id not in members
    assert _db.session.get(Passage, conflicted.id).commission_id != cid


def test_without_a_replacement_the_absent_jurors_day_is_lost(setup, create_user):
    gestionnaire = create_user(Role.GESTIONNAIRE)
    _planned(setup, gestionnaire, count=8)
    (cid, day), count = _by_cday().most_common(1)[0]
    teacher = _db.session.scalar(sa.select(CommissionMember).where(
        CommissionMember.commission_id == cid, CommissionMember.member_role == "enseignant"))
    proposal = repair.propose_repair(session=setup.session,
                                     lost=[repair.Lost(day, user_id=teacher.user_id)],
                                     time_limit=LIMIT)
    assert proposal.complete and proposal.affected == count == len(proposal.moves)
    csv_text = repair.to_inform_csv(proposal.moves)
    lines = csv_text.splitlines()
    assert lines[0] == ("N° candidat;Nom;Épreuve;Avant;Commission avant;Après;"
                        "Commission après")
    assert len(lines) == 1 + count
    move = sorted(proposal.moves, key=lambda m: (m.name, m.unit_code))[0]
    assert lines[1] == ";".join([
        move.number, move.name, "E4",
        move.from_at.astimezone(local_zone()).strftime("%d/%m/%Y %H:%M"), move.from_code,
        move.to_at.astimezone(local_zone()).strftime("%d/%m/%Y %H:%M"), move.to_code])


def test_apply_is_refused_when_a_moved_passage_started(setup, create_user):
    gestionnaire = create_user(Role.GESTIONNAIRE)
    _planned(setup, gestionnaire, count=8)
    (cid, day), _ = _by_cday().most_common(1)[0]
    proposal = repair.propose_repair(session=setup.session,
                                     lost=[repair.Lost(day, commission_id=cid)],
                                     time_limit=LIMIT)
    before = _where()
    passage = _db.session.get(Passage, proposal.moves[0].passage_id)
    passage.started_at = datetime(2027, 5, 18, 6, 1, tzinfo=UTC)
    _db.session.flush()
    with pytest.raises(JuryError, match="1 passage\\(s\\) à déplacer ont déjà commencé"):
        repair.apply_repair(session=setup.session, repair=proposal, actor=gestionnaire)
    assert _where() == before


@pytest.fixture()
def request_context(app):
    with app.test_request_context("/", base_url=BASE + "/"):
        yield


def _token(html: str) -> str:
    return html.split(f"{BASE}/verifier/", 1)[1].split("<", 1)[0].split('"', 1)[0]


def _page(client, html: str) -> str:
    return client.get(f"/verifier/{_token(html)}").get_data(as_text=True).split(
        'id="verify-title"', 1)[1].split("</section>", 1)[0]


def test_repair_supersedes_exactly_the_moved_convocations(app, client, setup, create_user,
                                                          request_context):
    from exam_app.documents import convocation

    gestionnaire = create_user(Role.GESTIONNAIRE)
    _planned(setup, gestionnaire, count=12, commissions=1,
             days=(DAY, DAY2, date(2027, 5, 20)))
    (cid, day), _ = _by_cday().most_common(1)[0]
    printed = {p.id: convocation.build(p, now=datetime(2027, 5, 1, 7, tzinfo=UTC))
               for p in _db.session.scalars(sa.select(Passage))}
    proposal = repair.propose_repair(session=setup.session,
                                     lost=[repair.Lost(day, commission_id=cid)],
                                     time_limit=LIMIT)
    repair.apply_repair(session=setup.session, repair=proposal, actor=gestionnaire,
                        now=datetime(2027, 5, 17, 7, tzinfo=UTC))
    _db.session.commit()
    # A convocation prints the date, time and room, not the commission: it is replaced
    # exactly when one of these changed.
    changed = {m.passage_id for m in proposal.moves if m.from_at != m.to_at}
    assert changed and changed != set(printed)
    for pid, doc in printed.items():
        page = _page(client, doc.html)
        if pid in changed:
            assert "Document authentique mais remplacé" in page
            assert "Passage déplacé" in page
        else:
            assert "Document authentique et à jour." in page


def test_cli_repairs_an_absence_and_applies(app, setup, create_user):
    gestionnaire = create_user(Role.GESTIONNAIRE)
    _planned(setup, gestionnaire, count=8)
    (cid, day), count = _by_cday().most_common(1)[0]
    teacher = _db.session.scalar(sa.select(CommissionMember).where(
        CommissionMember.commission_id == cid, CommissionMember.member_role == "enseignant"))
    teacher.user.email = "absent@example.org"
    email, code = teacher.user.email, setup.session.code
    _db.session.commit()  # the command runs in its own app context and session
    runner = app.test_cli_runner()
    args = ["repair-plan", "--session", code, "--absent", email, "--day", day.isoformat(),
            "--time-limit", "3"]
    dry = runner.invoke(args=args)
    assert dry.exit_code == 0, dry.output
    assert f"{count} passage(s) déplacé(s) ({count} touché(s) par l'absence)" in dry.output
    assert "Réparation non appliquée" in dry.output
    applied = runner.invoke(args=[*args, "--apply"])
    assert applied.exit_code == 0, applied.output
    assert f"Réparation appliquée : {count} passage(s) déplacé(s)." in applied.output
    _db.session.expire_all()
    assert _by_cday()[(cid, day)] == 0


def test_publication_is_recorded_and_lists_exactly_the_changed_candidates(setup, create_user):
    from exam_app.juries import publication

    gestionnaire = create_user(Role.GESTIONNAIRE)
    with pytest.raises(JuryError, match="rien à publier"):
        publication.publish_plan(session=setup.session, actor=gestionnaire)
    _planned(setup, gestionnaire, count=8, commissions=1)
    (cid, day), count = _by_cday().most_common(1)[0]
    row = publication.publish_plan(session=setup.session, actor=gestionnaire,
                                   now=datetime(2027, 5, 10, 8, tzinfo=UTC))
    assert row.passages == 8
    assert publication.to_inform(setup.session.id) == []
    proposal = repair.propose_repair(session=setup.session,
                                     lost=[repair.Lost(day, commission_id=cid)],
                                     time_limit=LIMIT)
    repair.apply_repair(session=setup.session, repair=proposal, actor=gestionnaire,
                        now=datetime(2027, 5, 17, 7, tzinfo=UTC))
    rows = publication.to_inform(setup.session.id)
    assert sorted(r.passage_id for r in rows) == sorted(
        m.passage_id for m in proposal.moves if m.from_at != m.to_at)
    assert len(proposal.moves) == count
    assert {r.why for r in rows} == {"Réparation du planning (absence)"}
    lines = publication.to_inform_csv(rows).splitlines()
    assert lines[0] == "N° candidat;Nom;Épreuve;Commission;Nouvelle date;Motif"
    assert len(lines) == 1 + len(rows) and rows


def test_page_signals_an_absence_shows_the_diff_applies_and_lists_who_to_inform(
        client, login_as, setup, create_user):
    from tests.conftest import csrf_token_from

    gestionnaire = create_user(Role.GESTIONNAIRE)
    _planned(setup, gestionnaire, count=8, commissions=1)
    (cid, day), count = _by_cday().most_common(1)[0]
    code = setup.session.code
    _db.session.commit()
    login_as(gestionnaire)
    url = f"/gestion/sessions/{code}/planification"
    page = client.get(url).get_data(as_text=True)
    assert "Le planning n'est pas encore publié" in page
    published = client.post(f"{url}/publier", data={"csrf_token": csrf_token_from(page)})
    assert published.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "Planning publié le" in page and "(8 passages)" in page
    bad = client.post(f"{url}/absence", data={
        "csrf_token": csrf_token_from(page), "repair-day": day.isoformat(),
        "repair-time_limit": "5"})
    assert bad.status_code == 400
    assert "Choisissez un juré absent ou une commission (l&#39;un des deux)." in \
        bad.get_data(as_text=True)
    sent = client.post(f"{url}/absence", data={
        "csrf_token": csrf_token_from(page), "repair-commission_id": str(cid),
        "repair-day": day.isoformat(), "repair-time_limit": "5"})
    assert sent.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "Réparation proposée :" in page
    diff = page.split('id="repair-diff"', 1)[1].split("</table>", 1)[0]
    assert diff.count("<tr><td>") == count
    before = _where()
    applied = client.post(f"{url}/absence/appliquer",
                          data={"csrf_token": csrf_token_from(page)})
    assert applied.status_code == 302
    _db.session.expire_all()
    assert sum(1 for pid, v in _where().items() if before[pid] != v) == count
    retimed = sum(1 for pid, v in _where().items() if before[pid][1] != v[1])
    assert retimed
    page = client.get(url).get_data(as_text=True)
    listed = page.split('id="to-inform"', 1)[1].split("</table>", 1)[0]
    assert listed.count("<tr><td>") == retimed
    csv_response = client.get(f"{url}/a-prevenir.csv")
    assert csv_response.status_code == 200
    assert len(csv_response.get_data(as_text=True).splitlines()) == 1 + retimed
