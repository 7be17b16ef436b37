"""Pages that give candidates a centre (issue 13, item 4): the establishment -> centre
table (edit, CSV import, apply) and the move of candidates selected on the list (a
confirmation step first). Here, above juries and e6, because both reach the passages
and the printed documents (``documents.moves``). Thin: the services check and audit."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy.exc import IntegrityError

from exam_app.accounts.models import Role
from exam_app.documents import moves
from exam_app.documents.views import bp
from exam_app.enrolment import centres as table_services
from exam_app.enrolment import services
from exam_app.enrolment.models import Candidate, Centre
from exam_app.enrolment.views import candidate_filters
from exam_app.errors import ServiceError
from exam_app.extensions import db
from exam_app.permissions import roles_required, session_or_404


class CsrfForm(FlaskForm):
    """A form whose fields the view reads itself (one select per row): CSRF only."""


class TableImportForm(FlaskForm):
    file = FileField("Fichier CSV (colonnes UAI ; Centre)", render_kw={"accept": ".csv,text/csv"})


def _int(value: str | None) -> int | None:
    value = value or ""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else None


@bp.route("/gestion/sessions/<code>/centres/table", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def centre_table(code: str):
    """The establishment -> centre table: one centre per establishment; save, import, apply."""
    session = session_or_404(code)
    form, upload = CsrfForm(), TableImportForm()
    report, status = None, 200
    if request.method == "POST":
        if not form.validate_on_submit():
            return _table_page(session, form, upload, None), 400
        action = request.form.get("action", "")
        try:
            if action == "save":
                choices = {}
                for key, value in request.form.items():
                    if key.startswith("etab-") and _int(key[5:]) is not None:
                        choices[_int(key[5:])] = _int(value) if value else None
                written, removed = table_services.save_centre_table(
                    session=session, actor=current_user, choices=choices)
                db.session.commit()
                flash(f"Table enregistrée : {written} établissement(s) modifié(s), "
                      f"{removed} retiré(s).", "success")
                return redirect(url_for("documents.centre_table", code=session.code))
            if action == "import":
                data = upload.file.data.stream.read(current_app.config["IMPORT_MAX_BYTES"] + 1) \
                    if upload.file.data else b""
                report = table_services.import_centre_table(
                    session=session, actor=current_user, data=data,
                    max_rows=current_app.config["IMPORT_MAX_ROWS"],
                    filename=getattr(upload.file.data, "filename", "") or "")
                if report.ok:
                    db.session.commit()
                    flash(f"Table importée : {report.written} établissement(s) modifié(s), "
                          f"{report.unchanged} inchangé(s).", "success")
                    return redirect(url_for("documents.centre_table", code=session.code))
                db.session.rollback()
                status = 422
            elif action == "apply":
                result = moves.apply_centre_table(session=session, actor=current_user,
                                                  reassign=request.form.get("reassign") == "1")
                db.session.commit()
                flash(f"Table appliquée : {result.assigned} candidat(s) affecté(s), "
                      f"{result.reassigned} réaffecté(s) ; {result.without_row} encore sans "
                      "centre (établissement absent de la table).", "success")
                return redirect(url_for("documents.centre_table", code=session.code))
            elif action != "import":
                status = 400
        except ServiceError as error:
            db.session.rollback()
            flash(error.message, "error")
            status = error.status
        except IntegrityError:
            db.session.rollback()
            flash("La table vient d'être modifiée par ailleurs : rechargez la page.", "error")
            status = 409
        session = session_or_404(code)
    return _table_page(session, form, upload, report), status


def _table_page(session, form, upload, report):
    return render_template("documents/centre_table.html", session=session, form=form,
                           upload=upload, report=report,
                           lines=table_services.centre_table(session), centres=session.centres,
                           without=table_services.candidates_without_centre(session))


def _selected(session) -> list[int]:
    """The candidates chosen on the list: each ticked row, or every candidate the list's
    filters match (``tous``)."""
    if request.form.get("tous") == "1":
        query = services.candidate_query(session, candidate_filters()).with_only_columns(
            Candidate.id)
        return list(db.session.scalars(query.limit(moves.MAX_MOVE + 1)))
    return [i for i in (_int(v) for v in request.form.getlist("candidat")) if i is not None]


@bp.route("/gestion/sessions/<code>/candidats/deplacer", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def move_candidates(code: str):
    """Move the chosen candidates to a centre: a confirmation page (how many candidates,
    which printed documents are superseded, or why not), then the move itself."""
    session = session_or_404(code)
    form = CsrfForm()
    back = url_for("enrolment.candidates", code=session.code, **request.args)
    if not form.validate_on_submit():
        flash("Le formulaire a expiré : recommencez.", "error")
        return redirect(back, 303)
    ids = _selected(session)
    centre = db.session.get(Centre, _int(request.form.get("vers")) or 0)
    if not ids or centre is None or centre.session_id != session.id:
        flash("Cochez au moins un candidat et choisissez le centre de destination.", "error")
        return redirect(back, 303)
    try:
        if request.form.get("confirmer") != "1":
            candidates = moves.session_candidates(session, ids=ids)
            plan = moves.plan_move(session=session, candidates=candidates, centre=centre)
            return render_template("documents/move_confirm.html", session=session, form=form,
                                   plan=plan, ids=[c.id for c in candidates],
                                   back=back), 200 if plan.ok else 422
        result = moves.move_candidates(session=session, actor=current_user, centre=centre,
                                       candidate_ids=ids,
                                       reason=(request.form.get("motif") or "")[:500])
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(back, 303)
    flash(f"{result.moved} candidat(s) déplacé(s) vers {centre.name} ; "
          f"{result.passages_withdrawn} passage(s) retiré(s) à replanifier ; "
          f"{result.documents_superseded} document(s) imprimé(s) remplacé(s).", "success")
    return redirect(back, 303)


__all__ = ["centre_table", "move_candidates"]
