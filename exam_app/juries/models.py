"""Commissions of two jurors. Passages, timer and grids come with the jury-day issue."""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exam_app.extensions import db


class MemberRole(StrEnum):
    TEACHER = "enseignant"
    PROFESSIONAL = "professionnel"

    @property
    def label(self) -> str:
        return "Enseignant" if self is MemberRole.TEACHER else "Professionnel"


class Commission(db.Model):
    """A commission d'interrogation for one unit and form, in a centre (ponctuel)
    or an establishment (CCF)."""

    __tablename__ = "commission"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("exam_session.id", ondelete="CASCADE"))
    unit_code: Mapped[str] = mapped_column(sa.String(10))
    form: Mapped[str] = mapped_column(sa.String(10))
    code: Mapped[str] = mapped_column(sa.String(30))
    centre_id: Mapped[int | None] = mapped_column(sa.ForeignKey("centre.id", ondelete="SET NULL"))
    establishment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("establishment.id", ondelete="SET NULL")
    )

    members: Mapped[list[CommissionMember]] = relationship(
        back_populates="commission",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="CommissionMember.member_role",
    )
    session = relationship("ExamSession")
    centre = relationship("Centre", lazy="joined")
    establishment = relationship("Establishment", lazy="joined")

    __table_args__ = (
        sa.UniqueConstraint("session_id", "code"),
        sa.CheckConstraint("form IN ('ccf', 'ponctuel')", name="form_known"),
        sa.Index("ix_commission_session_unit", "session_id", "unit_code"),
    )

    def member(self, role: MemberRole) -> CommissionMember | None:
        return next((m for m in self.members if m.member_role == role), None)


class CommissionMember(db.Model):
    """A juror in a commission: the teacher (with their establishment, for the
    conflict-of-interest rule) or the professional."""

    __tablename__ = "commission_member"

    id: Mapped[int] = mapped_column(primary_key=True)
    commission_id: Mapped[int] = mapped_column(
        sa.ForeignKey("commission.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    member_role: Mapped[str] = mapped_column(sa.String(15))
    establishment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("establishment.id", ondelete="SET NULL")
    )

    commission: Mapped[Commission] = relationship(back_populates="members")
    user = relationship("User", lazy="joined")
    establishment = relationship("Establishment", lazy="joined")

    __table_args__ = (
        sa.UniqueConstraint("commission_id", "user_id"),
        sa.CheckConstraint(
            "member_role IN ('enseignant', 'professionnel')", name="member_role_known"
        ),
        sa.Index("ix_commission_member_user_id", "user_id"),
    )

    @property
    def role_label(self) -> str:
        return MemberRole(self.member_role).label
