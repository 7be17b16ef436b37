"""Where dossier files live: a small interface and its local-disk implementation.

Uploads are written to a temporary object (one per upload token), chunk by
chunk, then promoted to a permanent object named by the SHA-256 of its
content, never by the client's file name. An S3-compatible store would
implement the same methods (temp parts as a multipart upload, ``promote`` as
a copy to the content-addressed key).
"""

from __future__ import annotations

import hashlib
import os
import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import BinaryIO

CHUNK_SIZE = 1024 * 1024
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")
_SET_ASIDE = ".done"  # a complete upload whose content was already stored


class StorageError(RuntimeError):
    pass


class ClientDisconnected(StorageError):
    """The request body ended before the announced length (connection lost)."""


def _libc_sync_file_range():
    """``sync_file_range(2)`` where the C library has it (Linux), else None."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_SYNC_FILE_RANGE = _libc_sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2


def _start_writeback(fd: int, offset: int, nbytes: int) -> None:
    """Ask the kernel to start writing these bytes to disk now, without waiting.

    The final ``fsync`` is what makes the file durable; starting the
    write-back while the rest of the body is still arriving leaves it less
    to wait for. A no-op where the call does not exist.
    """
    if _SYNC_FILE_RANGE is not None and nbytes > 0:
        _SYNC_FILE_RANGE(fd, offset, nbytes, _SYNC_FILE_RANGE_WRITE)


def _read_into(stream, view: memoryview) -> tuple[int, bool]:
    """Fill ``view`` from ``stream`` as far as it goes: (byte count, whether the stream ended).

    A read that fails (connection lost) ends the stream; the bytes read
    before it are kept, so the client can resume after them.
    """
    filled = 0
    readinto = getattr(stream, "readinto", None)
    while filled < len(view):
        try:
            if readinto is not None:
                n = readinto(view[filled:])
            else:
                data = stream.read(len(view) - filled)
                n = len(data)
                view[filled:filled + n] = data
        except Exception:  # noqa: BLE001 - any read failure is a lost connection
            return filled, True
        if not n:
            return filled, True
        filled += n
    return filled, False


class _BufferPool:
    """Full-size receive buffers kept between uploads: allocating and faulting in a few
    MiB per request costs milliseconds. At most ``keep`` sets are kept (threaded
    servers); small uploads get small buffers, not worth keeping."""

    def __init__(self, keep: int = 4):
        import threading

        self._lock = threading.Lock()
        self._sets: list[list[memoryview]] = []
        self._keep = keep

    def take(self, count: int, size: int) -> list[memoryview]:
        if size == CHUNK_SIZE:
            with self._lock:
                if self._sets:
                    return self._sets.pop()
        return [memoryview(bytearray(size)) for _ in range(count)]

    def give(self, size: int, views: list[memoryview]) -> None:
        if size != CHUNK_SIZE:
            return
        with self._lock:
            if len(self._sets) < self._keep:
                self._sets.append(views)


_POOL = _BufferPool()


class _ChunkWatchers:
    """Runs the SHA-256 and the other watchers of an upload in a second thread.

    The request thread receives into one of a few reusable buffers, writes it
    to the file and hands it over; this thread starts the write-back of those
    bytes, hashes them (both release the GIL) and feeds them to the watchers
    while the next buffer is being received, then gives the buffer back. At
    most ``BUFFERS`` chunks are in memory whatever the file size.
    """

    BUFFERS = 3

    def __init__(self, fd: int, size: int, watchers):
        import queue
        import threading

        self._fd = fd
        self._digest = hashlib.sha256()
        self._watchers = list(watchers)
        self._size = size
        self._buffers = _POOL.take(self.BUFFERS, size)
        self._free: queue.Queue = queue.Queue()
        for buffer in self._buffers:
            self._free.put(buffer)
        self._work: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._work.get()) is not None:
            buffer, position, n = item
            try:
                if self._error is None:
                    _start_writeback(self._fd, position, n)
                    chunk = buffer[:n]
                    self._digest.update(chunk)
                    for watch in self._watchers:
                        watch(chunk)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the request thread
                self._error = exc
            finally:
                self._free.put(buffer)

    def buffer(self) -> memoryview:
        return self._free.get()

    def feed(self, buffer: memoryview, position: int, n: int) -> None:
        self._work.put((buffer, position, n))

    def give_back(self, buffer: memoryview) -> None:
        self._free.put(buffer)

    def close(self) -> str:
        self._work.put(None)
        self._thread.join()
        _POOL.give(self._size, self._buffers)
        if self._error is not None:
            raise self._error
        return self._digest.hexdigest()


class _Inline:
    """The same interface without a thread or a hash: one buffer (resumed uploads)."""

    def __init__(self, fd: int, size: int):
        self._fd = fd
        self._buffer = memoryview(bytearray(size))

    def buffer(self) -> memoryview:
        return self._buffer

    def feed(self, buffer: memoryview, position: int, n: int) -> None:
        _start_writeback(self._fd, position, n)

    def give_back(self, buffer: memoryview) -> None:
        pass

    def close(self) -> None:
        return None


class Storage(ABC):
    @abstractmethod
    def temp_size(self, token: str) -> int:
        """Bytes held so far for an upload (0 when nothing yet)."""

    @abstractmethod
    def append(self, token: str, stream: BinaryIO, *, offset: int, length: int,
               watchers=()) -> tuple[int, str | None]:
        """Copy ``length`` bytes of ``stream`` at ``offset``; return (bytes held, sha256 or None).

        The hash is returned when the upload started at 0 in this call, so
        the common single-request case hashes while copying; ``watchers``
        (callables) are then fed every chunk too, in order. Bytes received
        before a disconnection are kept (the client resumes from there).
        """

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
        """Make a complete upload permanent under its content hash; return its key."""

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
    """Files under ``root``: ``tmp/<token>.part`` while uploading, ``objects/ab/<sha256>`` after."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.tmp_dir = self.root / "tmp"
        self.objects_dir = self.root / "objects"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.objects_dir.mkdir(parents=True, exist_ok=True)

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
        size = max(1, min(CHUNK_SIZE, length))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        # Reusable buffers: the body goes socket -> buffer -> file (and hash), no other copy.
        pipeline = _ChunkWatchers(fd, size, watchers) if offset == 0 else _Inline(fd, size)
        written = 0
        digest = None
        try:
            os.ftruncate(fd, offset)  # drop any byte past what the server acknowledged
            os.lseek(fd, offset, os.SEEK_SET)
            remaining = length
            while remaining > 0:
                buffer = pipeline.buffer()
                n, ended = _read_into(stream, buffer[:min(len(buffer), remaining)])
                if not n:
                    pipeline.give_back(buffer)
                    break
                chunk = buffer[:n]
                while chunk:
                    chunk = chunk[os.write(fd, chunk):]
                pipeline.feed(buffer, offset + written, n)
                written += n
                remaining -= n
                if ended:
                    break
            os.fsync(fd)
        finally:
            try:
                digest = pipeline.close()  # before closing the file it may still flush
            finally:
                os.close(fd)
        held = offset + written
        if written < length:
            raise ClientDisconnected(f"{held}")
        return held, digest

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
        source = self.temp_path(token)
        target = self._object_path(sha256)
        if target.is_file():
            # Same content, same name, already stored (a file removed and sent
            # again): keep it. Freeing the new copy's blocks takes ~13 ms for
            # 20 MB on this disk, so the copy is set aside and deleted by
            # ``sweep`` once the response is sent.
            os.replace(source, source.with_suffix(_SET_ASIDE))
            return sha256
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return sha256

    def discard(self, token: str) -> None:
        self.temp_path(token).unlink(missing_ok=True)

    def sweep(self) -> None:
        for path in self.tmp_dir.glob(f"*{_SET_ASIDE}"):
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
        _, sha = self.append(token, io.BytesIO(data), offset=0, length=len(data))
        return self.promote(token, sha)


def get_storage() -> Storage:
    from flask import current_app

    return LocalStorage(current_app.config["STORAGE_DIR"])
