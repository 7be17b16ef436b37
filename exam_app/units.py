"""Exam units as data.

Each unit package (``exam_app/e4``, ``e5``, ``e6``) declares its phases,
dossier pieces and evaluation grid in ``definition.py`` with the types below,
and registers it here. The core (timer, deposit form, conformity checklist,
grid form, documents) reads these definitions and never hard-codes a phase
length or a piece: a unit of another BTS needs a new definition file only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class UnitForm(StrEnum):
    PONCTUEL = "ponctuel"
    CCF = "ccf"

    @property
    def label(self) -> str:
        return "CCF" if self is UnitForm.CCF else "Ponctuel"


class UnitKind(StrEnum):
    ORAL = "oral"
    WRITTEN = "ecrit"


@dataclass(frozen=True)
class Step:
    """A timed step inside a phase (e.g. E5 phase 2, step 1: 10 min max)."""

    code: str
    label: str
    max_minutes: int


@dataclass(frozen=True)
class Phase:
    """A phase of a passage.

    ``fixed`` phases last exactly ``max_minutes`` (E5 preparation); the others
    are maxima. ``jury_present`` is False when the candidate works alone, which
    lets planning pipeline the next candidate's preparation.
    """

    code: str
    label: str
    max_minutes: int
    jury_present: bool = True
    fixed: bool = False
    steps: tuple[Step, ...] = ()

    def __post_init__(self) -> None:
        if self.steps and sum(s.max_minutes for s in self.steps) != self.max_minutes:
            raise ValueError(f"phase {self.code}: steps do not add up to {self.max_minutes} min")

    def segments(self) -> tuple[Step, ...]:
        """What a timer counts down: the steps, or the phase as one step."""
        return self.steps or (Step(self.code, self.label, self.max_minutes),)


@dataclass(frozen=True)
class Piece:
    """A piece of the dossier: how many files, of which types, and a page cap."""

    code: str
    label: str
    min_count: int = 1
    max_count: int = 1
    accepted_types: tuple[str, ...] = ("application/pdf",)
    # Page cap per file; None means "set by the session" (national circular).
    max_pages: int | None = None
    needs_signature: bool = False
    # Name of the ExamSession attribute holding the page cap, when the session sets it.
    max_pages_setting: str | None = None


@dataclass(frozen=True)
class Criterion:
    code: str
    label: str


@dataclass(frozen=True)
class Record:
    """A fact of the passage the jury writes down with a section (E5: the nouvelle
    demande given and the project it bears on); printed on the fiche, not scored."""

    code: str
    label: str
    section: str


@dataclass(frozen=True)
class GridSection:
    code: str
    label: str
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True)
class Level:
    code: str
    label: str


DEFAULT_LEVELS: tuple[Level, ...] = (
    Level("TI", "Très insuffisant"),
    Level("I", "Insuffisant"),
    Level("S", "Satisfaisant"),
    Level("TS", "Très satisfaisant"),
)
NOT_EVALUATED = Level("NE", "Non évalué")


@dataclass(frozen=True)
class Grid:
    sections: tuple[GridSection, ...]
    levels: tuple[Level, ...] = DEFAULT_LEVELS
    # Sources of evidence each criterion is judged from: guidance, not scored rows.
    evidence: tuple[str, ...] = ()
    # Facts written down with a section (field ``r:<code>``), printed on the fiche.
    records: tuple[Record, ...] = ()

    def records_of(self, section_code: str) -> tuple[Record, ...]:
        return tuple(r for r in self.records if r.section == section_code)

    def criteria(self) -> tuple[Criterion, ...]:
        return tuple(c for s in self.sections for c in s.criteria)

    def level_codes(self) -> tuple[str, ...]:
        return tuple(level.code for level in self.levels) + (NOT_EVALUATED.code,)


@dataclass(frozen=True)
class Variant:
    """One way of sitting a unit: E5 ponctuel, E5 CCF situation A or B, ..."""

    code: str
    label: str
    form: UnitForm
    phases: tuple[Phase, ...]
    # Sections of the unit's grid evaluated in this variant (all when empty).
    grid_sections: tuple[str, ...] = ()

    @property
    def max_minutes(self) -> int:
        return sum(p.max_minutes for p in self.phases)

    @property
    def jury_minutes(self) -> int:
        return sum(p.max_minutes for p in self.phases if p.jury_present)


@dataclass(frozen=True)
class ExamUnit:
    code: str
    title: str
    bloc: int
    kind: UnitKind
    coefficient: int
    variants: tuple[Variant, ...]
    pieces: tuple[Piece, ...] = ()
    grid: Grid | None = None
    max_mark: int = 20
    default_mark_step: Decimal = Decimal("0.5")
    anonymous: bool = False
    notes: tuple[str, ...] = field(default=())
    # Name of the ExamSession attribute holding the duration, when the session sets it.
    duration_setting: str | None = None
    # Conformity checklist lines the référentiel implies beyond the pieces: the checker
    # looks (no automatic verdict); a shortfall is an insufficiency marked in the
    # evaluation, not a non-conformity (so never NV by itself).
    conformity_items: tuple[str, ...] = ()

    @property
    def has_dossier(self) -> bool:
        return bool(self.pieces)

    def variant(self, code: str) -> Variant:
        for variant in self.variants:
            if variant.code == code:
                return variant
        raise KeyError(f"{self.code} has no variant {code!r}")

    def variants_for(self, form: UnitForm | str) -> tuple[Variant, ...]:
        return tuple(v for v in self.variants if v.form == UnitForm(form))

    @property
    def forms(self) -> tuple[UnitForm, ...]:
        """The forms this unit is sat in, in the order of its variants."""
        return tuple(dict.fromkeys(v.form for v in self.variants))

    @property
    def has_several_forms(self) -> bool:
        """True when each candidate's form must be recorded (E5: ponctuel or CCF)."""
        return len(self.forms) > 1

    @property
    def solo_phase(self) -> Phase | None:
        """The first phase a candidate works alone in (which planning pipelines), if any."""
        return next((p for v in self.variants for p in v.phases if not p.jury_present), None)

    def piece(self, code: str) -> Piece:
        for piece in self.pieces:
            if piece.code == code:
                return piece
        raise KeyError(f"{self.code} has no piece {code!r}")


_REGISTRY: dict[str, ExamUnit] = {}


def register(unit: ExamUnit) -> ExamUnit:
    if unit.code in _REGISTRY and _REGISTRY[unit.code] is not unit:
        raise ValueError(f"unit {unit.code} registered twice")
    _REGISTRY[unit.code] = unit
    return unit


def get_unit(code: str) -> ExamUnit:
    _load_builtin()
    try:
        return _REGISTRY[code]
    except KeyError:
        raise KeyError(f"unknown exam unit {code!r}") from None


def all_units() -> tuple[ExamUnit, ...]:
    _load_builtin()
    return tuple(sorted(_REGISTRY.values(), key=lambda u: u.code))


def _load_builtin() -> None:
    # Importing a definition module registers its unit; explicit, no discovery.
    from exam_app.e4 import definition as _e4  # noqa: F401
    from exam_app.e5 import definition as _e5  # noqa: F401
    from exam_app.e6 import definition as _e6  # noqa: F401
