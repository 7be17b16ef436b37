"""E6 pages of the correcteur: their lots of anonymous copies, the marking grid
and its autosave, the lot's validation.

These views read copies only through the correcteur's own lots and never load a
candidate: anonymity is structural, not a template convention.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from exam_app.accounts.models import Role
from exam_app.e6 import bareme as bareme_service
from exam_app.e6 import harmonisation as harmonisation_service
from exam_app.e6 import marking as marking_service
from exam_app.e6.blueprint import bp, commit, flash_error
from exam_app.e6.common import E6Error
from exam_app.e6.forms import ConfirmForm, CsrfOnlyForm
from exam_app.enrolment.models import ExamSession
from exam_app.errors import Conflict, ServiceError, json_error
from exam_app.extensions import db
from exam_app.formatting import decimal_fr, local_datetime
from exam_app.permissions import copy_for_corrector_or_404, lot_for_corrector_or_403, roles_required

MAX_SAVE_BYTES = 20_000
CONCURRENT_SAVE = ("Cette copie vient d'être enregistrée ailleurs (autre onglet ?) : rechargez la "
                   "page. Votre saisie n'a pas été enregistrée.")


@bp.route("/correction/")
@roles_required(Role.CORRECTEUR)
def correcteur_home():
    """The correcteur's home: the lots of anonymous copies assigned to them."""
    lots = marking_service.corrector_lots(current_user.id)
    progress = {}
    for lot in lots:
        question_ids = {q.id for q in bareme_service.questions(lot.session_id)}
        copies = marking_service.lot_copies(lot)
        progress[lot.id] = (
            sum(1 for c in copies if marking_service.copy_is_complete(c, question_ids)),
            len(copies))
    return render_template("e6/correcteur_home.html", lots=lots, progress=progress)


@bp.route("/correction/lots/<int:lot_id>")
@roles_required(Role.CORRECTEUR)
def lot(lot_id: int):
    """Mark the lot's anonymous copies: points per question, autosaved, totals computed."""
    lot = lot_for_corrector_or_403(lot_id)
    session = db.session.get(ExamSession, lot.session_id)
    questions = bareme_service.questions(lot.session_id)
    copies = marking_service.lot_copies(lot)
    points = {c.id: {p.question_id: p.points for p in c.points} for c in copies}
    question_ids = {q.id for q in questions}
    complete = sum(1 for c in copies if marking_service.copy_is_complete(c, question_ids))
    return render_template("e6/lot.html", lot=lot, session=session, questions=questions,
                           copies=copies, points=points, complete=complete,
                           form=CsrfOnlyForm(), confirm_form=ConfirmForm(),
                           reopening=harmonisation_service.last_reopening(lot),
                           adjusted={a.id: {m.copy_id: m for m in a.changes}
                                     for a in lot.adjustments})


def _save_request() -> dict:
    """The autosave's JSON body, refused (413, 400) when too large or not as expected."""
    if (request.content_length or 0) > MAX_SAVE_BYTES:
        raise ServiceError("Saisie trop volumineuse : rien n'a été enregistré.", status=413,
                           code="too_large")
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("points"), dict) \
            or not isinstance(data.get("version"), int) or isinstance(data.get("version"), bool) \
            or not isinstance(data.get("comment", ""), str):
        raise ServiceError("Saisie illisible : rechargez la page. Rien n'a été enregistré.",
                           status=400, code="bad_request")
    return data


@bp.route("/correction/lots/<int:lot_id>/copies/<anonymous_number>", methods=["POST"])
@roles_required(Role.CORRECTEUR)
def save_copy(lot_id: int, anonymous_number: str):
    """Autosave one copy's points and comment (JSON; CSRF token in X-CSRFToken).

    Refusals answer the one JSON error shape, with the status of their class: 409 for a
    locked lot or a stale copy, 422 for a wrong mark (with its ``field``)."""
    try:
        copy = copy_for_corrector_or_404(lot_id, anonymous_number)
        data = _save_request()
        marking_service.save_copy(copy=copy, points=data["points"], comment=data.get("comment"),
                                  version=data["version"], actor=current_user)
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        return json_error(exc)
    except (StaleDataError, sa.exc.IntegrityError):
        # Another save of the same copy won the race (two tabs, a replayed request).
        db.session.rollback()
        return json_error(Conflict(CONCURRENT_SAVE))
    return {"ok": True, "version": copy.version,
            "total": decimal_fr(copy.raw_total) if copy.raw_total is not None else None,
            "partial": decimal_fr(sum(p.points for p in copy.points)),
            "complete": copy.raw_total is not None,
            "saved_at": local_datetime(copy.updated_at) if copy.updated_at else None}


@bp.route("/correction/lots/<int:lot_id>/valider", methods=["POST"])
@roles_required(Role.CORRECTEUR)
def validate_lot(lot_id: int):
    """The correcteur validates the lot (every copy fully marked)."""
    lot = lot_for_corrector_or_403(lot_id)
    if not ConfirmForm().validate_on_submit():
        flash("Cochez la case pour confirmer la validation du lot.", "error")
        return redirect(url_for("e6.lot", lot_id=lot.id))
    try:
        marking_service.validate_lot(lot=lot, actor=current_user)
    except E6Error as exc:
        db.session.rollback()
        flash_error(exc)
    else:
        if commit():
            flash(f"Lot {lot.code} validé. Merci !", "success")
    return redirect(url_for("e6.lot", lot_id=lot.id))
