"""What the autosave needs from the database, and its plain reference implementation.

``save_fields`` (in ``autosave``) talks to a *field store*: read a field,
compare-and-set it, record the browser's operation ids, bump the agreed
revision. ``ReferenceStore`` does each with one obvious statement through the
session, on any database. ``autosave_fast.FastStore`` does the same with
prebuilt statements on the raw connection and, on PostgreSQL, fuses one
field's write, the revision bump and the op record into one statement. The
equivalence tests (tests/juries/test_autosave_equivalence.py) run the same
saves through both and compare responses and rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa

from exam_app.extensions import db
from exam_app.juries.models import ClientOperation, GridField, Passage


@dataclass(frozen=True)
class FieldRow:
    """A grid field as stored."""

    value: str
    version: int
    updated_by_id: int | None


@dataclass(frozen=True)
class FieldWrite:
    """One operation's compare-and-set: write ``value`` if the field is still at ``base``."""

    op_id: str
    passage_id: int
    grid_id: int
    name: str
    base: int
    value: str
    now: datetime
    user_id: int | None
    agreed: bool
    # The save's only new operation: a store may then record the operation and
    # bump the agreed revision together with the write (the fast path does).
    alone: bool


@dataclass(frozen=True)
class Written:
    """The outcome of a ``FieldWrite``."""

    version: int | None  # the field's new version; None when ``base`` was stale
    revision: int | None = None  # the agreed revision, when the store bumped it with the write
    recorded: bool = False  # the store recorded the operation with the write
    final: bool = False  # the passage turned final before the revision bump: refuse the save


class FieldStore(Protocol):
    """The autosave's database operations (the interface both stores implement)."""

    def replays(self, op_ids: list[str]) -> dict[str, dict]:
        """The stored result of each already-applied operation id among ``op_ids``."""

    def current(self, *, grid_id: int, name: str) -> FieldRow | None:
        """The field as stored, or None when the grid has no such field."""

    def write(self, change: FieldWrite) -> Written:
        """Compare-and-set one field (version + 1 on success)."""

    def record_ops(self, rows: list[dict]) -> None:
        """Store operation records; a known op id fails with IntegrityError."""

    def bump_revision(self, *, passage_id: int) -> int | None:
        """Add one to the passage's agreed revision and return it (None: the passage is final)."""


class ReferenceStore:
    """The plain version: one simple statement per step, through the session."""

    def replays(self, op_ids: list[str]) -> dict[str, dict]:
        """The stored result of each already-applied operation id among ``op_ids``."""
        rows = db.session.execute(sa.select(ClientOperation.op_id, ClientOperation.result)
                                  .where(ClientOperation.op_id.in_(op_ids)))
        return {row.op_id: row.result for row in rows}

    def current(self, *, grid_id: int, name: str) -> FieldRow | None:
        """The field as stored, or None when the grid has no such field."""
        row = db.session.execute(
            sa.select(GridField.value, GridField.version, GridField.updated_by_id)
            .where(GridField.grid_id == grid_id, GridField.name == name)).first()
        return None if row is None else FieldRow(row.value, row.version, row.updated_by_id)

    def write(self, change: FieldWrite) -> Written:
        """Compare-and-set: the UPDATE matches only while the version is still ``base``
        and the passage is not final."""
        result = db.session.execute(
            sa.update(GridField)
            .where(GridField.grid_id == change.grid_id, GridField.name == change.name,
                   GridField.version == change.base,
                   sa.exists().where(Passage.id == change.passage_id,
                                     Passage.finalized_at.is_(None)))
            .values(value=change.value, version=GridField.version + 1, updated_at=change.now,
                    updated_by_id=change.user_id)
            .execution_options(synchronize_session=False))
        return Written(version=change.base + 1 if result.rowcount == 1 else None)

    def record_ops(self, rows: list[dict]) -> None:
        """Store operation records; a known op id fails with IntegrityError at the flush."""
        db.session.add_all([ClientOperation(**row) for row in rows])
        db.session.flush()

    def bump_revision(self, *, passage_id: int) -> int | None:
        """Add one to the passage's agreed revision and return it (the row stays locked);
        None when the passage is final (re-checked under the row's lock)."""
        bumped = db.session.execute(
            sa.update(Passage).where(Passage.id == passage_id, Passage.finalized_at.is_(None))
            .values(agreed_revision=Passage.agreed_revision + 1,
                    live_version=Passage.live_version + 1)
            .execution_options(synchronize_session=False))
        if bumped.rowcount != 1:
            return None
        return db.session.scalar(sa.select(Passage.agreed_revision)
                                 .where(Passage.id == passage_id))
