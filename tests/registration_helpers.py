"""Registering a candidate as not sitting a unit, for the readers' tests (issue 14, §1)."""

from __future__ import annotations

from exam_app.enrolment import registration


def register(candidate, unit_code: str, kind: str, **values) -> None:
    """Record a bénéfice ('benefice': kept_mark, kept_year, reason), a dispense
    ('dispense': reason) or 'not_registered' through the service, as the page does."""
    if kind == "benefice":
        values = {"kept_mark": "14,5", "kept_year": str(candidate.session.year - 2),
                  "reason": "demande du candidat", **values}
    if kind == "dispense":
        values = {"reason": "bloc validé (VAE)", **values}
    registration.set_registration(candidate=candidate, actor=None,
                                  registration=registration.validate(
                                      session=candidate.session, candidate=candidate,
                                      unit_code=unit_code, kind=kind, **values))
