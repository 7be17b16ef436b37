"""One family of refusals for every service, one JSON error shape, one handler.

A service raises a ``ServiceError`` (or a subclass) with the French message
for the user; the class (or ``status=``) says which HTTP status it maps to, so
no view ever chooses a status by reading the text of a message. Views that
want to show the refusal on a form catch it and flash ``error.message``; any
that escapes a view is answered here: JSON for JSON clients, the error page
otherwise.

The JSON shape, for every error the app answers (refusals and HTTP errors):
``{"error": <code>, "message": <French text>, "field": <name or null>,
"details": [<French text>, ...]}``.
"""

from __future__ import annotations

from flask import Flask, render_template, request


class ServiceError(Exception):
    """A refused operation; ``message`` is the French text for the user."""

    status: int = 422
    code: str = "refused"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        field: str | None = None,
        details: list[str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.field = field
        self.details = list(details or [])


class NotFound(ServiceError):
    """The object does not exist (or is out of the user's scope)."""

    status = 404
    code = "not_found"


class Conflict(ServiceError):
    """The state changed under the request (another juror, another tab, a race)."""

    status = 409
    code = "conflict"


class Invalid(ServiceError):
    """The input is refused: wrong type, out of range, missing."""

    status = 422
    code = "invalid"


def error_body(code: str, message: str, *, field: str | None = None,
               details: list[str] | None = None) -> dict:
    """The one JSON error shape."""
    return {"error": code, "message": message, "field": field, "details": list(details or [])}


def json_error(error: ServiceError):
    """A (body, status) pair for a refusal, for JSON endpoints."""
    return error_body(error.code, error.message, field=error.field, details=error.details), error.status


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.is_json or best == "application/json"


def register(app: Flask) -> None:
    """Answer any ServiceError that a view did not catch."""

    @app.errorhandler(ServiceError)
    def service_error(error: ServiceError):
        from exam_app.extensions import db

        db.session.rollback()
        if wants_json():
            return json_error(error)
        return render_template("errors/error.html", code=error.status, title="Opération refusée",
                               message=error.message), error.status
