"""Jury refusals belong to the app's ServiceError family; the class gives the status."""

from __future__ import annotations

import pytest

from exam_app.errors import ServiceError, json_error
from exam_app.juries.errors import JuryError, JuryInvalid, JuryNotFound, JuryTooLarge


@pytest.mark.parametrize("kind, status, code", [
    (JuryError, 409, "conflict"), (JuryInvalid, 400, "invalid"),
    (JuryNotFound, 404, "not_found"), (JuryTooLarge, 413, "too_large"),
])
def test_jury_refusals_map_to_their_status(kind, status, code):
    error = kind("Refusé.", field="mark")
    assert (isinstance(error, ServiceError), isinstance(error, JuryError), str(error),
            json_error(error)) == (
        True, True, "Refusé.",
        ({"error": code, "message": "Refusé.", "field": "mark", "details": []}, status))
