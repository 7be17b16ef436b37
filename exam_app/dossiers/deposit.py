"""The deposit: resumable uploads (announce, receive chunks, finalise into a
deposited file or refuse), cancellation, stale-upload purge and removal.

A file is announced first (piece, name, size), then its bytes arrive in one
or more chunks at known offsets; the last byte triggers the checks (deadline,
room, PDF, page cap, duplicate) and the file becomes a ``DossierFile`` stored
under its SHA-256, or is refused and nothing of it is kept.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.dossiers import pdfcheck
from exam_app.dossiers.common import (
    DepositError,
    Limits,
    dossier_unit,
    find_dossier,
    get_or_create_dossier,
    lock_candidate,
    lock_dossier,
    megabytes,
)
from exam_app.dossiers.deadlines import check_open
from exam_app.dossiers.models import Dossier, DossierFile, Upload
from exam_app.dossiers.state import page_cap
from exam_app.dossiers.storage import Storage, UploadBusy
from exam_app.enrolment.models import Candidate
from exam_app.extensions import db
from exam_app.units import Piece


def _displayable(char: str) -> bool:
    # Control (Cc), format (Cf: U+202E and the other bidirectional overrides and
    # isolates, zero-width characters), surrogate, private-use and unassigned
    # characters, and line/paragraph separators: a name made to display
    # "facture‮fdp.exe" as "facture exe.pdf" loses them (issue 12, item 5).
    category = unicodedata.category(char)
    return not (category[0] == "C" or category in ("Zl", "Zp"))


def clean_filename(name: str) -> str:
    """The client's file name for display only: no directories, no control or
    bidirectional formatting characters."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if _displayable(c)).strip().lstrip(".").strip()
    if not name:
        name = "document.pdf"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 190] + dot + ext[:9]) if dot and len(ext) < 10 else name[:200]
    return name


def _check_room(*, dossier: Dossier, piece: Piece, size: int, limits: Limits,
                replaces: DossierFile | None) -> None:
    """Refuse an empty file, or one over the file, dossier or piece limits."""
    if size <= 0:
        raise DepositError(pdfcheck.EMPTY, status=422, code="empty")
    if size > limits.file_max_bytes:
        raise DepositError(
            f"Le fichier fait {megabytes(size)} : la taille maximale est de "
            f"{megabytes(limits.file_max_bytes)} par fichier. Réduisez-le (export PDF "
            "« taille réduite ») et recommencez.", status=413, code="too_large")
    others = [f for f in dossier.files if replaces is None or f.id != replaces.id]
    total = sum(f.size for f in others) + size
    if total > limits.dossier_max_bytes:
        raise DepositError(
            f"Le dossier dépasserait {megabytes(limits.dossier_max_bytes)} au total "
            f"({megabytes(total)}) : réduisez la taille de vos fichiers.", status=413,
            code="dossier_too_large")
    same_piece = [f for f in others if f.piece_code == piece.code]
    if len(same_piece) >= piece.max_count:
        raise DepositError(
            f"La pièce « {piece.label} » compte déjà {len(same_piece)} fichier(s) sur "
            f"{piece.max_count} : remplacez ou supprimez un fichier avant d'en ajouter un.",
            status=409, code="piece_full")


def create_upload(*, candidate: Candidate, unit_code: str, piece_code: str, filename: str,
                  size: int, actor, limits: Limits, replaces_file_id: int | None = None,
                  storage: Storage | None = None, now: datetime | None = None) -> Upload:
    """Announce a file (piece, name, size): checks what can be checked before any byte.

    With ``storage``, abandoned uploads are purged first (anyone's, a few at a
    time), and the candidate's unfinished uploads are capped.
    """
    now = now or utcnow()
    # Counting the candidate's unfinished uploads and adding one is one decision.
    lock_candidate(candidate.id)
    if storage is not None:
        purge_stale_uploads(storage=storage, older_than=limits.upload_stale_after, now=now,
                            at_most=20)
        _check_open_uploads(candidate=candidate, storage=storage, limits=limits, now=now)
    unit = dossier_unit(unit_code)
    if not candidate.sits(unit_code):
        raise DepositError(f"Vous ne présentez pas l'épreuve {unit.code} cette session "
                           f"({candidate.registration(unit_code).printed}) : aucun dossier "
                           "n'est demandé.", status=409, code="not_sitting")
    try:
        piece = unit.piece(piece_code)
    except KeyError:
        raise DepositError("Pièce inconnue pour cette épreuve.", status=400,
                           code="bad_piece") from None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise DepositError("Taille de fichier invalide.", status=400, code="bad_size")
    existing = find_dossier(candidate_id=candidate.id, unit_code=unit_code)
    check_open(candidate=candidate, unit_code=unit_code, dossier=existing, now=now)
    dossier = existing or get_or_create_dossier(candidate=candidate, unit_code=unit_code, now=now)
    replaces = None
    if replaces_file_id is not None:
        replaces = next((f for f in dossier.files if f.id == replaces_file_id), None)
        if replaces is None or replaces.piece_code != piece.code:
            raise DepositError("Le fichier à remplacer n'existe plus.", status=409, code="gone")
    _check_room(dossier=dossier, piece=piece, size=size, limits=limits, replaces=replaces)
    upload = Upload(token=secrets.token_urlsafe(24), dossier_id=dossier.id,
                    user_id=getattr(actor, "id", None), piece_code=piece.code,
                    original_name=clean_filename(filename), size=size, received=0,
                    replaces_file_id=replaces.id if replaces else None,
                    created_at=now, updated_at=now)
    db.session.add(upload)
    db.session.flush()
    return upload


def _open_uploads(candidate_id: int) -> list[Upload]:
    return list(db.session.scalars(sa.select(Upload).join(Upload.dossier).where(
        Dossier.candidate_id == candidate_id).order_by(Upload.updated_at)))


def _check_open_uploads(*, candidate: Candidate, storage: Storage, limits: Limits,
                        now: datetime) -> None:
    """Refuse a new upload past the cap of unfinished ones; the candidate's own uploads
    idle for ``upload_idle_evict`` (a closed tab, another browser) make room first."""
    uploads = _open_uploads(candidate.id)
    if len(uploads) < limits.open_uploads_max:
        return
    idle = [u for u in uploads if u.updated_at < now - limits.upload_idle_evict]
    for upload in idle:
        if _forget_upload(upload, storage):
            uploads.remove(upload)
    db.session.flush()
    if len(uploads) >= limits.open_uploads_max:
        raise DepositError(
            f"Vous avez déjà {len(uploads)} envois de fichiers en cours, non terminés : "
            "terminez-les ou annulez-les avant d'en commencer un autre (un envoi "
            f"interrompu est libéré au bout de {_minutes(limits.upload_idle_evict)} min).",
            status=429, code="too_many_uploads")


def _minutes(delta: timedelta) -> int:
    return max(1, round(delta.total_seconds() / 60))


def _forget_upload(upload: Upload, storage: Storage) -> bool:
    """Drop an upload nobody is writing right now (its row and bytes); False if busy.

    The claim is released at once (the row's deletion is not committed yet): a
    request that claims it before the commit finds its row gone when it writes
    (0 rows updated) and fails, keeping nothing; the lock file goes with the
    next purge (``_forget_orphan_locks``).
    """
    try:
        claim = storage.claim(upload.token)
    except UploadBusy:
        return False
    with claim:
        storage.discard(upload.token)
        db.session.delete(upload)
    return True


@dataclass
class ChunkResult:
    """Where an upload stands after a chunk; ``file`` once it is deposited."""

    upload: Upload
    offset: int
    file: DossierFile | None = None


def receive_chunk(*, upload: Upload, stream, offset: int, length: int, storage: Storage,
                  actor, limits: Limits, now: datetime | None = None) -> ChunkResult:
    """Append one chunk at ``offset``; on the last byte, check and deposit the file."""
    now = now or utcnow()
    dossier = upload.dossier
    candidate = dossier.candidate
    check_open(candidate=candidate, unit_code=dossier.unit_code, dossier=dossier, now=now)
    held = storage.temp_size(upload.token)
    if offset != held:
        raise DepositError(
            f"Décalage incorrect : le serveur détient {held} octets, reprise à partir de là.",
            status=409, code="offset")
    if length < 0 or offset + length > upload.size:
        raise DepositError("Ce morceau dépasse la taille annoncée du fichier.", status=413,
                           code="too_large")
    # A whole file in one request: hashed while it streams.
    # That hash is the hash of the bytes as stored, checked after the file is closed,
    # so no re-read is needed: the caller holds the upload's claim (storage.claim)
    # from before the file is opened until its outcome is committed (views_candidate);
    # every writer of a .part opens it only under that claim and closes it before
    # releasing it; an append at offset 0 truncates the file first. So the bytes
    # hashed here, in order, are exactly the file's bytes, and no other handle can
    # have written to it (the issue 12 attack wrote through a second, stalled
    # handle); once promoted the object is read-only and never reopened for writing.
    # The chunks of one upload continue that hash when this process received the
    # bytes before them (``storage.Received``: the same argument, chunk after chunk);
    # otherwise the file is hashed from disk (``hash_temp``) once it is complete.
    held, digest = storage.append(upload.token, stream, offset=offset, length=length)
    result = ChunkResult(upload=upload, offset=held)
    if held < upload.size:
        upload.received = held
        upload.updated_at = now
        db.session.flush()
    else:  # complete: the upload row is deleted (deposited or refused), no need to update it
        result.file = finalize_upload(
            upload=upload, storage=storage, actor=actor, limits=limits, sha256=digest, now=now)
    return result


@dataclass
class _Checked:
    """What the checks of a complete upload found out."""

    replaces: DossierFile | None
    info: pdfcheck.PdfInfo
    sha256: str


def finalize_upload(*, upload: Upload, storage: Storage, actor, limits: Limits,
                    sha256: str | None = None, now: datetime | None = None) -> DossierFile:
    """Check a complete upload and make it a deposited file (or refuse it, keeping nothing).

    ``sha256`` comes from the streaming pass when this process received the
    whole file (in one request or chunk after chunk, ``storage.Received``);
    None takes it from the storage's ``received`` state, else from the file.
    """
    now = now or utcnow()
    # Serialise finalisations of one dossier (two uploads of one piece at once): the
    # room, count and duplicate checks below read the files under the dossier's lock.
    dossier = lock_dossier(upload.dossier_id)
    piece = dossier_unit(dossier.unit_code).piece(upload.piece_code)
    try:
        checked = _check_complete_upload(
            upload=upload, dossier=dossier, piece=piece, storage=storage, limits=limits,
            sha256=sha256, now=now)
    except DepositError:
        # Refused: nothing of the file is kept, and the client cannot resume into it.
        storage.discard(upload.token)
        db.session.delete(upload)
        db.session.flush()
        raise
    file, before = _store_file(upload=upload, dossier=dossier, piece=piece, checked=checked,
                               storage=storage, now=now)
    record(actor=actor, action="dossier.file_replaced" if before else "dossier.file_deposited",
           object_type="dossier", object_id=dossier.id, session_id=dossier.candidate.session_id,
           before=before,
           after={"file_id": file.id, "piece": piece.code, "name": file.original_name,
                  "size": file.size, "pages": file.pages, "sha256": checked.sha256,
                  "flags": {"active_content": list(file.active_content),
                            "repairs": list(file.repairs)}},
           now=now)
    return file


def _check_complete_upload(*, upload: Upload, dossier: Dossier, piece: Piece, storage: Storage,
                           limits: Limits, sha256: str | None, now: datetime) -> _Checked:
    """Deadline, room, PDF, page cap and duplicate checks of a complete upload."""
    candidate = dossier.candidate
    check_open(candidate=candidate, unit_code=dossier.unit_code, dossier=dossier, now=now)
    replaces = None
    if upload.replaces_file_id is not None:
        replaces = next((f for f in dossier.files if f.id == upload.replaces_file_id), None)
        if replaces is None:
            raise DepositError("Le fichier à remplacer n'existe plus.", status=409, code="gone")
    _check_room(dossier=dossier, piece=piece, size=upload.size, limits=limits, replaces=replaces)
    token = upload.token
    head, tail = storage.read_head_tail(token, pdfcheck.HEAD_TAIL)
    session = candidate.session
    # What was computed while the bytes arrived (hash, "xref" offsets), when this
    # process received all of them and the file is still exactly what it wrote
    # (storage.Received says why that is sound); else the file is read again.
    received = storage.received(token)
    try:
        info = pdfcheck.inspect_pdf(storage.temp_path(token), upload.size, head, tail,
                                    max_pages=session.dossier_max_pages,
                                    xref_marks=received.marks if received else None,
                                    reader=pdfcheck.configured_reader())
    except pdfcheck.PdfRejected as exc:
        raise DepositError(str(exc), status=422, code=exc.code) from None
    refused = pdfcheck.refused_kinds(info, session.active_content_policy)
    if refused:
        raise DepositError(pdfcheck.refused_message(refused), status=422, code="active_content",
                           details=refused)
    # (The session is loaded only when the piece's cap is a session setting.)
    cap = page_cap(piece, session) if piece.max_pages_setting else piece.max_pages
    if cap is not None and info.pages > cap:
        raise DepositError(
            f"« {upload.original_name} » compte {info.pages} pages : la pièce "
            f"« {piece.label} » est limitée à {cap} page(s) par fichier.", status=422,
            code="too_many_pages")
    sha256 = sha256 or (received.sha256 if received else None) or storage.hash_temp(token)
    duplicate = next((f for f in dossier.files if f.sha256 == sha256
                      and (replaces is None or f.id != replaces.id)), None)
    if duplicate is not None:
        raise DepositError(
            f"Ce fichier est identique à « {duplicate.original_name} », déjà déposé dans le "
            "dossier : il n'a pas été ajouté.", status=409, code="duplicate")
    return _Checked(replaces=replaces, info=info, sha256=sha256)


def _store_file(*, upload: Upload, dossier: Dossier, piece: Piece, checked: _Checked,
                storage: Storage, now: datetime) -> tuple[DossierFile, dict | None]:
    """Promote the bytes and swap the rows: (the new file, what it replaced for the audit)."""
    key = storage.promote(upload.token, checked.sha256)
    before = None
    replaces = checked.replaces
    if replaces is not None:
        before = {"file_id": replaces.id, "name": replaces.original_name, "sha256": replaces.sha256}
        dossier.files.remove(replaces)
        db.session.delete(replaces)
        db.session.flush()
    info = checked.info
    file = DossierFile(piece_code=piece.code, original_name=upload.original_name,
                       size=upload.size, pages=info.pages, sha256=checked.sha256, storage_key=key,
                       has_javascript=info.has_javascript,
                       has_embedded_files=info.has_embedded_files,
                       active_content=[k for k in pdfcheck.ACTIVE_KINDS if k in info.active],
                       repairs=list(info.repairs), deposited_at=now)
    dossier.files.append(file)
    dossier.deposited_at = now
    db.session.delete(upload)
    try:
        db.session.flush()
    except sa.exc.IntegrityError:
        raise DepositError("Ce fichier est déjà déposé dans le dossier.", status=409,
                           code="duplicate") from None
    return file, before


def cancel_upload(*, upload: Upload, storage: Storage) -> None:
    """Abandon an upload in progress (its row and its bytes)."""
    storage.discard(upload.token)
    db.session.delete(upload)
    db.session.flush()


def purge_stale_uploads(*, storage: Storage, older_than: timedelta = timedelta(days=1),
                        now: datetime | None = None, at_most: int | None = None) -> int:
    """Forget uploads nobody resumed for ``older_than`` (rows and temp files), except
    one being written right now; ``at_most`` bounds the work (the opportunistic purge
    when an upload starts). Lock files of uploads that are gone are removed too."""
    now = now or utcnow()
    query = sa.select(Upload).where(Upload.updated_at < now - older_than).order_by(Upload.id)
    if at_most is not None:
        query = query.limit(at_most)
    purged = sum(_forget_upload(upload, storage) for upload in db.session.scalars(query).all())
    db.session.flush()
    _forget_orphan_locks(storage, at_most=at_most)
    storage.sweep()
    return purged


def _forget_orphan_locks(storage: Storage, *, at_most: int | None) -> None:
    orphan_locks = getattr(storage, "orphan_locks", None)
    if orphan_locks is None:
        return
    tokens = orphan_locks()[:at_most] if at_most is not None else orphan_locks()
    if not tokens:
        return
    live = set(db.session.scalars(sa.select(Upload.token).where(Upload.token.in_(tokens))))
    for token in tokens:
        if token not in live:
            storage.forget_lock(token)


def remove_file(*, file: DossierFile, actor, now: datetime | None = None) -> None:
    """Remove a deposited file before the deadline (its bytes stay, content-addressed)."""
    now = now or utcnow()
    dossier = file.dossier
    check_open(candidate=dossier.candidate, unit_code=dossier.unit_code, dossier=dossier, now=now)
    before = {"file_id": file.id, "piece": file.piece_code, "name": file.original_name,
              "sha256": file.sha256}
    dossier.files.remove(file)
    db.session.delete(file)
    dossier.deposited_at = now
    db.session.flush()
    record(actor=actor, action="dossier.file_removed", object_type="dossier",
           object_id=dossier.id, session_id=dossier.candidate.session_id, before=before, now=now)
