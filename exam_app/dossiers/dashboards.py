"""The académie's deposit dashboard: every candidate's dossier for a unit in a
few queries, counts per establishment, and the ``depots.csv`` export.

``establishment_rows`` and ``deposit_list`` are the plain reference of the dashboard's
counts and filtered list: every candidate's ``DossierView`` built, then counted and
filtered in Python. ``dashboards_sql`` gives the same in SQL aggregates, building views
for the candidates of the page only (``DEPOSIT_DASHBOARD_PATH=reference`` selects these);
tests/dossiers/test_deposit_dashboard.py compares them in varied states.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from exam_app.clock import utcnow
from exam_app.csv_export import stream_csv, write_csv
from exam_app.dossiers.common import dossier_unit, units_with_dossier
from exam_app.dossiers.deadlines import session_deadline
from exam_app.dossiers.models import Decision, DepositDeadline, Dossier
from exam_app.dossiers.state import DossierView
from exam_app.enrolment.models import Candidate, ExamSession
from exam_app.enrolment.services import Page, clamp_page
from exam_app.extensions import db

STATUS_LABELS = {"deposited": "Déposé (complet)", "incomplete": "Incomplet", "missing": "Absent"}

CSV_HEADER = ("N° candidat", "Nom", "Prénom", "UAI", "Établissement", "Épreuve", "État",
              "Fichiers", "Pièces complètes", "Décision")


def session_views(*, session: ExamSession, unit_code: str, now: datetime | None = None,
                  candidate_ids: set[int] | None = None) -> list[DossierView]:
    """Every candidate's dossier view for a unit, in a few queries (dashboards, queue):
    only the candidates who sit the unit (no dossier is asked of the others).

    ``candidate_ids``: only those candidates of the session (e.g. a print pack's).
    """
    now = now or utcnow()
    unit = dossier_unit(unit_code)
    only = () if candidate_ids is None else (Candidate.id.in_(sorted(candidate_ids)),)
    candidates = db.session.scalars(
        sa.select(Candidate).where(Candidate.session_id == session.id,
                                   Candidate.sits_in(unit_code), *only)
        .order_by(Candidate.search_text, Candidate.id)).all()  # French order: É with E
    dossiers = {d.candidate_id: d for d in db.session.scalars(
        sa.select(Dossier).join(Candidate).where(Candidate.session_id == session.id,
                                                  Dossier.unit_code == unit_code, *only)
        .options(sa.orm.selectinload(Dossier.files)))}
    deadline = session_deadline(session_id=session.id, unit_code=unit_code)
    views = []
    for candidate in candidates:
        dossier = dossiers.get(candidate.id)
        files = dossier.files if dossier else []
        view = DossierView(candidate=candidate, unit=unit, dossier=dossier, now=now,
                           deadline=(dossier.extended_until if dossier and dossier.extended_until
                                     else deadline))
        views.append(view.add_pieces(files, session))
    return views


@dataclass
class QueuePage:
    views: list[DossierView]
    total: int  # candidates of the unit
    decided: int  # of them, whose dossier is decided
    next_after: int | None  # the keyset's last candidate when more are listed after this page
    first_page: bool


def queue_page(*, session: ExamSession, unit_code: str, pending_only: bool,
               after: int | None, size: int) -> QueuePage:
    """A page of the conformity queue: ``size`` candidates of the unit by name (only those
    whose dossier is not decided when ``pending_only``), after the candidate ``after``
    (keyset: a decision taken meanwhile does not shift the pages), counted in SQL."""
    sits = (Candidate.session_id == session.id, Candidate.sits_in(unit_code))
    decided_dossier = sa.select(Dossier.id).where(Dossier.candidate_id == Candidate.id,
                                                  Dossier.unit_code == unit_code,
                                                  Dossier.decision.is_not(None)).exists()
    total = db.session.scalar(sa.select(sa.func.count(Candidate.id)).where(*sits))
    decided = db.session.scalar(sa.select(sa.func.count(Candidate.id)).where(*sits,
                                                                            decided_dossier))
    # The keyset is the order the page is listed in (search_text: French order, É with E,
    # whatever the case): keyed by raw last_name but listed by search_text, a page's last
    # listed candidate was not the keyset's, and the next page repeated or skipped some.
    order = (Candidate.search_text, Candidate.id)
    query = sa.select(Candidate.id).where(*sits)
    if pending_only:
        query = query.where(~decided_dossier)
    anchor = db.session.execute(sa.select(*order).where(Candidate.id == after, *sits)).first() \
        if after is not None else None
    if anchor is not None:
        query = query.where(sa.tuple_(*order) > sa.tuple_(*(sa.literal(v) for v in anchor)))
    ids = db.session.scalars(query.order_by(*order).limit(size + 1)).all()
    page_ids = ids[:size]
    by_id = {v.candidate.id: v for v in session_views(
        session=session, unit_code=unit_code, candidate_ids=set(page_ids))} if ids else {}
    # A candidate whose registration changed between the two reads (no longer sitting
    # the unit) is not in the views: left out of this page, as of the next.
    return QueuePage(views=[by_id[i] for i in page_ids if i in by_id], total=total,
                     decided=decided,
                     next_after=page_ids[-1] if len(ids) > size else None,
                     first_page=anchor is None)


def establishment_counts(views: list[DossierView]) -> list[dict]:
    """Per establishment (by name, then id): how many dossiers are deposited, incomplete,
    missing."""
    by_establishment: dict[int, dict] = {}
    for view in views:
        est = view.candidate.establishment
        row = by_establishment.setdefault(est.id, {"establishment": est, "deposited": 0,
                                                   "incomplete": 0, "missing": 0})
        row[view.status] += 1
    return sorted(by_establishment.values(),
                  key=lambda r: (r["establishment"].name, r["establishment"].id))


def establishment_rows(*, session: ExamSession, unit_code: str) -> list[dict]:
    """The dashboard's rows (``establishment_counts``), from every candidate's view."""
    return establishment_counts(session_views(session=session, unit_code=unit_code))


def deposit_list(*, session: ExamSession, unit_code: str, status: str | None,
                 establishment_id: int | None, page: int, size: int,
                 rows: list[dict] | None = None) -> Page:
    """The candidates of the unit in this state (``STATUS_LABELS``) and establishment
    (either may be None: any), by name then id, ``size`` a page (their views). ``rows``: the
    dashboard's ``establishment_rows``, which the fast path counts the list from (here
    unused: the views are counted)."""
    views = [v for v in session_views(session=session, unit_code=unit_code)
             if (status is None or v.status == status)
             and (establishment_id is None or v.candidate.establishment_id == establishment_id)]
    page = clamp_page(page, total=len(views), per_page=size)
    return Page(views[(page - 1) * size:page * size], len(views), page, size)


def _csv_row(v: DossierView, unit_code: str) -> list:
    """One candidate's row of ``depots.csv``."""
    decision = Decision(v.dossier.decision).label if v.dossier and v.dossier.decision else ""
    return [v.candidate.number, v.candidate.last_name, v.candidate.first_name,
            v.candidate.establishment.uai, v.candidate.establishment.name,
            unit_code, STATUS_LABELS[v.status], len(v.files),
            f"{sum(p.complete for p in v.pieces)}/{len(v.pieces)}", decision]


def deposits_csv(views: list[DossierView], unit_code: str) -> bytes:
    """The deposit state of every candidate of the views, as CSV bytes (``write_csv``)."""
    return write_csv(CSV_HEADER, [_csv_row(v, unit_code) for v in views])


# Candidates a batch of the streamed ``depots.csv``: each batch's views are built together
# (a fixed number of queries a batch) and written out before the next batch is read. The
# first batch is smaller, so that the download starts after the same work whatever the
# session.
CSV_BATCH = 500
CSV_FIRST_BATCH = 100


def _candidate_batches(*, session_id: int, unit_code: str) -> Iterator[list[int]]:
    """The ids of the unit's candidates in ``session_views``'s order (name, then id),
    CSV_FIRST_BATCH then CSV_BATCH at a time, each batch read after the one before it."""
    order = (Candidate.search_text, Candidate.id)
    size, after = CSV_FIRST_BATCH, None
    while True:
        query = (sa.select(*order)
                 .where(Candidate.session_id == session_id, Candidate.sits_in(unit_code))
                 .order_by(*order).limit(size))
        if after is not None:
            query = query.where(sa.tuple_(*order) > sa.tuple_(*(sa.literal(v) for v in after)))
        batch = db.session.execute(query).all()
        if batch:
            yield [row.id for row in batch]
        if len(batch) < size:
            return
        size, after = CSV_BATCH, tuple(batch[-1])


def iter_deposit_rows(*, session: ExamSession, unit_code: str,
                      now: datetime | None = None) -> Iterator[list]:
    """The rows of ``deposits_csv`` for every candidate of the unit, a batch at a time."""
    now = now or utcnow()
    for ids in _candidate_batches(session_id=session.id, unit_code=unit_code):
        for view in session_views(session=session, unit_code=unit_code, now=now,
                                  candidate_ids=set(ids)):
            yield _csv_row(view, unit_code)


def stream_deposits_csv(*, session: ExamSession, unit_code: str) -> Iterator[bytes]:
    """The same file as ``deposits_csv`` of every candidate's view, in pieces, each batch
    of candidates read when the previous one is written."""
    return stream_csv(CSV_HEADER, iter_deposit_rows(session=session, unit_code=unit_code),
                      rows_per_chunk=CSV_BATCH, first_rows=CSV_FIRST_BATCH)


def undecided_after_deadline_counts(*, session: ExamSession,
                                    now: datetime | None = None) -> dict[str, int]:
    """Per unit with a dossier: how many candidates' dossiers (deposited or not) have no
    conformity decision although their deadline (extension, else the session's) has
    passed. One query for every unit, whatever the number of candidates."""
    now = now or utcnow()
    columns = []
    for unit in units_with_dossier():
        deadline = (sa.select(DepositDeadline.deadline_at)
                    .where(DepositDeadline.session_id == session.id,
                           DepositDeadline.unit_code == unit.code)
                    .scalar_subquery())
        passed = sa.func.coalesce(Dossier.extended_until, deadline)
        columns.append(
            sa.select(sa.func.count(Candidate.id))
            .select_from(Candidate)
            .outerjoin(Dossier, sa.and_(Dossier.candidate_id == Candidate.id,
                                        Dossier.unit_code == unit.code))
            .where(Candidate.session_id == session.id, Dossier.decision.is_(None),
                   passed < now)
            .scalar_subquery().label(unit.code))
    if not columns:
        return {}
    row = db.session.execute(sa.select(*columns)).one()
    return {unit.code: count or 0 for unit, count in zip(units_with_dossier(), row, strict=True)}
