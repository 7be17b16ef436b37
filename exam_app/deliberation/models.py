"""Délibération: one per session (state from ``closed_at``), its members, the jury's
result changes (a superseding chain per candidate and unit), and the other units of the
diploma with their coefficients and imported marks."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exam_app.accounts.models import User
from exam_app.clock import UTCDateTime, utcnow
from exam_app.db_types import enum_type
from exam_app.enrolment.models import ExamSession
from exam_app.extensions import db


class Deliberation(db.Model):
    """The jury de délibération of one session: open until its president closes it."""

    __tablename__ = "deliberation"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        sa.ForeignKey("exam_session.id", ondelete="CASCADE"), unique=True)
    president_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    # Bumped by every decision taken under the row's lock (SQLite: the write lock).
    version: Mapped[int] = mapped_column(default=0)

    session: Mapped[ExamSession] = relationship()
    president: Mapped[User | None] = relationship(foreign_keys=[president_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])
    members: Mapped[list[DeliberationMember]] = relationship(
        back_populates="deliberation", cascade="all, delete-orphan",
        order_by="DeliberationMember.id")

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    def member_ids(self) -> set[int]:
        """The president and the members."""
        ids = {m.user_id for m in self.members}
        if self.president_id is not None:
            ids.add(self.president_id)
        return ids


class DeliberationMember(db.Model):
    """A member of the jury de délibération (the president is named on the jury)."""

    __tablename__ = "deliberation_member"

    id: Mapped[int] = mapped_column(primary_key=True)
    deliberation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("deliberation.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))

    deliberation: Mapped[Deliberation] = relationship(back_populates="members")
    user: Mapped[User] = relationship()

    __table_args__ = (sa.UniqueConstraint("deliberation_id", "user_id"),
                      sa.Index("ix_deliberation_member_user_id", "user_id"))


class ChangeKind(StrEnum):
    MARK = "mark"
    ABS = "ABS"
    NV = "NV"


class ResultChange(db.Model):
    """The jury's decision on one candidate's unit result: a mark or a code, with its
    reason. The current one is the highest ``sequence`` of (candidate, unit); each new
    one supersedes it (unique sequence: two members cannot both write the next one)."""

    __tablename__ = "result_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("exam_session.id", ondelete="CASCADE"))
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("candidate.id", ondelete="CASCADE"))
    unit_code: Mapped[str] = mapped_column(sa.String(10))
    sequence: Mapped[int] = mapped_column()
    kind: Mapped[ChangeKind] = mapped_column(enum_type(ChangeKind, 10))
    mark: Mapped[Decimal | None] = mapped_column(sa.Numeric(4, 2))
    # What the result was (as printed) when the jury changed it, for the record.
    before: Mapped[str] = mapped_column(sa.String(60), default="")
    reason: Mapped[str] = mapped_column(sa.Text())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"))

    created_by: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("candidate_id", "unit_code", "sequence"),
        sa.CheckConstraint("kind IN ('mark', 'ABS', 'NV')", name="kind_known"),
        sa.CheckConstraint("(kind = 'mark') = (mark IS NOT NULL)", name="mark_iff_kind_mark"),
        sa.CheckConstraint("mark IS NULL OR (mark >= 0 AND mark <= 20)", name="mark_range"),
        sa.CheckConstraint("sequence >= 1", name="sequence_positive"),
        sa.Index("ix_result_change_session_id", "session_id"),
    )


class OtherUnit(db.Model):
    """A unit of the diploma outside this app (U1, U2, U3...): code, label and coefficient,
    entered by the gestionnaire for the session (no default)."""

    __tablename__ = "other_unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("exam_session.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(sa.String(10))
    label: Mapped[str] = mapped_column(sa.String(200))
    coefficient: Mapped[Decimal] = mapped_column(sa.Numeric(4, 1))

    __table_args__ = (
        sa.UniqueConstraint("session_id", "code"),
        sa.CheckConstraint("coefficient > 0 AND coefficient <= 20", name="coefficient_range"),
    )


class OtherMarkKind(StrEnum):
    MARK = "mark"
    ABS = "ABS"
    DISPENSE = "dispense"


class OtherUnitMark(db.Model):
    """A candidate's imported result for another unit: a mark, ABS or dispensé."""

    __tablename__ = "other_unit_mark"

    id: Mapped[int] = mapped_column(primary_key=True)
    other_unit_id: Mapped[int] = mapped_column(sa.ForeignKey("other_unit.id", ondelete="CASCADE"))
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("candidate.id", ondelete="CASCADE"))
    kind: Mapped[OtherMarkKind] = mapped_column(enum_type(OtherMarkKind, 10))
    mark: Mapped[Decimal | None] = mapped_column(sa.Numeric(4, 2))

    __table_args__ = (
        sa.UniqueConstraint("other_unit_id", "candidate_id"),
        sa.CheckConstraint("kind IN ('mark', 'ABS', 'dispense')", name="kind_known"),
        sa.CheckConstraint("(kind = 'mark') = (mark IS NOT NULL)", name="mark_iff_kind_mark"),
        sa.CheckConstraint("mark IS NULL OR (mark >= 0 AND mark <= 20)", name="mark_range"),
        sa.Index("ix_other_unit_mark_candidate_id", "candidate_id"),
    )
