"""Candidates get a centre (issue 13, item 4), the enrolment side: who has none, and the
session's establishment -> centre table (edited by form or CSV).

Applying the table and moving candidates change what printed documents vouch for
(convocations, E6 rooms): that is decided above juries and e6, in
``documents.moves``, which uses ``give_centre`` here for the write itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.enrolment.csv_import import UAI_RE, Column, RowError
from exam_app.enrolment.csv_table import read_table
from exam_app.enrolment.models import (
    Candidate,
    Centre,
    CentreOrigin,
    Establishment,
    EstablishmentCentre,
    ExamSession,
)
from exam_app.enrolment.sessions import lock_session
from exam_app.errors import Invalid
from exam_app.extensions import db

LISTED = 50  # candidates without centre named on the dashboard


@dataclass(frozen=True)
class WithoutCentre:
    count: int
    candidates: list[Candidate]  # the first LISTED, alphabetically


def candidates_without_centre(session: ExamSession, *, limit: int = LISTED,
                              count: int | None = None) -> WithoutCentre:
    """The session's candidates who have no centre: how many (``count`` when the caller
    has counted them already), and the first ``limit`` with their establishment."""
    where = (Candidate.session_id == session.id, Candidate.centre_id.is_(None))
    if count is None:
        count = db.session.scalar(sa.select(sa.func.count(Candidate.id)).where(*where)) or 0
    listed = db.session.scalars(
        sa.select(Candidate).where(*where).options(sa.orm.joinedload(Candidate.establishment))
        .order_by(Candidate.search_text, Candidate.id).limit(limit)).all() if count else []
    return WithoutCentre(count, list(listed))


@dataclass(frozen=True)
class TableLine:
    establishment: Establishment
    centre_id: int | None
    candidates: int  # the establishment's candidates in the session
    without_centre: int  # of whom without a centre


def centre_table(session: ExamSession) -> list[TableLine]:
    """One line per establishment that has candidates in the session or a table row,
    by name, with the centre the table gives it (None: none yet)."""
    rows = {r.establishment_id: r.centre_id for r in db.session.scalars(
        sa.select(EstablishmentCentre).where(EstablishmentCentre.session_id == session.id))}
    counts = {e: (n, w or 0) for e, n, w in db.session.execute(
        sa.select(Candidate.establishment_id, sa.func.count(Candidate.id),
                  sa.func.sum(sa.case((Candidate.centre_id.is_(None), 1), else_=0)))
        .where(Candidate.session_id == session.id).group_by(Candidate.establishment_id))}
    ids = set(rows) | set(counts)
    establishments = db.session.scalars(
        sa.select(Establishment).where(Establishment.id.in_(ids))).all() if ids else []
    from exam_app.enrolment.services import by_name

    return [TableLine(e, rows.get(e.id), *counts.get(e.id, (0, 0)))
            for e in sorted(establishments, key=by_name)]


def _table_state(session: ExamSession) -> dict[str, str]:
    return dict(db.session.execute(
        sa.select(Establishment.uai, Centre.code)
        .join(EstablishmentCentre, EstablishmentCentre.establishment_id == Establishment.id)
        .join(Centre, Centre.id == EstablishmentCentre.centre_id)
        .where(EstablishmentCentre.session_id == session.id)).all())


def lock_centres(session: ExamSession) -> ExamSession:
    """The session re-read, its row locked: one decision at a time per session among the
    table's saves and applications and the moves. On PostgreSQL FOR NO KEY UPDATE, which
    leaves the rows that merely reference the session (an audit event, a timer start's
    writes) free: a move waits for a passage lock that a start holds while it audits."""
    if db.session.get_bind().dialect.name == "sqlite":
        return lock_session(session)  # its first write takes the database's write lock
    db.session.flush()
    return db.session.scalars(
        sa.select(ExamSession).where(ExamSession.id == session.id)
        .with_for_update(of=ExamSession, key_share=True)
        .execution_options(populate_existing=True)).one()


def save_centre_table(*, session: ExamSession, actor, choices: dict[int, int | None],
                      now: datetime | None = None, action: str = "centre_table.save",
                      audit_extra: dict | None = None) -> tuple[int, int]:
    """Set the table's centre of each establishment in ``choices`` (establishment id ->
    centre id, None to clear its row); (rows written, rows removed). A centre of another
    session, or an unknown establishment, is refused and nothing changes."""
    now = now or utcnow()
    centres = {c.id: c for c in db.session.scalars(
        sa.select(Centre).where(Centre.session_id == session.id))}
    known = set(db.session.scalars(sa.select(Establishment.id).where(
        Establishment.id.in_(list(choices))))) if choices else set()
    for establishment_id, centre_id in choices.items():
        if establishment_id not in known:
            raise Invalid("Établissement inconnu : rechargez la page.", field="table")
        if centre_id is not None and centre_id not in centres:
            raise Invalid("Ce centre n'appartient pas à la session : rechargez la page.",
                          field="table")
    lock_centres(session)
    before = _table_state(session)
    existing = {r.establishment_id: r for r in db.session.scalars(
        sa.select(EstablishmentCentre).where(EstablishmentCentre.session_id == session.id))}
    written = removed = 0
    for establishment_id, centre_id in choices.items():
        row = existing.get(establishment_id)
        if centre_id is None:
            if row is not None:
                db.session.delete(row)
                removed += 1
        elif row is None:
            db.session.add(EstablishmentCentre(session_id=session.id, centre_id=centre_id,
                                               establishment_id=establishment_id, updated_at=now))
            written += 1
        elif row.centre_id != centre_id:
            row.centre_id, row.updated_at = centre_id, now
            written += 1
    db.session.flush()
    after = _table_state(session)
    if before != after:
        changed = sorted(set(before) | set(after))
        record(actor=actor, action=action, object_type="exam_session", object_id=session.id,
               session_id=session.id, now=now,
               before={u: before.get(u) for u in changed if before.get(u) != after.get(u)},
               after={**{u: after.get(u) for u in changed if before.get(u) != after.get(u)},
                      **(audit_extra or {})})
    return written, removed


TABLE_COLUMNS = (
    Column("uai", "UAI", True, ("uai", "codeuai", "rne", "uaietablissement")),
    Column("centre", "Centre", True, ("centre", "codecentre", "centredexamen", "centreexamen")),
)


@dataclass(frozen=True)
class TableImportReport:
    written: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0


def import_centre_table(*, session: ExamSession, data: bytes, actor, max_rows: int,
                        filename: str = "") -> TableImportReport:
    """Read the table from a CSV (UAI ; Centre), all or nothing: an unknown UAI or centre
    code, or an establishment given twice, is an error on its line and column."""
    table = read_table(data, columns=TABLE_COLUMNS, max_rows=max_rows, what="établissement")
    if not table.ok:
        return TableImportReport(errors=table.errors, error_count=table.error_count)
    uais = {r.cells["uai"].upper().replace(" ", "") for r in table.rows}
    establishments = dict(db.session.execute(
        sa.select(Establishment.uai, Establishment.id).where(Establishment.uai.in_(uais))).all())
    centres = dict(db.session.execute(sa.select(Centre.code, Centre.id).where(
        Centre.session_id == session.id)).all())
    choices: dict[int, int] = {}
    seen: dict[str, int] = {}
    for row in table.rows:
        uai = row.cells["uai"].upper().replace(" ", "")
        code = row.cells["centre"].upper().replace(" ", "")
        if not uai:
            table.error(row.line, "uai", "valeur obligatoire manquante.")
        elif not UAI_RE.match(uai):
            table.error(row.line, "uai", f"« {uai} » n'est pas un code UAI (7 chiffres suivis "
                        "d'une lettre).")
        elif uai not in establishments:
            table.error(row.line, "uai", f"établissement {uai} inconnu : créez-le d'abord "
                        "(page « Établissements »).")
        elif uai in seen:
            table.error(row.line, "uai", f"l'établissement {uai} figure déjà ligne {seen[uai]}.")
        else:
            seen[uai] = row.line
        if not code:
            table.error(row.line, "centre", "valeur obligatoire manquante.")
        elif code not in centres:
            table.error(row.line, "centre", f"centre {code} inconnu dans cette session.")
        if table.ok:
            choices[establishments[uai]] = centres[code]
    if not table.ok:
        return TableImportReport(errors=table.errors, error_count=table.error_count)
    written, _ = save_centre_table(
        session=session, actor=actor, choices=choices, action="centre_table.import",
        audit_extra={"file": filename, "sha256": hashlib.sha256(data).hexdigest()})
    return TableImportReport(written=written, unchanged=len(choices) - written)


def table_centres(session: ExamSession) -> dict[int, int]:
    """The table: establishment id -> centre id."""
    return dict(db.session.execute(
        sa.select(EstablishmentCentre.establishment_id, EstablishmentCentre.centre_id)
        .where(EstablishmentCentre.session_id == session.id)).all())


def give_centre(candidate: Candidate, centre: Centre | None, origin: CentreOrigin | None,
                *, now: datetime) -> None:
    """Write a candidate's centre and its origin (the caller locked the row, decided and
    audits); ``updated_at`` tells printed documents the candidate changed."""
    candidate.centre = centre
    candidate.centre_id = centre.id if centre else None
    candidate.centre_origin = origin if centre else None
    candidate.updated_at = now
