"""Dossier pages, on one blueprint (``dossiers``): the candidate's side
(``views_candidate``), reading dossiers (``views_reading``) and the académie's
side (``views_academie``). Importing this module registers every route."""

from __future__ import annotations

from exam_app.dossiers import views_academie, views_candidate, views_reading  # noqa: F401
from exam_app.dossiers.blueprint import bp

__all__ = ["bp"]
