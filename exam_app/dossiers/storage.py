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


class StorageError(RuntimeError):
    pass


class ClientDisconnected(StorageError):
    """The request body ended before the announced length (connection lost)."""


class _BackgroundHasher:
    """SHA-256 computed in a second thread while the request thread reads and writes.

    hashlib releases the GIL on large buffers, so hashing overlaps the socket
    reads and the disk writes; the bounded queue holds at most a few chunks.
    """

    def __init__(self):
        import queue
        import threading

        self._digest = hashlib.sha256()
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self._digest.update(chunk)

    def feed(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def close(self) -> str:
        self._queue.put(None)
        self._thread.join()
        return self._digest.hexdigest()


class Storage(ABC):
    @abstractmethod
    def temp_size(self, token: str) -> int:
        """Bytes held so far for an upload (0 when nothing yet)."""

    @abstractmethod
    def append(self, token: str, stream: BinaryIO, *, offset: int, length: int) -> tuple[int, str | None]:
        """Copy ``length`` bytes of ``stream`` at ``offset``; return (bytes held, sha256 or None).

        The hash is returned when the upload started at 0 in this call, so
        the common single-request case hashes while copying. Bytes received
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

    def append(self, token: str, stream: BinaryIO, *, offset: int, length: int) -> tuple[int, str | None]:
        path = self.temp_path(token)
        hasher = _BackgroundHasher() if offset == 0 else None
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        written = 0
        try:
            os.ftruncate(fd, offset)  # drop any byte past what the server acknowledged
            os.lseek(fd, offset, os.SEEK_SET)
            remaining = length
            while remaining > 0:
                try:
                    chunk = stream.read(min(CHUNK_SIZE, remaining))
                except Exception:  # noqa: BLE001 - any read failure is a lost connection
                    chunk = b""
                if not chunk:
                    break
                if hasher is not None:
                    hasher.feed(chunk)
                view = memoryview(chunk)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                written += len(chunk)
                remaining -= len(chunk)
            os.fsync(fd)
        finally:
            os.close(fd)
            digest = hasher.close() if hasher is not None else None
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
        target.parent.mkdir(parents=True, exist_ok=True)
        # Same content, same name: a second copy simply replaces the first atomically.
        os.replace(source, target)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return sha256

    def discard(self, token: str) -> None:
        self.temp_path(token).unlink(missing_ok=True)

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
