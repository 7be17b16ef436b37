"""What a dossier looks like now: its pieces, their files, its deadline and
status, computed from the unit definition (read-only, no audit)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from exam_app.clock import utcnow
from exam_app.dossiers.common import dossier_unit, find_dossier
from exam_app.dossiers.deadlines import effective_deadline, is_open
from exam_app.dossiers.models import Dossier, DossierFile
from exam_app.enrolment.models import Candidate, ExamSession
from exam_app.units import ExamUnit, Piece


def page_cap(piece: Piece, session: ExamSession) -> int | None:
    """The page cap of one file of the piece: the definition's, else the session's setting."""
    if piece.max_pages is not None:
        return piece.max_pages
    if piece.max_pages_setting:
        return getattr(session, piece.max_pages_setting)
    return None


@dataclass
class PieceState:
    """One piece of a dossier and the files deposited for it."""

    piece: Piece
    files: list[DossierFile]
    max_pages: int | None

    @property
    def count(self) -> int:
        return len(self.files)

    @property
    def complete(self) -> bool:
        return self.count >= self.piece.min_count

    @property
    def can_add(self) -> bool:
        return self.count < self.piece.max_count

    @property
    def over_pages(self) -> list[DossierFile]:
        if self.max_pages is None:
            return []
        return [f for f in self.files if f.pages > self.max_pages]

    @property
    def label(self) -> str:
        if self.count == 0:
            return "Manquante"
        if not self.complete:
            return f"Incomplète ({self.count}/{self.piece.min_count})"
        return "Déposée"


@dataclass
class DossierView:
    """Everything a page shows about one candidate's dossier for one unit."""

    candidate: Candidate
    unit: ExamUnit
    dossier: Dossier | None
    deadline: datetime | None
    now: datetime
    pieces: list[PieceState] = field(default_factory=list)

    @property
    def files(self) -> list[DossierFile]:
        return [f for p in self.pieces for f in p.files]

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def complete(self) -> bool:
        return all(p.complete for p in self.pieces)

    @property
    def is_open(self) -> bool:
        return is_open(self.deadline, self.now)

    @property
    def time_left(self) -> timedelta | None:
        return None if self.deadline is None else self.deadline - self.now

    @property
    def status(self) -> str:
        """deposited / incomplete / missing, for dashboards."""
        if not self.files:
            return "missing"
        return "deposited" if self.complete else "incomplete"

    def add_pieces(self, files: list[DossierFile], session: ExamSession) -> DossierView:
        """Sort ``files`` into the unit's pieces (in the definition's order)."""
        for piece in self.unit.pieces:
            self.pieces.append(PieceState(piece, [f for f in files if f.piece_code == piece.code],
                                          page_cap(piece, session)))
        return self


def dossier_view(*, candidate: Candidate, unit_code: str, now: datetime | None = None) -> DossierView:
    """One candidate's dossier for a unit, as pages show it."""
    now = now or utcnow()
    unit = dossier_unit(unit_code)
    dossier = find_dossier(candidate_id=candidate.id, unit_code=unit_code)
    files = dossier.files if dossier else []
    view = DossierView(candidate=candidate, unit=unit, dossier=dossier, now=now,
                       deadline=effective_deadline(candidate=candidate, unit_code=unit_code,
                                                   dossier=dossier))
    return view.add_pieces(files, candidate.session)
