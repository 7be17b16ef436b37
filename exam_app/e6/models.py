"""E6 written exam: rooms and attendance, anonymous copies, barème, lots, marks,
harmonisation adjustments and the lifting of anonymity.

The only link between a copy and a candidate is ``E6Copy.candidate_id``: pages
reachable by a correcteur read copies through their lot and never join the
candidate (see ``marking.lot_copies``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exam_app.clock import UTCDateTime, utcnow
from exam_app.db_types import enum_type
from exam_app.enrolment.models import Attendance
from exam_app.extensions import db


class E6Room(db.Model):
    """A room of the E6 sitting in a centre, with its start time and capacity."""

    __tablename__ = "e6_room"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(sa.ForeignKey("centre.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(80))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    capacity: Mapped[int]

    centre = relationship("Centre")

    __table_args__ = (
        sa.UniqueConstraint("centre_id", "name"),
        sa.CheckConstraint("capacity > 0 AND capacity <= 1000", name="capacity_range"),
    )


class E6Sitting(db.Model):
    """One candidate at the E6 sitting: their room and whether they were present."""

    __tablename__ = "e6_sitting"

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(
        sa.ForeignKey("candidate.id", ondelete="CASCADE"), unique=True
    )
    room_id: Mapped[int | None] = mapped_column(sa.ForeignKey("e6_room.id", ondelete="SET NULL"))
    # None until recorded (the sitting never stores Attendance.UNKNOWN).
    attendance: Mapped[Attendance | None] = mapped_column(enum_type(Attendance, 10))
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recorded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )

    candidate = relationship("Candidate", lazy="joined")
    room: Mapped[E6Room | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint("attendance IN ('present', 'absent')", name="attendance_known"),
        sa.Index("ix_e6_sitting_room_id", "room_id"),
        # Covering: the dashboard's unseated candidates (overview/counts_fused.py).
        sa.Index("ix_e6_sitting_candidate_room", "candidate_id", "room_id"),
    )


class E6Question(db.Model):
    """One line of the session's barème: a question or part and its points."""

    __tablename__ = "e6_question"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("exam_session.id", ondelete="CASCADE"))
    position: Mapped[int]
    label: Mapped[str] = mapped_column(sa.String(200))
    max_points: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2))

    __table_args__ = (
        sa.UniqueConstraint("session_id", "position"),
        sa.CheckConstraint("max_points > 0 AND max_points <= 20", name="max_points_range"),
    )


class E6Corrector(db.Model):
    """A correcteur enrolled for the session, with the establishment they teach in
    (a correcteur never marks a copy from their own establishment)."""

    __tablename__ = "e6_corrector"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("exam_session.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    establishment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("establishment.id", ondelete="SET NULL")
    )

    user = relationship("User", lazy="joined")
    establishment = relationship("Establishment", lazy="joined")

    __table_args__ = (sa.UniqueConstraint("session_id", "user_id"),)


class E6Lot(db.Model):
    """A lot of anonymous copies marked by one correcteur.

    open -> validated (by the correcteur) -> final (closed by the gestionnaire
    after harmonisation). State is derived from the timestamps.
    """

    __tablename__ = "e6_lot"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("exam_session.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(sa.String(20))
    corrector_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    validated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finalized_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )

    corrector = relationship("User", foreign_keys=[corrector_id], lazy="joined")
    adjustments: Mapped[list[E6Adjustment]] = relationship(
        back_populates="lot", order_by="E6Adjustment.id", lazy="selectin"
    )

    __table_args__ = (
        sa.UniqueConstraint("session_id", "code"),
        sa.Index("ix_e6_lot_corrector_id", "corrector_id"),
    )

    @property
    def state(self) -> str:
        if self.finalized_at:
            return "final"
        if self.validated_at:
            return "validated"
        return "open"

    @property
    def state_label(self) -> str:
        return {"open": "En cours de correction", "validated": "Validé par le correcteur",
                "final": "Définitif"}[self.state]


class E6Copy(db.Model):
    """The anonymous copy of a present candidate.

    ``raw_total`` is the correcteur's sum of points; ``mark`` is the mark after
    harmonisation (equal to ``raw_total`` until an adjustment changes it).
    """

    __tablename__ = "e6_copy"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("exam_session.id", ondelete="CASCADE"))
    candidate_id: Mapped[int] = mapped_column(
        sa.ForeignKey("candidate.id", ondelete="CASCADE"), unique=True
    )
    anonymous_number: Mapped[str] = mapped_column(sa.String(20))
    lot_id: Mapped[int | None] = mapped_column(sa.ForeignKey("e6_lot.id", ondelete="SET NULL"))
    raw_total: Mapped[Decimal | None] = mapped_column(sa.Numeric(5, 2))
    mark: Mapped[Decimal | None] = mapped_column(sa.Numeric(5, 2))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    # Bumped by SQLAlchemy at every update: a save based on an older version is refused.
    version: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    lot: Mapped[E6Lot | None] = relationship()
    points: Mapped[list[E6Points]] = relationship(
        back_populates="copy", cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (
        sa.UniqueConstraint("session_id", "anonymous_number"),
        sa.Index("ix_e6_copy_lot_id", "lot_id"),
        # The copies in no lot (the dashboard's board) are one range of it.
        sa.Index("ix_e6_copy_session_lot", "session_id", "lot_id"),
    )
    # UPDATE ... WHERE version = <read version>: two concurrent saves cannot both win.
    __mapper_args__ = {"version_id_col": version}


class E6Points(db.Model):
    """The points a correcteur gave one copy for one question of the barème."""

    __tablename__ = "e6_points"

    id: Mapped[int] = mapped_column(primary_key=True)
    copy_id: Mapped[int] = mapped_column(sa.ForeignKey("e6_copy.id", ondelete="CASCADE"))
    question_id: Mapped[int] = mapped_column(sa.ForeignKey("e6_question.id", ondelete="CASCADE"))
    points: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2))

    copy: Mapped[E6Copy] = relationship(back_populates="points")

    __table_args__ = (
        sa.UniqueConstraint("copy_id", "question_id"),
        sa.CheckConstraint("points >= 0 AND points <= 20", name="points_range"),
    )


class E6Adjustment(db.Model):
    """A harmonisation adjustment of a lot: mark -> mark * factor + offset_points,
    rounded to the session's step and kept in [0, 20], with its reason."""

    __tablename__ = "e6_adjustment"

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("e6_lot.id", ondelete="CASCADE"))
    factor: Mapped[Decimal] = mapped_column(sa.Numeric(6, 3))
    offset_points: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2))
    reason: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )

    lot: Mapped[E6Lot] = relationship(back_populates="adjustments")
    created_by = relationship("User", foreign_keys=[created_by_id], lazy="joined")
    changes: Mapped[list[E6AdjustedMark]] = relationship(
        back_populates="adjustment", cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (
        sa.CheckConstraint("factor > 0 AND factor <= 3", name="factor_range"),
        sa.CheckConstraint("offset_points >= -20 AND offset_points <= 20", name="offset_range"),
        sa.Index("ix_e6_adjustment_lot_id", "lot_id"),
    )

    @property
    def description(self) -> str:
        from exam_app.formatting import decimal_fr

        parts = []
        if self.factor != 1:
            parts.append(f"× {decimal_fr(self.factor)}")
        if self.offset_points:
            sign = "+" if self.offset_points > 0 else "−"
            parts.append(f"{sign} {decimal_fr(abs(self.offset_points))} point(s)")
        return " puis ".join(parts) or "aucun changement"


class E6AdjustedMark(db.Model):
    """One copy's mark before and after an adjustment (nothing changes silently)."""

    __tablename__ = "e6_adjusted_mark"

    id: Mapped[int] = mapped_column(primary_key=True)
    adjustment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("e6_adjustment.id", ondelete="CASCADE")
    )
    copy_id: Mapped[int] = mapped_column(sa.ForeignKey("e6_copy.id", ondelete="CASCADE"))
    before: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2))
    after: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2))

    adjustment: Mapped[E6Adjustment] = relationship(back_populates="changes")

    __table_args__ = (sa.UniqueConstraint("adjustment_id", "copy_id"),)


class E6Release(db.Model):
    """The levée d'anonymat of a session: once recorded, marks join candidates."""

    __tablename__ = "e6_release"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        sa.ForeignKey("exam_session.id", ondelete="CASCADE"), unique=True
    )
    lifted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lifted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))

    lifted_by = relationship("User", lazy="joined")
