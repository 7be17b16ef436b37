"""Jury-day pages, on one blueprint (``bp``, defined in ``blueprint``):

- ``views_jury``: the examinateur's day, the passage screen, attendance;
- ``views_api``: the passage screen's JSON endpoints (state, timer, autosave,
  reveal, validation);
- ``views_gestion``: the gestionnaire's commissions, planning, reopening and
  live board.

Importing this module registers every route.
"""

from __future__ import annotations

from exam_app.juries import views_api, views_gestion, views_jury  # noqa: F401 - registers routes
from exam_app.juries.blueprint import bp

__all__ = ["bp"]
