"""Whether a candidate's dossier makes a unit valid — the contract other features read.

The jury day (no scoring when NV), the documents (NV on the bordereau) and
exports ask only these two functions; the dossier feature decides the answer
from deposits, deadlines and the conformity control.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class UnitValidity(StrEnum):
    PENDING = "en_attente"  # deadline not passed, or the control not yet decided
    VALID = "valide"  # dossier conforme (or the unit has no dossier, e.g. E6)
    NV = "nv"  # no dossier at the deadline, or decided non conforme

    @property
    def label(self) -> str:
        return {"en_attente": "En attente", "valide": "Valide", "nv": "NV (non valide)"}[self.value]


def unit_validity(*, candidate_id: int, unit_code: str, now: datetime | None = None) -> UnitValidity:
    """The validity of one candidate's unit. Until dossiers exist, every unit is valid."""
    return UnitValidity.VALID


def nv_candidate_ids(*, session_id: int, unit_code: str, now: datetime | None = None) -> set[int]:
    """All candidates of a session whose unit is NV, in one query (for lists and bordereaux)."""
    return set()
