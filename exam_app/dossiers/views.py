"""Dossier pages: the candidate's deposit (resumable raw uploads + multipart fallback),
receipts, read-only dossiers for jurors, and the académie's deadlines, dashboard
and conformity queue."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from types import SimpleNamespace

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy.orm import contains_eager
from wtforms import SelectChoice

from exam_app.accounts.models import Role
from exam_app.clock import PARIS, to_local, utcnow
from exam_app.dossiers import receipts, services
from exam_app.dossiers.body import request_body
from exam_app.dossiers.forms import (
    ConfirmForm,
    DeadlineForm,
    DecisionForm,
    ExtensionForm,
    FileUploadForm,
    InternshipForm,
)
from exam_app.dossiers.models import Decision, Dossier, DossierFile, InternshipPeriod, Upload
from exam_app.dossiers.services import DepositError, Limits
from exam_app.dossiers.storage import ClientDisconnected, get_storage
from exam_app.dossiers.validity import nv_candidate_ids, unit_validity
from exam_app.enrolment.models import Candidate, Establishment, ExamSession
from exam_app.extensions import db
from exam_app.permissions import can_read_dossier, roles_required

bp = Blueprint("dossiers", __name__, cli_group="dossiers")


@bp.cli.command("purge-uploads")
def purge_uploads_command() -> None:
    """Forget uploads abandoned for two days (``flask --app exam_app dossiers purge-uploads``)."""
    import click

    count = services.purge_stale_uploads(storage=get_storage())
    db.session.commit()
    click.echo(f"{count} envoi(s) abandonné(s) supprimé(s).")


# ---- loading with scope ------------------------------------------------------

def _own_candidate(candidate_id: int) -> Candidate:
    """A candidate the current user *is*; others are 404 (not even detectable)."""
    if candidate_id not in current_user.candidate_ids():
        abort(404)
    candidate = db.session.get(Candidate, candidate_id)
    if candidate is None:
        abort(404)
    return candidate


def _unit_or_404(unit_code: str):
    try:
        return services.dossier_unit(unit_code)
    except KeyError:
        abort(404)


def _readable(candidate_id: int, unit_code: str):
    """(candidate, dossier or None) that the current user may read; 404 / 403 otherwise."""
    _unit_or_404(unit_code)
    privileged = current_user.has_role(Role.GESTIONNAIRE, Role.EXAMINATEUR)
    if not privileged and candidate_id not in current_user.candidate_ids():
        abort(404)
    candidate = db.session.get(Candidate, candidate_id)
    if candidate is None:
        abort(404)
    dossier = services.find_dossier(candidate_id=candidate.id, unit_code=unit_code)
    subject = dossier or SimpleNamespace(candidate=candidate, unit_code=unit_code)
    if not can_read_dossier(current_user, subject):
        abort(403)
    return candidate, dossier


def _own_upload(token: str) -> Upload:
    # The dossier comes with it (its candidate is a joined load): the chunk path needs both.
    upload = db.session.scalar(
        sa.select(Upload).join(Upload.dossier).options(contains_eager(Upload.dossier)).where(
            Upload.token == token[:64],
            Dossier.candidate_id.in_(current_user.candidate_ids())))
    if upload is None:
        abort(404)
    return upload


def _session_or_404(code: str) -> ExamSession:
    session = db.session.scalar(sa.select(ExamSession).where(ExamSession.code == code))
    if session is None:
        abort(404)
    return session


def _limits() -> Limits:
    return Limits.from_config(current_app.config)


def _error_json(error: DepositError):
    return jsonify({"error": error.code, "message": error.message}), error.status


# ---- candidate: the panel on their home -------------------------------------

@bp.app_context_processor
def _inject_panel():
    def dossier_panel(candidate: Candidate) -> dict:
        now = utcnow()
        views = [services.dossier_view(candidate=candidate, unit_code=u.code, now=now)
                 for u in services.units_with_dossier()]
        periods = services.internships(candidate.id)
        upload_forms = {}
        for view in views:
            form = FileUploadForm(prefix=f"u{view.unit.code}")
            form.piece.choices = [SelectChoice(p.piece.code, p.piece.label) for p in view.pieces]
            upload_forms[view.unit.code] = form
        return {
            "views": views,
            "periods": periods,
            "days": services.internship_days(periods),
            "min_days": candidate.session.internship_min_days,
            "internship_form": InternshipForm(prefix="stage"),
            "confirm_form": ConfirmForm(),
            "upload_forms": upload_forms,
            "validity": {v.unit.code: unit_validity(candidate_id=candidate.id,
                                                    unit_code=v.unit.code, now=now)
                         for v in views},
            "reasons": {r.code: r.label for r in services.reasons_for(candidate.session_id)},
            "time_left": services.time_left_label,
            "megabytes": services.megabytes,
            "limits": _limits(),
        }

    return {"dossier_panel": dossier_panel, "units_with_dossier": services.units_with_dossier()}


# ---- candidate: resumable raw upload (tus-like) -------------------------------

@bp.route("/candidat/<int:candidate_id>/dossiers/<unit_code>/envois", methods=["POST"])
@roles_required(Role.CANDIDAT)
def create_upload(candidate_id: int, unit_code: str):
    """Announce a file (JSON: piece, name, size[, replaces]); answer its upload URL."""
    candidate = _own_candidate(candidate_id)
    _unit_or_404(unit_code)
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return jsonify({"error": "bad_request",
                        "message": "Requête invalide : JSON attendu (pièce, nom, taille)."}), 400
    replaces = data.get("replaces")
    try:
        upload = services.create_upload(
            candidate=candidate, unit_code=unit_code, piece_code=str(data.get("piece", "")),
            filename=str(data.get("name", ""))[:1000], size=data.get("size"), actor=current_user,
            limits=_limits(),
            replaces_file_id=replaces if isinstance(replaces, int) else None)
    except DepositError as error:
        db.session.rollback()
        return _error_json(error)
    token, size = upload.token, upload.size  # read before the commit expires them
    db.session.commit()
    url = url_for("dossiers.upload_status", upload_token=token)
    response = jsonify({"token": token, "url": url, "offset": 0, "size": size})
    response.status_code = 201
    response.headers["Location"] = url
    response.headers["Upload-Offset"] = "0"
    return response


@bp.route("/candidat/envois/<upload_token>", methods=["GET"])
@roles_required(Role.CANDIDAT)
def upload_status(upload_token: str):
    """How many bytes the server holds (GET or HEAD), to resume after a lost connection."""
    upload = _own_upload(upload_token)
    offset = get_storage().temp_size(upload.token)
    response = jsonify({"offset": offset, "size": upload.size})
    response.headers["Upload-Offset"] = str(offset)
    response.headers["Upload-Length"] = str(upload.size)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/candidat/envois/<upload_token>", methods=["PATCH", "PUT"])
@roles_required(Role.CANDIDAT)
def upload_chunk(upload_token: str):
    """Append the raw request body at ``Upload-Offset``; the last chunk deposits the file."""
    upload = _own_upload(upload_token)
    length = request.content_length
    if length is None:
        return jsonify({"error": "length_required",
                        "message": "En-tête Content-Length manquant."}), 411
    try:
        offset = int(request.headers.get("Upload-Offset", "0" if request.method == "PUT" else ""))
    except ValueError:
        return jsonify({"error": "bad_offset", "message": "En-tête Upload-Offset invalide."}), 400
    if offset + length > upload.size:
        # Refused before reading a byte of the body.
        return jsonify({"error": "too_large",
                        "message": "Ce morceau dépasse la taille annoncée du fichier."}), 413
    storage = get_storage()
    try:
        result = services.receive_chunk(upload=upload, stream=request_body(request), offset=offset,
                                        length=length, storage=storage, actor=current_user,
                                        limits=_limits())
    except DepositError as error:
        db.session.rollback()
        if error.code not in {"offset", "too_large"} or error.status != 409:
            # The upload row may have been deleted by a refusal; commit that state.
            _forget_refused_upload(upload_token, error, storage)
        response, status = _error_json(error)
        response.headers["Upload-Offset"] = str(storage.temp_size(upload_token))
        return response, status
    except ClientDisconnected:
        db.session.rollback()
        return jsonify({"error": "disconnected", "message": "Connexion interrompue."}), 400
    # The answer is read before the commit, which would expire (and reload) the rows.
    body = {"offset": result.offset, "size": upload.size, "complete": result.file is not None}
    if result.file is not None:
        body["file"] = _file_json(result.file)
    db.session.commit()
    response = jsonify(body)
    response.headers["Upload-Offset"] = str(result.offset)
    response.call_on_close(storage.sweep)
    return response


def _forget_refused_upload(token: str, error: DepositError, storage) -> None:
    # A refusal at finalisation discards the temp file; drop the row too so the
    # client cannot resume into a refused file.
    if error.code in {"offset"}:
        return
    upload = db.session.scalar(sa.select(Upload).where(Upload.token == token))
    if upload is not None and error.code in {"late", "not_pdf", "too_many_pages", "duplicate",
                                             "piece_full", "gone", "too_large", "empty",
                                             "dossier_too_large"}:
        storage.discard(token)
        db.session.delete(upload)
        db.session.commit()


@bp.route("/candidat/envois/<upload_token>", methods=["DELETE"])
@roles_required(Role.CANDIDAT)
def cancel_upload(upload_token: str):
    """Abandon an upload in progress."""
    upload = _own_upload(upload_token)
    services.cancel_upload(upload=upload, storage=get_storage())
    db.session.commit()
    return "", 204


def _disposition(kind: str, name: str) -> str:
    from urllib.parse import quote

    ascii_name = name.encode("ascii", "replace").decode().replace('"', "").replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


def _file_json(file: DossierFile) -> dict:
    return {"id": file.id, "piece": file.piece_code, "name": file.original_name,
            "size": file.size, "pages": file.pages, "sha256": file.sha256,
            "flagged": file.is_flagged}


# ---- candidate: multipart fallback, removal, internships ----------------------

@bp.route("/candidat/<int:candidate_id>/dossiers/<unit_code>/fichiers", methods=["POST"])
@roles_required(Role.CANDIDAT)
def upload_form(candidate_id: int, unit_code: str):
    """Deposit one file with a plain form (when JavaScript is off)."""
    candidate = _own_candidate(candidate_id)
    unit = _unit_or_404(unit_code)
    form = FileUploadForm(prefix=f"u{unit.code}")
    form.piece.choices = [SelectChoice(p.code, p.label) for p in unit.pieces]
    home = url_for("enrolment.candidate_home") + f"#dossier-{unit.code}"
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for message in errors:
                flash(message, "error")
        return redirect(home)
    stream = form.file.data.stream
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    replaces = int(form.replaces.data) if (form.replaces.data or "").isdigit() else None
    storage = get_storage()
    try:
        upload = services.create_upload(
            candidate=candidate, unit_code=unit.code, piece_code=form.piece.data,
            filename=form.file.data.filename or "", size=size, actor=current_user,
            limits=_limits(), replaces_file_id=replaces)
        token = upload.token
        result = services.receive_chunk(upload=upload, stream=stream, offset=0, length=size,
                                        storage=storage, actor=current_user, limits=_limits())
    except DepositError as error:
        db.session.rollback()
        if "token" in locals():
            storage.discard(token)
        flash(error.message, "error")
        return redirect(home)
    db.session.commit()
    flash(f"« {result.file.original_name} » est déposé ({result.file.pages} page(s)).", "success")
    response = redirect(home)
    response.call_on_close(storage.sweep)
    return response


@bp.route("/candidat/fichiers/<int:file_id>/supprimer", methods=["POST"])
@roles_required(Role.CANDIDAT)
def remove_file(file_id: int):
    """Remove a deposited file (before the deadline), after confirmation."""
    file = db.session.scalar(sa.select(DossierFile).join(Dossier).where(
        DossierFile.id == file_id, Dossier.candidate_id.in_(current_user.candidate_ids())))
    if file is None:
        abort(404)
    home = url_for("enrolment.candidate_home") + f"#dossier-{file.dossier.unit_code}"
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash("Le formulaire a expiré : recommencez.", "error")
        return redirect(home)
    name = file.original_name
    try:
        services.remove_file(file=file, actor=current_user)
    except DepositError as error:
        db.session.rollback()
        if request.accept_mimetypes.best == "application/json":
            return _error_json(error)
        flash(error.message, "error")
        return redirect(home)
    db.session.commit()
    if request.accept_mimetypes.best == "application/json":
        return jsonify({"removed": file_id})
    flash(f"« {name} » est retiré du dossier.", "success")
    return redirect(home)


@bp.route("/candidat/<int:candidate_id>/stages", methods=["POST"])
@roles_required(Role.CANDIDAT)
def add_internship(candidate_id: int):
    """Declare an internship period."""
    candidate = _own_candidate(candidate_id)
    form = InternshipForm(prefix="stage")
    home = url_for("enrolment.candidate_home") + "#stages"
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for message in errors:
                flash(message if isinstance(message, str) else "Date invalide.", "error")
        return redirect(home)
    try:
        services.add_internship(candidate=candidate, organisation=form.organisation.data,
                                start_date=form.start_date.data, end_date=form.end_date.data,
                                actor=current_user)
    except DepositError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(home)
    db.session.commit()
    flash("Période de stage enregistrée.", "success")
    return redirect(home)


@bp.route("/candidat/stages/<int:period_id>/supprimer", methods=["POST"])
@roles_required(Role.CANDIDAT)
def remove_internship(period_id: int):
    """Remove a declared internship period."""
    period = db.session.scalar(sa.select(InternshipPeriod).where(
        InternshipPeriod.id == period_id,
        InternshipPeriod.candidate_id.in_(current_user.candidate_ids())))
    if period is None:
        abort(404)
    if ConfirmForm().validate_on_submit():
        services.remove_internship(period=period, candidate=db.session.get(Candidate,
                                   period.candidate_id), actor=current_user)
        db.session.commit()
        flash("Période de stage supprimée.", "success")
    return redirect(url_for("enrolment.candidate_home") + "#stages")


# ---- reading: receipt, files, read-only dossier -------------------------------

@bp.route("/dossiers/<int:candidate_id>/<unit_code>/accuse-de-depot.pdf")
@roles_required(Role.CANDIDAT, Role.GESTIONNAIRE, Role.EXAMINATEUR)
def receipt(candidate_id: int, unit_code: str):
    """The accusé de dépôt (PDF with hashes and a verification QR code)."""
    candidate, _ = _readable(candidate_id, unit_code)
    view = services.dossier_view(candidate=candidate, unit_code=unit_code)
    pdf = receipts.render_receipt(view)
    name = f"accuse-de-depot-{unit_code}-{candidate.number}.pdf"
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@bp.route("/dossiers/fichiers/<int:file_id>")
@roles_required(Role.CANDIDAT, Role.GESTIONNAIRE, Role.EXAMINATEUR)
def file(file_id: int):
    """A deposited file, inline (PDF viewer) or as a download (``?telecharger=1``)."""
    row = db.session.get(DossierFile, file_id)
    if row is None:
        abort(404)
    _readable(row.dossier.candidate_id, row.dossier.unit_code)
    storage = get_storage()
    key = row.storage_key

    def body():
        # Opened only when the body is sent, closed when done (or when the client leaves).
        with storage.open(key) as handle:
            while chunk := handle.read(1024 * 1024):
                yield chunk

    disposition = "attachment" if request.args.get("telecharger") else "inline"
    response = Response(body(), mimetype="application/pdf", direct_passthrough=True)
    response.content_length = row.size
    response.headers["Content-Disposition"] = _disposition(disposition, row.original_name)
    response.headers["Cache-Control"] = "private, no-store"
    response.set_etag(row.sha256)
    return response


@bp.route("/dossiers/<int:candidate_id>/<unit_code>")
@roles_required(Role.CANDIDAT, Role.GESTIONNAIRE, Role.EXAMINATEUR)
def view_dossier(candidate_id: int, unit_code: str):
    """A dossier, read-only, with an inline PDF viewer (jurors, académie, the candidate)."""
    candidate, _ = _readable(candidate_id, unit_code)
    view = services.dossier_view(candidate=candidate, unit_code=unit_code)
    shown = request.args.get("fichier", type=int)
    current = next((f for f in view.files if f.id == shown), view.files[0] if view.files else None)
    return render_template("dossiers/view.html", view=view, current=current,
                           validity=unit_validity(candidate_id=candidate.id, unit_code=unit_code),
                           reasons={r.code: r.label
                                    for r in services.reasons_for(candidate.session_id)})


@bp.route("/jury/commissions/<int:commission_id>/dossiers")
@roles_required(Role.EXAMINATEUR, Role.GESTIONNAIRE)
def commission_dossiers(commission_id: int):
    """The dossiers a commission's jurors may read, with each unit's validity."""
    from exam_app.juries.models import Commission

    commission = db.session.get(Commission, commission_id)
    if commission is None:
        abort(404)
    if not (current_user.has_role(Role.GESTIONNAIRE)
            or any(m.user_id == current_user.id for m in commission.members)):
        abort(403)
    unit = _unit_or_404(commission.unit_code)
    query = sa.select(Candidate).where(Candidate.session_id == commission.session_id)
    if commission.form == "ccf":
        query = query.where(Candidate.establishment_id == commission.establishment_id)
    else:
        query = query.where(Candidate.centre_id == commission.centre_id)
    query = query.where(Candidate.sits_in(unit.code, commission.form))
    candidates = db.session.scalars(query.order_by(Candidate.last_name,
                                                   Candidate.first_name)).all()
    nv = nv_candidate_ids(session_id=commission.session_id, unit_code=unit.code)
    rows = [(c, services.dossier_view(candidate=c, unit_code=unit.code), c.id in nv)
            for c in candidates]
    return render_template("dossiers/commission.html", commission=commission, unit=unit,
                           rows=rows)


# ---- académie: deadlines, extensions -------------------------------------------

def _paris_to_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=PARIS).astimezone(UTC)


@bp.route("/gestion/sessions/<code>/dossiers/echeances", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def deadlines(code: str):
    """Set the deposit deadline of each unit with a dossier."""
    session = _session_or_404(code)
    units = services.units_with_dossier()
    status = 200
    form = DeadlineForm()
    if request.method == "POST":
        if form.validate_on_submit() and form.unit.data in {u.code for u in units}:
            services.set_deadline(session=session, unit_code=form.unit.data,
                                  deadline_at=_paris_to_utc(form.deadline.data),
                                  actor=current_user)
            db.session.commit()
            flash(f"Date limite de l'épreuve {form.unit.data} enregistrée.", "success")
            return redirect(url_for("dossiers.deadlines", code=session.code))
        flash("Date invalide : utilisez le sélecteur de date et d'heure.", "error")
        status = 400
    rows = []
    for unit in units:
        deadline = services.session_deadline(session_id=session.id, unit_code=unit.code)
        unit_form = DeadlineForm(formdata=None, unit=unit.code,
                                 deadline=to_local(deadline).replace(tzinfo=None)
                                 if deadline else None)
        rows.append((unit, deadline, unit_form))
    return render_template("dossiers/deadlines.html", session=session, rows=rows), status


@bp.route("/gestion/dossiers/<int:candidate_id>/<unit_code>/derogation", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def extension(candidate_id: int, unit_code: str):
    """Grant (or withdraw) an individual extension of the deadline, with a reason."""
    candidate, dossier = _readable(candidate_id, unit_code)
    form = ExtensionForm()
    status = 200
    if form.validate_on_submit():
        until = _paris_to_utc(form.until.data) if form.until.data else None
        try:
            services.grant_extension(candidate=candidate, unit_code=unit_code, until=until,
                                     reason=form.reason.data, actor=current_user)
        except DepositError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            db.session.commit()
            flash("Dérogation enregistrée." if until else "Dérogation retirée.", "success")
            return redirect(url_for("dossiers.check", candidate_id=candidate.id,
                                    unit_code=unit_code))
    elif request.method == "POST":
        status = 400
    view = services.dossier_view(candidate=candidate, unit_code=unit_code)
    return render_template("dossiers/extension.html", view=view, form=form), status


# ---- académie: deposit dashboard and CSV ---------------------------------------

def _dashboard_rows(session: ExamSession, unit_code: str):
    views = services.session_views(session=session, unit_code=unit_code)
    by_establishment: dict[int, dict] = {}
    for view in views:
        est = view.candidate.establishment
        row = by_establishment.setdefault(est.id, {"establishment": est, "deposited": 0,
                                                   "incomplete": 0, "missing": 0})
        row[view.status] += 1
    rows = sorted(by_establishment.values(), key=lambda r: r["establishment"].name)
    return views, rows


@bp.route("/gestion/sessions/<code>/dossiers/")
@roles_required(Role.GESTIONNAIRE)
def dashboard(code: str):
    """Per unit and establishment: deposited / incomplete / missing, with the candidates."""
    session = _session_or_404(code)
    units = services.units_with_dossier()
    unit_code = request.args.get("unite") or units[0].code
    _unit_or_404(unit_code)
    views, rows = _dashboard_rows(session, unit_code)
    status = request.args.get("statut")
    establishment_id = request.args.get("etablissement", type=int)
    listed = [v for v in views
              if (status in services.STATUS_LABELS and v.status == status or status is None)
              and (establishment_id is None or v.candidate.establishment_id == establishment_id)]
    totals = {k: sum(r[k] for r in rows) for k in services.STATUS_LABELS}
    return render_template(
        "dossiers/dashboard.html", session=session, units=units, unit_code=unit_code, rows=rows,
        totals=totals, listed=listed if (status or establishment_id) else [],
        status=status, establishment=db.session.get(Establishment, establishment_id)
        if establishment_id else None, labels=services.STATUS_LABELS,
        deadline=services.session_deadline(session_id=session.id, unit_code=unit_code))


@bp.route("/gestion/sessions/<code>/dossiers/depots.csv")
@roles_required(Role.GESTIONNAIRE)
def dashboard_csv(code: str):
    """The deposit state of every candidate for a unit, as CSV (Excel-friendly)."""
    session = _session_or_404(code)
    unit_code = request.args.get("unite") or services.units_with_dossier()[0].code
    _unit_or_404(unit_code)
    views, _ = _dashboard_rows(session, unit_code)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["N° candidat", "Nom", "Prénom", "UAI", "Établissement", "Épreuve", "État",
                     "Fichiers", "Pièces complètes", "Décision"])
    for v in views:
        decision = Decision(v.dossier.decision).label if v.dossier and v.dossier.decision else ""
        writer.writerow([v.candidate.number, v.candidate.last_name, v.candidate.first_name,
                         v.candidate.establishment.uai, v.candidate.establishment.name,
                         unit_code, services.STATUS_LABELS[v.status], len(v.files),
                         f"{sum(p.complete for p in v.pieces)}/{len(v.pieces)}", decision])
    data = "\ufeff" + out.getvalue()
    return Response(data, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="depots-{session.code}-{unit_code}.csv"'})


# ---- académie: conformity control -------------------------------------------------

@bp.route("/gestion/sessions/<code>/conformite/<unit_code>")
@roles_required(Role.GESTIONNAIRE)
def queue(code: str, unit_code: str):
    """The conformity queue: every candidate of the unit, driven by the keyboard."""
    session = _session_or_404(code)
    _unit_or_404(unit_code)
    views = services.session_views(session=session, unit_code=unit_code)
    pending_only = request.args.get("tous") is None
    listed = [v for v in views if not (pending_only and v.dossier and v.dossier.decision)]
    decided = sum(1 for v in views if v.dossier and v.dossier.decision)
    return render_template("dossiers/queue.html", session=session, unit_code=unit_code,
                           views=listed, total=len(views), decided=decided,
                           pending_only=pending_only, units=services.units_with_dossier(),
                           labels=services.STATUS_LABELS, Decision=Decision)


@bp.route("/gestion/sessions/<code>/conformite/motifs", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def reasons(code: str):
    """Configure the non-conformity reasons and which ones make the unit NV."""
    session = _session_or_404(code)
    current = services.reasons_for(session.id)
    form = ConfirmForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            updated = []
            for reason in current:
                if request.form.get(f"remove-{reason.code}"):
                    continue
                label = (request.form.get(f"label-{reason.code}") or reason.label).strip()
                updated.append(services.Reason(reason.code, label[:200],
                                               bool(request.form.get(f"nv-{reason.code}"))))
            new_label = (request.form.get("new_label") or "").strip()
            if new_label:
                updated.append(services.Reason(services.reason_code(new_label), new_label[:200],
                                               bool(request.form.get("new_nv"))))
            try:
                services.configure_reasons(session=session, reasons=updated, actor=current_user)
            except DepositError as error:
                db.session.rollback()
                flash(error.message, "error")
                status = 400
            else:
                db.session.commit()
                flash("Motifs de non-conformité enregistrés.", "success")
                return redirect(url_for("dossiers.reasons", code=session.code))
        else:
            status = 400
    return render_template("dossiers/reasons.html", session=session, reasons=current, form=form), status


def _decision_form(candidate: Candidate, dossier: Dossier | None) -> DecisionForm:
    form = DecisionForm()
    form.reasons.choices = [SelectChoice(r.code, r.label + ("" if r.makes_nv else " (sans effet NV)"))
                            for r in services.reasons_for(candidate.session_id)]
    return form


@bp.route("/gestion/conformite/<int:candidate_id>/<unit_code>", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def check(candidate_id: int, unit_code: str):
    """One dossier's checklist and decision (full page, or ``?fragment=1`` for the queue)."""
    candidate, dossier = _readable(candidate_id, unit_code)
    form = _decision_form(candidate, dossier)
    wants_json = request.accept_mimetypes.best == "application/json"
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                services.decide(candidate=candidate, unit_code=unit_code,
                                decision=Decision(form.decision.data),
                                reasons=form.reasons.data or [], comment=form.comment.data or "",
                                revision_reason=form.revision_reason.data, actor=current_user)
            except DepositError as error:
                db.session.rollback()
                if wants_json:
                    return _error_json(error)
                flash(error.message, "error")
                status = error.status
            else:
                db.session.commit()
                validity = unit_validity(candidate_id=candidate.id, unit_code=unit_code)
                if wants_json:
                    return jsonify({"decision": form.decision.data, "validity": validity.value,
                                    "label": validity.label})
                flash(f"Décision enregistrée pour {candidate.full_name} : {validity.label}.",
                      "success")
                return redirect(url_for("dossiers.check", candidate_id=candidate.id,
                                        unit_code=unit_code))
        else:
            status = 400
            if wants_json:
                messages = [m for errors in form.errors.values() for m in errors]
                return jsonify({"error": "invalid", "message": " ".join(messages) or
                                "Formulaire invalide."}), 400
    view = services.dossier_view(candidate=candidate, unit_code=unit_code)
    context = {
        "view": view, "form": form, "checks": services.automatic_checks(view),
        "validity": unit_validity(candidate_id=candidate.id, unit_code=unit_code),
        "reasons": {r.code: r.label for r in services.reasons_for(candidate.session_id)},
        "periods": services.internships(candidate.id), "Decision": Decision,
        "days": services.internship_days(services.internships(candidate.id)),
    }
    if request.args.get("fragment"):
        return render_template("dossiers/_check.html", **context), status
    return render_template("dossiers/check.html", **context), status
