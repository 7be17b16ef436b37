"""Commissions of two jurors, their planning settings, passages, the timer record,
evaluation grids (with per-field versions) and joint validations."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exam_app.clock import UTCDateTime, utcnow
from exam_app.db_types import enum_type
from exam_app.enrolment.models import Attendance
from exam_app.extensions import db
from exam_app.units import UnitForm


class MemberRole(StrEnum):
    TEACHER = "enseignant"
    PROFESSIONAL = "professionnel"

    @property
    def label(self) -> str:
        return "Enseignant" if self is MemberRole.TEACHER else "Professionnel"


# How a teacher holding the professional's seat is named on screen and on the fiche
# d'évaluation and the bordereau.
REPLACEMENT_LABEL = "Enseignant(e) en remplacement du professionnel"


class Commission(db.Model):
    """A commission d'interrogation for one unit and form, in a centre (ponctuel)
    or an establishment (CCF)."""

    __tablename__ = "commission"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("exam_session.id", ondelete="CASCADE"))
    unit_code: Mapped[str] = mapped_column(sa.String(10))
    form: Mapped[UnitForm] = mapped_column(enum_type(UnitForm, 10))
    code: Mapped[str] = mapped_column(sa.String(30))
    centre_id: Mapped[int | None] = mapped_column(sa.ForeignKey("centre.id", ondelete="SET NULL"))
    establishment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("establishment.id", ondelete="SET NULL")
    )
    # Bumped by every edit: a form names the version it showed (conditional UPDATE).
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    members: Mapped[list[CommissionMember]] = relationship(
        back_populates="commission",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="CommissionMember.member_role",
    )
    session = relationship("ExamSession")
    centre = relationship("Centre", lazy="joined")
    establishment = relationship("Establishment", lazy="joined")
    days: Mapped[list[CommissionDay]] = relationship(
        # Loaded when asked for (lists ask with selectinload): the jury state poll reads
        # the commission on every poll and never its days.
        cascade="all, delete-orphan", order_by="CommissionDay.day")

    __table_args__ = (
        sa.UniqueConstraint("session_id", "code"),
        sa.CheckConstraint("form IN ('ccf', 'ponctuel')", name="form_known"),
        sa.Index("ix_commission_session_unit", "session_id", "unit_code"),
    )

    def member(self, role: MemberRole) -> CommissionMember | None:
        return next((m for m in self.members if m.member_role == role), None)

    @property
    def day_list(self) -> list[date]:
        return [d.day for d in self.days]


class CommissionDay(db.Model):
    """A day the commission sits (its jurors are booked for the whole day)."""

    __tablename__ = "commission_day"

    commission_id: Mapped[int] = mapped_column(
        sa.ForeignKey("commission.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)

    __table_args__ = (sa.Index("ix_commission_day_day", "day"),)


class CommissionMember(db.Model):
    """A juror in a commission: the teacher (with their establishment, for the
    conflict-of-interest rule) or the professional."""

    __tablename__ = "commission_member"

    id: Mapped[int] = mapped_column(primary_key=True)
    commission_id: Mapped[int] = mapped_column(
        sa.ForeignKey("commission.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    member_role: Mapped[MemberRole] = mapped_column(enum_type(MemberRole, 15))
    establishment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("establishment.id", ondelete="SET NULL")
    )
    # A teacher holding the professional's seat (no professional available), and why.
    is_replacement: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    replacement_reason: Mapped[str | None] = mapped_column(sa.String(300))

    commission: Mapped[Commission] = relationship(back_populates="members")
    user = relationship("User", lazy="joined")
    establishment = relationship("Establishment", lazy="joined")

    __table_args__ = (
        sa.UniqueConstraint("commission_id", "user_id"),
        sa.CheckConstraint(
            "member_role IN ('enseignant', 'professionnel')", name="member_role_known"
        ),
        sa.CheckConstraint(
            "NOT is_replacement OR (member_role = 'professionnel' "
            "AND replacement_reason IS NOT NULL)", name="replacement_in_pro_seat"),
        sa.Index("ix_commission_member_user_id", "user_id"),
    )

    @property
    def role_label(self) -> str:
        if self.is_replacement:
            return REPLACEMENT_LABEL
        return MemberRole(self.member_role).label


class JurorAvailability(db.Model):
    """A juror's availability on one day of a session (no row: available)."""

    __tablename__ = "juror_availability"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("exam_session.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    day: Mapped[date]
    is_available: Mapped[bool] = mapped_column(default=True)
    note: Mapped[str] = mapped_column(sa.String(200), default="")

    user = relationship("User", lazy="joined")

    __table_args__ = (
        sa.UniqueConstraint("session_id", "user_id", "day"),
        sa.Index("ix_juror_availability_user_id", "user_id"),
    )


class PlanPublication(db.Model):
    """The gestionnaire published the session's plan (issue 15): convocations follow the
    published passages; a change after it supersedes exactly the affected convocations
    and lists the candidates to inform."""

    __tablename__ = "plan_publication"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("exam_session.id", ondelete="CASCADE"))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"))
    passages: Mapped[int] = mapped_column(default=0)

    __table_args__ = (sa.Index("ix_plan_publication_session_id", "session_id"),)


class PlanningRun(db.Model):
    """A run of the planning solver for a session (juries/planning_runs.py), in the
    database so that every worker and instance sees its progress and its proposal: one
    row per session, replaced by the next run."""

    __tablename__ = "planning_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        sa.ForeignKey("exam_session.id", ondelete="CASCADE"), unique=True)
    time_limit: Mapped[float] = mapped_column(sa.Float())
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Moved by the run while it works: a running row that stops moving lost its process.
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    done: Mapped[bool] = mapped_column(default=False)
    lines: Mapped[str] = mapped_column(sa.Text, default="[]")  # JSON list of progress lines
    last: Mapped[str] = mapped_column(sa.Text, default="{}")  # JSON: the last progress step
    proposal: Mapped[str | None] = mapped_column(sa.Text)  # JSON: solver.Proposal
    error: Mapped[str | None] = mapped_column(sa.Text)


class BoardSnapshot(db.Model):
    """The live board of a session's day as last computed (``board.shared_board_view``),
    for every process and instance: computed once a version by one of them, read by the
    others, instead of once by each (the board is asked every second on a jury day)."""

    __tablename__ = "board_snapshot"

    session_id: Mapped[int] = mapped_column(
        sa.ForeignKey("exam_session.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(sa.String(100))  # push.board_version
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    body: Mapped[str] = mapped_column(sa.Text)  # JSON: board.board_view


# ---- Jury day: planning settings, passages, timer, grids, validations --------


class CommissionSettings(db.Model):
    """Planning settings of a commission (defaults apply when no row exists)."""

    __tablename__ = "commission_settings"

    commission_id: Mapped[int] = mapped_column(
        sa.ForeignKey("commission.id", ondelete="CASCADE"), primary_key=True
    )
    day_start: Mapped[time] = mapped_column(sa.Time(), default=time(8, 0))
    break_minutes: Mapped[int] = mapped_column(default=10)
    lunch_start: Mapped[time] = mapped_column(sa.Time(), default=time(12, 0))
    lunch_minutes: Mapped[int] = mapped_column(default=60)
    prep_workstations: Mapped[int] = mapped_column(default=2)
    room: Mapped[str] = mapped_column(sa.String(60), default="")

    __table_args__ = (
        sa.CheckConstraint("break_minutes >= 0 AND break_minutes <= 120", name="break_range"),
        sa.CheckConstraint("lunch_minutes >= 0 AND lunch_minutes <= 180", name="lunch_range"),
        sa.CheckConstraint("prep_workstations >= 1 AND prep_workstations <= 50",
                           name="workstations_range"),
    )


class Passage(db.Model):
    """A candidate sitting one variant of a unit before a commission, at a time and room.

    The timer state lives in ``PassageSegment`` and ``TimerPause`` rows (UTC
    timestamps); the mark in the agreed ``Grid``; finality in ``finalized_at``.
    """

    __tablename__ = "passage"

    id: Mapped[int] = mapped_column(primary_key=True)
    commission_id: Mapped[int] = mapped_column(sa.ForeignKey("commission.id", ondelete="CASCADE"))
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("candidate.id", ondelete="CASCADE"))
    unit_code: Mapped[str] = mapped_column(sa.String(10))
    variant_code: Mapped[str] = mapped_column(sa.String(20))
    room: Mapped[str] = mapped_column(sa.String(60), default="")
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    position: Mapped[int] = mapped_column(default=0)
    attendance: Mapped[Attendance] = mapped_column(enum_type(Attendance, 10),
                                                   default=Attendance.UNKNOWN)
    attendance_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    final_mark: Mapped[Decimal | None] = mapped_column(sa.Numeric(4, 2))
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Bumped by every change of the agreed grid; validations name the revision they saw.
    agreed_revision: Mapped[int] = mapped_column(default=0)
    # Bumped by every state change (the passage lock) and every agreed-grid save: what
    # the push waiters compare (``juries/push.py``); only its changes matter, not its value.
    live_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # The gestionnaire's exception: start although the conformity control has not decided.
    start_exception_reason: Mapped[str | None] = mapped_column(sa.Text())
    start_exception_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    start_exception_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"))
    # Kept as it is (commission and time) by the next solve (``juries/solver.py``).
    pinned: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Bumped by every change on the planning board (move, swap, pin): a move names the
    # version it saw (conditional UPDATE, ``juries/plan_board.py``).
    plan_version: Mapped[int] = mapped_column(default=1, server_default="1")
    # What the last publication of the plan gave the candidate (the convocation prints
    # it): None until the passage is published (``juries/publication.py``).
    published_scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_room: Mapped[str | None] = mapped_column(sa.String(60))

    commission: Mapped[Commission] = relationship(lazy="joined")
    start_exception_by = relationship("User", foreign_keys=[start_exception_by_id])
    candidate = relationship("Candidate", lazy="joined")
    segments: Mapped[list[PassageSegment]] = relationship(
        back_populates="passage", cascade="all, delete-orphan", order_by="PassageSegment.index",
        lazy="selectin",
    )
    pauses: Mapped[list[TimerPause]] = relationship(
        back_populates="passage", cascade="all, delete-orphan", order_by="TimerPause.started_at",
        lazy="selectin",
    )
    validations: Mapped[list[Validation]] = relationship(
        back_populates="passage", cascade="all, delete-orphan", lazy="selectin",
    )

    __table_args__ = (
        sa.UniqueConstraint("candidate_id", "unit_code", "variant_code"),
        sa.CheckConstraint("attendance IN ('unknown', 'present', 'absent')",
                           name="attendance_known"),
        sa.CheckConstraint("final_mark IS NULL OR (final_mark >= 0 AND final_mark <= 20)",
                           name="final_mark_range"),
        sa.Index("ix_passage_commission_scheduled", "commission_id", "scheduled_at"),
    )

    @property
    def is_final(self) -> bool:
        return self.finalized_at is not None

    @property
    def is_absent(self) -> bool:
        return self.attendance == Attendance.ABSENT


class PassageSegment(db.Model):
    """One timed segment (a phase, or a step of a phase) as it actually ran."""

    __tablename__ = "passage_segment"

    id: Mapped[int] = mapped_column(primary_key=True)
    passage_id: Mapped[int] = mapped_column(sa.ForeignKey("passage.id", ondelete="CASCADE"))
    index: Mapped[int]
    phase_code: Mapped[str] = mapped_column(sa.String(40))
    step_code: Mapped[str] = mapped_column(sa.String(40))
    # Allowed length, extra time included, fixed when the segment starts.
    allowed_seconds: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))

    passage: Mapped[Passage] = relationship(back_populates="segments")

    __table_args__ = (sa.UniqueConstraint("passage_id", "index"),)


class TimerPause(db.Model):
    """An incident pause of the timer, with its reason."""

    __tablename__ = "timer_pause"

    id: Mapped[int] = mapped_column(primary_key=True)
    passage_id: Mapped[int] = mapped_column(sa.ForeignKey("passage.id", ondelete="CASCADE"))
    segment_index: Mapped[int]
    reason: Mapped[str] = mapped_column(sa.String(300))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))

    passage: Mapped[Passage] = relationship(back_populates="pauses")

    __table_args__ = (sa.Index("ix_timer_pause_passage_id", "passage_id"),)


AGREED = "agreed"


class Grid(db.Model):
    """An evaluation grid of a passage: one per juror (private until both reveal)
    and the agreed one (key ``agreed``). Its values live in ``GridField`` rows."""

    __tablename__ = "grid"

    id: Mapped[int] = mapped_column(primary_key=True)
    passage_id: Mapped[int] = mapped_column(sa.ForeignKey("passage.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(20))  # "agreed" or "juror:<user id>"
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    revealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    fields: Mapped[list[GridField]] = relationship(
        back_populates="grid", cascade="all, delete-orphan", lazy="selectin",
        order_by="GridField.id",
    )

    __table_args__ = (sa.UniqueConstraint("passage_id", "key"),)


class GridField(db.Model):
    """One value of a grid with its version, for compare-and-set autosave."""

    __tablename__ = "grid_field"

    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(sa.ForeignKey("grid.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(80))
    value: Mapped[str] = mapped_column(sa.Text, default="")
    version: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))

    grid: Mapped[Grid] = relationship(back_populates="fields")

    __table_args__ = (sa.UniqueConstraint("grid_id", "name"),)


class ClientOperation(db.Model):
    """An operation id sent by a browser, with its result, so a replay is answered
    identically and applied once."""

    __tablename__ = "client_operation"

    id: Mapped[int] = mapped_column(primary_key=True)
    op_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    passage_id: Mapped[int] = mapped_column(sa.ForeignKey("passage.id", ondelete="CASCADE"))
    result: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Validation(db.Model):
    """A juror's validation of the agreed grid at one revision."""

    __tablename__ = "validation"

    id: Mapped[int] = mapped_column(primary_key=True)
    passage_id: Mapped[int] = mapped_column(sa.ForeignKey("passage.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    revision: Mapped[int]
    # None for a situation that records its grid only (E5 CCF situation A).
    mark: Mapped[Decimal | None] = mapped_column(sa.Numeric(4, 2))
    validated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    passage: Mapped[Passage] = relationship(back_populates="validations")

    __table_args__ = (sa.UniqueConstraint("passage_id", "user_id"),)


class CcfTransmission(db.Model):
    """An establishment's CCF marks of a session, transmitted to the académie by its
    coordinator (issue 14, §2). While ``transmitted_at`` is set, its CCF passages are
    locked (``juries.transmission``); only the gestionnaire reopens them, with a reason
    (audited), after which they may be transmitted again. One row per (session,
    establishment), its state changed by conditional UPDATEs; the audit trail keeps the
    history."""

    __tablename__ = "ccf_transmission"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("exam_session.id", ondelete="CASCADE"))
    establishment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("establishment.id", ondelete="CASCADE"))
    transmitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    transmitted_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"))
    reopened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reopened_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"))
    reopen_reason: Mapped[str | None] = mapped_column(sa.String(1000))
    # How many times the marks were transmitted (1 the first time).
    count: Mapped[int] = mapped_column(default=0, server_default="0")

    transmitted_by = relationship("User", foreign_keys=[transmitted_by_id])
    reopened_by = relationship("User", foreign_keys=[reopened_by_id])
    establishment = relationship("Establishment", lazy="joined")

    __table_args__ = (
        sa.UniqueConstraint("session_id", "establishment_id"),
        sa.CheckConstraint("count >= 0", name="count_not_negative"),
    )

    @property
    def is_transmitted(self) -> bool:
        return self.transmitted_at is not None
