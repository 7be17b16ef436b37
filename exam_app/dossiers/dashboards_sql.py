"""The deposit dashboard's counts and filtered list in SQL aggregates (fast path).

The reference (``dashboards.establishment_rows`` and ``dashboards.deposit_list``) builds
the ``DossierView`` of every candidate of the session (candidate, dossier, files) to
show counts per establishment and a page of one state: its cost grew with the session.
Here the candidates are counted per establishment from their own rows, and only the
dossiers' files are grouped (the state of a candidate with a dossier for the unit: the
files of the unit's pieces counted per piece); a candidate without a dossier is
"missing". The list is filtered, counted and cut to a page in the database; views are
built for the candidates of that page only.

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
from exam_app.dossiers.dashboards import STATUS_LABELS, session_views
from exam_app.dossiers.models import Dossier, DossierFile
from exam_app.enrolment.models import Candidate, Establishment, ExamSession
from exam_app.enrolment.services import Page, clamp_page
from exam_app.extensions import db

STATUSES = tuple(STATUS_LABELS)  # deposited, incomplete, missing


def _state_is(column: sa.ColumnElement, key: str) -> sa.ColumnElement[bool]:
    """``column`` holds the state ``key`` (one of STATUSES, written in the statement)."""
    if key not in STATUSES:
        raise ValueError(f"unknown deposit state {key!r}")
    return column == sa.literal_column(f"'{key}'")


def _sitting(*, session: ExamSession, unit_code: str,
             establishment_id: int | None = None) -> tuple[sa.ColumnElement[bool], ...]:
    """The session's candidates who sit the unit (in this establishment)."""
    only = () if establishment_id is None else (Candidate.establishment_id == establishment_id,)
    return (Candidate.session_id == session.id, Candidate.sits_in(unit_code), *only)


def _dossier_states(*, session: ExamSession, unit_code: str,
                    establishment_id: int | None = None) -> sa.Subquery:
    """One row per candidate of the session who sits the unit AND has a dossier for it:
    id, establishment_id and status (``DossierView.status``). The others, most of the
    session until the deadline nears, are "missing" without a row to read: the statements
    below count them from the candidates alone, and group only the dossiers' files."""
    unit = dossier_unit(unit_code)
    per_piece = [sa.func.count(sa.case((DossierFile.piece_code == piece.code, DossierFile.id)))
                 for piece in unit.pieces]
    complete = sa.and_(*(count >= piece.min_count
                         for count, piece in zip(per_piece, unit.pieces, strict=True)))
    # Literal constants, not parameters: PostgreSQL types them as text in the CASE.
    status = sa.case((sa.func.count(DossierFile.id) == 0, sa.literal_column("'missing'")),
                     (complete, sa.literal_column("'deposited'")),
                     else_=sa.literal_column("'incomplete'"))
    return (sa.select(Candidate.id, Candidate.establishment_id, status.label("status"))
            .select_from(Dossier)
            .join(Candidate, Candidate.id == Dossier.candidate_id)
            .outerjoin(DossierFile, sa.and_(DossierFile.dossier_id == Dossier.id,
                                            DossierFile.piece_code.in_(
                                                [piece.code for piece in unit.pieces])))
            .where(Dossier.unit_code == unit_code,
                   *_sitting(session=session, unit_code=unit_code,
                             establishment_id=establishment_id))
            .group_by(Candidate.id, Candidate.establishment_id)
            .subquery("states"))


def establishment_rows(*, session: ExamSession, unit_code: str) -> list[dict]:
    """Per establishment with candidates of the unit (by name, then id): how many dossiers
    are deposited, incomplete, missing; three statements whatever the session (the
    candidates counted per establishment, the dossiers' states, the establishments)."""
    sitting = dict(db.session.execute(
        sa.select(Candidate.establishment_id, sa.func.count(Candidate.id))
        .where(*_sitting(session=session, unit_code=unit_code))
        .group_by(Candidate.establishment_id)).all())
    if not sitting:
        return []
    states = _dossier_states(session=session, unit_code=unit_code)
    filed = {row[0]: row[1:] for row in db.session.execute(
        sa.select(states.c.establishment_id,
                  *(sa.func.sum(sa.case((_state_is(states.c.status, key), 1), else_=0))
                    for key in ("deposited", "incomplete")))
        .group_by(states.c.establishment_id)).all()}
    establishments = {e.id: e for e in db.session.scalars(
        sa.select(Establishment).where(Establishment.id.in_(list(sitting))))}
    rows = []
    for establishment_id, candidates in sitting.items():
        deposited, incomplete = (int(n or 0) for n in filed.get(establishment_id, (0, 0)))
        rows.append({"establishment": establishments[establishment_id], "deposited": deposited,
                     "incomplete": incomplete, "missing": candidates - deposited - incomplete})
    # Sorted here, as the reference does (Python's order, whatever the database's collation).
    return sorted(rows, key=lambda r: (r["establishment"].name, r["establishment"].id))


def deposit_list(*, session: ExamSession, unit_code: str, status: str | None,
                 establishment_id: int | None, page: int, size: int,
                 rows: list[dict] | None = None) -> Page:
    """The candidates of the unit in this state and establishment, by name then id, ``size``
    a page: cut in the database, views built for the page's candidates. Counted from
    ``rows`` (``establishment_rows``, which the page shows anyway) when given, else in the
    database: one pass over the session's candidates less."""
    where = list(_sitting(session=session, unit_code=unit_code,
                          establishment_id=establishment_id))
    if status is not None:
        states = _dossier_states(session=session, unit_code=unit_code,
                                 establishment_id=establishment_id)
        if status == "missing":  # no dossier, or one without a file of the unit's pieces
            where.append(Candidate.id.not_in(
                sa.select(states.c.id).where(~_state_is(states.c.status, "missing"))))
        else:
            where.append(Candidate.id.in_(
                sa.select(states.c.id).where(_state_is(states.c.status, status))))
    if rows is not None:
        total = sum(row[status] if status else row["deposited"] + row["incomplete"]
                    + row["missing"] for row in rows
                    if establishment_id is None or row["establishment"].id == establishment_id)
    else:
        total = db.session.scalar(sa.select(sa.func.count(Candidate.id)).where(*where))
    page = clamp_page(page, total=total, per_page=size)
    ids = db.session.scalars(sa.select(Candidate.id).where(*where)
                             .order_by(Candidate.search_text, Candidate.id)
                             .limit(size).offset((page - 1) * size)).all()
    views = session_views(session=session, unit_code=unit_code, candidate_ids=set(ids)) \
        if ids else []
    return Page(views, total, page, size)
