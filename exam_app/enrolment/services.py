"""Enrolment operations: candidate import, queries for lists and dashboards."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from exam_app.accounts.models import User
from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.enrolment import csv_import, results_lock
from exam_app.enrolment.models import (
    Candidate,
    CandidateStatus,
    CandidateUnitForm,
    Centre,
    CentreOrigin,
    Establishment,
    ExamSession,
    RegistrationKind,
    UnitRegistration,
    search_key,
)
from exam_app.extensions import db
from exam_app.formatting import french_sort_key
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


def _row_form(row: csv_import.CandidateRow, candidate: Candidate) -> UnitForm | None:
    """The E5 form the row sets: the file's, else the status's default for a new candidate
    or one whose status changes; None to keep the recorded form."""
    from exam_app.enrolment.registration import default_form

    if row.e5_form:
        return UnitForm(row.e5_form)
    if candidate.id is None or candidate.status != (CandidateStatus(row.status)
                                                    if row.status else None):
        return default_form(CandidateStatus(row.status) if row.status else None,
                            candidate.establishment)
    return None


def import_candidates(*, session: ExamSession, data: bytes, actor, max_rows: int,
                      filename: str = "") -> ImportReport:
    """Validate every row, then create or update candidates, all or nothing.

    Idempotent on the candidate number: importing the same file twice
    changes nothing the second time. Nothing is written when any row is wrong.
    """
    parsed = csv_import.parse(data, max_rows=max_rows)
    # Also when other rows are wrong: list every error in one go, in line order.
    _check_establishments(parsed)
    centres = _check_centres(parsed, session)
    parsed.errors.sort(key=lambda e: e.line)
    if not parsed.ok:
        return ImportReport(0, 0, 0, 0, parsed.errors, parsed.error_count, parsed.encoding)
    # Statuses and forms decide results: locked with them once the délibération is closed.
    results_lock.ensure_open(session.id)
    tally = _apply_rows(session=session, parsed=parsed, centres=centres)
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


def _apply_rows(*, session: ExamSession, parsed: csv_import.ParseResult,
                centres: dict[str, Centre]) -> _Tally:
    """Create the new establishments and candidates, update the changed candidates: the
    fast path, with the outcome of ``_apply_rows_reference`` (tests/enrolment/
    test_import_fast_path.py checks they agree). Candidates are read, inserted and
    updated BATCH_ROWS at a time with plain statements, never loaded as ORM objects."""
    db.session.flush()
    tally = _Tally()
    batch = _Batch(session_id=session.id, unit=form_unit_code(), now=utcnow(),
                   establishments=_establishments(parsed, tally),
                   centre_ids={code: c.id for code, c in centres.items()})
    for start in range(0, len(parsed.rows), BATCH_ROWS):
        _apply_batch(batch, parsed.rows[start:start + BATCH_ROWS], tally)
    # Objects of these classes already in the ORM session would be stale.
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Candidate | UnitRegistration):
            db.session.expire(obj)
    return tally


def _establishments(parsed: csv_import.ParseResult, tally: _Tally) -> dict[str, Establishment]:
    """The establishment of each UAI of the file, the ones the file names created."""
    establishments = {e.uai: e for e in db.session.scalars(
        sa.select(Establishment).where(Establishment.uai.in_({r.uai for r in parsed.rows})))}
    new = []
    for row in parsed.rows:
        if row.uai not in establishments:
            # A new UAI may be named on any of its rows, not only the first.
            establishment = Establishment(uai=row.uai, name=parsed.uai_names[row.uai])
            new.append(establishment)
            establishments[row.uai] = establishment
    if new:
        db.session.add_all(new)
        db.session.flush()
        tally.establishments_created = len(new)
    return establishments


@dataclass
class _Batch:
    """What every batch of the fast path shares."""

    session_id: int
    unit: str
    now: datetime
    establishments: dict[str, Establishment]  # by UAI
    centre_ids: dict[str, int]  # by code

    def establishment(self, establishment_id: int) -> Establishment:
        """A candidate's current establishment (its CCF flag gives the default form)."""
        return db.session.get(Establishment, establishment_id)


_CANDIDATES = Candidate.__table__
_REGISTRATIONS = UnitRegistration.__table__


def _apply_batch(batch: _Batch, rows: list[csv_import.CandidateRow], tally: _Tally) -> None:
    """``_apply_row``'s decisions for these rows, written with one statement per kind
    of change (executemany)."""
    from exam_app.enrolment.registration import default_form

    unit = batch.unit
    current = {r.number: r for r in db.session.execute(
        sa.select(Candidate.id, Candidate.number, Candidate.last_name, Candidate.first_name,
                  Candidate.birth_date, Candidate.extra_time, Candidate.email,
                  Candidate.establishment_id, Candidate.centre_id, Candidate.status)
        .where(Candidate.session_id == batch.session_id,
               Candidate.number.in_([r.number for r in rows])))}
    # Their E5 registrations by a second lookup (primary key), not an outer join: right
    # after a first import PostgreSQL's statistics still say the tables are empty, and
    # the join it then plans (nested loop over every registration) took 0.2-0.4 s a batch.
    registrations = {r.candidate_id: r for r in db.session.execute(
        sa.select(UnitRegistration.candidate_id, UnitRegistration.kind, UnitRegistration.form)
        .where(UnitRegistration.candidate_id.in_([c.id for c in current.values()]),
               UnitRegistration.unit_code == unit))} if current else {}
    new, new_forms, forms_changed, forms_added = [], [], [], []
    # Updates grouped by the columns they set: the status only from a row that gives
    # one, the centre only on a candidate who has none.
    changed: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        establishment = batch.establishments[row.uai]
        status = CandidateStatus(row.status) if row.status else None
        centre_id = batch.centre_ids[row.centre] if row.centre else None
        values = {"last_name": row.last_name, "first_name": row.first_name,
                  "birth_date": row.birth_date, "extra_time": row.extra_time,
                  "email": row.email, "establishment_id": establishment.id,
                  "search_text": search_key(row.last_name, row.first_name, row.number),
                  "updated_at": batch.now}
        old = current.get(row.number)
        if old is None:
            new.append({**values, "session_id": batch.session_id, "number": row.number,
                        "status": status, "centre_id": centre_id,
                        "centre_origin": CentreOrigin.IMPORT if centre_id else None,
                        "created_at": batch.now})
            new_forms.append(UnitForm(row.e5_form) if row.e5_form
                             else default_form(status, establishment))
            tally.count("created", row.number)
            continue
        same = all(getattr(old, k) == values[k] for k in CANDIDATE_FIELDS) and (
            old.establishment_id == establishment.id)
        # A file without a "Statut" column (or a row without one) leaves the status.
        if row.status is not None:
            values["status"] = status
            same = same and old.status == status
        if centre_id is not None and old.centre_id is None:
            values["centre_id"], values["centre_origin"] = centre_id, CentreOrigin.IMPORT
            same = False
        # The form the row sets (``_row_form``): the file's, else the status's default
        # when the status changes (with the establishment the candidate had until now).
        form = None
        if row.e5_form:
            form = UnitForm(row.e5_form)
        elif row.status is not None and old.status != status:
            form = default_form(status, batch.establishment(old.establishment_id))
        # A bénéfice, a dispense or "not registered" is never changed by this import.
        registration = registrations.get(old.id)
        kind, recorded = (registration.kind, registration.form) if registration else (None, None)
        form_changed = (form is not None and kind in (None, RegistrationKind.SIT)
                        and recorded != form)
        if same and not form_changed:
            tally.count("unchanged", row.number)
            continue
        # Every value of the group set (the unchanged ones to what they are).
        changed.setdefault(tuple(values), []).append({**values, "b_id": old.id})
        if form_changed:
            (forms_added if registration is None else forms_changed).append(
                {"b_id": old.id, "b_unit": unit, "form": form})
        tally.count("updated", row.number)
    if new:
        # A plain executemany, then the ids by number: INSERT ... RETURNING of many rows
        # is one huge statement that psycopg re-parses each time (over half of the batches'
        # time under cProfile on PostgreSQL).
        db.session.execute(sa.insert(_CANDIDATES), new)
        ids = dict(db.session.execute(
            sa.select(Candidate.number, Candidate.id).where(
                Candidate.session_id == batch.session_id,
                Candidate.number.in_([c["number"] for c in new]))).all())
        db.session.execute(sa.insert(_REGISTRATIONS), [
            {"candidate_id": ids[c["number"]], "unit_code": unit,
             "kind": RegistrationKind.SIT, "form": form}
            for c, form in zip(new, new_forms, strict=True)])
    for group in changed.values():
        db.session.execute(sa.update(_CANDIDATES).where(
            _CANDIDATES.c.id == sa.bindparam("b_id")), group)
    if forms_changed:
        # As Candidate.set_form: sits the unit in this form, nothing kept, no reason.
        db.session.execute(
            sa.update(_REGISTRATIONS).where(
                _REGISTRATIONS.c.candidate_id == sa.bindparam("b_id"),
                _REGISTRATIONS.c.unit_code == sa.bindparam("b_unit"),
                _REGISTRATIONS.c.kind == RegistrationKind.SIT)
            .values(kind=RegistrationKind.SIT, kept_mark=None, kept_year=None, reason=""),
            forms_changed)
    if forms_added:
        db.session.execute(sa.insert(_REGISTRATIONS), [
            {"candidate_id": f["b_id"], "unit_code": unit, "kind": RegistrationKind.SIT,
             "form": f["form"]} for f in forms_added])


def _apply_rows_reference(*, session: ExamSession, parsed: csv_import.ParseResult,
                          centres: dict[str, Centre]) -> _Tally:
    """The plain version of ``_apply_rows``, one ORM object per candidate (``_apply_row``):
    what the fast path must agree with (kept for the equivalence test)."""
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
                             existing=existing, now=now,
                             centre=centres.get(row.centre) if row.centre else None)
        tally.count(outcome, row.number)
    db.session.flush()
    return tally


def _apply_row(*, session: ExamSession, row: csv_import.CandidateRow,
               establishment: Establishment, existing: dict[str, Candidate], now,
               centre: Centre | None = None) -> str:
    """Create or update the row's candidate: "created", "updated" or "unchanged". A centre
    given is set on a candidate who has none (``_check_centres`` refused any other)."""
    values = {
        "last_name": row.last_name,
        "first_name": row.first_name,
        "birth_date": row.birth_date,
        "extra_time": row.extra_time,
        "email": row.email,
    }
    status = CandidateStatus(row.status) if row.status else None
    candidate = existing.get(row.number)
    if candidate is None:
        candidate = Candidate(session_id=session.id, number=row.number,
                              establishment=establishment, created_at=now, updated_at=now,
                              status=status, centre=centre,
                              centre_origin=CentreOrigin.IMPORT if centre else None, **values)
        candidate.set_form(form_unit_code(), _row_form(row, candidate))
        candidate.refresh_search_text()
        db.session.add(candidate)
        existing[row.number] = candidate
        return "created"
    # A file without a "Statut" column leaves the recorded status as it is.
    if row.status is not None:
        values["status"] = status
    changed = {k: v for k, v in values.items() if getattr(candidate, k) != v}
    if candidate.establishment_id != getattr(establishment, "id", None):
        changed["establishment"] = establishment
    if centre is not None and candidate.centre_id is None:
        changed["centre"] = centre
        changed["centre_origin"] = CentreOrigin.IMPORT
    form = _row_form(row, candidate) if row.status is not None or row.e5_form else None
    # The candidate import sets the form of a unit the candidate sits; a bénéfice or a
    # dispense is changed on the candidate's page or by the registrations import.
    current = candidate.registration(form_unit_code())
    form_changed = (form is not None and (current is None or current.kind == "sit")
                    and _recorded_form(candidate, form_unit_code()) != form)
    if not changed and not form_changed:
        return "unchanged"
    for key, value in changed.items():
        setattr(candidate, key, value)
    if form_changed:
        candidate.set_form(form_unit_code(), form)
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


def _check_centres(parsed: csv_import.ParseResult, session: ExamSession) -> dict[str, Centre]:
    """The session's centres named by the file; an unknown code is an error on its line,
    and so is a centre other than the one a candidate already has (a move has its own
    page: it supersedes the candidate's printed documents)."""
    codes = {code for _, code, _ in parsed.centre_lines}
    if not codes:
        return {}
    centres = {c.code: c for c in db.session.scalars(
        sa.select(Centre).where(Centre.session_id == session.id, Centre.code.in_(codes)))}
    current = dict(db.session.execute(
        sa.select(Candidate.number, Centre.code).join(Centre, Centre.id == Candidate.centre_id)
        .where(Candidate.session_id == session.id,
               Candidate.number.in_({n for _, _, n in parsed.centre_lines if n}))).all())
    for line, code, number in parsed.centre_lines:
        if code not in centres:
            parsed.error(line, "Centre", f"centre {code} inconnu dans cette session : créez-le "
                         "d'abord (page « Centres ») ou corrigez le code.")
        elif current.get(number, code) != code:
            parsed.error(line, "Centre", f"le candidat {number} est déjà affecté au centre "
                         f"{current[number]} : déplacez-le depuis la liste des candidats "
                         "(ses documents imprimés y sont remplacés).")
    return centres


def by_name(establishment: Establishment) -> tuple[str, str]:
    """Sort key: establishments in French alphabetical order (accents ignored)."""
    return search_key(establishment.name), establishment.uai


@dataclass(frozen=True)
class CandidateFilters:
    q: str = ""
    establishment_id: int | None = None
    centre_id: int | None = None
    without_centre: bool = False
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
    if filters.without_centre:
        query = query.where(Candidate.centre_id.is_(None))
    elif filters.centre_id:
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


def clamp_page(page: int, *, total: int, per_page: int) -> int:
    """The page shown for ``page``: within 1 and the last (a page beyond shows the last)."""
    return max(1, min(page, max(1, -(-total // per_page))))


def paginate(query: sa.Select, *, page: int, per_page: int) -> Page:
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    page = clamp_page(page, total=total, per_page=per_page)
    items = db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).unique().all()
    return Page(list(items), total, page, per_page)


def paginate_users_by_name(where: tuple, *, page: int, per_page: int) -> Page:
    """Users matching ``where``, in French alphabetical order (« BENALI Élodie » before
    « BENALI Tom », « ÉMERY » between « DUPONT » and « FAURE »), one page of them.

    The databases' collations differ (SQLite's is binary, PostgreSQL's follows its
    locale): the order is decided in Python over (id, names) rows, then the page's users
    are loaded."""
    rows = db.session.execute(sa.select(User.id, User.last_name, User.first_name)
                              .where(*where)).all()
    rows.sort(key=lambda r: (french_sort_key(r.last_name, r.first_name), r.id))
    total = len(rows)
    page = clamp_page(page, total=total, per_page=per_page)
    ids = [r.id for r in rows[(page - 1) * per_page:page * per_page]]
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))}
    return Page([users[i] for i in ids], total, page, per_page)


def form_count_columns(form_column) -> list[sa.ColumnElement[int]]:
    """The columns that split a count of candidates by their form in ``form_unit_code()``
    (``form_column``: that registration's form, None without one): ponctuel, CCF."""
    return [sa.func.count(sa.case((form_column == UnitForm(form), 1)))
            for form in ("ponctuel", "ccf")]


def dashboard_counts(session: ExamSession) -> dict:
    """Candidates per centre and per establishment, split by E5 form, plus totals.

    One pass over the session's candidates grouped by (centre, establishment), in the
    order of their index (ix_candidate_session_places: no sort), each group's E5 forms
    counted in its row; summed here into the three views."""
    # At most one row per candidate: the counts of candidates are unchanged by the join.
    groups = db.session.execute(
        sa.select(Candidate.centre_id, Candidate.establishment_id, sa.func.count(Candidate.id),
                  *form_count_columns(CandidateUnitForm.form))
        .outerjoin(CandidateUnitForm, sa.and_(CandidateUnitForm.candidate_id == Candidate.id,
                                              CandidateUnitForm.unit_code == form_unit_code()))
        .where(Candidate.session_id == session.id)
        .group_by(Candidate.centre_id, Candidate.establishment_id)
    ).all()
    return dashboard_counts_of(session, groups)


def dashboard_counts_of(session: ExamSession, groups) -> dict:
    """``dashboard_counts`` from its groups: (centre id, establishment id, candidates,
    ponctuel, CCF) for each pair present (a fused query may give them)."""
    per_centre: dict[int | None, list[int]] = {}
    per_establishment: dict[int, list[int]] = {}
    for centre_id, establishment_id, count, ponctuel, ccf in groups:
        for table, key in ((per_centre, centre_id), (per_establishment, establishment_id)):
            row = table.setdefault(key, [0, 0, 0])
            row[0] += count
            row[1] += ponctuel
            row[2] += ccf
    centres = db.session.scalars(sa.select(Centre).where(Centre.session_id == session.id)
                                 .order_by(Centre.code)).all()
    establishments = db.session.scalars(sa.select(Establishment).where(
        Establishment.id.in_([e for e in per_establishment if e is not None]))).all()
    totals = [sum(row[i] for row in per_centre.values()) for i in range(3)]
    return {
        "by_centre": [(c, *per_centre.get(c.id, (0, 0, 0))) for c in centres],
        "by_establishment": sorted(((e, *per_establishment[e.id]) for e in establishments),
                                   key=lambda row: by_name(row[0])),
        "total": totals[0],
        "ponctuel": totals[1],
        "ccf": totals[2],
        "without_centre": per_centre.get(None, (0,))[0],
    }


def candidates_without_centre_count(session: ExamSession) -> int:
    """How many of the session's candidates have no exam centre yet (one query)."""
    return db.session.scalar(
        sa.select(sa.func.count(Candidate.id))
        .where(Candidate.session_id == session.id, Candidate.centre_id.is_(None))) or 0
