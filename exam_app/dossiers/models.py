"""Dossiers: deadlines, deposited files, resumable uploads, internships, conformity."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exam_app.clock import UTCDateTime, utcnow
from exam_app.db_types import enum_type
from exam_app.dossiers.pdfcheck import ACTIVE_KINDS, REPAIRS

# Set with the session's dates (enrolment.sessions); re-exported for the dossiers feature.
from exam_app.enrolment.models import DepositDeadline  # noqa: F401
from exam_app.extensions import db


class Decision(StrEnum):
    """The conformity control's decision on a dossier (conforme / non conforme)."""

    COMPLIANT = "compliant"
    NON_COMPLIANT = "non_compliant"

    @property
    def label(self) -> str:
        return DECISION_LABELS[self]


DECISION_LABELS = {Decision.COMPLIANT: "Conforme", Decision.NON_COMPLIANT: "Non conforme"}


class Dossier(db.Model):
    """One candidate's dossier for one unit: its files, extension and conformity decision."""

    __tablename__ = "dossier"

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("candidate.id", ondelete="CASCADE"))
    unit_code: Mapped[str] = mapped_column(sa.String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Last time a file was added, replaced or removed (the receipt's deposit time).
    deposited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Individual extension (dérogation): replaces the session deadline for this dossier.
    extended_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    extension_reason: Mapped[str | None] = mapped_column(sa.Text)
    decision: Mapped[Decision | None] = mapped_column(enum_type(Decision, 15))
    decision_reasons: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    decision_comment: Mapped[str | None] = mapped_column(sa.Text)
    # Elements lacking from a conforme dossier: an insufficiency the commission marks in
    # the evaluation (référentiel), shown on the passage screen and the fiche; never NV.
    missing_elements: Mapped[list[str]] = mapped_column(sa.JSON, default=list,
                                                        server_default="[]")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))

    candidate = relationship("Candidate", lazy="joined")
    decided_by = relationship("User")
    files: Mapped[list[DossierFile]] = relationship(
        back_populates="dossier", order_by="DossierFile.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.UniqueConstraint("candidate_id", "unit_code"),
        sa.CheckConstraint(
            "decision IS NULL OR decision IN ('compliant', 'non_compliant')", name="decision_known"
        ),
        # Covering: the session dashboard's undecided dossiers (overview/counts_fused.py)
        # read a candidate's dossier from the index alone.
        sa.Index("ix_dossier_candidate_settling", "candidate_id", "unit_code", "decision",
                 "extended_until"),
    )


class DossierFile(db.Model):
    """A deposited file: complete and checked. The bytes live in storage, named by hash."""

    __tablename__ = "dossier_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(sa.ForeignKey("dossier.id", ondelete="CASCADE"))
    piece_code: Mapped[str] = mapped_column(sa.String(40))
    original_name: Mapped[str] = mapped_column(sa.String(255))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    pages: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    storage_key: Mapped[str] = mapped_column(sa.String(200))
    has_javascript: Mapped[bool] = mapped_column(default=False)
    has_embedded_files: Mapped[bool] = mapped_column(default=False)
    # What the checks found (codes of pdfcheck.ACTIVE_KINDS flagged by the session's
    # policy, and of pdfcheck.REPAIRS), shown in the conformity control.
    active_content: Mapped[list[str]] = mapped_column(sa.JSON, default=list, server_default="[]")
    repairs: Mapped[list[str]] = mapped_column(sa.JSON, default=list, server_default="[]")
    deposited_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    dossier: Mapped[Dossier] = relationship(back_populates="files")

    __table_args__ = (
        # A duplicate of a file already in the dossier is refused by the database too.
        sa.UniqueConstraint("dossier_id", "sha256"),
        sa.Index("ix_dossier_file_dossier_piece", "dossier_id", "piece_code"),
    )

    @property
    def is_flagged(self) -> bool:
        return bool(self.active_content) or self.has_javascript or self.has_embedded_files

    @property
    def flag_labels(self) -> list[str]:
        """The active content found in the file, in French."""
        codes = list(self.active_content or [])
        codes += [c for c, on in (("javascript", self.has_javascript),
                                  ("embedded_files", self.has_embedded_files))
                  if on and c not in codes]
        return [ACTIVE_KINDS[c].label if c in ACTIVE_KINDS else c for c in codes]

    @property
    def repair_labels(self) -> list[str]:
        """What had to be repaired to read the file, in French."""
        return [REPAIRS.get(c, c) for c in self.repairs or []]


class Upload(db.Model):
    """A resumable upload in progress (tus-like): bytes received so far live in a temp file."""

    __tablename__ = "upload"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(sa.String(64), unique=True)
    dossier_id: Mapped[int] = mapped_column(sa.ForeignKey("dossier.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    piece_code: Mapped[str] = mapped_column(sa.String(40))
    original_name: Mapped[str] = mapped_column(sa.String(255))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    received: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    replaces_file_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("dossier_file.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    dossier: Mapped[Dossier] = relationship()

    __table_args__ = (
        sa.CheckConstraint("received >= 0 AND received <= size", name="received_range"),
        sa.Index("ix_upload_dossier_id", "dossier_id"),
    )


class InternshipPeriod(db.Model):
    """An internship (or work) period the candidate declares: organisation and dates."""

    __tablename__ = "internship_period"

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("candidate.id", ondelete="CASCADE"))
    organisation: Mapped[str] = mapped_column(sa.String(200))
    start_date: Mapped[date]
    end_date: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        sa.CheckConstraint("end_date >= start_date", name="dates_ordered"),
        sa.Index("ix_internship_period_candidate_id", "candidate_id"),
    )


class ConformityReason(db.Model):
    """A non-conformity reason configured for a session, and whether it makes the unit NV."""

    __tablename__ = "conformity_reason"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("exam_session.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(sa.String(40))
    label: Mapped[str] = mapped_column(sa.String(200))
    makes_nv: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)

    __table_args__ = (sa.UniqueConstraint("session_id", "code"),)
