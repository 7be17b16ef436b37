"""What every printed document shares: signed tokens with their QR code, the
verification URL, the common header/footer context, and "changed since"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import current_app, has_request_context, render_template, request, url_for

from exam_app.audit.models import AuditEvent
from exam_app.clock import utcnow
from exam_app.documents.qr import make_token, qr_svg
from exam_app.extensions import db


class DocumentError(Exception):
    """A document that cannot be produced (e.g. nothing to print)."""


@dataclass
class Printed:
    """A rendered document: its HTML, and the file name it is offered under."""

    kind: str
    filename: str
    html: str


def verify_url(token: str) -> str:
    base = current_app.config.get("PUBLIC_URL") or (
        request.host_url if has_request_context() else "http://localhost/")
    return base.rstrip("/") + url_for("documents.verify_document", token=token)


def stamp(moment: datetime) -> int:
    """The print time as whole seconds, carried in the token ids."""
    return int(moment.timestamp())


def from_stamp(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def sign(*, kind: str, ids: list, content) -> tuple[str, str]:
    """(QR SVG, verification URL) for a document vouching for ``content``."""
    token = make_token(secret_key=current_app.config["SECRET_KEY"], kind=kind, ids=ids,
                       content=content)
    url = verify_url(token)
    return qr_svg(url), url


def render(template: str, *, title: str, session, centre=None, now: datetime | None = None,
           provisional: bool = False, **context) -> str:
    """Render a print template with the common header/footer values."""
    return render_template(template, doc_title=title, doc_session=session, doc_centre=centre,
                           generated_at=now or utcnow(), provisional=provisional, **context)


def changed_since(*, object_type: str, object_ids, since: datetime | None) -> datetime | None:
    """The first audited change of these objects after ``since`` (None when unknown)."""
    ids = [str(i) for i in object_ids]
    if since is None or not ids:
        return None
    return db.session.scalar(
        sa.select(sa.func.min(AuditEvent.at)).where(
            AuditEvent.object_type == object_type, AuditEvent.object_id.in_(ids),
            AuditEvent.at > since))
