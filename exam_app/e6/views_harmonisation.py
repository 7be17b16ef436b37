"""E6 harmonisation pages of the académie: per-correcteur statistics, then each
validated lot adjusted, made final or sent back to its correcteur."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from exam_app.accounts.models import Role
from exam_app.e6 import common, harmonisation_fast, plot
from exam_app.e6 import harmonisation as harmonisation_service
from exam_app.e6 import lots as lots_service
from exam_app.e6.blueprint import bp, commit, flash_error
from exam_app.e6.common import E6Error
from exam_app.e6.forms import AdjustForm, ConfirmForm, ReasonForm
from exam_app.e6.models import E6Lot
from exam_app.enrolment.models import ExamSession
from exam_app.extensions import db
from exam_app.permissions import lot_for_manager_or_403, roles_required, session_or_404


@bp.route("/gestion/sessions/<code>/e6/harmonisation")
@roles_required(Role.GESTIONNAIRE)
def harmonisation(code: str):
    """Per correcteur: count, mean, standard deviation, distribution against all copies."""
    session = session_or_404(code)
    lots = lots_service.session_lots(session.id)
    # The validated lots' figures from SQL aggregates and their copies, never the
    # session's: the page's cost follows the lots it shows.
    rows, everyone = harmonisation_fast.harmonisation_stats(session.id, lots=lots)
    shown = [row.lot for row in rows]
    conflicts = lots_service.lot_conflicts(session.id)
    return render_template(
        "e6/harmonisation.html", session=session, rows=rows, everyone=everyone,
        conflicts=conflicts, conflict_numbers={c.number for c in conflicts},
        plot=plot.build_plot(rows, everyone, int(common.max_mark())) if rows else None,
        open_lots=[lot for lot in lots if lot.state == "open"],
        # Forms for the lots that can still be adjusted or reopened (the validated ones).
        adjust_forms={lot.id: AdjustForm(prefix=f"lot{lot.id}") for lot in shown
                      if lot.state == "validated"},
        reason_forms={lot.id: ReasonForm(prefix=f"reopen{lot.id}") for lot in shown
                      if lot.state == "validated"},
        confirm_form=ConfirmForm(),
        copies=harmonisation_fast.lot_copies_shown([lot.id for lot in shown]))


def _back_to_harmonisation(lot: E6Lot):
    session = db.session.get(ExamSession, lot.session_id)
    return redirect(url_for("e6.harmonisation", code=session.code) + f"#lot-{lot.id}")


@bp.route("/gestion/e6/lots/<int:lot_id>/ajuster", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def adjust_lot(lot_id: int):
    """Adjust a validated lot (coefficient and/or points), with its reason."""
    lot = lot_for_manager_or_403(lot_id)
    form = AdjustForm(prefix=f"lot{lot.id}")
    if not form.validate_on_submit():
        for errors in form.errors.values():
            flash(" ".join(errors), "error")
        return _back_to_harmonisation(lot)
    try:
        factor = common.parse_decimal(form.factor.data, what="Coefficient")
        offset = common.parse_decimal(form.offset.data, what="Points ajoutés")
        adjustment = harmonisation_service.adjust_lot(lot=lot, factor=factor, offset_points=offset,
                                                      reason=form.reason.data, actor=current_user)
    except E6Error as exc:
        db.session.rollback()
        flash_error(exc)
    else:
        if commit():
            flash(f"Lot {lot.code} ajusté ({adjustment.description}) : "
                  f"{len(adjustment.changes)} note(s) recalculée(s).", "success")
    return _back_to_harmonisation(lot)


@bp.route("/gestion/e6/lots/<int:lot_id>/definitif", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def finalize_lot(lot_id: int):
    """Make a validated lot's marks final."""
    lot = lot_for_manager_or_403(lot_id)
    if not ConfirmForm().validate_on_submit():
        flash("Cochez la case pour confirmer.", "error")
        return _back_to_harmonisation(lot)
    try:
        harmonisation_service.finalize_lot(lot=lot, actor=current_user)
    except E6Error as exc:
        db.session.rollback()
        flash_error(exc)
    else:
        if commit():
            flash(f"Lot {lot.code} définitif.", "success")
    return _back_to_harmonisation(lot)


@bp.route("/gestion/e6/lots/<int:lot_id>/rouvrir", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def reopen_lot(lot_id: int):
    """Send a validated lot back to its correcteur."""
    lot = lot_for_manager_or_403(lot_id)
    form = ReasonForm(prefix=f"reopen{lot.id}")
    if not form.validate_on_submit():
        flash("Indiquez le motif de la réouverture.", "error")
        return _back_to_harmonisation(lot)
    try:
        harmonisation_service.reopen_lot(lot=lot, reason=form.reason.data, actor=current_user)
    except E6Error as exc:
        db.session.rollback()
        flash_error(exc)
    else:
        if commit():
            flash(f"Lot {lot.code} rouvert : le correcteur peut de nouveau le modifier.", "success")
    return _back_to_harmonisation(lot)
