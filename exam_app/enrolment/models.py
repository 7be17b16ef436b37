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
from exam_app.extensions import db
from exam_app.units import UnitForm


class E5Form(StrEnum):
    CCF = UnitForm.CCF.value
    PONCTUEL = UnitForm.PONCTUEL.value

    @property
    def label(self) -> str:
        return "CCF" if self is E5Form.CCF else "Ponctuel"


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

    centres: Mapped[list[Centre]] = relationship(
        back_populates="session", order_by="Centre.code", cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.CheckConstraint("mark_step > 0 AND mark_step <= 20", name="mark_step_range"),
        sa.CheckConstraint("internship_min_days >= 0", name="internship_days_positive"),
        sa.CheckConstraint("e6_duration_minutes > 0", name="e6_duration_positive"),
    )

    def __repr__(self) -> str:
        return f"<ExamSession {self.code}>"


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

    __table_args__ = (sa.UniqueConstraint("session_id", "code"),)

    @property
    def full_address(self) -> str:
        return ", ".join(p for p in (self.address, f"{self.postal_code} {self.city}".strip()) if p)


class Establishment(db.Model):
    """A school or training organisation, identified nationally by its UAI."""

    __tablename__ = "establishment"

    id: Mapped[int] = mapped_column(primary_key=True)
    uai: Mapped[str] = mapped_column(sa.String(8), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    city: Mapped[str] = mapped_column(sa.String(120), default="")

    __table_args__ = (sa.CheckConstraint("length(uai) = 8", name="uai_length"),)


def search_key(*parts: str | None) -> str:
    """Upper-case, accent-free text for accent-insensitive search."""
    text = " ".join(p for p in parts if p)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


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
    e5_form: Mapped[str] = mapped_column(sa.String(10))
    # Extra time as a fraction of each timed phase, e.g. "1/3"; None for none.
    extra_time: Mapped[str | None] = mapped_column(sa.String(10))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    search_text: Mapped[str] = mapped_column(sa.String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    session: Mapped[ExamSession] = relationship()
    establishment: Mapped[Establishment] = relationship(lazy="joined")
    centre: Mapped[Centre | None] = relationship(lazy="joined")

    __table_args__ = (
        sa.UniqueConstraint("session_id", "number"),
        sa.CheckConstraint("e5_form IN ('ccf', 'ponctuel')", name="e5_form_known"),
        sa.Index("ix_candidate_session_name", "session_id", "last_name", "first_name"),
        sa.Index("ix_candidate_establishment_id", "establishment_id"),
        sa.Index("ix_candidate_centre_id", "centre_id"),
    )

    @property
    def full_name(self) -> str:
        return f"{self.last_name} {self.first_name}"

    @property
    def extra_time_fraction(self) -> Fraction:
        return Fraction(self.extra_time) if self.extra_time else Fraction(0)

    @property
    def e5_form_label(self) -> str:
        return E5Form(self.e5_form).label

    def refresh_search_text(self) -> None:
        self.search_text = search_key(self.last_name, self.first_name, self.number)
