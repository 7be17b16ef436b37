"""Planner statistics after bulk loads (``extensions.analyze_after_bulk_loads``): a table
that one committed transaction loaded with ``DATABASE_ANALYZE_AFTER_ROWS`` rows or more is
analysed after the commit (PostgreSQL's ``pg_class.reltuples``, SQLite's
``sqlite_stat1``), whether the rows came through the ORM, a Core ``INSERT`` of many rows
or savepoints; fewer rows, or a rollback, analyse nothing. SQLite and PostgreSQL."""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa

from exam_app.enrolment.models import Establishment
from exam_app.extensions import analyze_after_bulk_loads

ROWS = 30
_numbers = itertools.count(1)


@pytest.fixture()
def threshold(app, db):
    postgres = db.engine.dialect.name == "postgresql"
    if postgres:  # autovacuum's own ANALYZE must not come in between (rows deleted by
        with db.engine.begin() as connection:  # every test add up to its threshold)
            connection.exec_driver_sql(
                "ALTER TABLE establishment SET (autovacuum_enabled = false)")
    analyze_after_bulk_loads(db.engine, ROWS)
    yield ROWS
    analyze_after_bulk_loads(db.engine, int(app.config["DATABASE_ANALYZE_AFTER_ROWS"]))
    if postgres:
        db.session.remove()
        with db.engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE establishment RESET (autovacuum_enabled)")


def _establishments(count: int) -> list[Establishment]:
    return [Establishment(uai=f"{next(_numbers):07d}Z", name="Lycée", city="Lyon")
            for _ in range(count)]


def _analysed_rows(db) -> float | None:
    """The row count the planner's statistics hold for ``establishment`` (None: none)."""
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            tuples = connection.execute(sa.text(
                "SELECT reltuples FROM pg_class WHERE relname = 'establishment'")).scalar()
            return None if tuples is None or tuples < 0 else float(tuples)
        stat = connection.execute(sa.text(
            "SELECT stat FROM sqlite_master m JOIN sqlite_stat1 s ON s.tbl = m.name "
            "WHERE m.name = 'establishment' ORDER BY s.idx IS NOT NULL LIMIT 1")
        ).scalar() if connection.execute(sa.text(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).scalar() else None
        return None if stat is None else float(stat.split()[0])


def _rows(db) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Establishment))


def test_a_committed_bulk_load_is_analysed(db, threshold):
    db.session.add_all(_establishments(ROWS + 7))
    db.session.commit()
    assert _analysed_rows(db) == _rows(db)


def test_rows_loaded_in_savepoints_are_analysed_at_the_commit(db, threshold):
    """A savepoint's release is no commit: the statistics are taken once the rows are."""
    before = _analysed_rows(db)
    for _ in range(3):
        with db.session.begin_nested():
            db.session.add_all(_establishments(ROWS // 2 + 1))
    assert _analysed_rows(db) == before  # nothing committed yet
    db.session.commit()
    assert _analysed_rows(db) == _rows(db)


def test_a_core_insert_of_many_rows_is_counted(db, threshold):
    db.session.execute(sa.insert(Establishment), [
        {"uai": f"{next(_numbers):07d}Y", "name": "Lycée", "city": "Lyon"}
        for _ in range(ROWS)])
    db.session.commit()
    assert _analysed_rows(db) == _rows(db)


def test_fewer_rows_or_a_rollback_analyse_nothing(db, threshold):
    db.session.add_all(_establishments(ROWS + 3))
    db.session.commit()
    analysed = _analysed_rows(db)
    assert analysed == _rows(db)
    db.session.add_all(_establishments(ROWS - 1))  # under the threshold
    db.session.commit()
    db.session.add_all(_establishments(ROWS + 3))  # rolled back
    db.session.flush()
    db.session.rollback()
    db.session.add_all(_establishments(2))  # a later small commit: the count is not carried
    db.session.commit()
    assert _analysed_rows(db) == analysed != _rows(db)


def test_off_when_the_threshold_is_zero(db, threshold):
    analyze_after_bulk_loads(db.engine, 0)
    db.session.add_all(_establishments(ROWS + 11))  # a count no other test leaves
    db.session.commit()
    assert _analysed_rows(db) != _rows(db)
