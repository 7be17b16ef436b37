"""E6 pages: the centre's sitting (rooms, attendance, labels), the académie's
barème, lots, harmonisation and levée d'anonymat, and the correcteur's marking.

One blueprint (``blueprint.bp``); importing this module registers every route
of the view modules on it.
"""

from exam_app.e6 import (  # noqa: F401 - imported for their routes
    views_harmonisation,
    views_manage,
    views_marking,
    views_release,
    views_sitting,
)
from exam_app.e6.blueprint import bp

__all__ = ["bp"]
