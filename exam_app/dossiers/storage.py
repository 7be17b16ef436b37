"""Where dossier files live: a small interface and its plain local-disk implementation.

Uploads are written to a temporary object (one per upload token), chunk by
chunk, then promoted to a permanent object named by the SHA-256 of its
content, never by the client's file name. An S3-compatible store would
implement the same methods (temp parts as a multipart upload, ``promote`` as
a copy to the content-addressed key).

``LocalStorage`` is the reference implementation: read a chunk, hash it,
write it, and at the end ``fsync`` and rename; nothing else. The faster
writer (a hashing thread, reused buffers, early write-back) lives in
``storage_fast.py`` behind the same interface; ``get_storage`` picks one from
``DOSSIER_STORAGE_WRITER`` (``"fast"``, the default, or ``"reference"``), and
``tests/dossiers/test_fast_paths.py`` checks that both store the same bytes
and give the same answers.

One writer per upload (issue 12, item 1): every request that writes an
upload's bytes, finalises or cancels it first takes the upload's *claim*, an
exclusive ``flock`` on ``locks/<token>.lock`` (``claim``). A second request
gets ``UploadBusy`` at once (409) instead of writing through a handle of its
own. ``flock`` holds across threads (each claim opens the file anew: locks
belong to the open file description) and across gunicorn processes, and the
kernel releases it when its holder exits, however it exits. The lock file is
unlinked only by its holder, after the upload row's deletion is committed
(``Claim.release(ended=True)``): whoever opened the old file and locks it late
finds no upload row and stops (the views re-read the row after claiming).

What is computed while receiving (issue 12, issue 16 §3): the SHA-256 and
the offsets of every ``xref`` in the bytes (``pdfcheck`` counts the
cross-reference entries from them) are kept between the chunks of one upload,
in this process (``Received``, see its doc for why that is sound), so that a
file sent in 8 MiB chunks by the browser is not read again at the end.

Stored objects are immutable: a complete ``.part`` (its only writer closed,
under the claim) is made read-only, then renamed into ``objects/`` atomically;
an object already stored under that hash is never trusted, it is replaced by
the new, verified copy the same way (see ``promote``).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import stat
import threading
from abc import ABC, abstractmethod
from array import array
from collections import OrderedDict
from pathlib import Path
from typing import BinaryIO

CHUNK_SIZE = 1024 * 1024
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")
SET_ASIDE = ".done"  # a complete upload whose content was already stored (fast writer)
WRITERS = ("fast", "reference")


class StorageError(RuntimeError):
    pass


class ClientDisconnected(StorageError):
    """The request body ended before the announced length (connection lost)."""


class UploadBusy(StorageError):
    """Another request is writing (or finalising) this upload right now."""


XREF = b"xref"  # what pdfcheck._declared_entries looks for
MAX_XREF_MARKS = 10_000  # offsets kept per upload (80 kB); past it, pdfcheck scans the file itself


class Received:
    """What was computed over an upload's bytes while they were received, chunk after chunk.

    ``digest``: the running SHA-256 of bytes ``[0, size)``; ``marks``: the offset
    of every ``b"xref"`` in them, in order (None past ``MAX_XREF_MARKS``: a crafted
    file; the check then scans the file itself, as before).

    Why the state of one request may be continued by the next chunk's request,
    and trusted at finalisation instead of reading the file again (issue 12:
    "re-hashing may reuse the hash computed while receiving if the object was
    never reopened for writing"): the file IS reopened for writing, by the next
    chunk, but never for rewriting what the state covers:

    - every writer of a ``.part`` opens it under the upload's claim (one holder at
      a time, across processes) and closes it before releasing the claim; so while
      a claim holder works nothing else writes the file;
    - the deposit appends only at the end: ``receive_chunk`` refuses any offset
      other than the bytes held (``temp_size``), and ``append`` continues a state
      only when its ``size`` is that offset and the file's size as opened under
      the claim (the ``truncate`` to the offset then removes nothing). So bytes
      ``[0, size)`` are exactly the bytes hashed and scanned, in order;
    - ``identity`` (device, inode, size, modification and change times) is taken
      from the file after its writer's ``fsync``, before it closes: a state is
      used only if the file still has that identity when the next writer opens it
      and at finalisation. Anything that wrote, truncated, replaced or recreated
      the file outside this protocol changes one of them (a changed inode or size,
      or new times) and the state is dropped: the file is then hashed and scanned
      from disk (``hash_temp``), exactly as without a state. (This is a second
      line of defence: file times move in clock ticks of a few milliseconds, so a
      same-size rewrite within one tick would not show; the claim and the
      append-only offsets above are what guarantee the bytes.)

    The state lives in this process only (``hashlib`` objects cannot be saved):
    when the next chunk is served by another gunicorn worker, that worker has no
    state and writes without hashing, the first worker's state no longer matches
    the file (its size changed) and is dropped, and the file is hashed at the end.
    Same answer, only slower. At most ``_RECEIVED_KEEP`` states are kept (LRU).
    """

    __slots__ = ("digest", "size", "marks", "_tail", "identity")

    def __init__(self):
        self.digest = hashlib.sha256()
        self.size = 0
        self.marks: array | None = array("q")
        self._tail = b""  # the last bytes seen, for a mark split across two chunks
        self.identity: tuple | None = None

    def update(self, data, n: int | None = None) -> None:
        """Feed ``data[:n]`` (bytes or bytearray: they have ``find``), the next bytes of the file."""
        n = len(data) if n is None else n
        if not n:
            return
        self.digest.update(memoryview(data)[:n])
        marks = self.marks
        if marks is not None:
            tail = self._tail
            if tail:  # an "xref" across the boundary starts in the tail
                at = (tail + bytes(data[:len(XREF) - 1])).find(XREF)
                if at != -1 and at < len(tail):
                    marks.append(self.size - len(tail) + at)
            at = data.find(XREF, 0, n)
            while at != -1:
                marks.append(self.size + at)
                at = data.find(XREF, at + len(XREF), n)
            if len(marks) > MAX_XREF_MARKS:
                self.marks = None
            self._tail = (tail + bytes(data[max(0, n - len(XREF) + 1):n]))[-(len(XREF) - 1):]
        self.size += n

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()  # hashlib finalises a copy: the state goes on


def _identity(st: os.stat_result) -> tuple:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


_RECEIVED_KEEP = 64  # uploads in progress per process; at most 64 x 80 kB of offsets
_received: OrderedDict[tuple[str, str], Received] = OrderedDict()
_received_lock = threading.Lock()


def _keep_received(key: tuple[str, str], state: Received, fd: int) -> None:
    """Remember ``state`` for the file open as ``fd`` (fsynced, about to be closed)."""
    st = os.fstat(fd)
    if st.st_size != state.size:
        return
    state.identity = _identity(st)
    with _received_lock:
        _received[key] = state
        _received.move_to_end(key)
        while len(_received) > _RECEIVED_KEEP:
            _received.popitem(last=False)


def _take_received(key: tuple[str, str], st: os.stat_result | None) -> Received | None:
    """The state kept for an upload if it still covers the file whose status is ``st``."""
    with _received_lock:
        state = _received.pop(key, None)
    if state is None or st is None or state.identity != _identity(st):
        return None
    return state


def forget_received() -> None:
    """Drop every state kept (tests: what another worker process would see)."""
    with _received_lock:
        _received.clear()



class Claim:
    """The exclusive right to write, finalise or cancel one upload (see the module doc).

    Released by ``release`` (or leaving the ``with`` block); ``ended=True``
    once the upload row's deletion is committed also removes the lock file.
    """

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd: int | None = fd

    def release(self, *, ended: bool = False) -> None:
        if self._fd is None:
            return
        try:
            if ended:
                self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)  # closing the description drops the flock
            self._fd = None

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class Storage(ABC):
    @abstractmethod
    def claim(self, token: str) -> Claim:
        """The upload's single-writer claim; ``UploadBusy`` when another request holds it."""

    @abstractmethod
    def temp_size(self, token: str) -> int:
        """Bytes held so far for an upload (0 when nothing yet)."""

    @abstractmethod
    def append(self, token: str, stream: BinaryIO, *, offset: int, length: int,
               watchers=()) -> tuple[int, str | None]:
        """Copy ``length`` bytes of ``stream`` at ``offset``; return (bytes held, sha256 or None).

        The hash (of the whole file so far) is returned when the upload started
        at 0 in this call, or when this process received every byte before
        ``offset`` and kept its ``Received`` state (the browser's chunks, sent
        one after the other); ``watchers`` (callables) are fed every chunk too,
        in order, when the upload starts at 0 in this call. Bytes received
        before a disconnection are kept (the client resumes from there).
        """

    def received(self, token: str) -> Received | None:
        """What was computed while receiving the whole upload as it is now (its hash and
        ``xref`` offsets), or None: then hash and scan the file. Called under the claim."""
        return None

    @abstractmethod
    def read_head_tail(self, token: str, size: int) -> tuple[bytes, bytes]:
        """The first and last ``size`` bytes of an upload (cheap content checks)."""

    @abstractmethod
    def temp_path(self, token: str) -> Path:
        """A local path of the temporary object, for the PDF parser."""

    @abstractmethod
    def hash_temp(self, token: str) -> str:
        """SHA-256 of a temporary object (for resumed uploads)."""

    @abstractmethod
    def promote(self, token: str, sha256: str) -> str:
        """Make a complete upload permanent (read-only) under its content hash; return its key.

        Called under the upload's claim, once its writer closed the file, with
        the SHA-256 of the bytes as stored (see ``deposit.receive_chunk``).
        """

    @abstractmethod
    def discard(self, token: str) -> None:
        """Forget an upload's temporary object."""

    def sweep(self) -> None:  # noqa: B027 - optional: nothing to do by default
        """Delete what ``promote`` set aside (run after the response is sent)."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """Open a permanent object for reading."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...


class LocalStorage(Storage):
    """Files under ``root``: ``tmp/<token>.part`` while uploading, ``objects/ab/<sha256>`` after,
    ``locks/<token>.lock`` while a request holds an upload's claim."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.tmp_dir = self.root / "tmp"
        self.objects_dir = self.root / "objects"
        self.locks_dir = self.root / "locks"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.objects_dir.mkdir(parents=True, exist_ok=True)
        self.locks_dir.mkdir(parents=True, exist_ok=True)

    def claim(self, token: str) -> Claim:
        self.temp_path(token)  # validates the token
        path = self.locks_dir / f"{token}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise UploadBusy(token) from None
            raise
        return Claim(path, fd)

    def orphan_locks(self) -> list[str]:
        """Tokens of lock files left behind (a process that died holding a claim)."""
        return [p.stem for p in self.locks_dir.glob("*.lock")]

    def forget_lock(self, token: str) -> None:
        """Remove the lock file of an upload whose row is gone, unless a request holds it."""
        try:
            claim = self.claim(token)
        except UploadBusy:
            return
        claim.release(ended=True)

    def temp_path(self, token: str) -> Path:
        if not _TOKEN.match(token):
            raise StorageError("invalid upload token")
        return self.tmp_dir / f"{token}.part"

    def _object_path(self, key: str) -> Path:
        if not _SHA.match(key):
            raise StorageError("invalid object key")
        return self.objects_dir / key[:2] / key

    def temp_size(self, token: str) -> int:
        try:
            return self.temp_path(token).stat().st_size
        except FileNotFoundError:
            return 0

    def append(self, token: str, stream: BinaryIO, *, offset: int, length: int,
               watchers=()) -> tuple[int, str | None]:
        path = self.temp_path(token)
        watchers = list(watchers) if offset == 0 else []
        written = 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "wb") as handle:
            state = self._start_received(token, fd, offset)
            handle.truncate(offset)  # drop any byte past what the server acknowledged
            handle.seek(offset)
            while written < length:
                data = _read(stream, min(CHUNK_SIZE, length - written))
                if not data:
                    break
                handle.write(data)
                if state is not None:
                    state.update(data)
                for watch in watchers:
                    watch(data)
                written += len(data)
            handle.flush()
            os.fsync(handle.fileno())
            if state is not None:
                _keep_received(self._received_key(token), state, fd)
        held = offset + written
        if written < length:
            raise ClientDisconnected(f"{held}")
        return held, state.sha256 if state is not None else None

    def _received_key(self, token: str) -> tuple[str, str]:
        return (str(self.root), token)

    def _start_received(self, token: str, fd: int, offset: int) -> Received | None:
        """The running state for an append at ``offset`` to the file open as ``fd``:
        a new one at 0, else the one kept if it covers exactly the file's bytes, all
        of them before ``offset``."""
        if offset == 0:
            with _received_lock:
                _received.pop(self._received_key(token), None)
            return Received()
        state = _take_received(self._received_key(token), os.fstat(fd))
        return state if state is not None and state.size == offset else None

    def received(self, token: str) -> Received | None:
        key = self._received_key(token)
        try:
            st = os.stat(self.temp_path(token))
        except FileNotFoundError:
            st = None
        state = _take_received(key, st)
        if state is not None:
            with _received_lock:  # still valid: keep it (a finalisation may be retried)
                _received[key] = state
        return state

    def read_head_tail(self, token: str, size: int) -> tuple[bytes, bytes]:
        with open(self.temp_path(token), "rb") as handle:
            head = handle.read(size)
            handle.seek(0, os.SEEK_END)
            end = handle.tell()
            handle.seek(max(0, end - size))
            tail = handle.read(size)
        return head, tail

    def hash_temp(self, token: str) -> str:
        digest = hashlib.sha256()
        with open(self.temp_path(token), "rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                digest.update(chunk)
        return digest.hexdigest()

    def promote(self, token: str, sha256: str) -> str:
        self._drop_received(token)
        source = self.temp_path(token)
        target = self._object_path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        # An object already stored under this hash (the same file deposited by someone
        # else, or removed and sent again) is never trusted: it may predate these checks
        # (the issue 12 attack wrote through a stale handle into a stored object). The
        # new copy, hashed as stored, replaces it; its bytes are the same when it is sound.
        replacing = target.exists()
        if replacing:
            self._set_aside_existing(target, token)
        self._install(source, target, sync_directory=not replacing)
        return sha256

    def _set_aside_existing(self, target: Path, token: str) -> None:
        """The reference deletes the object it replaces at once (``os.replace`` does)."""

    @staticmethod
    def _install(source: Path, target: Path, *, sync_directory: bool) -> None:
        """Read-only, then atomically renamed into place (and the directory entry synced).

        The file was written once under its own temporary name, fsynced and closed
        by its only writer (under the upload's claim): nothing holds it open for
        writing, and once read-only nothing can open it for writing again. A new
        name is synced before the row that names it is committed; a replacement
        is not (4-20 ms on this disk): after a crash the name still holds an object,
        the one it replaced.
        """
        os.chmod(source, stat.S_IRUSR | stat.S_IRGRP)
        os.replace(source, target)
        if sync_directory:
            dir_fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def discard(self, token: str) -> None:
        self._drop_received(token)
        self.temp_path(token).unlink(missing_ok=True)

    def _drop_received(self, token: str) -> None:
        with _received_lock:
            _received.pop(self._received_key(token), None)

    def sweep(self) -> None:
        # Only the fast writer sets copies aside; swept here too so that switching
        # writers never leaves any behind.
        for path in self.tmp_dir.glob(f"*{SET_ASIDE}"):
            path.unlink(missing_ok=True)

    def open(self, key: str) -> BinaryIO:
        return open(self._object_path(key), "rb")

    def exists(self, key: str) -> bool:
        return self._object_path(key).is_file()

    def path(self, key: str) -> Path:
        return self._object_path(key)

    def put_bytes(self, data: bytes) -> str:
        """Store bytes directly (demo and tests)."""
        import io
        import secrets

        token = secrets.token_urlsafe(24)
        with self.claim(token) as claim:
            _, sha = self.append(token, io.BytesIO(data), offset=0, length=len(data))
            key = self.promote(token, sha)
            claim.release(ended=True)
        return key


def storage_class(writer: str) -> type[LocalStorage]:
    """The local-disk implementation for ``DOSSIER_STORAGE_WRITER``."""
    if writer == "reference":
        return LocalStorage
    if writer == "fast":
        from exam_app.dossiers.storage_fast import FastLocalStorage

        return FastLocalStorage
    raise ValueError(f"DOSSIER_STORAGE_WRITER must be one of {WRITERS}, not {writer!r}")


def get_storage() -> Storage:
    """The application's storage, with the configured writer."""
    from flask import current_app

    config = current_app.config
    return storage_class(config.get("DOSSIER_STORAGE_WRITER", "fast"))(config["STORAGE_DIR"])


def _read(stream, size: int) -> bytes:
    """Up to ``size`` bytes of ``stream``; b"" when it ended or failed (connection lost:
    the bytes read before are kept, so the client can resume after them)."""
    try:
        return stream.read(size) or b""
    except Exception:  # noqa: BLE001 - any read failure is a lost connection
        return b""
