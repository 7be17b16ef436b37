"""What every dossier service shares: the refusal class, the size limits, the
units that have a dossier, and finding (or creating) a candidate's dossier row.

Services (deadlines, deposit, internships, conformity) take keyword-only
arguments, flush and audit, never commit and never read ``request``. ``now``
defaults to the server clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from exam_app.clock import utcnow
from exam_app.dossiers.models import Dossier
from exam_app.enrolment.models import Candidate
from exam_app.errors import ServiceError
from exam_app.extensions import db
from exam_app.units import ExamUnit, all_units, get_unit

MB = 1000 * 1000


class DepositError(ServiceError):
    """A refused dossier operation: French message, HTTP status and a stable ``code``.

    The codes are read by the upload script (``static/js/dossier-upload.js``
    resumes on ``"offset"``): keep them.
    """


@dataclass(frozen=True)
class Limits:
    """Size limits of a deposit (DOMAIN.md: configurable)."""

    file_max_bytes: int = 20 * MB
    dossier_max_bytes: int = 60 * MB
    # Unfinished uploads per candidate; the candidate's own idle ones make room first.
    open_uploads_max: int = 10
    upload_idle_evict: timedelta = timedelta(minutes=15)
    # Anyone's upload untouched this long is purged when another upload starts.
    upload_stale_after: timedelta = timedelta(hours=24)

    @classmethod
    def from_config(cls, config) -> Limits:
        """The limits the application is configured with."""
        return cls(file_max_bytes=config["DOSSIER_FILE_MAX_BYTES"],
                   dossier_max_bytes=config["DOSSIER_MAX_BYTES"],
                   open_uploads_max=config.get("DOSSIER_MAX_OPEN_UPLOADS", 10),
                   upload_idle_evict=timedelta(
                       minutes=config.get("DOSSIER_UPLOAD_IDLE_EVICT_MINUTES", 15)),
                   upload_stale_after=timedelta(
                       hours=config.get("DOSSIER_UPLOAD_STALE_HOURS", 24)))


def units_with_dossier() -> tuple[ExamUnit, ...]:
    """The units whose definition lists dossier pieces."""
    return tuple(u for u in all_units() if u.has_dossier)


def dossier_unit(unit_code: str) -> ExamUnit:
    """The unit, if it has a dossier; KeyError otherwise."""
    unit = get_unit(unit_code)
    if not unit.has_dossier:
        raise KeyError(unit_code)
    return unit


def megabytes(size: int) -> str:
    """'1,2 Mo', or '35 Ko' for small files."""
    if size < 100_000:
        return f"{max(1, round(size / 1000))} Ko"
    return f"{size / MB:.1f}".replace(".", ",") + " Mo"


def find_dossier(*, candidate_id: int, unit_code: str) -> Dossier | None:
    """The candidate's dossier for the unit, if one was started."""
    return db.session.scalar(sa.select(Dossier).where(
        Dossier.candidate_id == candidate_id, Dossier.unit_code == unit_code))


def get_or_create_dossier(*, candidate: Candidate, unit_code: str,
                          now: datetime | None = None) -> Dossier:
    """The candidate's dossier for the unit, created (race-safe) when missing."""
    dossier_unit(unit_code)
    dossier = find_dossier(candidate_id=candidate.id, unit_code=unit_code)
    if dossier is None:
        dossier = Dossier(candidate_id=candidate.id, unit_code=unit_code,
                          created_at=now or utcnow(), decision_reasons=[])
        # Two first uploads at once: the unique constraint keeps one row.
        try:
            with db.session.begin_nested():
                db.session.add(dossier)
                db.session.flush()
        except sa.exc.IntegrityError:
            dossier = find_dossier(candidate_id=candidate.id, unit_code=unit_code)
    return dossier


def _lock_row(model, row_id: int, noop_column: str) -> None:
    """Lock one row until the end of the transaction, on PostgreSQL and SQLite alike.

    PostgreSQL: ``SELECT ... FOR UPDATE``. SQLite has no row locks (``FOR
    UPDATE`` is dropped): a no-op UPDATE of the row takes the database's write
    lock instead, which the second writer waits for (WAL + busy_timeout), as
    ``juries.locking`` does. It must be the transaction's first write, so that
    the reads that follow see the latest commit (pysqlite opens the
    transaction at the first write; the reads before it see the last commit).
    """
    db.session.flush()
    if db.session.get_bind().dialect.name == "sqlite":
        column = getattr(model, noop_column)
        db.session.execute(sa.update(model).where(model.id == row_id).values({column: column})
                           .execution_options(synchronize_session=False))
    else:
        db.session.execute(sa.select(model.id).where(model.id == row_id)
                           .with_for_update(of=model))


def lock_dossier(dossier_id: int) -> Dossier:
    """The dossier, its row locked for this transaction and re-read (files included):
    deposits into one dossier are decided one after the other (issue 12, item 4)."""
    _lock_row(Dossier, dossier_id, "unit_code")
    dossier = db.session.get(Dossier, dossier_id)
    if dossier is not None:
        db.session.expire(dossier)  # the files collection too
    return db.session.scalars(sa.select(Dossier).where(Dossier.id == dossier_id)
                              .execution_options(populate_existing=True)).one()


def lock_candidate(candidate_id: int) -> None:
    """Serialise the decisions that count a candidate's rows (open uploads, internships)."""
    _lock_row(Candidate, candidate_id, "updated_at")
