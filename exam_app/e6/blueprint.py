"""The E6 blueprint, and what its view modules share.

The routes live in ``views_sitting`` (the centre: rooms, attendance, labels),
``views_manage`` (the académie: barème, correcteurs, lots, correspondence),
``views_harmonisation``, ``views_release`` (levée d'anonymat, bordereau,
exports) and ``views_marking`` (the correcteur); ``views`` imports them all,
so that ``exam_app.e6.views.bp`` carries every route.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash

from exam_app.errors import ServiceError
from exam_app.extensions import db

bp = Blueprint("e6", __name__)


def flash_error(exc: ServiceError) -> None:
    """Show a refusal on the next page, with what is missing."""
    flash(exc.message + (" " + " · ".join(exc.details) if exc.details else ""), "error")


def commit() -> bool:
    """Commit; on a race lost to a concurrent request (unique constraint), roll back and say so."""
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()
        flash("Une autre opération a modifié ces données au même moment : rechargez la page et "
              "vérifiez. Rien n'a été enregistré.", "error")
        return False
    return True


