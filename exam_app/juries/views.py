"""Jury-day pages, on one blueprint (``bp``, defined in ``blueprint``):

- ``views_jury``: the examinateur's day, the passage screen, attendance;
- ``views_api``: the passage screen's JSON endpoints (state, timer, autosave,
  reveal, validation);
- ``views_gestion``: the gestionnaire's commissions, planning, reopening and
  live board;
- ``views_commissions``: forming and editing commissions, jurors' availability;
- ``views_planification``: the solver's background run and applying its plan.

Importing this module registers every route.
"""

from __future__ import annotations

from exam_app.juries import (  # noqa: F401 - registers routes
    views_api,
    views_commissions,
    views_gestion,
    views_jury,
    views_plan_board,
    views_planification,
    views_repair,
)
from exam_app.juries.blueprint import bp

__all__ = ["bp"]
