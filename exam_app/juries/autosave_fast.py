"""The autosave's fast path: ``FastStore``, the ``FieldStore`` of ``autosave_reference``
done with statements built once and run on the session's raw connection.

The autosave is hot (every debounced keystroke of two jurors per room), and on
this path building SQL expressions and the ORM layer cost more than the queries
themselves. On PostgreSQL, the usual save (one field) goes further: one
statement with data-modifying CTEs does the field's compare-and-set, the agreed
revision bump and the operation's record, one round trip instead of three.
``ReferenceStore`` is the plain version; the equivalence tests compare them.
"""

from __future__ import annotations

import functools

import sqlalchemy as sa

from exam_app.juries.autosave_reference import FieldRow, FieldWrite, Written
from exam_app.juries.models import ClientOperation, GridField, Passage


class _Statements:
    """The fast path's statements, built once with bind parameters."""

    def __init__(self) -> None:
        p, f, o = Passage.__table__, GridField.__table__, ClientOperation.__table__
        self.field = sa.select(f.c.value, f.c.version, f.c.updated_by_id).where(
            f.c.grid_id == sa.bindparam("in_grid"), f.c.name == sa.bindparam("field_name"))
        self.cas = self._cas(f, p)
        self.bump = (p.update().where(p.c.id == sa.bindparam("in_passage"),
                                      p.c.finalized_at.is_(None))
                     .values(agreed_revision=p.c.agreed_revision + 1, live_version=p.c.live_version + 1)
                     .returning(p.c.agreed_revision, p.c.live_version))
        self.insert_op = o.insert()
        self.fused_pg = self._fused_pg(p, f, o)
        self.fused_pg_whole = self._fused_pg(p, f, o, whole=True)
        self.replays = sa.select(o.c.op_id, o.c.result).where(
            o.c.op_id.in_(sa.bindparam("op_ids", expanding=True)))

    @staticmethod
    def _cas(f, p):
        """The field's compare-and-set, returning the new version (no row: stale base, or
        the passage is final: nothing is written to a locked mark's grids)."""
        return (f.update()
                .where(f.c.grid_id == sa.bindparam("in_grid"),
                       f.c.name == sa.bindparam("field_name"),
                       f.c.version == sa.bindparam("base"),
                       sa.exists().where(p.c.id == sa.bindparam("in_passage"),
                                         p.c.finalized_at.is_(None)))
                .values(value=sa.bindparam("new_value"), version=f.c.version + 1,
                        updated_at=sa.bindparam("now"), updated_by_id=sa.bindparam("by_user"))
                .returning(f.c.version))

    @classmethod
    def _fused_pg(cls, p, f, o, *, whole: bool = False):
        """PostgreSQL only: one op's compare-and-set, the agreed revision bump and the
        op's record in one statement (data-modifying CTEs). Returns (version: new
        version or NULL, revision: new revision or NULL, recorded: rows stored); on a
        conflict nothing is written and the caller goes the long way. ``live_version``: the
        passage's, after the bump. The bump re-checks
        ``finalized_at`` under the row's lock: a validation that finalised the mark
        meanwhile leaves a written field without a revision, and the caller refuses.

        ``whole``: the statement is all or nothing by itself (for a connection in
        autocommit, ``autosave_lone``): a field written without its op record, or to
        the agreed grid without the revision bump (final since the compare-and-set),
        makes the statement fail (``WHOLE_FAILURE``), which undoes all of it, as the
        caller's rollback does without ``whole``."""
        cas = cls._cas(f, p).cte("cas")
        bump = (p.update()
                .where(p.c.id == sa.bindparam("in_passage"), p.c.finalized_at.is_(None),
                       sa.bindparam("is_agreed", type_=sa.Boolean),
                       sa.exists(sa.select(cas.c.version)))
                .values(agreed_revision=p.c.agreed_revision + 1, live_version=p.c.live_version + 1)
                .returning(p.c.agreed_revision, p.c.live_version).cte("bump"))
        text = sa.Text()
        # The same result as save_fields builds for an applied op.
        result = sa.func.json_build_object(
            "op", sa.cast(sa.bindparam("op_id"), text),
            "field", sa.cast(sa.bindparam("field_name"), text), "status", "ok",
            "version", cas.c.version, "value", sa.cast(sa.bindparam("new_value"), text),
            type_=o.c.result.type)
        stored = (o.insert()
                  .from_select(["op_id", "user_id", "passage_id", "result", "created_at"],
                               sa.select(sa.cast(sa.bindparam("op_id"), o.c.op_id.type),
                                         sa.cast(sa.bindparam("by_user"), o.c.user_id.type),
                                         sa.cast(sa.bindparam("in_passage"),
                                                 o.c.passage_id.type),
                                         result,
                                         sa.bindparam("now", type_=o.c.created_at.type))
                               .select_from(cas))
                  .returning(o.c.id).cte("stored"))
        version = sa.select(cas.c.version).scalar_subquery()
        revision = sa.select(bump.c.agreed_revision).scalar_subquery()
        live_version = sa.select(bump.c.live_version).scalar_subquery()
        recorded = sa.select(sa.func.count()).select_from(stored).scalar_subquery()
        columns = [version.label("version"), revision.label("revision"),
                   live_version.label("live_version"), recorded.label("recorded")]
        if whole:
            # Not a constant (it reads the CTEs): evaluated at run time, never at planning.
            partial = sa.and_(version.isnot(None), sa.or_(
                recorded == 0, sa.and_(sa.bindparam("is_agreed", type_=sa.Boolean),
                                       revision.is_(None))))
            columns.append(sa.cast(sa.case((partial, WHOLE_FAILURE), else_="0"),
                                   sa.Integer).label("whole"))
        return sa.select(*columns)


# The text PostgreSQL fails to read as an integer when the fused statement would keep
# only part of a save (``_fused_pg(whole=True)``): its error undoes the statement.
WHOLE_FAILURE = "partial autosave undone"


@functools.cache
def statements() -> _Statements:
    """The statements, built on first use (the models must be mapped)."""
    return _Statements()


class FastStore:
    """Prebuilt statements on the connection; one fused statement on PostgreSQL."""

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection
        self.statements = statements()
        self.fuse = connection.dialect.name == "postgresql"

    def replays(self, op_ids: list[str]) -> dict[str, dict]:
        """The stored result of each already-applied operation id among ``op_ids``."""
        rows = self.connection.execute(self.statements.replays, {"op_ids": op_ids})
        return {row.op_id: row.result for row in rows}

    def current(self, *, grid_id: int, name: str) -> FieldRow | None:
        """The field as stored, or None when the grid has no such field."""
        row = self.connection.execute(self.statements.field,
                                      {"in_grid": grid_id, "field_name": name}).first()
        return None if row is None else FieldRow(row.value, row.version, row.updated_by_id)

    def write(self, change: FieldWrite) -> Written:
        """Compare-and-set; a lone op on PostgreSQL also records itself and bumps the revision."""
        params = {"in_grid": change.grid_id, "field_name": change.name, "base": change.base,
                  "new_value": change.value, "now": change.now, "by_user": change.user_id,
                  "in_passage": change.passage_id}
        if self.fuse and change.alone:
            row = self.connection.execute(self.statements.fused_pg, {
                **params, "op_id": change.op_id, "is_agreed": change.agreed}).one()
            return Written(version=row.version, revision=row.revision,
                           recorded=bool(row.recorded),
                           final=change.agreed and row.version is not None
                           and row.revision is None)
        return Written(version=self.connection.execute(self.statements.cas, params).scalar())

    def record_ops(self, rows: list[dict]) -> None:
        """Store operation records; a known op id fails with IntegrityError."""
        # One row as one execute (a list, even of one, goes the executemany way).
        self.connection.execute(self.statements.insert_op, rows[0] if len(rows) == 1 else rows)

    def bump_revision(self, *, passage_id: int) -> int | None:
        """Add one to the passage's agreed revision and return it (None: the passage is final)."""
        return self.connection.execute(self.statements.bump,
                                       {"in_passage": passage_id}).scalar()
