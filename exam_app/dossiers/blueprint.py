"""The dossiers blueprint, its CLI command, and what its view modules share.

The routes are in ``views_candidate.py`` (the candidate's deposit and
internships), ``views_reading.py`` (receipt, files and read-only dossiers for
the candidate, the jurors and the académie) and ``views_academie.py``
(deadlines, dashboard, conformity); ``views.py`` imports them all.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from exam_app.dossiers.common import Limits
from exam_app.dossiers.models import DossierFile
from exam_app.errors import ServiceError, error_body, json_error
from exam_app.extensions import db

bp = Blueprint("dossiers", __name__, cli_group="dossiers")


@bp.cli.command("purge-uploads")
def purge_uploads_command() -> None:
    """Forget abandoned uploads (``flask --app exam_app dossiers purge-uploads``).

    Abandoned: untouched for ``DOSSIER_UPLOAD_STALE_HOURS``. Starting an upload
    purges them too, a few at a time; this command does all of them at once.
    """
    import click

    from exam_app.dossiers.deposit import purge_stale_uploads
    from exam_app.dossiers.storage import get_storage

    count = purge_stale_uploads(storage=get_storage(),
                                older_than=limits().upload_stale_after)
    db.session.commit()
    click.echo(f"{count} envoi(s) abandonné(s) supprimé(s).")


def limits() -> Limits:
    """The configured deposit limits."""
    return Limits.from_config(current_app.config)


def error_response(error: ServiceError):
    """A refusal as the one JSON error shape (a response object, headers can be added)."""
    body, status = json_error(error)
    response = jsonify(body)
    response.status_code = status
    return response


def error_json(code: str, message: str, status: int):
    """An error the view itself detects (bad header, bad JSON), in the same JSON shape."""
    response = jsonify(error_body(code, message))
    response.status_code = status
    return response


def file_json(file: DossierFile) -> dict:
    """A deposited file as the upload script reads it."""
    return {"id": file.id, "piece": file.piece_code, "name": file.original_name,
            "size": file.size, "pages": file.pages, "sha256": file.sha256,
            "flagged": file.is_flagged}
