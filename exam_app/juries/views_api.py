"""The passage screen's JSON endpoints: server time, state (polled by both
jurors), timer, autosave, reveal and validation. Refusals answer in the app's
one JSON error shape; the CSRF token travels in X-CSRFToken."""

from __future__ import annotations

import dataclasses
import functools

import sqlalchemy as sa
from flask import abort, current_app, jsonify, url_for
from flask_login import current_user
from sqlalchemy import orm
from sqlalchemy.exc import IntegrityError

from exam_app.accounts.models import Role, User
from exam_app.accounts.session_login import session_login
from exam_app.clock import utcnow
from exam_app.dossiers import validity
from exam_app.enrolment.models import Candidate
from exam_app.extensions import db
from exam_app.juries import autosave as autosaving
from exam_app.juries import (
    autosave_lone,
    autosave_mark,
    grids,
    lean_read,
    lifecycle,
    push,
    state_lean,
    validation,
    validation_lean,
)
from exam_app.juries.blueprint import bp, json_body, json_refusal, ms
from exam_app.juries.errors import JuryError, JuryInvalid, JuryTooLarge
from exam_app.juries.models import AGREED, Commission, CommissionMember, Passage
from exam_app.juries.push_views import no_store, wait_for
from exam_app.permissions import (
    juror_login_passage_row,
    juror_passage_id_or_403,
    juror_passage_row_or_403,
    passage_for_juror_or_403,
    passage_version_for_juror_or_403,
    roles_required,
)

GRID_KEYS = ("commune", "perso")


@bp.route("/jury/heure")
@roles_required(Role.EXAMINATEUR)
def server_time():
    """The server clock (ms since the epoch), for the browser's offset correction."""
    return jsonify({"server_time": ms(utcnow())})


def _state(passage: Passage, *, nv: bool | None = None, me: int | None = None) -> dict:
    """Everything the passage screen shows, as the current juror may see it.

    ``nv``: the dossier's validity when the caller has read it (the state poll, with
    the passage); else read here, for this one candidate. The server time is read
    last, after every query: it anchors the browser's clock (the nearer the answer
    leaves, the less a slow query skews it) and the timer's elapsed times, computed
    at that same instant. ``me``: the juror's id (default: the logged-in user's).
    """
    me = current_user.id if me is None else me
    planned = lifecycle.planned_segments(passage)
    if nv is None:
        nv = lifecycle.is_nv(passage)
    names = {m.user_id: m.user.display_name for m in passage.commission.members}
    grid_view = grids.grids_view(passage, me)
    validations = [{"user_id": v.user_id, "name": names.get(v.user_id, "?"),
                    "revision": v.revision}
                   for v in sorted(passage.validations, key=lambda v: v.id or 0)]
    passage_view = {
        "id": passage.id, "status": lifecycle.status(passage, nv=nv), "nv": nv,
        "blocked": lifecycle.interview_blocked(passage, nv=nv),
        "absent": passage.is_absent, "final": passage.is_final,
        "final_mark": lifecycle.mark_text(passage.final_mark),
        "revision": passage.agreed_revision,
    }
    preparations = [{**item, "url": url_for("juries.passage_page", passage_id=item["id"]),
                     "due_at": ms(item["due_at"]), "ended_at": ms(item["ended_at"])}
                    for item in lifecycle.other_preparations(passage)]
    passage.segments, passage.pauses  # noqa: B018 - loaded before the clock is read
    now = utcnow()
    state = lifecycle.timer_state(passage, now)
    return {
        "server_time": ms(now),
        "version": passage.live_version,  # the browser drops an answer older than its state
        "passage": passage_view,
        "timer": {
            "status": state.status, "current": state.current, "pause_reason": state.pause_reason,
            "awaiting": state.awaiting,
            "segments": [{
                "index": p.index, "phase": p.phase_label, "step": p.step_label,
                "jury_present": p.jury_present, "fixed": p.fixed,
                "allowed": s.allowed_seconds, "elapsed": round(s.elapsed_seconds, 3),
                "started_at": ms(s.started_at), "ended_at": ms(s.ended_at),
                "due_at": ms(s.due_at),
            } for p, s in zip(planned, state.segments, strict=True)],
        },
        "preparations": preparations,
        "grids": grid_view,
        "validations": validations,
        "members": [{"id": uid, "name": name} for uid, name in names.items()],
        "me": me,
    }


@functools.cache
def _state_statement():
    """The passage with what ``_state`` reads, and its dossier's settling columns
    (``validity.settling_columns``), in ONE query (the caller adds the scope check):
    the commission and its session, the members' users (without their roles, which
    it does not read), the timer's segments and pauses and the validations, joined
    (a few rows: two members, at most a handful of segments, two validations).
    Nothing in it grows with the session. Built once: the state is read on every
    change of a passage, by both jurors. The places the models join by default (the
    commission's, its members', the candidate's centre and establishment) are not read
    by the state: left out, and of the members' users only the names (the rows repeat
    per member, segment, pause and validation: every column left out counts)."""
    commission = orm.joinedload(Passage.commission)
    members = commission.joinedload(Commission.members)
    return (
        sa.select(Passage, *validity.settling_columns(Passage.candidate_id, Passage.unit_code))
        .options(commission.joinedload(Commission.session),
                 commission.lazyload(Commission.centre),
                 commission.lazyload(Commission.establishment),
                 members.lazyload(CommissionMember.establishment),
                 members.joinedload(CommissionMember.user).lazyload(User.roles),
                 members.joinedload(CommissionMember.user)
                 .load_only(User.first_name, User.last_name),
                 orm.joinedload(Passage.candidate).lazyload(Candidate.establishment),
                 orm.joinedload(Passage.candidate).lazyload(Candidate.centre),
                 orm.joinedload(Passage.segments), orm.joinedload(Passage.pauses),
                 orm.joinedload(Passage.validations))
        .execution_options(populate_existing=True))


@bp.route("/jury/passages/<int:passage_id>/etat")
def passage_state(passage_id: int):
    """JSON state of the passage, with the server time (polled by both jurors).

    Read on every change of the passage by both jurors: the login is checked in the
    state's own query (the session cookie's user and token, the examinateur role, the
    seat; ``accounts.session_login``), without loading the user; when that finds no
    row, the ordinary way (Flask-Login's loader, ``roles_required``, the scope check)
    gives the usual answer. The lean path (``state_lean``, unless
    ``JURY_STATE_PATH=reference``) reads it in one Core statement; when it declines
    (a rare case, see there), this reference way answers."""
    login = session_login()
    if login is not None:
        user_id, token = login
        autocommit = _reads_in_autocommit()
        if state_lean.enabled(current_app.config):
            answer = state_lean.state_for_juror(
                passage_id, user_id, token,
                seconds_per_minute=current_app.config.get("JURY_SECONDS_PER_MINUTE", 60))
            if answer is not None:
                response = jsonify(answer)
                response.headers["Cache-Control"] = "no-store"
                return response
        row = juror_login_passage_row(passage_id, _state_statement(), user_id, token,
                                      Role.EXAMINATEUR)
        if row is not None and not (autocommit and lifecycle.fixed_due(row[0], utcnow())):
            return _state_answer(row, user_id)
        if autocommit:  # a write to make (a preparation's time is up), or a refusal
            db.session.rollback()  # the connection goes back; the next is transactional
            if row is not None:
                return _state_answer(juror_login_passage_row(
                    passage_id, _state_statement(), user_id, token, Role.EXAMINATEUR), user_id)
    return _passage_state_checked(passage_id)


def _reads_in_autocommit() -> bool:
    """PostgreSQL: the request's first connection in autocommit, for a request that
    only reads (the state). Under READ COMMITTED each statement of a transaction reads
    its own snapshot anyway, so the reads see what they would; without the
    transaction, no BEGIN and no ROLLBACK: two round trips of five. A request that
    turns out to write rolls back (the connection goes back to the pool and leaves
    autocommit) and reads again in a transaction. SQLite: no change (False)."""
    if db.session.get_bind().dialect.name != "postgresql":
        return False
    db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return True


@roles_required(Role.EXAMINATEUR)
def _passage_state_checked(passage_id: int):
    """The state through Flask-Login's loaded user: every refusal of the route."""
    return _state_answer(juror_passage_row_or_403(passage_id, _state_statement()),
                         current_user.id)


def _state_answer(row, user_id: int):
    passage, *settled = row
    if lifecycle.close_due_fixed(passage=passage):  # the preparation's time is up: write it
        db.session.commit()
    response = jsonify(_state(passage, nv=lifecycle.is_nv(passage, settled=tuple(settled)),
                              me=user_id))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/jury/passages/<int:passage_id>/attendre")
def passage_wait(passage_id: int):
    """Long poll: answers when the passage changes (any state change, a save of the agreed
    grid) or after ``PUSH_WAIT_SECONDS``; the page then fetches the state (``juries/push.py``)
    unless it holds that version already (its own save's, given by the save's answer).

    Each save of the agreed grid answers both jurors' polls, so this is as hot as the
    autosave: the login is checked in the version's own query (the session cookie's user
    and token, the examinateur role, the seat), without loading the user; when that finds
    nothing, the ordinary way (Flask-Login's loader, ``roles_required``, the scope check)
    gives the usual answer. That one read runs outside the ORM session, in one round
    trip (``juries/lean_read.py``)."""
    login = session_login()
    if login is not None:
        version = lean_read.passage_version_for_login(passage_id, *login)
        if version is not None:
            return no_store(jsonify(wait_for(push.PassageKey(passage_id), str(version))))
    return _passage_wait_checked(passage_id)


@roles_required(Role.EXAMINATEUR)
def _passage_wait_checked(passage_id: int):
    """The long poll through Flask-Login's loaded user: every refusal of the route."""
    version = passage_version_for_juror_or_403(passage_id)
    return no_store(jsonify(wait_for(push.PassageKey(passage_id), str(version))))


@bp.route("/jury/passages/<int:passage_id>/minuteur", methods=["POST"])
@roles_required(Role.EXAMINATEUR)
def timer_action(passage_id: int):
    """Start, advance, pause or resume the timer (JSON; CSRF in X-CSRFToken)."""
    passage = passage_for_juror_or_403(passage_id)
    try:
        body = json_body()
        action = body.get("action")
        done = True
        if action == "start":
            done = lifecycle.start_passage(passage=passage, actor=current_user)
        elif action == "next":
            index = body.get("from")
            if not isinstance(index, int) or isinstance(index, bool):
                raise JuryInvalid("Étape courante manquante.", field="from")
            done = lifecycle.advance(passage=passage, from_index=index, actor=current_user)
        elif action == "pause":
            lifecycle.pause(passage=passage, reason=str(body.get("reason") or ""),
                            actor=current_user)
        elif action == "resume":
            lifecycle.resume(passage=passage, actor=current_user)
        else:
            raise JuryInvalid("Action du minuteur inconnue.", field="action")
    except JuryError as error:
        return json_refusal(error)
    db.session.commit()
    answer = {**_state(passage), "ok": True, "already": not done}
    if not done:  # a double press, or the other juror pressed first: nothing more to do
        answer["message"] = (ALREADY_STARTED if action == "start" else ALREADY_ADVANCED)
    return jsonify(answer)


ALREADY_STARTED = "Le passage était déjà démarré : rien n'a changé."
ALREADY_ADVANCED = "Cette étape était déjà terminée (par vous ou l'autre juré) : rien n'a changé."


@bp.route("/jury/passages/<int:passage_id>/grilles/<grid>/champs", methods=["POST"])
def autosave(passage_id: int, grid: str):
    """Autosave grid fields: per-field compare-and-set, idempotent operation ids.

    The hot path checks the login in the save's own query: the session cookie's
    user id and token (``accounts.session_login``, after Flask-Login's session
    protection), the examinateur role and the juror's seat on the passage's
    commission, at once, without loading the user. When the session carries no
    login or that query finds no row, the request goes the ordinary way
    (Flask-Login's loader, ``roles_required``, the scope check) for the usual answer.
    The usual save (one new op, not the mark) is tried first on the lone-field path
    (``juries/autosave_lone.py``), a change of the agreed mark (one new op) on the mark's
    lean save (``juries/autosave_mark.py``); each keeps nothing and answers None otherwise.
    """
    login = session_login() if grid in GRID_KEYS else None
    if login is not None:
        user_id, token = login
        key = AGREED if grid == "commune" else grids.grid_key_for(user_id)
        answer = _lone_save(passage_id, user_id, token, key)
        if answer is not None:
            return answer
        context = autosaving.save_context_for_login(passage_id=passage_id, user_id=user_id,
                                                    token=token, grid_key=key)
        if context is not None:
            return _autosave(context, context.actor)
    return _autosave_checked(passage_id, grid)


def _lone_save(passage_id: int, user_id: int, token: str, key: str):
    """The usual save (one new op on a field other than the mark) by the lone-field
    path (``juries/autosave_lone.py``), or one new op on the agreed mark by the mark's
    lean save (``juries/autosave_mark.py``); None when it is not taken (nothing kept)."""
    if not autosave_lone.enabled(current_app.config):
        return None
    try:
        body = json_body()
    except JuryError:
        return None  # the ordinary path refuses it
    if current_app.config.get("JURY_MAX_OPS", 100) < 1:
        return None
    op = autosave_lone.lone_op(body)
    if op is not None:
        saved = autosave_lone.save(passage_id=passage_id, user_id=user_id, token=token,
                                   grid_key=key, op=op)
    elif key == AGREED and autosave_mark.enabled(current_app.config) \
            and (op := autosave_mark.mark_op(body)) is not None:
        try:
            saved = autosave_mark.save(passage_id=passage_id, user_id=user_id, token=token,
                                       op=op)
        except autosave_mark.Refused as refused:
            return json_refusal(refused.error)
    else:
        return None
    if saved is None:
        return None
    result, revision, live_version = saved
    return jsonify({"results": [result], "revision": revision, "live_version": live_version,
                    "server_time": ms(utcnow())})


@roles_required(Role.EXAMINATEUR)
def _autosave_checked(passage_id: int, grid: str):
    """The autosave through Flask-Login's loaded user: every refusal of the route."""
    if grid not in GRID_KEYS:
        abort(404)
    key = AGREED if grid == "commune" else grids.grid_key_for(current_user.id)
    context = autosaving.save_context(passage_id=passage_id, user_id=current_user.id,
                                      grid_key=key)
    if context is None:
        passage_for_juror_or_403(passage_id)  # 404 when unknown, 403 when out of scope
        abort(403)
    return _autosave(context, current_user)


def _autosave(context: autosaving.SaveContext, actor):
    """Parse the ops, save them and commit; the JSON answer (or the refusal)."""
    try:
        body = json_body()
        ops = body.get("ops")
        if not isinstance(ops, list) or not ops or not all(isinstance(o, dict) for o in ops):
            raise JuryInvalid("Requête invalide : liste de modifications attendue.", field="ops")
        if len(ops) > current_app.config.get("JURY_MAX_OPS", 100):
            raise JuryTooLarge("Trop de modifications à la fois.", field="ops")
        results, revision, live_version = _save_and_commit(context, ops, actor)
    except JuryError as error:
        return json_refusal(error)
    # ``live_version``: the passage's version after this save when the save changed nothing
    # of the passage's state but its fields and the revision (else null): the page holds
    # that state already and its own save's push wakes it for nothing to read.
    return jsonify({"results": results, "revision": revision, "live_version": live_version,
                    "server_time": ms(utcnow())})


def _save_and_commit(context: autosaving.SaveContext, ops: list[dict],
                     actor) -> tuple[list[dict], int, int | None]:
    """Save and commit; the results, the agreed revision and the live version (see
    ``SaveContext.live_version``) after the save.

    First as new operations (one query less); a replayed id fails on the unique
    op_id, and the second attempt answers it from the store.
    """
    try:
        return _save_once(context, ops, actor, check_replays=False)
    except IntegrityError:
        db.session.rollback()
    return _save_once(context, ops, actor, check_replays=True)


def _save_once(context: autosaving.SaveContext, ops: list[dict], actor, *,
               check_replays: bool) -> tuple[list[dict], int, int | None]:
    """One attempt, on a copy of the context (a failed attempt leaves it untouched)."""
    attempt = dataclasses.replace(context)
    results = autosaving.save_fields(context=attempt, ops=ops, actor=actor,
                                     check_replays=check_replays)
    db.session.commit()
    return results, attempt.revision, attempt.live_version


@bp.route("/jury/passages/<int:passage_id>/reveler", methods=["POST"])
@roles_required(Role.EXAMINATEUR)
def reveal(passage_id: int):
    """Reveal one's independent grid to the other juror."""
    passage = passage_for_juror_or_403(passage_id)
    try:
        grids.reveal(passage=passage, actor=current_user)
    except JuryError as error:
        return json_refusal(error)
    db.session.commit()
    return jsonify(_state(passage))


@bp.route("/jury/passages/<int:passage_id>/valider", methods=["POST"])
def validate(passage_id: int):
    """Validate the agreed grid and mark at the revision the juror saw.

    Both jurors validate every passage, racing each other's edits (a refused
    validation is followed by a state read): the login is checked in the scope
    check's own query (the session cookie's user and token, the examinateur role,
    the seat), which also reads the juror's name for the audit, without loading
    the user; when it finds no row, the ordinary way (Flask-Login's loader,
    ``roles_required``, the scope check) gives the usual answer. The answer is what
    the validation changed (``validation.answer``), not the whole state: the lean path
    (``validation_lean``) builds it from what its lock read; when it declines, the
    service loads the passage once, under its lock, and the answer is built after the
    commit from it."""
    login = session_login()
    if login is not None:
        user_id, token = login
        lean = current_app.config.get("JURY_VALIDATION_PATH", "fast") == "fast"
        if lean:  # the lean path's first read is the scope check
            row = validation_lean.read_for_juror(passage_id, user_id, token)
        else:
            row = juror_login_passage_row(passage_id, _validation_login_statement(), user_id,
                                          token, Role.EXAMINATEUR)
        if row is not None:
            actor = autosaving.Actor(id=user_id, display_name=f"{row.first_name} "
                                                              f"{row.last_name}".strip())
            return _validate(passage_id, actor, early=row if lean else None)
    return _validate_checked(passage_id)


@functools.cache
def _validation_login_statement():
    """The validation's scope-and-login query: the passage and the juror's name for the
    audit (the login's user, bind parameter ``user_id``), built once."""
    return sa.select(Passage.id, User.first_name, User.last_name).join(
        User, User.id == sa.bindparam("user_id", type_=sa.Integer))


@roles_required(Role.EXAMINATEUR)
def _validate_checked(passage_id: int):
    """The validation through Flask-Login's loaded user: every refusal of the route."""
    return _validate(juror_passage_id_or_403(passage_id), current_user)


def _validate(passage_id: int, actor, early=None):
    """Validate for ``actor`` (a juror of the passage), commit; the answer, or the refusal.
    ``early``: the lean path's first read, done with the scope check."""
    try:
        body = json_body()
        revision = body.get("revision")
        if not isinstance(revision, int) or isinstance(revision, bool):
            raise JuryInvalid("Révision de la grille manquante.", field="revision")
        if current_app.config.get("JURY_VALIDATION_PATH", "fast") == "fast":
            answer = validation_lean.validate(passage_id=passage_id, revision=revision,
                                              actor=actor, early=early)
            if answer is not None:
                db.session.commit()
                return jsonify(answer)
        validation.validate(passage=passage_id, revision=revision, actor=actor)
    except JuryError as error:
        return json_refusal(error)
    _commit_keeping_loaded()
    return jsonify(validation.answer(db.session.get(Passage, passage_id)))


def _commit_keeping_loaded() -> None:
    """Commit without expiring what the decision loaded: the answer then shows the
    rows as this request decided and committed them, without reading them again
    (what it had not loaded, e.g. the timer's segments, is read after the commit)."""
    session = db.session()
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire
