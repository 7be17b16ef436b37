"""Refusals of the jury-day services, in the app's one ServiceError family.

The class says the HTTP status (kept as before the family existed): a state
that forbids the operation is 409, a malformed request or value 400, a missing
grid 404, an oversized request 413. ``str(error)`` and ``error.message`` are
the French text for the user.
"""

from __future__ import annotations

from exam_app.errors import ServiceError


class JuryError(ServiceError):
    """A refused jury-day operation: the passage's state forbids it (409)."""

    status = 409
    code = "conflict"


class JuryInvalid(JuryError):
    """The request or a value is malformed or out of range (400)."""

    status = 400
    code = "invalid"


class JuryNotFound(JuryError):
    """The grid asked for does not exist for this passage (404)."""

    status = 404
    code = "not_found"


class JuryTooLarge(JuryError):
    """Too much at once: request body or number of operations (413)."""

    status = 413
    code = "too_large"
