"""Enrolment operations: candidate import, queries for lists and dashboards."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.enrolment import csv_import
from exam_app.enrolment.models import (
    Candidate,
    CandidateUnitForm,
    Centre,
    Establishment,
    ExamSession,
    search_key,
)
from exam_app.extensions import db
from exam_app.units import UnitForm, all_units


@dataclass(frozen=True)
class ImportReport:
    created: int
    updated: int
    unchanged: int
    establishments_created: int
    errors: list[csv_import.RowError]
    error_count: int
    encoding: str

    @property
    def ok(self) -> bool:
        return self.error_count == 0


class UnknownSession(LookupError):
    pass


def resolve_session(code: str | None) -> ExamSession:
    """The session with this code; without a code, the only session there is."""
    if code:
        session = db.session.scalar(sa.select(ExamSession).where(ExamSession.code == code))
        if session is None:
            raise UnknownSession(f"Aucune session n'a le code « {code} ».")
        return session
    sessions = db.session.scalars(sa.select(ExamSession).limit(2)).all()
    if len(sessions) != 1:
        raise UnknownSession(
            "Aucune session n'existe." if not sessions
            else "Plusieurs sessions existent : précisez --session CODE."
        )
    return sessions[0]


CANDIDATE_FIELDS = ("last_name", "first_name", "birth_date", "extra_time", "email")


def form_unit_code() -> str:
    """The unit whose form each candidate is enrolled in (E5: ponctuel or CCF): the
    import's form column, the list's form filter and the dashboard's split refer to it."""
    return next(u.code for u in all_units() if u.has_several_forms)


def _recorded_form(candidate: Candidate, unit_code: str) -> UnitForm | None:
    return next((r.form for r in candidate.unit_forms if r.unit_code == unit_code), None)


def import_candidates(*, session: ExamSession, data: bytes, actor, max_rows: int,
                      filename: str = "") -> ImportReport:
    """Validate every row, then create or update candidates, all or nothing.

    Idempotent on the candidate number: importing the same file twice
    changes nothing the second time. Nothing is written when any row is wrong.
    """
    parsed = csv_import.parse(data, max_rows=max_rows)
    # Also when other rows are wrong: list every error in one go, in line order.
    _check_establishments(parsed)
    parsed.errors.sort(key=lambda e: e.line)
    if not parsed.ok:
        return ImportReport(0, 0, 0, 0, parsed.errors, parsed.error_count, parsed.encoding)

    tally = _apply_rows(session=session, parsed=parsed)
    record(
        actor=actor,
        action="candidate.import",
        object_type="exam_session",
        object_id=session.id,
        session_id=session.id,
        after={
            "file": filename,
            "sha256": hashlib.sha256(data).hexdigest(),
            "rows": len(parsed.rows),
            "created": tally.created,
            "updated": tally.updated,
            "unchanged": tally.unchanged,
            "establishments_created": tally.establishments_created,
            "created_numbers": tally.created_numbers,
            "updated_numbers": tally.updated_numbers,
        },
    )
    return ImportReport(tally.created, tally.updated, tally.unchanged,
                        tally.establishments_created, [], 0, parsed.encoding)


@dataclass
class _Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    establishments_created: int = 0
    created_numbers: list[str] = field(default_factory=list)
    updated_numbers: list[str] = field(default_factory=list)

    def count(self, outcome: str, number: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        if outcome != "unchanged":
            getattr(self, f"{outcome}_numbers").append(number)


# Rows written per statement by the fast path: what it holds for the writing does not
# grow with the file (beside the parsed rows and the numbers the audit event lists).
BATCH_ROWS = 500


def _apply_rows(*, session: ExamSession, parsed: csv_import.ParseResult) -> _Tally:
    """Create the new establishments and candidates, update the changed candidates: the
    fast path, with the outcome of ``_apply_rows_reference`` (tests/enrolment/
    test_import_fast_path.py checks they agree). Candidates are read, inserted and
    updated BATCH_ROWS at a time with plain statements, never loaded as ORM objects."""
    db.session.flush()
    tally = _Tally()
    now = utcnow()
    unit = form_unit_code()
    establishment_ids = _establishment_ids(parsed, tally)
    for start in range(0, len(parsed.rows), BATCH_ROWS):
        _apply_batch(session_id=session.id, rows=parsed.rows[start:start + BATCH_ROWS],
                     establishment_ids=establishment_ids, unit=unit, now=now, tally=tally)
    # Objects of these classes already in the ORM session would be stale.
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Candidate | CandidateUnitForm):
            db.session.expire(obj)
    return tally


def _establishment_ids(parsed: csv_import.ParseResult, tally: _Tally) -> dict[str, int]:
    """The id of each UAI of the file, the establishments the file names created."""
    uais = {r.uai for r in parsed.rows}
    ids = dict(db.session.execute(
        sa.select(Establishment.uai, Establishment.id).where(Establishment.uai.in_(uais))).all())
    new = []
    for row in parsed.rows:
        if row.uai not in ids:
            # A new UAI may be named on any of its rows, not only the first.
            new.append(Establishment(uai=row.uai, name=parsed.uai_names[row.uai]))
            ids[row.uai] = 0
    if new:
        db.session.add_all(new)
        db.session.flush()
        ids.update((e.uai, e.id) for e in new)
        tally.establishments_created = len(new)
    return ids


_CANDIDATES = Candidate.__table__
_FORMS = CandidateUnitForm.__table__


def _apply_batch(*, session_id: int, rows: list[csv_import.CandidateRow],
                 establishment_ids: dict[str, int], unit: str, now, tally: _Tally) -> None:
    current = {r.number: r for r in db.session.execute(
        sa.select(Candidate.id, Candidate.number, Candidate.last_name, Candidate.first_name,
                  Candidate.birth_date, Candidate.extra_time, Candidate.email,
                  Candidate.establishment_id, CandidateUnitForm.form)
        .outerjoin(CandidateUnitForm, sa.and_(CandidateUnitForm.candidate_id == Candidate.id,
                                              CandidateUnitForm.unit_code == unit))
        .where(Candidate.session_id == session_id,
               Candidate.number.in_([r.number for r in rows])))}
    new, new_forms, changed, forms_changed, forms_added = [], [], [], [], []
    # (after the loop: one executemany each for the new candidates, their forms, the
    # updates and the changed or missing forms)
    for row in rows:
        values = {"last_name": row.last_name, "first_name": row.first_name,
                  "birth_date": row.birth_date, "extra_time": row.extra_time,
                  "email": row.email, "establishment_id": establishment_ids[row.uai],
                  "search_text": search_key(row.last_name, row.first_name, row.number),
                  "updated_at": now}
        old = current.get(row.number)
        if old is None:
            new.append({**values, "session_id": session_id, "number": row.number,
                        "created_at": now})
            new_forms.append(UnitForm(row.e5_form))
            tally.count("created", row.number)
            continue
        same = all(getattr(old, k) == values[k] for k in CANDIDATE_FIELDS) and (
            old.establishment_id == values["establishment_id"])
        if same and old.form == row.e5_form:
            tally.count("unchanged", row.number)
            continue
        # Every value set (the unchanged ones to what they are), updated_at included.
        changed.append({**values, "b_id": old.id})
        if old.form != row.e5_form:
            form = {"b_id": old.id, "b_unit": unit, "form": UnitForm(row.e5_form)}
            (forms_added if old.form is None else forms_changed).append(form)
        tally.count("updated", row.number)
    if new:
        # A plain executemany, then the ids by number: INSERT ... RETURNING of many rows
        # is one huge statement that psycopg re-parses each time (over half of the batches'
        # time under cProfile on PostgreSQL).
        db.session.execute(sa.insert(_CANDIDATES), new)
        ids = dict(db.session.execute(
            sa.select(Candidate.number, Candidate.id).where(
                Candidate.session_id == session_id,
                Candidate.number.in_([c["number"] for c in new]))).all())
        db.session.execute(sa.insert(_FORMS), [
            {"candidate_id": ids[c["number"]], "unit_code": unit, "form": form}
            for c, form in zip(new, new_forms, strict=True)])
    if changed:
        db.session.execute(sa.update(_CANDIDATES).where(
            _CANDIDATES.c.id == sa.bindparam("b_id")), changed)
    if forms_changed:
        db.session.execute(sa.update(_FORMS).where(
            _FORMS.c.candidate_id == sa.bindparam("b_id"),
            _FORMS.c.unit_code == sa.bindparam("b_unit")), forms_changed)
    if forms_added:
        db.session.execute(sa.insert(_FORMS), [
            {"candidate_id": f["b_id"], "unit_code": unit, "form": f["form"]}
            for f in forms_added])


def _apply_rows_reference(*, session: ExamSession, parsed: csv_import.ParseResult) -> _Tally:
    """The plain version of ``_apply_rows``, one ORM object per candidate: what the fast
    path must agree with (kept for the equivalence test)."""
    establishments = {
        e.uai: e
        for e in db.session.scalars(
            sa.select(Establishment).where(Establishment.uai.in_({r.uai for r in parsed.rows}))
        )
    }
    existing = {
        c.number: c
        for c in db.session.scalars(
            sa.select(Candidate).where(
                Candidate.session_id == session.id,
                Candidate.number.in_([r.number for r in parsed.rows]),
            ).options(selectinload(Candidate.unit_forms))
        )
    }
    tally = _Tally()
    now = utcnow()
    for row in parsed.rows:
        establishment = establishments.get(row.uai)
        if establishment is None:
            # A new UAI may be named on any of its rows, not only the first.
            establishment = Establishment(uai=row.uai, name=parsed.uai_names[row.uai])
            db.session.add(establishment)
            establishments[row.uai] = establishment
            tally.establishments_created += 1
        outcome = _apply_row(session=session, row=row, establishment=establishment,
                             existing=existing, now=now)
        tally.count(outcome, row.number)
    db.session.flush()
    return tally


def _apply_row(*, session: ExamSession, row: csv_import.CandidateRow,
               establishment: Establishment, existing: dict[str, Candidate], now) -> str:
    """Create or update the row's candidate: "created", "updated" or "unchanged"."""
    values = {
        "last_name": row.last_name,
        "first_name": row.first_name,
        "birth_date": row.birth_date,
        "extra_time": row.extra_time,
        "email": row.email,
    }
    candidate = existing.get(row.number)
    if candidate is None:
        candidate = Candidate(session_id=session.id, number=row.number,
                              establishment=establishment, created_at=now, updated_at=now,
                              **values)
        candidate.set_form(form_unit_code(), row.e5_form)
        candidate.refresh_search_text()
        db.session.add(candidate)
        existing[row.number] = candidate
        return "created"
    changed = {k: v for k, v in values.items() if getattr(candidate, k) != v}
    if candidate.establishment_id != getattr(establishment, "id", None):
        changed["establishment"] = establishment
    form_changed = _recorded_form(candidate, form_unit_code()) != row.e5_form
    if not changed and not form_changed:
        return "unchanged"
    for key, value in changed.items():
        setattr(candidate, key, value)
    if form_changed:
        candidate.set_form(form_unit_code(), row.e5_form)
    candidate.updated_at = now
    candidate.refresh_search_text()
    return "updated"


def _check_establishments(parsed: csv_import.ParseResult) -> None:
    """Unknown UAI codes are errors unless the same file names the establishment."""
    uais = {uai for _, uai in parsed.uai_lines}
    if not uais:
        return
    known = set(db.session.scalars(sa.select(Establishment.uai).where(Establishment.uai.in_(uais))))
    for line, uai in parsed.uai_lines:
        if uai not in known and uai not in parsed.uai_names:
            parsed.error(
                line,
                "UAI",
                f"établissement {uai} inconnu : ajoutez son nom dans une colonne "
                "« Établissement » ou créez-le d'abord.",
            )


def by_name(establishment: Establishment) -> tuple[str, str]:
    """Sort key: establishments in French alphabetical order (accents ignored)."""
    return search_key(establishment.name), establishment.uai


@dataclass(frozen=True)
class CandidateFilters:
    q: str = ""
    establishment_id: int | None = None
    centre_id: int | None = None
    # The candidate's form in the unit that has several (form_unit_code()).
    form: str | None = None


def candidate_query(session: ExamSession, filters: CandidateFilters) -> sa.Select:
    """Candidates of a session matching the filters, in alphabetical order."""
    query = sa.select(Candidate).where(Candidate.session_id == session.id)
    key = search_key(filters.q).strip()
    if key:
        for word in key.split()[:5]:
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(Candidate.search_text.like(f"%{escaped}%", escape="\\"))
    if filters.establishment_id:
        query = query.where(Candidate.establishment_id == filters.establishment_id)
    if filters.centre_id:
        query = query.where(Candidate.centre_id == filters.centre_id)
    if filters.form in {f.value for f in UnitForm}:
        query = query.where(Candidate.sits_in(form_unit_code(), filters.form))
    # search_text is "LAST FIRST NUMBER" without accents: French alphabetical order on
    # every backend (by last_name, ÉMERY would come after ZOLA in C collations).
    return query.options(selectinload(Candidate.unit_forms)).order_by(
        Candidate.search_text, Candidate.id)


@dataclass(frozen=True)
class Page:
    items: list
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def paginate(query: sa.Select, *, page: int, per_page: int) -> Page:
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    page = max(1, min(page, max(1, -(-total // per_page))))
    items = db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).unique().all()
    return Page(list(items), total, page, per_page)


def dashboard_counts(session: ExamSession) -> dict:
    """Candidates per centre and per establishment, split by E5 form, plus totals."""
    form_count = {
        form.value: sa.func.sum(sa.case((CandidateUnitForm.form == form, 1), else_=0))
        for form in UnitForm
    }
    # At most one row per candidate: the counts of candidates are unchanged by the join.
    with_form = (CandidateUnitForm, sa.and_(CandidateUnitForm.candidate_id == Candidate.id,
                                            CandidateUnitForm.unit_code == form_unit_code()))
    by_centre = db.session.execute(
        sa.select(Centre, sa.func.count(Candidate.id), form_count["ponctuel"], form_count["ccf"])
        .outerjoin(Candidate, Candidate.centre_id == Centre.id)
        .outerjoin(*with_form)
        .where(Centre.session_id == session.id)
        .group_by(Centre.id)
        .order_by(Centre.code)
    ).all()
    by_establishment = db.session.execute(
        sa.select(Establishment, sa.func.count(Candidate.id), form_count["ponctuel"],
                  form_count["ccf"])
        .join(Candidate, Candidate.establishment_id == Establishment.id)
        .outerjoin(*with_form)
        .where(Candidate.session_id == session.id)
        .group_by(Establishment.id)
    ).all()
    total, ponctuel, ccf, no_centre = db.session.execute(
        sa.select(
            sa.func.count(Candidate.id),
            form_count["ponctuel"],
            form_count["ccf"],
            sa.func.sum(sa.case((Candidate.centre_id.is_(None), 1), else_=0)),
        ).select_from(Candidate).outerjoin(*with_form).where(Candidate.session_id == session.id)
    ).one()
    return {
        "by_centre": [(c, n, p or 0, f or 0) for c, n, p, f in by_centre],
        "by_establishment": sorted(((e, n, p or 0, f or 0) for e, n, p, f in by_establishment),
                                   key=lambda row: by_name(row[0])),
        "total": total,
        "ponctuel": ponctuel or 0,
        "ccf": ccf or 0,
        "without_centre": no_centre or 0,
    }
