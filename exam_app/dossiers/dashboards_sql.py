"""The deposit dashboard's counts and filtered list in SQL aggregates (fast path).

The reference (``dashboards.establishment_rows`` and ``dashboards.deposit_list``) builds
the ``DossierView`` of every candidate of the session (candidate, dossier, files) to
show counts per establishment and a page of one state: its cost grew with the session.
Here each candidate's state is one row of a grouped statement (the candidate, its dossier
for the unit, the files of the unit's pieces counted per piece), counted per
establishment, or filtered, counted and cut to a page in the database; views are built
for the candidates of that page only.

The state is ``DossierView.status``: "missing" without a file of the unit's pieces (a file
of a piece the definition no longer lists is not one), "deposited" when every piece has
its ``min_count`` files, "incomplete" otherwise. Deadlines, extensions and decisions do not
enter it. Only the candidates who sit the unit are counted (``Candidate.sits_in``).

Same interface and results as the reference (``DEPOSIT_DASHBOARD_PATH=reference`` selects
it); tests/dossiers/test_deposit_dashboard.py compares them in varied states.
"""

from __future__ import annotations

import sqlalchemy as sa

from exam_app.dossiers.common import dossier_unit
from exam_app.dossiers.dashboards import STATUS_LABELS, DepositList, page_bounds, session_views
from exam_app.dossiers.models import Dossier, DossierFile
from exam_app.enrolment.models import Candidate, Establishment, ExamSession
from exam_app.extensions import db

STATUSES = tuple(STATUS_LABELS)  # deposited, incomplete, missing


def _state_is(column: sa.ColumnElement, key: str) -> sa.ColumnElement[bool]:
    """``column`` holds the state ``key`` (one of STATUSES, written in the statement)."""
    if key not in STATUSES:
        raise ValueError(f"unknown deposit state {key!r}")
    return column == sa.literal_column(f"'{key}'")


def _states(*, session: ExamSession, unit_code: str,
            establishment_id: int | None = None) -> sa.Subquery:
    """One row per candidate of the session who sits the unit: id, establishment_id,
    search_text (the list's order) and status (``DossierView.status``)."""
    unit = dossier_unit(unit_code)
    per_piece = [sa.func.count(sa.case((DossierFile.piece_code == piece.code, DossierFile.id)))
                 for piece in unit.pieces]
    complete = sa.and_(*(count >= piece.min_count
                         for count, piece in zip(per_piece, unit.pieces, strict=True)))
    # Literal constants, not parameters: PostgreSQL types them as text in the CASE.
    status = sa.case((sa.func.count(DossierFile.id) == 0, sa.literal_column("'missing'")),
                     (complete, sa.literal_column("'deposited'")),
                     else_=sa.literal_column("'incomplete'"))
    only = () if establishment_id is None else (Candidate.establishment_id == establishment_id,)
    return (sa.select(Candidate.id, Candidate.establishment_id, Candidate.search_text,
                      status.label("status"))
            .select_from(Candidate)
            .outerjoin(Dossier, sa.and_(Dossier.candidate_id == Candidate.id,
                                        Dossier.unit_code == unit_code))
            .outerjoin(DossierFile, sa.and_(DossierFile.dossier_id == Dossier.id,
                                            DossierFile.piece_code.in_(
                                                [piece.code for piece in unit.pieces])))
            .where(Candidate.session_id == session.id, Candidate.sits_in(unit_code), *only)
            .group_by(Candidate.id, Candidate.establishment_id, Candidate.search_text)
            .subquery("states"))


def establishment_rows(*, session: ExamSession, unit_code: str) -> list[dict]:
    """Per establishment with candidates of the unit (by name, then id): how many dossiers
    are deposited, incomplete, missing; two statements whatever the session."""
    states = _states(session=session, unit_code=unit_code)
    counts = db.session.execute(
        sa.select(states.c.establishment_id,
                  *(sa.func.sum(sa.case((_state_is(states.c.status, key), 1), else_=0)).label(key)
                    for key in STATUSES))
        .group_by(states.c.establishment_id)).all()
    if not counts:
        return []
    establishments = {e.id: e for e in db.session.scalars(
        sa.select(Establishment).where(Establishment.id.in_([row[0] for row in counts])))}
    rows = [{"establishment": establishments[row[0]],
             **{key: int(value) for key, value in zip(STATUSES, row[1:], strict=True)}}
            for row in counts]
    # Sorted here, as the reference does (Python's order, whatever the database's collation).
    return sorted(rows, key=lambda r: (r["establishment"].name, r["establishment"].id))


def deposit_list(*, session: ExamSession, unit_code: str, status: str | None,
                 establishment_id: int | None, page: int, size: int) -> DepositList:
    """The candidates of the unit in this state and establishment, by name then id, ``size``
    a page: counted and cut in the database, views built for the page's candidates."""
    states = _states(session=session, unit_code=unit_code, establishment_id=establishment_id)
    kept = () if status is None else (_state_is(states.c.status, status),)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(states).where(*kept))
    page, pages = page_bounds(total, page, size)
    ids = db.session.scalars(sa.select(states.c.id).where(*kept)
                             .order_by(states.c.search_text, states.c.id)
                             .limit(size).offset((page - 1) * size)).all()
    views = session_views(session=session, unit_code=unit_code, candidate_ids=set(ids)) \
        if ids else []
    return DepositList(views=views, total=total, page=page, pages=pages)
