"""Print pack jobs: one PDF (or ZIP) of a centre's documents for one day."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exam_app.clock import UTCDateTime, utcnow
from exam_app.db_types import enum_type
from exam_app.extensions import db


class PackState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return PACK_STATE_LABELS[self]


PACK_STATE_LABELS = {
    PackState.PENDING: "En attente",
    PackState.RUNNING: "En cours",
    PackState.DONE: "Terminé",
    PackState.FAILED: "Erreur",
}


class PrintPack(db.Model):
    """A print pack job. Unique per centre, day, kinds and format, so that two
    requests for the same pack share one rendering."""

    __tablename__ = "print_pack"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(sa.ForeignKey("centre.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(sa.Date())
    # Sorted, comma-separated document kinds (convocation,bordereau,...).
    kinds: Mapped[str] = mapped_column(sa.String(120))
    fmt: Mapped[str] = mapped_column(sa.String(5), default="pdf")
    state: Mapped[PackState] = mapped_column(enum_type(PackState, 12), default=PackState.PENDING)
    total: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(sa.Text)
    # Relative to STORAGE_DIR.
    result_path: Mapped[str | None] = mapped_column(sa.String(300))
    requested_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    centre = relationship("Centre", lazy="joined")
    requested_by = relationship("User", lazy="joined")

    __table_args__ = (
        sa.UniqueConstraint("centre_id", "day", "kinds", "fmt"),
        sa.CheckConstraint("fmt IN ('pdf', 'zip')", name="fmt_known"),
        sa.CheckConstraint("state IN ('pending', 'running', 'done', 'failed')",
                           name="state_known"),
    )

    @property
    def kind_list(self) -> list[str]:
        return self.kinds.split(",") if self.kinds else []

    @property
    def percent(self) -> int:
        if self.state == PackState.DONE.value:
            return 100
        return int(100 * self.done / self.total) if self.total else 0
