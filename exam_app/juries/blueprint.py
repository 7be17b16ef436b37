"""The jury-day blueprint and what its view modules share: template filters,
the day argument, JSON bodies and JSON refusals.

The routes live in ``views_jury`` (the examinateur's pages), ``views_api``
(the passage screen's JSON endpoints) and ``views_gestion`` (the
gestionnaire's commissions, planning, reopening and board); ``views``
imports them all so that they register on ``bp``.
"""

from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint, current_app, request

from exam_app.clock import to_local, utcnow
from exam_app.errors import json_error
from exam_app.extensions import db
from exam_app.juries.errors import JuryError, JuryInvalid, JuryTooLarge

bp = Blueprint("juries", __name__)


@bp.app_template_filter("local_hm")
def local_hm(value: datetime | None) -> str:
    """'14:05' in the session's time zone."""
    return "" if value is None else f"{to_local(value):%H:%M}"


@bp.app_template_filter("local_iso")
def local_iso(value: datetime | None) -> str:
    """'2027-05-12T14:05' in the session's time zone, for datetime-local inputs."""
    return "" if value is None else f"{to_local(value):%Y-%m-%dT%H:%M}"


def ms(value: datetime | None) -> int | None:
    """Milliseconds since the epoch, as the browser's clock counts."""
    return None if value is None else int(value.timestamp() * 1000)


# The days a ``jour`` argument may name: a day's bounds in UTC must stay within Python's
# dates (9999-12-31 + 1 day, or 0001-01-01 moved to UTC, overflow).
DAY_YEARS = (1900, 2999)


def day_arg() -> date:
    """The ``jour`` query argument (ISO date), today in the session's time zone by default;
    a malformed or far-off date is refused (400, in French)."""
    text = request.args.get("jour", "")
    if not text:
        return to_local(utcnow()).date()
    try:
        day = date.fromisoformat(text[:10]) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None or not DAY_YEARS[0] <= day.year <= DAY_YEARS[1]:
        raise JuryInvalid("Date invalide : indiquez un jour au format AAAA-MM-JJ.")
    return day


def json_body() -> dict:
    """The request's JSON object, within the size limit, else a refusal."""
    limit = current_app.config.get("JURY_MAX_JSON_BYTES", 256 * 1024)
    if request.content_length is not None and request.content_length > limit:
        raise JuryTooLarge("Requête trop volumineuse : envoyez moins de modifications à la fois.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise JuryInvalid("Requête invalide : un objet JSON est attendu.")
    return body


def json_refusal(error: JuryError):
    """Roll back and answer the refusal in the app's one JSON error shape."""
    db.session.rollback()
    return json_error(error)
