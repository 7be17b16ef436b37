"""Public verification of printed documents (no login)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from exam_app.documents.qr import read_token
from exam_app.documents.verification import Status, verify

bp = Blueprint("documents", __name__)


@bp.route("/verifier/<token>")
def verify_document(token: str):
    """Say whether a printed document is authentic and current, superseded, or not authentic."""
    payload = read_token(secret_key=current_app.config["SECRET_KEY"], token=token[:2000])
    result = verify(payload)
    return render_template("documents/verify.html", result=result, Status=Status)
