"""Exam sessions, centres, establishments and candidates."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exam_app.clock import UTCDateTime, utcnow
from exam_app.db_types import enum_type
from exam_app.extensions import db
from exam_app.formatting import decimal_fr
from exam_app.units import UnitForm, get_unit


class Attendance(StrEnum):
    """Whether a candidate came to a sitting: a jury passage or the E6 written exam."""

    UNKNOWN = "unknown"
    PRESENT = "present"
    ABSENT = "absent"

    @property
    def label(self) -> str:
        return ATTENDANCE_LABELS[self]


ATTENDANCE_LABELS = {
    Attendance.UNKNOWN: "Non renseigné",
    Attendance.PRESENT: "Présent",
    Attendance.ABSENT: "Absent",
}


class ExamSession(db.Model):
    """One académie session of the diploma, with its configurable rules."""

    __tablename__ = "exam_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    academie: Mapped[str] = mapped_column(sa.String(120), default="")
    year: Mapped[int]
    timezone: Mapped[str] = mapped_column(sa.String(60), default="Europe/Paris")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # Configurable rules (DOMAIN.md), shown on printed documents.
    mark_step: Mapped[Decimal] = mapped_column(sa.Numeric(4, 2), default=Decimal("0.5"))
    internship_min_days: Mapped[int] = mapped_column(default=70)
    e4_fiche_max_pages: Mapped[int | None] = mapped_column(default=None)
    e6_duration_minutes: Mapped[int] = mapped_column(default=240)
    nv_excludes_interview: Mapped[bool] = mapped_column(default=True)
    # How E5 CCF situations A and B combine into the unit's result (results module;
    # enrolment.sessions.CCF_RULES): 'global' is DOMAIN.md's default.
    ccf_combination: Mapped[str] = mapped_column(sa.String(30), default="global",
                                                 server_default="global")
    # Deposited files (dossiers/pdfcheck.py): the page cap of any one file, and what
    # to do with each kind of active content ({kind: "refuse" | "flag"}; a kind not
    # listed takes its default).
    dossier_max_pages: Mapped[int] = mapped_column(default=500, server_default="500")
    active_content_policy: Mapped[dict] = mapped_column(sa.JSON, default=dict,
                                                         server_default="{}")
    # From this moment (UTC) each candidate downloads their relevé de notes in their
    # space (issue 14, §4); None: not published. Set in the session's settings.
    releve_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    centres: Mapped[list[Centre]] = relationship(
        back_populates="session", order_by="Centre.code", cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.CheckConstraint("mark_step > 0 AND mark_step <= 20", name="mark_step_range"),
        sa.CheckConstraint("internship_min_days >= 0", name="internship_days_positive"),
        sa.CheckConstraint("e6_duration_minutes > 0", name="e6_duration_positive"),
        sa.CheckConstraint("dossier_max_pages BETWEEN 1 AND 10000", name="dossier_max_pages_range"),
        sa.CheckConstraint("ccf_combination IN ('global', 'global_absence_counted')",
                           name="ccf_combination_known"),
    )

    def __repr__(self) -> str:
        return f"<ExamSession {self.code}>"


class UnitCalendar(db.Model):
    """One unit's dates in a session, besides its deposit deadline (``DepositDeadline``):
    when deposits open, the period of the orals (oral units), the written exam's start
    (written units). Checked against each other by ``enrolment.sessions``."""

    __tablename__ = "unit_calendar"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("exam_session.id", ondelete="CASCADE"))
    unit_code: Mapped[str] = mapped_column(sa.String(10))
    deposit_opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    orals_start_on: Mapped[date | None]
    orals_end_on: Mapped[date | None]
    written_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("session_id", "unit_code"),
        sa.CheckConstraint("orals_end_on IS NULL OR orals_start_on IS NULL "
                           "OR orals_start_on <= orals_end_on", name="orals_ordered"),
    )


class DepositDeadline(db.Model):
    """The deposit deadline of one unit in one session (stored in UTC). Set with the
    session's other dates (``enrolment.sessions``); the dossiers feature reads it."""

    __tablename__ = "deposit_deadline"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("exam_session.id", ondelete="CASCADE"))
    unit_code: Mapped[str] = mapped_column(sa.String(10))
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (sa.UniqueConstraint("session_id", "unit_code"),)


class Centre(db.Model):
    """An exam centre designated by the académie for a session."""

    __tablename__ = "centre"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("exam_session.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str] = mapped_column(sa.String(200))
    address: Mapped[str] = mapped_column(sa.String(300), default="")
    postal_code: Mapped[str] = mapped_column(sa.String(10), default="")
    city: Mapped[str] = mapped_column(sa.String(120), default="")

    session: Mapped[ExamSession] = relationship(back_populates="centres")
    rooms: Mapped[list[CentreRoom]] = relationship(
        back_populates="centre", order_by="CentreRoom.name", cascade="all, delete-orphan"
    )

    __table_args__ = (sa.UniqueConstraint("session_id", "code"),)

    @property
    def capacity(self) -> int:
        return sum(r.capacity for r in self.rooms)

    @property
    def workstations(self) -> int:
        return sum(r.workstations for r in self.rooms)

    @property
    def full_address(self) -> str:
        return ", ".join(p for p in (self.address, f"{self.postal_code} {self.city}".strip()) if p)


class CentreRoom(db.Model):
    """A room of an exam centre: its seats and its computer workstations (E5 preparation)."""

    __tablename__ = "centre_room"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(sa.ForeignKey("centre.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(80))
    capacity: Mapped[int]
    workstations: Mapped[int] = mapped_column(default=0)

    centre: Mapped[Centre] = relationship(back_populates="rooms")

    __table_args__ = (
        sa.UniqueConstraint("centre_id", "name"),
        sa.CheckConstraint("capacity > 0 AND capacity <= 1000", name="capacity_range"),
        sa.CheckConstraint("workstations >= 0 AND workstations <= 1000",
                           name="workstations_range"),
    )


class EstablishmentKind(StrEnum):
    LYCEE_PUBLIC = "lycee_public"
    LYCEE_PRIVE = "lycee_prive"
    CFA = "cfa"
    GRETA = "greta"
    OTHER = "autre"

    @property
    def label(self) -> str:
        return ESTABLISHMENT_KIND_LABELS[self]


ESTABLISHMENT_KIND_LABELS = {
    EstablishmentKind.LYCEE_PUBLIC: "Lycée public",
    EstablishmentKind.LYCEE_PRIVE: "Lycée privé",
    EstablishmentKind.CFA: "CFA",
    EstablishmentKind.GRETA: "GRETA",
    EstablishmentKind.OTHER: "Autre",
}


class Establishment(db.Model):
    """A school or training organisation, identified nationally by its UAI."""

    __tablename__ = "establishment"

    id: Mapped[int] = mapped_column(primary_key=True)
    uai: Mapped[str] = mapped_column(sa.String(8), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    city: Mapped[str] = mapped_column(sa.String(120), default="")
    kind: Mapped[EstablishmentKind] = mapped_column(
        enum_type(EstablishmentKind, 20), default=EstablishmentKind.OTHER,
        server_default=EstablishmentKind.OTHER.value)
    # Allowed (habilité) to run the CCF form: its candidates of a status that sits CCF
    # do so by default (DOMAIN.md, "Status decides the form").
    is_ccf_allowed: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    __table_args__ = (
        sa.CheckConstraint("length(uai) = 8", name="uai_length"),
        sa.CheckConstraint("kind IN ('lycee_public', 'lycee_prive', 'cfa', 'greta', 'autre')",
                           name="kind_known"),
    )


class PersonProfile(db.Model):
    """What set-up knows of a juror beyond their account: a teacher's establishment, a
    professional's company (conflicts of interest are checked against them)."""

    __tablename__ = "person_profile"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"),
                                         primary_key=True)
    establishment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("establishment.id", ondelete="SET NULL"))
    company: Mapped[str] = mapped_column(sa.String(200), default="")

    establishment: Mapped[Establishment | None] = relationship()


class CentreOrigin(StrEnum):
    """Where a candidate's centre came from: the candidate CSV, the establishment ->
    centre table of the session, or a gestionnaire's move."""

    IMPORT = "import"
    TABLE = "table"
    MANUAL = "manual"

    @property
    def label(self) -> str:
        return CENTRE_ORIGIN_LABELS[self]


CENTRE_ORIGIN_LABELS = {
    CentreOrigin.IMPORT: "Import",
    CentreOrigin.TABLE: "Table établissement → centre",
    CentreOrigin.MANUAL: "Déplacement",
}


class EstablishmentCentre(db.Model):
    """The session's establishment -> centre table: the centre given to the candidates
    of an establishment who have none (``enrolment.centres``)."""

    __tablename__ = "establishment_centre"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("exam_session.id", ondelete="CASCADE"))
    establishment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("establishment.id", ondelete="CASCADE"))
    centre_id: Mapped[int] = mapped_column(sa.ForeignKey("centre.id", ondelete="CASCADE"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    establishment: Mapped[Establishment] = relationship(lazy="joined")
    centre: Mapped[Centre] = relationship(lazy="joined")

    __table_args__ = (sa.UniqueConstraint("session_id", "establishment_id"),)


def search_key(*parts: str | None) -> str:
    """Upper-case, accent-free text for accent-insensitive search."""
    text = " ".join(p for p in parts if p)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


class CandidateStatus(StrEnum):
    """The candidate's route into the examination (DOMAIN.md, "Candidate routes")."""

    SCOLAIRE = "scolaire"
    APPRENTISSAGE = "apprentissage"
    FORMATION_CONTINUE = "formation_continue"
    INDIVIDUEL = "individuel"
    DISTANCE = "distance"

    @property
    def label(self) -> str:
        return CANDIDATE_STATUS_LABELS[self]


CANDIDATE_STATUS_LABELS = {
    CandidateStatus.SCOLAIRE: "Scolaire",
    CandidateStatus.APPRENTISSAGE: "Apprentissage",
    CandidateStatus.FORMATION_CONTINUE: "Formation continue",
    CandidateStatus.INDIVIDUEL: "Candidat individuel (libre)",
    CandidateStatus.DISTANCE: "Enseignement à distance",
}


class Candidate(db.Model):
    __tablename__ = "candidate"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("exam_session.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(sa.String(20))
    last_name: Mapped[str] = mapped_column(sa.String(100))
    first_name: Mapped[str] = mapped_column(sa.String(100))
    birth_date: Mapped[date]
    establishment_id: Mapped[int] = mapped_column(sa.ForeignKey("establishment.id"))
    centre_id: Mapped[int | None] = mapped_column(sa.ForeignKey("centre.id", ondelete="SET NULL"))
    # How the centre was given (None while there is none): the table re-assigns only its own.
    centre_origin: Mapped[CentreOrigin | None] = mapped_column(enum_type(CentreOrigin, 10))
    # Extra time as a fraction of each timed phase, e.g. "1/3"; None for none.
    extra_time: Mapped[str | None] = mapped_column(sa.String(10))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    # None: not given by the import ("non renseigné").
    status: Mapped[CandidateStatus | None] = mapped_column(enum_type(CandidateStatus, 20))
    search_text: Mapped[str] = mapped_column(sa.String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    session: Mapped[ExamSession] = relationship()
    establishment: Mapped[Establishment] = relationship(lazy="joined")
    centre: Mapped[Centre | None] = relationship(lazy="joined")
    # Loaded on access (form_for); list pages selectinload it.
    unit_forms: Mapped[list[UnitRegistration]] = relationship(
        back_populates="candidate", cascade="all, delete-orphan",
        order_by="UnitRegistration.unit_code",
    )

    __table_args__ = (
        sa.CheckConstraint("status IS NULL OR status IN ('scolaire', 'apprentissage', "
                           "'formation_continue', 'individuel', 'distance')",
                           name="status_known"),
        sa.UniqueConstraint("session_id", "number"),
        sa.Index("ix_candidate_session_name", "session_id", "last_name", "first_name"),
        # The lists in name order (search_text: É with E, whatever the case): the
        # conformity queue's and the deposit dashboard's pages read it in order and stop.
        sa.Index("ix_candidate_session_search", "session_id", "search_text", "id"),
        sa.Index("ix_candidate_establishment_id", "establishment_id"),
        sa.Index("ix_candidate_centre_id", "centre_id"),
        # The session's counts (dashboard, readiness board) read this index alone.
        sa.Index("ix_candidate_session_places", "session_id", "centre_id", "establishment_id"),
        sa.CheckConstraint("centre_origin IN ('import', 'table', 'manual')",
                           name="centre_origin_known"),
    )

    @property
    def full_name(self) -> str:
        return f"{self.last_name} {self.first_name}"

    @property
    def extra_time_fraction(self) -> Fraction:
        return Fraction(self.extra_time) if self.extra_time else Fraction(0)

    def registration(self, unit_code: str) -> UnitRegistration | None:
        """The recorded registration for the unit; None means the default: sits it."""
        return next((r for r in self.unit_forms if r.unit_code == unit_code), None)

    def sits(self, unit_code: str) -> bool:
        """Whether the candidate sits the unit this session (Python twin of ``sits_in``)."""
        row = self.registration(unit_code)
        return row is None or row.kind == RegistrationKind.SIT

    def form_for(self, unit_code: str) -> UnitForm:
        """The form this candidate sits the unit in: the recorded one, else the unit's only form."""
        row = self.registration(unit_code)
        if row is not None and row.form is not None:
            return row.form
        forms = get_unit(unit_code).forms
        if len(forms) == 1:
            return forms[0]
        raise LookupError(f"candidate {self.number}: no form recorded for {unit_code}")

    @classmethod
    def sits_in(cls, unit_code: str | sa.ColumnElement[str],
                form: UnitForm | str | None = None) -> sa.ColumnElement[bool]:
        """SQL condition: the candidate sits the unit (in this form, when given).

        THE "who sits unit X" query: every reader (planning, convocations, dossiers,
        NV, E6 rooms, lots and levée, bordereaux, exports) filters with it, so a
        candidate with a bénéfice, a dispense or no registration for the unit is never
        convoked, planned, asked for a dossier, NV, seated or waited for.
        ``unit_code`` may be a column (e.g. ``Passage.unit_code``) when no form is given.
        No registration row means "sits it" in the unit's only form; a unit with
        several forms (E5) needs a row naming the form.
        """
        not_sitting = sa.exists().where(UnitRegistration.candidate_id == cls.id,
                                        UnitRegistration.unit_code == unit_code,
                                        UnitRegistration.kind != RegistrationKind.SIT)
        if form is None:
            return ~not_sitting
        unit = get_unit(unit_code)
        if not unit.has_several_forms:
            return ~not_sitting if UnitForm(form) in unit.forms else sa.false()
        return sa.exists().where(UnitRegistration.candidate_id == cls.id,
                                 UnitRegistration.unit_code == unit_code,
                                 UnitRegistration.kind == RegistrationKind.SIT,
                                 UnitRegistration.form == UnitForm(form))

    def set_form(self, unit_code: str, form: UnitForm | str) -> None:
        """Record that this candidate sits the unit in this form."""
        row = self.registration(unit_code)
        if row is None:
            self.unit_forms.append(UnitRegistration(unit_code=unit_code, form=UnitForm(form),
                                                    kind=RegistrationKind.SIT))
            return
        row.kind, row.form = RegistrationKind.SIT, UnitForm(form)
        row.kept_mark = row.kept_year = None
        row.reason = ""

    def refresh_search_text(self) -> None:
        self.search_text = search_key(self.last_name, self.first_name, self.number)


class RegistrationKind(StrEnum):
    """How a candidate is registered for one unit (DOMAIN.md, "Candidate routes")."""

    SIT = "sit"  # sits it this session, in a form
    BENEFICE = "benefice"  # keeps a mark ≥ 10 from an earlier session
    DISPENSE = "dispense"  # exempted (another diploma, a bloc already validated)
    NOT_REGISTERED = "not_registered"

    @property
    def label(self) -> str:
        return REGISTRATION_KIND_LABELS[self]


REGISTRATION_KIND_LABELS = {
    RegistrationKind.SIT: "Présente l'épreuve",
    RegistrationKind.BENEFICE: "Bénéfice de note",
    RegistrationKind.DISPENSE: "Dispensé",
    RegistrationKind.NOT_REGISTERED: "Non inscrit",
}


class UnitRegistration(db.Model):
    """A candidate's registration for one unit: sits it (in a form), keeps a mark
    (bénéfice), is exempted (dispense) or is not registered. At most one row per
    candidate and unit; no row means "sits it" in the unit's only form. (The table
    keeps its first name: it held only the E5 form before registrations.)"""

    __tablename__ = "candidate_unit_form"

    candidate_id: Mapped[int] = mapped_column(
        sa.ForeignKey("candidate.id", ondelete="CASCADE"), primary_key=True
    )
    unit_code: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    kind: Mapped[RegistrationKind] = mapped_column(
        enum_type(RegistrationKind, 20), default=RegistrationKind.SIT,
        server_default=RegistrationKind.SIT.value)
    # Set exactly when the candidate sits the unit.
    form: Mapped[UnitForm | None] = mapped_column(enum_type(UnitForm, 10))
    kept_mark: Mapped[Decimal | None] = mapped_column(sa.Numeric(4, 2))
    kept_year: Mapped[int | None]
    reason: Mapped[str] = mapped_column(sa.String(300), default="", server_default="")
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    candidate: Mapped[Candidate] = relationship(back_populates="unit_forms")

    __table_args__ = (
        sa.CheckConstraint("form IN ('ponctuel', 'ccf')", name="form_known"),
        sa.CheckConstraint("kind IN ('sit', 'benefice', 'dispense', 'not_registered')",
                           name="kind_known"),
        sa.CheckConstraint("(kind = 'sit') = (form IS NOT NULL)", name="form_iff_sit"),
        sa.CheckConstraint("(kind = 'benefice') = (kept_mark IS NOT NULL AND kept_year IS NOT NULL)",
                           name="kept_mark_iff_benefice"),
        sa.CheckConstraint("kept_mark IS NULL OR (kept_mark >= 0 AND kept_mark <= 20)",
                           name="kept_mark_range"),
        sa.Index("ix_candidate_unit_form_unit_form", "unit_code", "form"),
        # Covering: the dashboard's counts (overview/counts_fused.py) read a candidate's
        # registration for a unit from the index alone.
        sa.Index("ix_candidate_unit_form_registration", "candidate_id", "unit_code", "kind",
                 "form"),
    )

    @property
    def printed(self) -> str:
        """As printed and exported where the unit's result would be: 'Bénéfice 2025 — 14,5',
        'Dispensé', 'Non inscrit' ('' when the candidate sits the unit)."""
        if self.kind == RegistrationKind.BENEFICE:
            return f"Bénéfice {self.kept_year} — {decimal_fr(self.kept_mark)}"
        if self.kind == RegistrationKind.SIT:
            return ""
        return self.kind.label


# Its name before per-unit registrations (kept for the code that still says it).
CandidateUnitForm = UnitRegistration
