"""Jury-day pages and JSON endpoints through the test client."""

from __future__ import annotations

import re

import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.dossiers import validity
from exam_app.juries.models import Grid, GridField, Passage
from tests.conftest import csrf_token_from
from tests.juries.helpers import complete_grid


def _jurors(passage):
    return [m.user for m in passage.commission.members]


def _page_token(client, passage):
    html = client.get(f"/jury/passages/{passage.id}").get_data(as_text=True)
    return re.search(r'data-csrf="([^"]+)"', html).group(1)


def _post_json(client, url, body, token):
    return client.post(url, json=body, headers={"X-CSRFToken": token})


def _save(client, passage, token, field, value, base, op, grid="commune"):
    return _post_json(client, f"/jury/passages/{passage.id}/grilles/{grid}/champs",
                      {"ops": [{"op": op, "field": field, "value": value, "base": base}]}, token)


def test_passage_page_shows_phases_from_definition(client, login_as, create_passage):
    passage = create_passage(unit_code="E5", variant_code="ponctuel", form="ponctuel")
    login_as(_jurors(passage)[0])
    html = client.get(f"/jury/passages/{passage.id}").get_data(as_text=True)
    labels = [label.strip() for label in re.findall(r'<span class="seg__label">([^<]+)', html)]
    assert labels == [
        "Préparation sur poste informatique (nouvelle demande)",
        "Simulation et entretien — Résultat de la nouvelle demande",
        "Simulation et entretien — Entretien",
        "Présentation de la veille informationnelle — Présentation des travaux de veille",
        "Présentation de la veille informationnelle — Entretien"]


def test_autosave_without_csrf_header_refused(client, login_as, create_passage):
    passage = create_passage()
    login_as(_jurors(passage)[0])
    response = client.post(f"/jury/passages/{passage.id}/grilles/commune/champs",
                           json={"ops": [{"op": "x", "field": "mark", "value": "10", "base": 0}]})
    assert response.status_code == 400


def test_autosave_then_state_visible_to_other_juror(client, login_as, create_passage):
    passage = create_passage()
    first, second = _jurors(passage)
    login_as(first)
    token = _page_token(client, passage)
    saved = _save(client, passage, token, "c:outils_maitrise", "TS", 0, "op-1")
    login_as(second)
    state = client.get(f"/jury/passages/{passage.id}/etat").get_json()
    assert (saved.status_code, saved.get_json()["results"][0]["status"],
            state["grids"]["agreed"]["c:outils_maitrise"], state["passage"]["revision"]) == (
        200, "ok", {"value": "TS", "version": 1}, 1)


def test_autosave_conflict_and_replay(client, login_as, create_passage):
    passage = create_passage()
    login_as(_jurors(passage)[0])
    token = _page_token(client, passage)
    _save(client, passage, token, "appreciation", "Très bien", 0, "op-a")
    replay = _save(client, passage, token, "appreciation", "Très bien", 0, "op-a")
    conflict = _save(client, passage, token, "appreciation", "Bien", 0, "op-b")
    assert (replay.get_json()["results"][0]["replayed"], conflict.get_json()["results"][0]) == (
        True, {"op": "op-b", "field": "appreciation", "status": "conflict", "version": 1,
               "value": "Très bien", "by": _jurors(passage)[0].id, "sent": "Bien"})


def test_autosave_replay_with_another_value_is_refused(client, login_as, create_passage):
    # A lost response, then more typing sent under the same op id: the server must not
    # answer with the old result as if the new text were stored.
    passage = create_passage()
    login_as(_jurors(passage)[0])
    token = _page_token(client, passage)
    first = _save(client, passage, token, "appreciation", "Bon", 0, "op-lost")
    reused = _save(client, passage, token, "appreciation", "Bon entretien", 0, "op-lost")
    perso = _save(client, passage, token, "mark", "12", 0, "op-p", grid="perso")
    perso_reused = _save(client, passage, token, "mark", "13", 0, "op-p", grid="perso")
    same = _save(client, passage, token, "appreciation", "Bon", 0, "op-lost")
    state = client.get(f"/jury/passages/{passage.id}/etat").get_json()
    body = reused.get_json()
    assert (first.status_code, reused.status_code, body["error"], body["field"],
            perso.status_code, perso_reused.status_code, same.status_code,
            same.get_json()["results"][0]["replayed"], state["grids"]["agreed"]["appreciation"],
            state["grids"]["own"]["mark"]) == (
        200, 409, "op_reused", "appreciation", 200, 409, 200, True,
        {"value": "Bon", "version": 1}, {"value": "12", "version": 1})
    assert body["message"] == ("Cette modification a déjà été enregistrée avec une autre valeur : "
                               "elle n'est pas rejouée. Saisissez de nouveau la valeur voulue.")


def test_autosave_invalid_body_and_value_rejected_clearly(client, login_as, create_passage):
    passage = create_passage()
    login_as(_jurors(passage)[0])
    token = _page_token(client, passage)
    not_json = client.post(f"/jury/passages/{passage.id}/grilles/commune/champs", data="x",
                           headers={"X-CSRFToken": token, "Content-Type": "application/json"})
    bad_mark = _save(client, passage, token, "mark", "21", 0, "op-z")
    assert (not_json.status_code, not_json.get_json(), bad_mark.status_code,
            bad_mark.get_json()) == (
        400, {"error": "invalid", "message": "Requête invalide : un objet JSON est attendu.",
              "field": None, "details": []},
        400, {"error": "invalid", "message": "La note doit être comprise entre 0 et 20.",
              "field": "mark", "details": []})


def test_private_grid_hidden_from_other_juror(client, login_as, create_passage):
    passage = create_passage()
    first, second = _jurors(passage)
    login_as(first)
    _save(client, passage, _page_token(client, passage), "mark", "12", 0, "op-p", grid="perso")
    login_as(second)
    state = client.get(f"/jury/passages/{passage.id}/etat").get_json()
    assert (state["grids"]["other"], state["grids"]["own"]["mark"]) == (
        None, {"value": "", "version": 0})


def test_non_member_juror_gets_403(client, login_as, create_passage, create_user):
    passage = create_passage()
    login_as(create_user(Role.EXAMINATEUR))
    assert [client.get(f"/jury/passages/{passage.id}").status_code,
            client.get(f"/jury/passages/{passage.id}/etat").status_code] == [403, 403]


def test_timer_endpoint_start_and_double_next_advances_once(client, login_as, create_passage):
    passage = create_passage()
    login_as(_jurors(passage)[0])
    token = _page_token(client, passage)
    url = f"/jury/passages/{passage.id}/minuteur"
    started = _post_json(client, url, {"action": "start"}, token).get_json()
    _post_json(client, url, {"action": "next", "from": 0}, token)
    state = _post_json(client, url, {"action": "next", "from": 0}, token).get_json()
    assert (started["timer"]["current"], state["timer"]["current"], state["timer"]["status"],
            isinstance(state["server_time"], int)) == (0, 1, "running", True)


def test_both_validate_through_endpoint_mark_final(client, login_as, create_passage, db):
    passage = create_passage()
    complete_grid(passage)
    first, second = _jurors(passage)
    login_as(first)
    token = _page_token(client, passage)
    _save(client, passage, token, "mark", "13,5", 0, "op-v")
    one = _post_json(client, f"/jury/passages/{passage.id}/valider", {"revision": 1}, token)
    login_as(second)
    token = _page_token(client, passage)
    two = _post_json(client, f"/jury/passages/{passage.id}/valider", {"revision": 1}, token)
    locked = _save(client, passage, token, "mark", "14", 1, "op-w")
    assert (one.get_json()["passage"]["final"], two.get_json()["passage"]["final_mark"],
            locked.status_code) == (False, "13.5", 409)


def test_absent_form_needs_confirmation(client, login_as, create_passage, db):
    passage = create_passage()
    login_as(_jurors(passage)[0])
    html = client.get(f"/jury/passages/{passage.id}").get_data(as_text=True)
    token = csrf_token_from(html)
    client.post(f"/jury/passages/{passage.id}/presence",
                data={"csrf_token": token, "attendance": "absent"})
    unconfirmed = db.session.get(Passage, passage.id).attendance
    client.post(f"/jury/passages/{passage.id}/presence",
                data={"csrf_token": token, "attendance": "absent", "confirm": "y"})
    home = client.get("/jury/?jour=2000-01-01").status_code
    assert (unconfirmed, db.session.get(Passage, passage.id).attendance, home) == (
        "unknown", "absent", 200)


def test_home_lists_today_passage_with_nv(client, login_as, create_passage, monkeypatch, db):
    from exam_app.clock import utcnow

    passage = create_passage()
    passage.scheduled_at = utcnow()
    monkeypatch.setattr("exam_app.juries.views_jury.nv_candidate_ids",
                        lambda **kw: {passage.candidate_id})
    monkeypatch.setattr(validity, "unit_validity", lambda **kw: validity.UnitValidity.NV)
    login_as(_jurors(passage)[0])
    html = client.get("/jury/").get_data(as_text=True)
    assert (passage.candidate.full_name in html, 'state--nv">NV<' in html,
            _jurors(passage)[1].display_name in html) == (True, True, True)


def test_planning_assign_conflict_message_shown(client, login_as, create_session, create_centre,
                                                create_commission, create_candidate,
                                                create_establishment, create_user):
    session = create_session()
    school = create_establishment(name="Lycée Ampère")
    commission = create_commission(session, centre=create_centre(session),
                                   teacher_establishment=school)
    candidate = create_candidate(session, establishment=school)
    login_as(create_user(Role.GESTIONNAIRE))
    url = f"/gestion/commissions/{commission.id}/planning"
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    response = client.post(url, data={"csrf_token": token, "assign-numbers": candidate.number,
                                      "assign-variant": "ponctuel"})
    html = response.get_data(as_text=True)
    assert (response.status_code, "Conflit d&#39;intérêts" in html,
            db_count(Passage)) == (400, True, 0)


def db_count(model):
    from exam_app.extensions import db

    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_planning_generate_and_reopen_flow(client, login_as, create_passage, create_user, db):
    passage = create_passage()
    complete_grid(passage)
    first, second = _jurors(passage)
    gestion = create_user(Role.GESTIONNAIRE)
    login_as(gestion)
    url = f"/gestion/commissions/{passage.commission_id}/planning"
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    planned = client.post(url, data={
        "csrf_token": token, "plan-go": "1", "plan-day": "2027-05-12",
        "plan-day_start": "08:30", "plan-break_minutes": "10", "plan-lunch_start": "12:00",
        "plan-lunch_minutes": "60", "plan-workstations": "2", "plan-room": "A101"})
    scheduled = db.session.get(Passage, passage.id).scheduled_at.strftime("%Y-%m-%d %H:%M")
    for juror in (first, second):
        login_as(juror)
        jtoken = _page_token(client, passage)
        if juror is first:
            _save(client, passage, jtoken, "mark", "9", 0, "op-r")
        _post_json(client, f"/jury/passages/{passage.id}/valider", {"revision": 1}, jtoken)
    login_as(gestion)
    reopen_url = f"/gestion/passages/{passage.id}/rouvrir"
    token = csrf_token_from(client.get(reopen_url).get_data(as_text=True))
    unconfirmed = client.post(reopen_url, data={"csrf_token": token, "reason": "Erreur"})
    done = client.post(reopen_url, data={"csrf_token": token, "reason": "Erreur de saisie",
                                         "confirm": "y"})
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "mark.reopen"))
    assert (planned.status_code, scheduled, unconfirmed.status_code, done.status_code,
            event.before["mark"], db.session.get(Passage, passage.id).finalized_at) == (
        302, "2027-05-12 06:30", 400, 302, "9", None)


def test_grid_field_rows_created_for_each_grid(db, create_passage):
    passage = create_passage(unit_code="E5", variant_code="ccf_a", form="ccf")
    names = db.session.scalars(sa.select(GridField.name).join(Grid).where(
        Grid.passage_id == passage.id, Grid.key == "agreed").order_by(GridField.id)).all()
    assert names == ["c:sujet", "c:demarche_veille", "c:outils_veille", "c:resultat_veille",
                     "c:maitrise_veille", "s:veille", "appreciation"]


def test_ccf_b_page_shows_situation_a_grid_and_sets_global_mark(client, login_as, create_passage,
                                                                 create_candidate):
    situation_a = create_passage(unit_code="E5", variant_code="ccf_a", form="ccf")
    commission = situation_a.commission
    situation_b = create_passage(commission=commission, candidate=situation_a.candidate,
                                 variant_code="ccf_b")
    login_as(_jurors(situation_a)[0])
    token = _page_token(client, situation_a)
    _save(client, situation_a, token, "c:sujet", "TS", 0, "op-a1")
    page_a = client.get(f"/jury/passages/{situation_a.id}").get_data(as_text=True)
    page_b = client.get(f"/jury/passages/{situation_b.id}").get_data(as_text=True)
    assert ('id="commune-mark"' in page_a, 'id="commune-mark"' in page_b,
            "CCF — situation A (veille informationnelle) <span" in page_b,
            "<td>TS</td>" in page_b) == (False, True, True, True)


def test_autosave_overlong_operation_id_refused(client, login_as, create_passage):
    passage = create_passage()
    login_as(_jurors(passage)[0])
    token = _page_token(client, passage)
    response = _save(client, passage, token, "appreciation", "x", 0, "o" * 65)
    assert (response.status_code, response.get_json()) == (
        400, {"error": "invalid",
              "message": "Chaque modification doit porter un identifiant unique "
                         "(64 caractères au plus).",
              "field": None, "details": []})


def test_planning_lists_eligible_unassigned_candidates(client, login_as, create_session,
                                                        create_centre, create_commission,
                                                        create_candidate, create_user,
                                                        create_establishment):
    session = create_session()
    centre = create_centre(session)
    school = create_establishment()
    commission = create_commission(session, unit_code="E5", centre=centre,
                                   teacher_establishment=school)
    eligible = create_candidate(session, centre=centre, e5_form="ponctuel")
    ccf = create_candidate(session, centre=centre, e5_form="ccf")
    conflicted = create_candidate(session, centre=centre, e5_form="ponctuel", establishment=school)
    login_as(create_user(Role.GESTIONNAIRE))
    html = client.get(f"/gestion/commissions/{commission.id}/planning").get_data(as_text=True)
    listed = re.findall(r"<li><code>([^<]+)</code>", html)
    assert (listed, ccf.number in listed, conflicted.number in listed) == (
        [eligible.number], False, False)


def test_planning_hint_reads_the_preparation_from_the_definition(client, login_as,
                                                                 create_session,
                                                                 create_commission, create_user):
    session = create_session()
    commissions = [create_commission(session, unit_code=unit) for unit in ("E4", "E5")]
    login_as(create_user(Role.GESTIONNAIRE))
    pages = [client.get(f"/gestion/commissions/{c.id}/planning").get_data(as_text=True)
             for c in commissions]
    assert [("la préparation de 45 min du candidat suivant" in page,
             "pause entre deux candidats et déjeuner" in page) for page in pages] == [
        (False, True), (True, False)]


def test_board_counts_nv_for_units_with_a_dossier(client, login_as, create_passage, create_user,
                                                  monkeypatch, db):
    from exam_app.clock import to_local, utcnow

    passages = [create_passage(unit_code=unit) for unit in ("E4", "E5")]
    for passage in passages:
        passage.scheduled_at = utcnow()
        passage.commission.session_id = passages[0].commission.session_id
    nv_units = []

    asked = []

    def nv_ids(*, session_id, unit_code, candidate_ids=None):
        nv_units.append(unit_code)
        asked.append(candidate_ids)
        return {p.candidate_id for p in passages}

    monkeypatch.setattr("exam_app.juries.board.nv_candidate_ids", nv_ids)
    code = passages[0].commission.session.code
    login_as(create_user(Role.GESTIONNAIRE))
    html = client.get(f"/gestion/sessions/{code}/suivi?jour={to_local(utcnow()).date()}")
    # Per commission: planned, done, in progress, late, absent, NV, final, pending.
    rows = [re.findall(r'<td class="num[^"]*" data-k="\w+">(\d+)</td>', row)
            for row in re.findall(r'<tr data-commission="\d+">(.*?)</tr>',
                                  html.get_data(as_text=True), re.S)]
    assert (html.status_code, sorted(nv_units), [r for r in rows if r]) == (
        200, ["E4", "E5"], [["1", "0", "0", "0", "0", "1", "0", "0"]] * 2)
    # Only the day's candidates are asked about (issue 16), not the whole session.
    assert asked == [{p.candidate_id for p in passages}] * 2


def test_scope_loaders_answer_404_unknown_and_403_out_of_scope(client, login_as, create_passage,
                                                               create_user):
    passage = create_passage()
    missing = passage.id + 1000
    login_as(create_user(Role.EXAMINATEUR))
    token = csrf_token_from(client.get("/jury/").get_data(as_text=True))
    juror = [client.get(f"/jury/passages/{pid}").status_code for pid in (passage.id, missing)]
    autosave = [_post_json(client, f"/jury/passages/{pid}/grilles/commune/champs",
                           {"ops": [{"op": f"s-{pid}", "field": "mark", "value": "1", "base": 0}]},
                           token).status_code for pid in (passage.id, missing)]
    login_as(create_user(Role.GESTIONNAIRE))
    manager = [client.get(url).status_code for url in (
        f"/gestion/passages/{missing}/rouvrir", f"/gestion/commissions/{missing}/planning",
        f"/gestion/passages/{passage.id}/rouvrir")]
    assert (juror, autosave, manager) == ([403, 404], [403, 404], [404, 404, 200])


def test_passage_page_renders_the_timer_as_it_stands(client, login_as, create_passage):
    """A reload shows the current step, its clock and the right buttons before any poll."""
    from datetime import timedelta

    from exam_app.clock import utcnow
    from exam_app.juries import lifecycle

    passage = create_passage()
    first, second = _jurors(passage)
    started = utcnow() - timedelta(minutes=40)
    lifecycle.start_passage(passage=passage, actor=first, now=started)
    lifecycle.advance(passage=passage, from_index=0, actor=first,
                      now=started + timedelta(minutes=25))
    login_as(second)
    html = client.get(f"/jury/passages/{passage.id}").get_data(as_text=True)

    def element(element_id):
        return re.search(rf'<[^>]*id="{element_id}"[^>]*>(.*?)</', html, re.S).group(0)

    assert 'data-state="running"' in html
    assert ">Entretien avec la commission<" in element("timer-phase")
    # 15 of the 30 minutes of the interview are left (within the test's own seconds).
    assert re.search(r">1[45]:\d\d<", element("timer-clock"))
    assert "Écoulé 1" in element("timer-detail")
    assert "hidden" in element("btn-start") and "hidden" not in element("btn-next")
    assert ">Terminer le passage<" in element("btn-next")
    assert 'class="seg--current"' in html and 'class=" seg--done"' in html


def test_passage_page_renders_a_finished_timer(client, login_as, create_passage):
    from datetime import timedelta

    from exam_app.clock import utcnow
    from exam_app.juries import lifecycle

    passage = create_passage()
    first, _ = _jurors(passage)
    started = utcnow() - timedelta(hours=2)
    lifecycle.start_passage(passage=passage, actor=first, now=started)
    lifecycle.advance(passage=passage, from_index=0, actor=first,
                      now=started + timedelta(minutes=20))
    lifecycle.advance(passage=passage, from_index=1, actor=first,
                      now=started + timedelta(minutes=50))
    login_as(first)
    html = client.get(f"/jury/passages/{passage.id}").get_data(as_text=True)
    assert 'data-state="finished"' in html
    assert re.search(r'id="timer-clock"[^>]*>Terminé<', html)
    assert re.search(r'id="timer-detail"[^>]*>Durée réelle : 50:00<', html)


def test_planning_offers_a_swap_only_when_there_is_another_passage(client, login_as,
                                                                   create_passage, create_user,
                                                                   db):
    """A lone passage has nobody to swap with: no empty list and dead « Échanger » button."""
    passage = create_passage()
    login_as(create_user(Role.GESTIONNAIRE))
    url = f"/gestion/commissions/{passage.commission_id}/planning"
    alone = client.get(url).get_data(as_text=True)
    other = create_passage(commission=passage.commission)
    both = client.get(url).get_data(as_text=True)
    assert (f'id="swap-{passage.id}"' in alone, "Échanger</button>" in alone) == (False, False)
    assert re.findall(r'id="swap-(\d+)"', both) == [str(passage.id), str(other.id)]


def test_save_answer_gives_the_live_version_only_when_the_save_changed_just_fields(
        client, login_as, create_passage, db):
    """``live_version``: the passage's version after a save that changed only its fields and
    the revision, as the state then reads it (the page skips its own save's push); null
    for a private grid (no version bump) and when the save cleared a validation."""
    passage = create_passage()
    complete_grid(passage)
    first, _ = _jurors(passage)
    login_as(first)
    token = _page_token(client, passage)

    def version():
        return client.get(f"/jury/passages/{passage.id}/etat").get_json()["version"]

    before = version()
    lone = _save(client, passage, token, "appreciation", "Bien", 0, "op-1").get_json()
    after_lone = version()
    perso = _save(client, passage, token, "mark", "12", 0, "op-2", grid="perso").get_json()
    after_perso = version()
    batch = _post_json(client, f"/jury/passages/{passage.id}/grilles/commune/champs", {"ops": [
        {"op": "op-3", "field": "appreciation", "value": "Très bien", "base": 1},
        {"op": "op-4", "field": "mark", "value": "13", "base": 0}]}, token).get_json()
    after_batch = version()
    validated = _post_json(client, f"/jury/passages/{passage.id}/valider", {"revision": 2}, token)
    cleared = _save(client, passage, token, "appreciation", "Bien.", 2, "op-5").get_json()
    state = client.get(f"/jury/passages/{passage.id}/etat").get_json()
    assert ([r["status"] for r in lone["results"] + perso["results"] + batch["results"]
             + cleared["results"]], validated.status_code, state["validations"]) == (
        ["ok"] * 5, 200, [])
    assert (lone["live_version"], perso["live_version"], after_perso, batch["live_version"],
            cleared["live_version"]) == (before + 1, None, after_lone, after_batch, None)
    assert after_lone == before + 1 and after_batch == after_lone + 1
