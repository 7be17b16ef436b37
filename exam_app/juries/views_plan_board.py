"""The planning board of a centre and a day (issue 15): the page, its JSON changes
(move, swap, pin: ``plan_board``) and placing a candidate found by name."""

from __future__ import annotations

from datetime import date

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from exam_app.accounts.models import Role
from exam_app.errors import Invalid, ServiceError
from exam_app.extensions import db
from exam_app.juries import plan_board, publication
from exam_app.juries.blueprint import bp, json_body, json_refusal
from exam_app.juries.forms import PlaceForm, PublishForm
from exam_app.permissions import centre_in_session_or_404, roles_required, session_or_404


def _where(session, centre_arg, day_arg):
    """(places, centre, day) asked for, by default the first centre and day."""
    places = plan_board.places(session)
    if not places:
        return places, None, None
    chosen = next((p for p in places if str(p[0].id) == (centre_arg or "")), None)
    try:
        day = date.fromisoformat(day_arg or "")
    except ValueError:
        day = None
    if chosen is None:  # by default, the first centre and day with passages
        busy = plan_board.busy_places(session)
        chosen, day = next(((p, d) for p in places for d in p[1] if (p[0].id, d) in busy),
                           (places[0], None))
    if day not in chosen[1]:
        day = chosen[1][0]
    return places, chosen[0], day


@bp.route("/gestion/sessions/<code>/planification/tableau")
@roles_required(Role.GESTIONNAIRE)
def plan_board_page(code: str):
    """The board of a centre and a day: columns, blocks, conflicts, search to place."""
    session = session_or_404(code)
    places, centre, day = _where(session, request.args.get("centre"), request.args.get("jour"))
    board = plan_board.board(session=session, centre=centre, day=day) if centre else None
    query = " ".join(request.args.get("q", "").split())[:80]
    found = plan_board.search_unplaced(session=session, centre=centre, query=query) \
        if centre and query else []
    return render_template(
        "juries/plan_board.html", session=session, places=places, centre=centre, day=day,
        board=board, query=query, found=found, place_form=PlaceForm(),
        publish_form=PublishForm(prefix="publish"), step=plan_board.STEP,
        pending=publication.to_inform(session.id) if board and board.published else [])


def _change(code: str, action):
    """Apply one JSON change, commit, answer the board as it now stands."""
    session = session_or_404(code)
    try:
        body = json_body()
        centre = centre_in_session_or_404(session, body.get("centre_id"))
        try:
            day = date.fromisoformat(str(body.get("day", "")))
        except ValueError as error:
            raise Invalid("Jour invalide.", field="day") from error
        message = action(session, body, day)
        db.session.commit()
    except ServiceError as error:
        return json_refusal(error)
    board = plan_board.board(session=session, centre=centre, day=day)
    return jsonify({"message": message, "board": board.as_json()})


@bp.route("/gestion/sessions/<code>/planification/tableau/deplacer", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def plan_board_move(code: str):
    """Move a passage (JSON: passage_id, version, commission_id, start minute)."""
    def action(session, body, day):
        passage = plan_board.move(session=session, passage_id=body.get("passage_id"),
                                  version=body.get("version"),
                                  commission_id=body.get("commission_id"), day=day,
                                  start=body.get("start"), actor=current_user)
        return (f"Passage de {passage.candidate.full_name} déplacé : {passage.commission.code}, "
                f"{plan_board.hm(body['start'])}.")
    return _change(code, action)


@bp.route("/gestion/sessions/<code>/planification/tableau/echanger", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def plan_board_swap(code: str):
    """Swap two passages (JSON: first_id, first_version, second_id, second_version)."""
    def action(session, body, day):
        plan_board.swap(session=session, first_id=body.get("first_id"),
                        first_version=body.get("first_version"),
                        second_id=body.get("second_id"),
                        second_version=body.get("second_version"), actor=current_user)
        return "Passages échangés."
    return _change(code, action)


@bp.route("/gestion/sessions/<code>/planification/tableau/epingler", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def plan_board_pin(code: str):
    """Pin or unpin a passage (JSON: passage_id, version, pinned)."""
    def action(session, body, day):
        passage = plan_board.set_pinned(session=session, passage_id=body.get("passage_id"),
                                        version=body.get("version"),
                                        pinned=bool(body.get("pinned")), actor=current_user)
        return (f"Passage de {passage.candidate.full_name} "
                f"{'épinglé' if passage.pinned else 'désépinglé'}.")
    return _change(code, action)


@bp.route("/gestion/sessions/<code>/planification/tableau/placer", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def plan_board_place(code: str):
    """Place a candidate found by name in a commission at a time (form)."""
    session = session_or_404(code)
    form = PlaceForm()
    centre_id = request.form.get("centre_id", type=int)
    centre = centre_in_session_or_404(session, centre_id) if centre_id is not None else None
    day = form.day.data
    back = url_for("juries.plan_board_page", code=session.code,
                   centre=centre.id if centre else None, jour=day.isoformat() if day else None)
    if not form.validate_on_submit() or centre is None:
        flash("Placement refusé : " + (" ".join(
            e for errors in form.errors.values() for e in errors) or "centre manquant."),
            "error")
        return redirect(back)
    hour = form.start.data
    try:
        passage = plan_board.place(
            session=session, candidate_id=form.candidate_id.data, unit_code=form.unit_code.data,
            variant_code=form.variant_code.data, commission_id=form.commission_id.data,
            day=day, start=hour.hour * 60 + hour.minute, actor=current_user)
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(back)
    flash(f"{passage.candidate.full_name} placé(e) : commission {passage.commission.code}, "
          f"{hour:%H:%M}.", "success")
    return redirect(back + f"#pb-p{passage.id}")
