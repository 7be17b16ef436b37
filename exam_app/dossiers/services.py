"""Dossier operations: deposit (resumable uploads), internships, deadlines, conformity.

Every function takes keyword-only arguments, flushes and audits, never
commits and never reads ``request``. ``now`` defaults to the server clock.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.dossiers import pdfcheck
from exam_app.dossiers.models import (
    ConformityReason,
    Decision,
    DepositDeadline,
    Dossier,
    DossierFile,
    InternshipPeriod,
    Upload,
)
from exam_app.dossiers.storage import Storage
from exam_app.enrolment.models import Candidate, ExamSession
from exam_app.extensions import db
from exam_app.units import ExamUnit, Piece, get_unit

MB = 1000 * 1000


class DepositError(Exception):
    """A refused deposit operation, with its French message and HTTP status."""

    def __init__(self, message: str, status: int = 422, *, code: str = "refused"):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Limits:
    file_max_bytes: int = 20 * MB
    dossier_max_bytes: int = 60 * MB

    @classmethod
    def from_config(cls, config) -> Limits:
        return cls(file_max_bytes=config["DOSSIER_FILE_MAX_BYTES"],
                   dossier_max_bytes=config["DOSSIER_MAX_BYTES"])


def units_with_dossier() -> tuple[ExamUnit, ...]:
    from exam_app.units import all_units

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


# ---- deadlines ------------------------------------------------------------

def session_deadline(*, session_id: int, unit_code: str) -> datetime | None:
    return db.session.scalar(
        sa.select(DepositDeadline.deadline_at).where(
            DepositDeadline.session_id == session_id, DepositDeadline.unit_code == unit_code)
    )


def effective_deadline(*, candidate: Candidate, unit_code: str,
                       dossier: Dossier | None = None) -> datetime | None:
    """The dossier's extension when granted, else the session's deadline for the unit."""
    if dossier is not None and dossier.extended_until is not None:
        return dossier.extended_until
    return session_deadline(session_id=candidate.session_id, unit_code=unit_code)


def is_open(deadline: datetime | None, now: datetime) -> bool:
    return deadline is None or now <= deadline


def set_deadline(*, session: ExamSession, unit_code: str, deadline_at: datetime, actor,
                 now: datetime | None = None) -> DepositDeadline:
    """Set (or move) the deposit deadline of a unit for a session."""
    now = now or utcnow()
    dossier_unit(unit_code)
    row = db.session.scalar(sa.select(DepositDeadline).where(
        DepositDeadline.session_id == session.id, DepositDeadline.unit_code == unit_code))
    before = {"deadline_at": row.deadline_at} if row else None
    if row is None:
        row = DepositDeadline(session_id=session.id, unit_code=unit_code, deadline_at=deadline_at)
        db.session.add(row)
    row.deadline_at = deadline_at
    row.updated_at = now
    db.session.flush()
    record(actor=actor, action="dossier.deadline_set", object_type="deposit_deadline",
           object_id=row.id, session_id=session.id, before=before,
           after={"unit": unit_code, "deadline_at": deadline_at}, now=now)
    return row


def grant_extension(*, candidate: Candidate, unit_code: str, until: datetime | None, reason: str,
                    actor, now: datetime | None = None) -> Dossier:
    """Grant (or withdraw, with ``until=None``) an individual extension, with its reason."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise DepositError("Indiquez le motif de la dérogation.", 400)
    dossier = get_or_create_dossier(candidate=candidate, unit_code=unit_code, now=now)
    before = {"extended_until": dossier.extended_until, "reason": dossier.extension_reason}
    dossier.extended_until = until
    dossier.extension_reason = reason if until else None
    db.session.flush()
    record(actor=actor, action="dossier.extension", object_type="dossier", object_id=dossier.id,
           session_id=candidate.session_id, before=before,
           after={"extended_until": until, "unit": unit_code}, reason=reason, now=now)
    return dossier


# ---- dossiers and their state ---------------------------------------------

def find_dossier(*, candidate_id: int, unit_code: str) -> Dossier | None:
    return db.session.scalar(sa.select(Dossier).where(
        Dossier.candidate_id == candidate_id, Dossier.unit_code == unit_code))


def get_or_create_dossier(*, candidate: Candidate, unit_code: str,
                          now: datetime | None = None) -> Dossier:
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


def page_cap(piece: Piece, session: ExamSession) -> int | None:
    if piece.max_pages is not None:
        return piece.max_pages
    if piece.max_pages_setting:
        return getattr(session, piece.max_pages_setting)
    return None


@dataclass
class PieceState:
    piece: Piece
    files: list[DossierFile]
    max_pages: int | None

    @property
    def count(self) -> int:
        return len(self.files)

    @property
    def complete(self) -> bool:
        return self.count >= self.piece.min_count

    @property
    def can_add(self) -> bool:
        return self.count < self.piece.max_count

    @property
    def over_pages(self) -> list[DossierFile]:
        if self.max_pages is None:
            return []
        return [f for f in self.files if f.pages > self.max_pages]

    @property
    def label(self) -> str:
        if self.count == 0:
            return "Manquante"
        if not self.complete:
            return f"Incomplète ({self.count}/{self.piece.min_count})"
        return "Déposée"


@dataclass
class DossierView:
    """Everything a page shows about one candidate's dossier for one unit."""

    candidate: Candidate
    unit: ExamUnit
    dossier: Dossier | None
    deadline: datetime | None
    now: datetime
    pieces: list[PieceState] = field(default_factory=list)

    @property
    def files(self) -> list[DossierFile]:
        return [f for p in self.pieces for f in p.files]

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def complete(self) -> bool:
        return all(p.complete for p in self.pieces)

    @property
    def is_open(self) -> bool:
        return is_open(self.deadline, self.now)

    @property
    def time_left(self) -> timedelta | None:
        return None if self.deadline is None else self.deadline - self.now

    @property
    def status(self) -> str:
        """deposited / incomplete / missing, for dashboards."""
        if not self.files:
            return "missing"
        return "deposited" if self.complete else "incomplete"


def dossier_view(*, candidate: Candidate, unit_code: str, now: datetime | None = None) -> DossierView:
    now = now or utcnow()
    unit = dossier_unit(unit_code)
    dossier = find_dossier(candidate_id=candidate.id, unit_code=unit_code)
    files = dossier.files if dossier else []
    view = DossierView(candidate=candidate, unit=unit, dossier=dossier, now=now,
                       deadline=effective_deadline(candidate=candidate, unit_code=unit_code,
                                                   dossier=dossier))
    for piece in unit.pieces:
        view.pieces.append(PieceState(piece, [f for f in files if f.piece_code == piece.code],
                                      page_cap(piece, candidate.session)))
    return view


def time_left_label(delta: timedelta | None) -> str:
    if delta is None:
        return ""
    if delta.total_seconds() <= 0:
        return "délai dépassé"
    days, rest = divmod(int(delta.total_seconds()), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} j {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


# ---- upload ---------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_filename(name: str) -> str:
    """The client's file name for display only: no directories, no control characters."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _CONTROL.sub("", name).strip().lstrip(".").strip()
    if not name:
        name = "document.pdf"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 190] + dot + ext[:9]) if dot and len(ext) < 10 else name[:200]
    return name


def _check_open(*, candidate: Candidate, unit_code: str, dossier: Dossier | None,
                now: datetime) -> None:
    deadline = effective_deadline(candidate=candidate, unit_code=unit_code, dossier=dossier)
    if not is_open(deadline, now):
        from exam_app.formatting import local_datetime

        raise DepositError(
            f"Le délai de dépôt est dépassé (date limite : {local_datetime(deadline)}, heure de "
            "Paris) : le dossier ne peut plus être modifié. Les fichiers déjà déposés sont conservés.",
            409, code="late")


def _check_room(*, dossier: Dossier, piece: Piece, size: int, limits: Limits,
                replaces: DossierFile | None) -> None:
    if size <= 0:
        raise DepositError(pdfcheck.EMPTY, 422, code="empty")
    if size > limits.file_max_bytes:
        raise DepositError(
            f"Le fichier fait {megabytes(size)} : la taille maximale est de "
            f"{megabytes(limits.file_max_bytes)} par fichier. Réduisez-le (export PDF "
            "« taille réduite ») et recommencez.", 413, code="too_large")
    others = [f for f in dossier.files if replaces is None or f.id != replaces.id]
    total = sum(f.size for f in others) + size
    if total > limits.dossier_max_bytes:
        raise DepositError(
            f"Le dossier dépasserait {megabytes(limits.dossier_max_bytes)} au total "
            f"({megabytes(total)}) : réduisez la taille de vos fichiers.", 413,
            code="dossier_too_large")
    same_piece = [f for f in others if f.piece_code == piece.code]
    if len(same_piece) >= piece.max_count:
        raise DepositError(
            f"La pièce « {piece.label} » compte déjà {len(same_piece)} fichier(s) sur "
            f"{piece.max_count} : remplacez ou supprimez un fichier avant d'en ajouter un.",
            409, code="piece_full")


def create_upload(*, candidate: Candidate, unit_code: str, piece_code: str, filename: str,
                  size: int, actor, limits: Limits, replaces_file_id: int | None = None,
                  now: datetime | None = None) -> Upload:
    """Announce a file (piece, name, size): checks what can be checked before any byte."""
    now = now or utcnow()
    unit = dossier_unit(unit_code)
    try:
        piece = unit.piece(piece_code)
    except KeyError:
        raise DepositError("Pièce inconnue pour cette épreuve.", 400, code="bad_piece") from None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise DepositError("Taille de fichier invalide.", 400, code="bad_size")
    existing = find_dossier(candidate_id=candidate.id, unit_code=unit_code)
    _check_open(candidate=candidate, unit_code=unit_code, dossier=existing, now=now)
    dossier = existing or get_or_create_dossier(candidate=candidate, unit_code=unit_code, now=now)
    replaces = None
    if replaces_file_id is not None:
        replaces = next((f for f in dossier.files if f.id == replaces_file_id), None)
        if replaces is None or replaces.piece_code != piece.code:
            raise DepositError("Le fichier à remplacer n'existe plus.", 409, code="gone")
    _check_room(dossier=dossier, piece=piece, size=size, limits=limits, replaces=replaces)
    upload = Upload(token=secrets.token_urlsafe(24), dossier_id=dossier.id,
                    user_id=getattr(actor, "id", None), piece_code=piece.code,
                    original_name=clean_filename(filename), size=size, received=0,
                    replaces_file_id=replaces.id if replaces else None,
                    created_at=now, updated_at=now)
    db.session.add(upload)
    db.session.flush()
    return upload


@dataclass
class ChunkResult:
    upload: Upload
    offset: int
    file: DossierFile | None = None


def receive_chunk(*, upload: Upload, stream, offset: int, length: int, storage: Storage,
                  actor, limits: Limits, now: datetime | None = None) -> ChunkResult:
    """Append one chunk at ``offset``; on the last byte, check and deposit the file."""
    now = now or utcnow()
    dossier = upload.dossier
    candidate = dossier.candidate
    _check_open(candidate=candidate, unit_code=dossier.unit_code, dossier=dossier, now=now)
    held = storage.temp_size(upload.token)
    if offset != held:
        raise DepositError(
            f"Décalage incorrect : le serveur détient {held} octets, reprise à partir de là.",
            409, code="offset")
    if length < 0 or offset + length > upload.size:
        raise DepositError("Ce morceau dépasse la taille annoncée du fichier.", 413,
                           code="too_large")
    # A whole file in one request: hashed and scanned for JavaScript while it streams.
    scanner = pdfcheck.ActiveContentScanner() if offset == 0 else None
    held, digest = storage.append(upload.token, stream, offset=offset, length=length,
                                  watchers=[scanner.feed] if scanner is not None else ())
    result = ChunkResult(upload=upload, offset=held)
    if held < upload.size:
        upload.received = held
        upload.updated_at = now
        db.session.flush()
    else:  # complete: the upload row is deleted (deposited or refused), no need to update it
        result.file = finalize_upload(
            upload=upload, storage=storage, actor=actor, limits=limits, sha256=digest,
            raw_javascript=scanner.found if scanner is not None and scanner.complete else None,
            skipped=scanner.skipped if scanner is not None else (), now=now)
    return result


def finalize_upload(*, upload: Upload, storage: Storage, actor, limits: Limits,
                    sha256: str | None = None, raw_javascript: bool | None = None, skipped=(),
                    now: datetime | None = None) -> DossierFile:
    """Check a complete upload and make it a deposited file (or refuse it, keeping nothing).

    ``sha256`` and ``raw_javascript`` come from the streaming pass when the
    whole file arrived in one request; None computes them from the file.
    """
    now = now or utcnow()
    token = upload.token
    # Serialise finalisations of one dossier (two uploads of one piece at once).
    dossier = db.session.scalar(
        sa.select(Dossier).where(Dossier.id == upload.dossier_id).with_for_update(of=Dossier)
        .execution_options(populate_existing=True))
    candidate = dossier.candidate
    unit = dossier_unit(dossier.unit_code)
    piece = unit.piece(upload.piece_code)

    def refuse(error: DepositError):
        storage.discard(token)
        db.session.delete(upload)
        db.session.flush()
        raise error

    try:
        _check_open(candidate=candidate, unit_code=dossier.unit_code, dossier=dossier, now=now)
        replaces = None
        if upload.replaces_file_id is not None:
            replaces = next((f for f in dossier.files if f.id == upload.replaces_file_id), None)
            if replaces is None:
                raise DepositError("Le fichier à remplacer n'existe plus.", 409, code="gone")
        _check_room(dossier=dossier, piece=piece, size=upload.size, limits=limits,
                    replaces=replaces)
        head, tail = storage.read_head_tail(token, pdfcheck.HEAD_TAIL)
        try:
            info = pdfcheck.inspect_pdf(storage.temp_path(token), upload.size, head, tail,
                                        raw_javascript=raw_javascript, skipped=skipped)
        except pdfcheck.PdfRejected as exc:
            raise DepositError(str(exc), 422, code="not_pdf") from None
        # (The session is loaded only when the piece's cap is a session setting.)
        cap = page_cap(piece, candidate.session) if piece.max_pages_setting else piece.max_pages
        if cap is not None and info.pages > cap:
            raise DepositError(
                f"« {upload.original_name} » compte {info.pages} pages : la pièce "
                f"« {piece.label} » est limitée à {cap} page(s) par fichier.", 422,
                code="too_many_pages")
        sha256 = sha256 or storage.hash_temp(token)
        duplicate = next((f for f in dossier.files if f.sha256 == sha256
                          and (replaces is None or f.id != replaces.id)), None)
        if duplicate is not None:
            raise DepositError(
                f"Ce fichier est identique à « {duplicate.original_name} », déjà déposé dans le "
                "dossier : il n'a pas été ajouté.", 409, code="duplicate")
    except DepositError as error:
        refuse(error)
    key = storage.promote(token, sha256)
    before = None
    if replaces is not None:
        before = {"file_id": replaces.id, "name": replaces.original_name, "sha256": replaces.sha256}
        dossier.files.remove(replaces)
        db.session.delete(replaces)
        db.session.flush()
    file = DossierFile(piece_code=piece.code, original_name=upload.original_name,
                       size=upload.size, pages=info.pages, sha256=sha256, storage_key=key,
                       has_javascript=info.has_javascript,
                       has_embedded_files=info.has_embedded_files, deposited_at=now)
    dossier.files.append(file)
    dossier.deposited_at = now
    db.session.delete(upload)
    try:
        db.session.flush()
    except sa.exc.IntegrityError:
        raise DepositError("Ce fichier est déjà déposé dans le dossier.", 409,
                           code="duplicate") from None
    record(actor=actor, action="dossier.file_replaced" if replaces else "dossier.file_deposited",
           object_type="dossier", object_id=dossier.id, session_id=candidate.session_id,
           before=before,
           after={"file_id": file.id, "piece": piece.code, "name": file.original_name,
                  "size": file.size, "pages": file.pages, "sha256": sha256,
                  "flags": {"javascript": file.has_javascript,
                            "embedded_files": file.has_embedded_files}},
           now=now)
    return file


def cancel_upload(*, upload: Upload, storage: Storage) -> None:
    storage.discard(upload.token)
    db.session.delete(upload)
    db.session.flush()


def purge_stale_uploads(*, storage: Storage, older_than: timedelta = timedelta(days=2),
                        now: datetime | None = None) -> int:
    """Forget uploads nobody resumed for ``older_than`` (rows and temp files)."""
    now = now or utcnow()
    stale = db.session.scalars(sa.select(Upload).where(Upload.updated_at < now - older_than)).all()
    for upload in stale:
        storage.discard(upload.token)
        db.session.delete(upload)
    db.session.flush()
    storage.sweep()
    return len(stale)


def remove_file(*, file: DossierFile, actor, now: datetime | None = None) -> None:
    """Remove a deposited file before the deadline (its bytes stay, content-addressed)."""
    now = now or utcnow()
    dossier = file.dossier
    _check_open(candidate=dossier.candidate, unit_code=dossier.unit_code, dossier=dossier, now=now)
    before = {"file_id": file.id, "piece": file.piece_code, "name": file.original_name,
              "sha256": file.sha256}
    dossier.files.remove(file)
    db.session.delete(file)
    dossier.deposited_at = now
    db.session.flush()
    record(actor=actor, action="dossier.file_removed", object_type="dossier",
           object_id=dossier.id, session_id=dossier.candidate.session_id, before=before, now=now)


# ---- internships ----------------------------------------------------------

def working_days(start: date, end: date) -> set[date]:
    days = set()
    current = start
    while current <= end:
        if current.weekday() < 5:
            days.add(current)
        current += timedelta(days=1)
    return days


def internship_days(periods: list[InternshipPeriod]) -> int:
    """Working days (Monday to Friday) covered by the periods, overlaps counted once.

    14 weeks of 5 days make the 70 days the regulation requires.
    """
    covered: set[date] = set()
    for period in periods:
        covered |= working_days(period.start_date, period.end_date)
    return len(covered)


def internships(candidate_id: int) -> list[InternshipPeriod]:
    return list(db.session.scalars(sa.select(InternshipPeriod).where(
        InternshipPeriod.candidate_id == candidate_id).order_by(InternshipPeriod.start_date)))


def add_internship(*, candidate: Candidate, organisation: str, start_date: date, end_date: date,
                   actor, now: datetime | None = None) -> InternshipPeriod:
    """Declare an internship period."""
    now = now or utcnow()
    organisation = (organisation or "").strip()
    if not organisation:
        raise DepositError("Indiquez l'organisation d'accueil.", 400)
    if end_date < start_date:
        raise DepositError("La date de fin précède la date de début.", 400)
    if (end_date - start_date).days > 3 * 366:
        raise DepositError("Une période de stage ne peut dépasser trois ans.", 400)
    period = InternshipPeriod(candidate_id=candidate.id, organisation=organisation[:200],
                              start_date=start_date, end_date=end_date, created_at=now)
    db.session.add(period)
    db.session.flush()
    record(actor=actor, action="dossier.internship_added", object_type="internship_period",
           object_id=period.id, session_id=candidate.session_id,
           after={"organisation": period.organisation, "start": start_date, "end": end_date},
           now=now)
    return period


def remove_internship(*, period: InternshipPeriod, candidate: Candidate, actor,
                      now: datetime | None = None) -> None:
    before = {"organisation": period.organisation, "start": period.start_date,
              "end": period.end_date}
    db.session.delete(period)
    db.session.flush()
    record(actor=actor, action="dossier.internship_removed", object_type="internship_period",
           object_id=period.id, session_id=candidate.session_id, before=before, now=now)


# ---- conformity -------------------------------------------------------------

@dataclass(frozen=True)
class Reason:
    code: str
    label: str
    makes_nv: bool = True


DEFAULT_REASONS: tuple[Reason, ...] = (
    Reason("absence_dossier", "Absence de dossier"),
    Reason("hors_delai", "Dépôt hors délai"),
    Reason("pieces_manquantes", "Pièces manquantes"),
    Reason("stage_insuffisant", "Durée de stage insuffisante"),
    Reason("pieces_non_signees", "Pièces non signées ou non visées"),
)


def reasons_for(session_id: int) -> list[Reason]:
    """The session's configured reasons, or the defaults when none is configured."""
    rows = db.session.scalars(sa.select(ConformityReason).where(
        ConformityReason.session_id == session_id).order_by(ConformityReason.position,
                                                            ConformityReason.id)).all()
    if not rows:
        return list(DEFAULT_REASONS)
    return [Reason(r.code, r.label, r.makes_nv) for r in rows]


def configure_reasons(*, session: ExamSession, reasons: list[Reason], actor,
                      now: datetime | None = None) -> None:
    """Replace the session's reason list (labels and NV effect), audited."""
    now = now or utcnow()
    if not reasons:
        raise DepositError("Gardez au moins un motif.", 400)
    codes = [r.code for r in reasons]
    if len(set(codes)) != len(codes) or not all(codes):
        raise DepositError("Deux motifs ont le même intitulé.", 400)
    current = reasons_for(session.id)
    removed = {r.code for r in current} - set(codes)
    if removed:
        used = set()
        for reasons_used in db.session.scalars(
                sa.select(Dossier.decision_reasons).join(Candidate)
                .where(Candidate.session_id == session.id, Dossier.decision.is_not(None))):
            used |= set(reasons_used or [])
        blocked = [r.label for r in current if r.code in removed & used]
        if blocked:
            raise DepositError(
                f"Motif utilisé par des décisions, il ne peut pas être retiré : {', '.join(blocked)} "
                "(vous pouvez changer son effet NV).", 409)
    before = [r.__dict__ for r in current]
    db.session.execute(sa.delete(ConformityReason).where(ConformityReason.session_id == session.id))
    for position, reason in enumerate(reasons):
        db.session.add(ConformityReason(session_id=session.id, code=reason.code,
                                        label=reason.label[:200], makes_nv=reason.makes_nv,
                                        position=position))
    db.session.flush()
    record(actor=actor, action="dossier.reasons_configured", object_type="exam_session",
           object_id=session.id, session_id=session.id, before={"reasons": before},
           after={"reasons": [r.__dict__ for r in reasons]}, now=now)


def reason_code(label: str) -> str:
    from exam_app.enrolment.models import search_key

    return re.sub(r"[^a-z0-9]+", "_", search_key(label).lower()).strip("_")[:40]


@dataclass(frozen=True)
class Check:
    label: str
    ok: bool
    detail: str = ""
    reason: str | None = None  # the non-conformity reason a failure suggests
    manual: bool = False  # the checker must look (signatures): no automatic verdict


def automatic_checks(view: DossierView) -> list[Check]:
    """The checklist, generated from the unit definition and pre-filled from the deposit."""
    checks: list[Check] = []
    checks.append(Check("Dossier déposé", bool(view.files),
                        f"{len(view.files)} fichier(s)" if view.files else "aucun fichier",
                        "absence_dossier"))
    late = [f for f in view.files if view.deadline is not None and f.deposited_at > view.deadline]
    checks.append(Check("Déposé dans les délais", not late,
                        "" if not late else f"{len(late)} fichier(s) après la date limite",
                        "hors_delai"))
    for state in view.pieces:
        count = (f"{state.count} fichier(s), attendu : {state.piece.min_count}"
                 + (f" à {state.piece.max_count}" if state.piece.max_count != state.piece.min_count
                    else ""))
        checks.append(Check(f"Pièce : {state.piece.label}", state.complete, count,
                            "pieces_manquantes"))
        if state.max_pages is not None:
            over = state.over_pages
            checks.append(Check(f"{state.piece.label} : {state.max_pages} page(s) max. par fichier",
                                not over, ", ".join(f"{f.original_name} ({f.pages} p.)"
                                                    for f in over)))
    minimum = view.candidate.session.internship_min_days
    days = internship_days(internships(view.candidate.id))
    checks.append(Check(f"Stage déclaré ≥ {minimum} jours", days >= minimum,
                        f"{days} jour(s) ouvrés déclarés", "stage_insuffisant"))
    flagged = [f for f in view.files if f.is_flagged]
    checks.append(Check("Aucun contenu actif (JavaScript, fichiers joints)", not flagged,
                        ", ".join(f.original_name for f in flagged)))
    for state in view.pieces:
        if state.piece.needs_signature:
            checks.append(Check(f"{state.piece.label} : signée / visée", True,
                                "à vérifier dans la pièce", "pieces_non_signees", manual=True))
    return checks


def decide(*, candidate: Candidate, unit_code: str, decision: Decision, reasons: list[str],
           comment: str, actor, revision_reason: str | None = None,
           now: datetime | None = None) -> Dossier:
    """Record the conformity decision; changing an existing one needs a reason (audited)."""
    now = now or utcnow()
    decision = Decision(decision)
    known = {r.code for r in reasons_for(candidate.session_id)}
    reasons = [r for r in dict.fromkeys(reasons) if r]
    unknown = [r for r in reasons if r not in known]
    if unknown:
        raise DepositError("Motif de non-conformité inconnu.", 400)
    if decision is Decision.NON_COMPLIANT and not reasons:
        raise DepositError("Choisissez au moins un motif de non-conformité.", 400)
    if decision is Decision.COMPLIANT:
        reasons = []
    dossier = get_or_create_dossier(candidate=candidate, unit_code=unit_code, now=now)
    revision_reason = (revision_reason or "").strip() or None
    if dossier.decision is not None and revision_reason is None:
        raise DepositError(
            "Une décision a déjà été prise : indiquez le motif de la révision pour la modifier.",
            409)
    before = None
    if dossier.decision is not None:
        before = {"decision": dossier.decision, "reasons": list(dossier.decision_reasons or []),
                  "comment": dossier.decision_comment}
    dossier.decision = decision.value
    dossier.decision_reasons = reasons
    dossier.decision_comment = (comment or "").strip()[:2000] or None
    dossier.decided_at = now
    dossier.decided_by_id = getattr(actor, "id", None)
    db.session.flush()
    record(actor=actor, action="dossier.conformity_revised" if before else "dossier.conformity_decided",
           object_type="dossier", object_id=dossier.id, session_id=candidate.session_id,
           before=before, after={"unit": unit_code, "decision": decision.value, "reasons": reasons,
                                 "comment": dossier.decision_comment},
           reason=revision_reason, now=now)
    return dossier


# ---- dashboards -------------------------------------------------------------

STATUS_LABELS = {"deposited": "Déposé (complet)", "incomplete": "Incomplet", "missing": "Absent"}


def session_views(*, session: ExamSession, unit_code: str, now: datetime | None = None,
                  candidate_ids: set[int] | None = None) -> list[DossierView]:
    """Every candidate's dossier view for a unit, in a few queries (dashboards, queue).

    ``candidate_ids``: only those candidates of the session (e.g. a print pack's).
    """
    now = now or utcnow()
    unit = dossier_unit(unit_code)
    only = () if candidate_ids is None else (Candidate.id.in_(sorted(candidate_ids)),)
    candidates = db.session.scalars(
        sa.select(Candidate).where(Candidate.session_id == session.id, *only)
        .order_by(Candidate.last_name, Candidate.first_name, Candidate.id)).all()
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
        for piece in unit.pieces:
            view.pieces.append(PieceState(piece, [f for f in files if f.piece_code == piece.code],
                                          page_cap(piece, session)))
        views.append(view)
    return views
