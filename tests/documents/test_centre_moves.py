"""Moving candidates to another centre and applying the establishment -> centre table
(issue 13, item 4): passages planned at the old centre are withdrawn and the documents
printed for them verify as superseded; a started, marked or attended passage refuses
the whole move; one audited decision per move; the pages, the CLI and permissions."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.documents import attendance, convocation, moves
from exam_app.e6.models import E6Sitting
from exam_app.enrolment.centres import save_centre_table
from exam_app.enrolment.models import Candidate, Centre, CentreOrigin, ExamSession
from exam_app.errors import Invalid
from exam_app.extensions import db as _db
from exam_app.juries import lifecycle
from exam_app.juries.models import Passage
from tests.conftest import csrf_token_from
from tests.documents.conftest import DAY, T0
from tests.e6.builders import add_room, seat

BASE = "https://examens.example"


@pytest.fixture()
def request_context(app):
    with app.test_request_context("/", base_url=BASE + "/"):
        yield


def _page(client, html: str) -> str:
    token = html.split(f"{BASE}/verifier/", 1)[1].split("<", 1)[0].split('"', 1)[0]
    return client.get(f"/verifier/{token}").get_data(as_text=True).split(
        'id="verify-title"', 1)[1].split("</section>", 1)[0]


def _moves(db) -> list[tuple[dict, dict]]:
    return [(e.before, e.after) for e in db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "candidate.move")
        .order_by(AuditEvent.id))]


def test_plan_counts_the_passages_and_documents_a_move_supersedes(db, jury_day,
                                                                  create_centre):
    other = create_centre(jury_day["session"], code="STE01")
    plan = moves.plan_move(session=jury_day["session"], candidates=[jury_day["nv"]],
                           centre=other)
    assert plan.ok
    assert [p.id for p in plan.passages] == [jury_day["passages"][2].id]
    assert plan.documents == {"convocations": 1, "fiches d'évaluation": 1,
                              "listes d'émargement des oraux": 1,
                              "bordereaux de commission": 1}
    assert plan.documents_total == 4


def test_move_withdraws_the_passage_and_supersedes_the_convocation(
        app, client, db, jury_day, create_centre, request_context):
    session, nv = jury_day["session"], jury_day["nv"]
    other = create_centre(session, code="STE01")
    passage = jury_day["passages"][2]
    printed = convocation.build(passage, now=T0 - timedelta(days=5))
    sheet = attendance.build(jury_day["centre"], DAY, "B12", "matin", now=T0 - timedelta(days=5))
    assert "Document authentique et à jour." in _page(client, printed.html)
    result = moves.move_candidates(session=session, actor=jury_day["gestionnaire"],
                                   centre=other, numbers=[nv.number],
                                   reason="Rapprochement du domicile",
                                   now=T0 - timedelta(days=2))
    db.session.commit()
    assert result == moves.MoveResult(moved=1, unchanged=0, passages_withdrawn=1,
                                      documents_superseded=4)
    db.session.expire_all()
    assert (nv.centre_id, nv.centre_origin) == (other.id, CentreOrigin.MANUAL)
    assert db.session.get(Passage, passage.id) is None
    page = _page(client, printed.html)
    assert "Document authentique mais remplacé" in page
    assert "les données ont été modifiées le 10/05/2027 à 09 h 00" in page
    assert ("<li>Passage retiré : le candidat a changé de centre d&#39;examen le 10/05/2027 à "
            "09 h 00 : Rapprochement du domicile</li>") in page
    assert "Document authentique mais remplacé" in _page(client, sheet.html)
    assert _moves(db) == [({"centres": {nv.number: jury_day["centre"].code}, "e6_rooms": {}},
                           {"centre": "STE01", "origin": "manual", "candidates": [nv.number],
                            "passages_withdrawn": 1,
                            "documents_superseded": {"convocations": 1,
                                                     "fiches d'évaluation": 1,
                                                     "listes d'émargement des oraux": 1,
                                                     "bordereaux de commission": 1}})]


@pytest.mark.parametrize("which, reason", [
    ("absent", "son passage E4 a une présence enregistrée"),
    ("started", "son passage E4 a commencé"),
])
def test_move_is_refused_for_a_passage_started_or_attended(db, jury_day, create_centre,
                                                           which, reason):
    session = jury_day["session"]
    other = create_centre(session, code="STE01")
    if which == "started":
        lifecycle.start_passage(passage=jury_day["passages"][0], actor=jury_day["teacher"],
                                now=T0)
        candidate = jury_day["marked"]
    else:
        candidate = jury_day["absent"]
    db.session.commit()
    with pytest.raises(Invalid) as refused:
        moves.move_candidates(session=session, actor=jury_day["gestionnaire"], centre=other,
                              numbers=[candidate.number, jury_day["nv"].number])
    db.session.rollback()
    who = f"{candidate.last_name} {candidate.first_name} ({candidate.number})"
    assert refused.value.details == [f"{who} : {reason} ; il ne peut plus changer de centre."]
    # All or nothing: the other candidate did not move either.
    assert db.session.scalars(sa.select(Candidate.centre_id).order_by(Candidate.id)).all() == [
        jury_day["centre"].id] * 3
    assert db.session.scalar(sa.select(sa.func.count(Passage.id))) == 3
    assert _moves(db) == []


def test_move_is_refused_after_the_e6_sitting_and_leaves_an_e6_room_otherwise(
        db, create_session, create_centre, create_candidate, create_user):
    session = create_session()
    lyon, ste = create_centre(session, code="LYO01"), create_centre(session, code="STE01")
    sat, seated = create_candidate(session, centre=lyon), create_candidate(session, centre=lyon)
    room = add_room(lyon)
    seat(sat, room)  # present: has an anonymous copy
    seat(seated, room, attendance=None)
    actor = create_user(Role.GESTIONNAIRE)
    db.session.commit()
    with pytest.raises(Invalid) as refused:
        moves.move_candidates(session=session, actor=actor, centre=ste, candidate_ids=[sat.id])
    assert refused.value.details == [
        f"{sat.last_name} {sat.first_name} ({sat.number}) : sa présence à l'épreuve écrite E6 "
        "est enregistrée ; il ne peut plus changer de centre."]
    db.session.rollback()
    result = moves.move_candidates(session=session, actor=actor, centre=ste,
                                   candidate_ids=[seated.id])
    assert (result.moved, result.documents_superseded) == (1, 1)
    sitting = db.session.scalar(sa.select(E6Sitting).where(E6Sitting.candidate_id == seated.id))
    assert sitting.room_id is None
    assert _moves(db)[0][0] == {"centres": {seated.number: "LYO01"},
                                "e6_rooms": {seated.number: "A"}}


def test_move_to_the_same_centre_changes_nothing(db, create_session, create_centre,
                                                 create_candidate, create_user):
    session = create_session()
    lyon = create_centre(session, code="LYO01")
    c = create_candidate(session, centre=lyon)
    result = moves.move_candidates(session=session, actor=create_user(Role.GESTIONNAIRE),
                                   centre=lyon, candidate_ids=[c.id])
    assert result == moves.MoveResult(0, 1, 0, 0)
    assert _moves(db) == []


def test_move_refuses_unknown_numbers(db, create_session, create_centre, create_candidate):
    session = create_session()
    lyon = create_centre(session, code="LYO01")
    create_candidate(session)
    with pytest.raises(Invalid) as refused:
        moves.move_candidates(session=session, actor=None, centre=lyon, numbers=["nope", "X1"])
    assert refused.value.message == "Candidat(s) inconnu(s) dans cette session : NOPE, X1."


def _table_world(create_session, create_centre, create_establishment, create_candidate,
                 create_user):
    session = create_session()
    lyon, ste = create_centre(session, code="LYO01"), create_centre(session, code="STE01")
    e1, e2 = create_establishment(uai="0690001A"), create_establishment(uai="0420002B")
    actor = create_user(Role.GESTIONNAIRE)
    save_centre_table(session=session, actor=actor, choices={e1.id: lyon.id})
    a = create_candidate(session, establishment=e1)
    b = create_candidate(session, establishment=e2)
    kept = create_candidate(session, establishment=e1, centre=ste,
                            centre_origin=CentreOrigin.IMPORT)
    return session, lyon, ste, e1, e2, actor, a, b, kept


def test_apply_table_assigns_the_rest_and_is_idempotent(db, create_session, create_centre,
                                                        create_establishment,
                                                        create_candidate, create_user):
    session, lyon, ste, e1, e2, actor, a, b, kept = _table_world(
        create_session, create_centre, create_establishment, create_candidate, create_user)
    assert moves.apply_centre_table(session=session, actor=actor) == moves.TableResult(1, 0, 1)
    assert moves.apply_centre_table(session=session, actor=actor) == moves.TableResult(0, 0, 1)
    assert [(c.centre_id, c.centre_origin) for c in (a, b, kept)] == [
        (lyon.id, CentreOrigin.TABLE), (None, None), (ste.id, CentreOrigin.IMPORT)]
    applied = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "centre_table.apply")).all()
    assert [(e.before, e.after) for e in applied] == [
        ({"centres": {a.number: None}}, {"centres": {a.number: "LYO01"}})]


def test_apply_table_reassigns_only_table_given_centres_on_request(
        db, create_session, create_centre, create_establishment, create_candidate, create_user):
    session, lyon, ste, e1, e2, actor, a, b, kept = _table_world(
        create_session, create_centre, create_establishment, create_candidate, create_user)
    moves.apply_centre_table(session=session, actor=actor)
    save_centre_table(session=session, actor=actor, choices={e1.id: ste.id, e2.id: ste.id})
    assert moves.apply_centre_table(session=session, actor=actor) == moves.TableResult(1, 0, 0)
    assert a.centre_id == lyon.id  # not without being asked
    assert moves.apply_centre_table(session=session, actor=actor,
                                    reassign=True) == moves.TableResult(0, 1, 0)
    assert moves.apply_centre_table(session=session, actor=actor,
                                    reassign=True) == moves.TableResult(0, 0, 0)
    assert [(c.centre_id, c.centre_origin) for c in (a, b, kept)] == [
        (ste.id, CentreOrigin.TABLE), (ste.id, CentreOrigin.TABLE), (ste.id, CentreOrigin.IMPORT)]
    assert _moves(db) == [({"centres": {a.number: "LYO01"}, "e6_rooms": {}},
                           {"centre": "STE01", "origin": "table", "candidates": [a.number],
                            "passages_withdrawn": 0, "documents_superseded": {}})]


def test_two_moves_at_once_are_applied_one_after_the_other(app, db, create_session,
                                                           create_centre, create_candidate,
                                                           create_user):
    session = create_session()
    lyon, ste, vie = (create_centre(session, code=code) for code in ("LYO01", "STE01", "VIE01"))
    candidates = [create_candidate(session, centre=lyon) for _ in range(5)]
    actor = create_user(Role.GESTIONNAIRE)
    db.session.commit()
    ids, targets = [c.id for c in candidates], {"STE01": ste.id, "VIE01": vie.id}
    start, errors = threading.Barrier(2), []

    def worker(code: str) -> None:
        with app.app_context():
            try:
                start.wait()
                moves.move_candidates(
                    session=_db.session.get(ExamSession, session.id),
                    actor=_db.session.get(type(actor), actor.id),
                    centre=_db.session.get(Centre, targets[code]), candidate_ids=ids)
                _db.session.commit()
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(repr(error))
                _db.session.rollback()

    threads = [threading.Thread(target=worker, args=(code,)) for code in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    db.session.expire_all()
    first, second = _moves(db)
    numbers = sorted(c.number for c in candidates)
    # The second decision saw the first's result: its "before" is the first's "after".
    assert first[0]["centres"] == dict.fromkeys(numbers, "LYO01")
    assert second[0]["centres"] == dict.fromkeys(numbers, first[1]["centre"])
    assert {first[1]["centre"], second[1]["centre"]} == {"STE01", "VIE01"}
    final = targets[second[1]["centre"]]
    assert db.session.scalars(sa.select(Candidate.centre_id)).all() == [final] * 5


# ---- pages ------------------------------------------------------------------------------


def _list_token(client, session) -> str:
    return csrf_token_from(client.get(f"/gestion/sessions/{session.code}/candidats")
                           .get_data(as_text=True))


def test_list_move_confirms_then_moves_the_filtered_candidates(
        client, db, login_as, create_session, create_centre, create_candidate, create_user):
    session = create_session()
    lyon, ste = create_centre(session, code="LYO01"), create_centre(session, code="STE01")
    without = [create_candidate(session) for _ in range(3)]
    placed = create_candidate(session, centre=lyon)
    login_as(create_user(Role.GESTIONNAIRE))
    page = client.get(f"/gestion/sessions/{session.code}/candidats?centre=aucun")
    html = page.get_data(as_text=True)
    assert "3 candidats" in html and placed.number not in html
    url = f"/gestion/sessions/{session.code}/candidats/deplacer?centre=aucun"
    confirm = client.post(url, data={"csrf_token": csrf_token_from(html), "tous": "1",
                                     "vers": ste.id})
    text = confirm.get_data(as_text=True)
    assert confirm.status_code == 200
    assert "<strong>3</strong> candidat(s) changeront de centre" in text
    assert "<strong>0</strong> document(s) imprimé(s) seront remplacés" in text
    assert db.session.scalar(sa.select(sa.func.count(Candidate.id)).where(
        Candidate.centre_id == ste.id)) == 0  # nothing moved before the confirmation
    done = client.post(url, data={"csrf_token": csrf_token_from(text), "confirmer": "1",
                                  "vers": ste.id,
                                  "candidat": [str(c.id) for c in without]})
    assert done.status_code == 303
    assert db.session.scalars(sa.select(Candidate.centre_id).order_by(Candidate.id)).all() == [
        ste.id, ste.id, ste.id, lyon.id]


def test_list_move_refusal_is_shown_in_french_and_moves_nothing(client, db, login_as,
                                                                 jury_day, create_centre):
    other = create_centre(jury_day["session"], code="STE01")
    code = jury_day["session"].code
    login_as(jury_day["gestionnaire"])
    token = _list_token(client, jury_day["session"])
    response = client.post(f"/gestion/sessions/{code}/candidats/deplacer",
                           data={"csrf_token": token, "vers": other.id,
                                 "candidat": [str(jury_day["absent"].id)]})
    assert response.status_code == 422
    assert "il ne peut plus changer de centre" in response.get_data(as_text=True)
    assert jury_day["absent"].centre_id == jury_day["centre"].id


@pytest.mark.parametrize("role", [Role.CHEF_CENTRE, Role.EXAMINATEUR, Role.CANDIDAT])
def test_only_a_gestionnaire_moves_or_edits_the_table(client, db, login_as, create_session,
                                                      create_centre, create_candidate,
                                                      create_user, role):
    session = create_session()
    lyon, ste = create_centre(session, code="LYO01"), create_centre(session, code="STE01")
    c = create_candidate(session, centre=lyon)
    user = create_user(role, centre=lyon, candidate=c)
    login_as(user)
    token = csrf_token_from(client.get("/", follow_redirects=True).get_data(as_text=True))
    data = {"csrf_token": token, "vers": ste.id, "candidat": [str(c.id)], "confirmer": "1"}
    assert client.post(f"/gestion/sessions/{session.code}/candidats/deplacer",
                       data=data).status_code == 403
    assert client.post(f"/gestion/sessions/{session.code}/centres/table",
                       data={"csrf_token": token, "action": "apply"}).status_code == 403
    assert client.get(f"/gestion/sessions/{session.code}/centres/table").status_code == 403
    assert c.centre_id == lyon.id


def test_table_page_saves_and_applies(client, db, login_as, create_session, create_centre,
                                      create_establishment, create_candidate, create_user):
    session = create_session()
    lyon = create_centre(session, code="LYO01")
    e1 = create_establishment(name="Lycée Ampère")
    c = create_candidate(session, establishment=e1)
    login_as(create_user(Role.GESTIONNAIRE))
    url = f"/gestion/sessions/{session.code}/centres/table"
    html = client.get(url).get_data(as_text=True)
    assert "1 candidat(s) sans centre d'examen." in html
    token = csrf_token_from(html)
    saved = client.post(url, data={"csrf_token": token, "action": "save",
                                   f"etab-{e1.id}": str(lyon.id)})
    assert saved.status_code == 302
    applied = client.post(url, data={"csrf_token": token, "action": "apply"},
                          follow_redirects=True)
    assert "Table appliquée : 1 candidat(s) affecté(s), 0 réaffecté(s)" in applied.get_data(
        as_text=True)
    assert (c.centre_id, c.centre_origin) == (lyon.id, CentreOrigin.TABLE)


def test_dashboard_lists_candidates_without_centre_as_blocking(client, db, login_as,
                                                               create_session, create_centre,
                                                               create_candidate, create_user):
    session = create_session()
    create_centre(session)
    c = create_candidate(session, last_name="SANSCENTRE")
    login_as(create_user(Role.GESTIONNAIRE))
    html = client.get(f"/gestion/sessions/{session.code}/").get_data(as_text=True)
    block = html.split('data-blocker="without_centre"', 1)[1].split('data-blocker=', 1)[0]
    assert "candidat sans centre d&#39;examen" in block
    assert html.count("sans centre d&#39;examen") == 1  # one place says it, not two
    assert f"<code>{c.number}</code> SANSCENTRE" in block
    assert f'href="/gestion/sessions/{session.code}/centres/table"' in block


# ---- commands ---------------------------------------------------------------------------


def _invoke(app, db, *args):
    db.session.commit()
    result = app.test_cli_runner().invoke(args=list(args))
    db.session.expire_all()
    return result


def test_cli_assign_centres_and_move_candidates(app, db, create_session, create_centre,
                                               create_establishment, create_candidate,
                                               create_user):
    session, lyon, ste, e1, e2, actor, a, b, kept = _table_world(
        create_session, create_centre, create_establishment, create_candidate, create_user)
    result = _invoke(app, db, "assign-centres", "--session", session.code)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"Table appliquée dans {session.code} : 1 candidat(s) affecté(s), 0 réaffecté(s).",
        "1 candidat(s) encore sans centre (établissement absent de la table) :",
        f"  {b.number} {b.last_name} {b.first_name} — 0420002B"]
    result = _invoke(app, db, "move-candidates", "--session", session.code, "--to", "ste01",
                     b.number, a.number)
    assert result.exit_code == 0, result.output
    assert result.output == ("2 candidat(s) déplacé(s) vers STE01, 0 déjà dans ce centre ; "
                             "0 passage(s) retiré(s) ; 0 document(s) imprimé(s) remplacé(s).\n")
    assert [(c.centre_id, c.centre_origin) for c in (a, b)] == [
        (ste.id, CentreOrigin.MANUAL), (ste.id, CentreOrigin.MANUAL)]
    result = _invoke(app, db, "move-candidates", "--session", session.code, "--to", "NOPE",
                     a.number)
    assert result.exit_code == 1
    assert (f"Aucun centre n'a le code « NOPE » dans la session {session.code}. "
            "Rien n'a été déplacé.") in result.output


def test_cli_move_refusal_exits_1_and_moves_nothing(app, db, jury_day, create_centre):
    create_centre(jury_day["session"], code="STE01")
    absent = jury_day["absent"]
    result = _invoke(app, db, "move-candidates", "--session", jury_day["session"].code,
                     "--to", "STE01", absent.number)
    assert result.exit_code == 1
    assert result.output == (
        "Déplacement refusé, rien n'a été déplacé :\n"
        f"  {absent.last_name} {absent.first_name} ({absent.number}) : son passage E4 a une "
        "présence enregistrée ; il ne peut plus changer de centre.\n")
    assert absent.centre_id == jury_day["centre"].id


@pytest.mark.parametrize("move_first", [True, False], ids=["move-first", "start-first"])
def test_a_move_and_a_passage_start_at_once_never_both_win(app, db, jury_day, create_centre,
                                                          move_first):
    """Either the passage starts and the move is refused, or the move withdraws the passage
    and it cannot start: never a started passage for a moved candidate."""
    session, candidate = jury_day["session"], jury_day["marked"]  # a compliant dossier
    other = create_centre(session, code="STE01")
    passage_id, teacher_id = jury_day["passages"][0].id, jury_day["teacher"].id
    ids = (session.id, other.id, candidate.id, jury_day["gestionnaire"].id)
    db.session.commit()
    start, outcomes = threading.Barrier(2), {}

    def move() -> None:
        with app.app_context():
            start.wait()
            if not move_first:
                threading.Event().wait(0.05)
            try:
                moves.move_candidates(session=_db.session.get(ExamSession, ids[0]), actor=None,
                                      centre=_db.session.get(Centre, ids[1]),
                                      candidate_ids=[ids[2]])
                _db.session.commit()
                outcomes["move"] = "moved"
            except Invalid:
                _db.session.rollback()
                outcomes["move"] = "refused"

    def begin() -> None:
        from exam_app.accounts.models import User

        with app.app_context():
            start.wait()
            if move_first:
                threading.Event().wait(0.05)
            try:
                passage = _db.session.get(Passage, passage_id)
                if passage is None:
                    outcomes["start"] = "gone"
                    return
                lifecycle.start_passage(passage=passage,
                                        actor=_db.session.get(User, teacher_id))
                _db.session.commit()
                outcomes["start"] = "started"
            except sa.exc.NoResultFound:
                _db.session.rollback()
                outcomes["start"] = "gone"

    threads = [threading.Thread(target=move), threading.Thread(target=begin)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    db.session.expire_all()
    assert outcomes in ({"move": "moved", "start": "gone"},
                        {"move": "refused", "start": "started"})
    moved = db.session.get(Candidate, candidate.id).centre_id == other.id
    started = db.session.scalar(sa.select(Passage.started_at).where(Passage.id == passage_id))
    assert (moved, started is not None) in ((True, False), (False, True))
    assert (moved, started is not None) == (outcomes["move"] == "moved",
                                            outcomes["start"] == "started")
