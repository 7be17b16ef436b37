"""The candidate's side of the dossiers: the panel on their home page, the
resumable raw upload (tus-like) and its multipart fallback, file removal, and
internship periods."""

from __future__ import annotations

import io

import sqlalchemy as sa
from flask import current_app, flash, jsonify, redirect, request, url_for
from flask_login import current_user
from wtforms import SelectChoice

from exam_app.accounts.models import Role
from exam_app.clock import utcnow
from exam_app.dossiers import conformity, deposit, internships, state
from exam_app.dossiers.blueprint import bp, error_json, error_response, file_json, limits
from exam_app.dossiers.body import body_reader
from exam_app.dossiers.common import DepositError, megabytes, units_with_dossier
from exam_app.dossiers.deadlines import deposit_opens_at, time_left_label
from exam_app.dossiers.forms import ConfirmForm, FileUploadForm, InternshipForm
from exam_app.dossiers.models import Upload
from exam_app.dossiers.storage import ClientDisconnected, UploadBusy, get_storage
from exam_app.dossiers.validity import unit_validity
from exam_app.enrolment.models import Candidate
from exam_app.extensions import db
from exam_app.permissions import (
    candidate_for_self_or_404,
    dossier_file_for_owner_or_404,
    dossier_unit_or_404,
    internship_for_owner_or_404,
    roles_required,
    upload_for_owner_or_404,
)

# Refusals at finalisation after which the upload row must go too (see _forget_refused_upload).
_FINAL_REFUSALS = {"late", "not_pdf", "too_many_pages", "duplicate", "piece_full", "gone",
                   "too_large", "empty", "dossier_too_large", "encrypted", "too_complex",
                   "active_content"}


# ---- the panel on the candidate's home -----------------------------------------

@bp.app_context_processor
def _inject_panel():
    def dossier_panel(candidate: Candidate) -> dict:
        now = utcnow()
        # No dossier is asked for a unit the candidate does not sit.
        views = [state.dossier_view(candidate=candidate, unit_code=u.code, now=now)
                 for u in units_with_dossier() if candidate.sits(u.code)]
        periods = internships.internships(candidate.id)
        upload_forms = {}
        for view in views:
            form = FileUploadForm(prefix=f"u{view.unit.code}")
            form.piece.choices = [SelectChoice(p.piece.code, p.piece.label) for p in view.pieces]
            upload_forms[view.unit.code] = form
        opens = {view.unit.code: deposit_opens_at(session_id=candidate.session_id,
                                                  unit_code=view.unit.code) for view in views}
        return {
            "views": views,
            # Deposits not open yet: when they open, per unit (absent once open).
            "not_open_until": {code: at for code, at in opens.items() if at and now < at},
            "periods": periods,
            "days": internships.internship_days(periods),
            "min_days": candidate.session.internship_min_days,
            "internship_required": internships.internship_required(candidate),
            "not_sitting": [(u, candidate.registration(u.code).printed)
                            for u in units_with_dossier() if not candidate.sits(u.code)],
            "internship_form": InternshipForm(prefix="stage"),
            "confirm_form": ConfirmForm(),
            "upload_forms": upload_forms,
            "validity": {v.unit.code: unit_validity(candidate_id=candidate.id,
                                                    unit_code=v.unit.code, now=now)
                         for v in views},
            "reasons": {r.code: r.label for r in conformity.reasons_for(candidate.session_id)},
            "time_left": time_left_label,
            "megabytes": megabytes,
            "limits": limits(),
        }

    return {"dossier_panel": dossier_panel, "units_with_dossier": units_with_dossier()}


# ---- resumable raw upload (tus-like) ---------------------------------------------

@bp.route("/candidat/<int:candidate_id>/dossiers/<unit_code>/envois", methods=["POST"])
@roles_required(Role.CANDIDAT)
def create_upload(candidate_id: int, unit_code: str):
    """Announce a file (JSON: piece, name, size[, replaces]); answer its upload URL."""
    candidate = candidate_for_self_or_404(candidate_id)
    dossier_unit_or_404(unit_code)
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return error_json("bad_request", "Requête invalide : JSON attendu (pièce, nom, taille).",
                          400)
    replaces = data.get("replaces")
    try:
        upload = deposit.create_upload(
            candidate=candidate, unit_code=unit_code, piece_code=str(data.get("piece", "")),
            filename=str(data.get("name", ""))[:1000], size=data.get("size"), actor=current_user,
            limits=limits(), storage=get_storage(),
            replaces_file_id=replaces if isinstance(replaces, int) else None)
    except DepositError as error:
        db.session.rollback()
        return error_response(error)
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
    upload = upload_for_owner_or_404(upload_token)
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
    upload = upload_for_owner_or_404(upload_token)
    length = request.content_length
    if length is None:
        return error_json("length_required", "En-tête Content-Length manquant.", 411)
    try:
        offset = int(request.headers.get("Upload-Offset", "0" if request.method == "PUT" else ""))
    except ValueError:
        return error_json("bad_offset", "En-tête Upload-Offset invalide.", 400)
    if offset + length > upload.size:
        # Refused before reading a byte of the body.
        return error_json("too_large", "Ce morceau dépasse la taille annoncée du fichier.", 413)
    storage = get_storage()
    # One writer per upload (issue 12, item 1): the claim is held until the outcome
    # is committed, on every path out of here.
    try:
        claim = storage.claim(upload.token)
    except UploadBusy:
        return _busy(storage, upload.token)
    ended = False
    try:
        if not _still_there(upload.token):  # finished or cancelled while we waited
            return error_json("not_found", "Cet envoi est terminé ou a été annulé.", 404)
        stream = body_reader(current_app.config)(request)
        try:
            result = deposit.receive_chunk(upload=upload, stream=stream, offset=offset,
                                           length=length, storage=storage, actor=current_user,
                                           limits=limits())
        except DepositError as error:
            db.session.rollback()
            if error.code not in {"offset", "too_large"} or error.status != 409:
                # The upload row may have been deleted by a refusal; commit that state.
                ended = _forget_refused_upload(upload_token, error, storage)
            response = error_response(error)
            response.headers["Upload-Offset"] = str(storage.temp_size(upload_token))
            return response
        except ClientDisconnected:
            db.session.rollback()
            return error_json("disconnected", "Connexion interrompue.", 400)
        except Exception:
            # A 500 says "Rien n'a été enregistré": nothing of the upload survives it.
            ended = _forget_failed_upload(upload_token, storage)
            raise
        # The answer is read before the commit, which would expire (and reload) the rows.
        body = {"offset": result.offset, "size": upload.size,
                "complete": result.file is not None}
        if result.file is not None:
            body["file"] = file_json(result.file)
        try:
            db.session.commit()
        except Exception:
            ended = _forget_failed_upload(upload_token, storage)
            raise
        ended = result.file is not None
    finally:
        claim.release(ended=ended)
    response = jsonify(body)
    response.headers["Upload-Offset"] = str(result.offset)
    response.call_on_close(storage.sweep)
    return response


def _busy(storage, token: str):
    response = error_json(
        "busy", "Ce fichier est déjà en cours d'envoi (dans un autre onglet ou par une "
        "connexion précédente) : attendez la fin de cet envoi, puis reprenez.", 409)
    response.headers["Upload-Offset"] = str(storage.temp_size(token))
    return response


def _still_there(token: str) -> bool:
    # Read afresh: the request that held the claim before us may have committed the
    # upload's end (deposit, refusal, cancel) just before releasing it.
    return db.session.scalar(sa.select(Upload.id).where(Upload.token == token)) is not None


def _forget_refused_upload(token: str, error: DepositError, storage) -> bool:
    # A refusal at finalisation discards the temp file; drop the row too so the
    # client cannot resume into a refused file. True when the upload is gone.
    if error.code in {"offset"}:
        return False
    upload = db.session.scalar(sa.select(Upload).where(Upload.token == token))
    if upload is None:
        return True
    if error.code in _FINAL_REFUSALS:
        storage.discard(token)
        db.session.delete(upload)
        db.session.commit()
        return True
    return False


def _forget_failed_upload(token: str, storage) -> bool:
    """After an unexpected error: roll back, then delete the upload's bytes and row."""
    db.session.rollback()
    storage.discard(token)
    try:
        db.session.execute(sa.delete(Upload).where(Upload.token == token))
        db.session.commit()
    except Exception:  # noqa: BLE001 - the original error is the one to report
        db.session.rollback()
        current_app.logger.exception("could not forget the failed upload")
        return False
    return True


@bp.route("/candidat/envois/<upload_token>", methods=["DELETE"])
@roles_required(Role.CANDIDAT)
def cancel_upload(upload_token: str):
    """Abandon an upload in progress."""
    upload = upload_for_owner_or_404(upload_token)
    storage = get_storage()
    try:
        claim = storage.claim(upload.token)
    except UploadBusy:
        return _busy(storage, upload.token)
    ended = False
    try:
        if _still_there(upload.token):
            deposit.cancel_upload(upload=upload, storage=storage)
            db.session.commit()
        ended = True
    finally:
        claim.release(ended=ended)
    return "", 204


# ---- multipart fallback, removal ---------------------------------------------------

@bp.route("/candidat/<int:candidate_id>/dossiers/<unit_code>/fichiers", methods=["POST"])
@roles_required(Role.CANDIDAT)
def upload_form(candidate_id: int, unit_code: str):
    """Deposit one file with a plain form (when JavaScript is off)."""
    candidate = candidate_for_self_or_404(candidate_id)
    unit = dossier_unit_or_404(unit_code)
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
    token = claim = None
    try:
        upload = deposit.create_upload(
            candidate=candidate, unit_code=unit.code, piece_code=form.piece.data,
            filename=form.file.data.filename or "", size=size, actor=current_user,
            limits=limits(), replaces_file_id=replaces)
        token = upload.token
        # Nobody else knows the token before the commit, but the one-writer rule of
        # receive_chunk holds here the same way.
        claim = storage.claim(token)
        result = deposit.receive_chunk(upload=upload, stream=stream, offset=0, length=size,
                                       storage=storage, actor=current_user, limits=limits())
        db.session.commit()
    except DepositError as error:
        db.session.rollback()
        if token is not None:
            storage.discard(token)
        flash(error.message, "error")
        return redirect(home)
    except Exception:
        # The 500 page says nothing was recorded: the row was never committed (rolled
        # back), and the bytes go too.
        db.session.rollback()
        if token is not None:
            storage.discard(token)
        raise
    finally:
        if claim is not None:
            claim.release(ended=True)  # the row is committed as deposited, or never was
    flash(f"« {result.file.original_name} » est déposé ({result.file.pages} page(s)).", "success")
    response = redirect(home)
    response.call_on_close(storage.sweep)
    return response


@bp.route("/candidat/fichiers/<int:file_id>/supprimer", methods=["POST"])
@roles_required(Role.CANDIDAT)
def remove_file(file_id: int):
    """Remove a deposited file (before the deadline), after confirmation."""
    file = dossier_file_for_owner_or_404(file_id)
    home = url_for("enrolment.candidate_home") + f"#dossier-{file.dossier.unit_code}"
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash("Le formulaire a expiré : recommencez.", "error")
        return redirect(home)
    name = file.original_name
    try:
        deposit.remove_file(file=file, actor=current_user)
    except DepositError as error:
        db.session.rollback()
        if request.accept_mimetypes.best == "application/json":
            return error_response(error)
        flash(error.message, "error")
        return redirect(home)
    db.session.commit()
    if request.accept_mimetypes.best == "application/json":
        return jsonify({"removed": file_id})
    flash(f"« {name} » est retiré du dossier.", "success")
    return redirect(home)


# ---- internships ------------------------------------------------------------------

@bp.route("/candidat/<int:candidate_id>/stages", methods=["POST"])
@roles_required(Role.CANDIDAT)
def add_internship(candidate_id: int):
    """Declare an internship period."""
    candidate = candidate_for_self_or_404(candidate_id)
    form = InternshipForm(prefix="stage")
    home = url_for("enrolment.candidate_home") + "#stages"
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for message in errors:
                flash(message if isinstance(message, str) else "Date invalide.", "error")
        return redirect(home)
    try:
        internships.add_internship(candidate=candidate, organisation=form.organisation.data,
                                   start_date=form.start_date.data, end_date=form.end_date.data,
                                   actor=current_user,
                                   max_periods=current_app.config.get(
                                       "DOSSIER_MAX_INTERNSHIPS", internships.MAX_PERIODS))
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
    period = internship_for_owner_or_404(period_id)
    if ConfirmForm().validate_on_submit():
        internships.remove_internship(period=period, candidate=db.session.get(Candidate,
                                      period.candidate_id), actor=current_user)
        db.session.commit()
        flash("Période de stage supprimée.", "success")
    return redirect(url_for("enrolment.candidate_home") + "#stages")
