"""The fast local-disk writer: the same ``Storage`` interface as ``LocalStorage``,
tuned for the 20 MB single-request upload (see BENCHMARKS.md, upload).

- the body is received into a few reusable buffers (a pool kept between
  uploads) and written from them, never copied into new bytes objects;
- a second thread hashes and scans each written buffer (``Received``: kept
  between the chunks of one upload, see ``storage.Received``) and feeds the
  watchers while the next one is being received;
- ``sync_file_range`` (Linux, via ctypes) starts the write-back of each chunk
  early, so the final ``fsync`` has less to wait for;
- ``promote`` over content already stored sets the replaced object aside,
  and ``sweep`` deletes it once the response is sent.

Selected with ``DOSSIER_STORAGE_WRITER = "fast"`` (the default); the plain
``LocalStorage`` in ``storage.py`` is the reference it must agree with
(``tests/dossiers/test_fast_paths.py``).
"""

from __future__ import annotations

import contextlib
import os
from typing import BinaryIO

from exam_app.dossiers.storage import (
    CHUNK_SIZE,
    SET_ASIDE,
    ClientDisconnected,
    LocalStorage,
    Received,
    _keep_received,
)


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
    """Runs the SHA-256 and ``xref`` scan (``Received``) and the other watchers of an
    upload in a second thread.

    The request thread receives into one of a few reusable buffers, writes it
    to the file and hands it over; this thread starts the write-back of those
    bytes, hashes them (both release the GIL) and feeds them to the watchers
    while the next buffer is being received, then gives the buffer back. At
    most ``BUFFERS`` chunks are in memory whatever the file size.
    """

    BUFFERS = 3

    def __init__(self, fd: int, size: int, watchers, state: Received):
        import queue
        import threading

        self._fd = fd
        self.state = state
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
                    self.state.update(buffer.obj, n)  # the pool's bytearray: it has find
                    if self._watchers:
                        chunk = buffer[:n]
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

    def close(self) -> Received:
        self._work.put(None)
        self._thread.join()
        _POOL.give(self._size, self._buffers)
        if self._error is not None:
            raise self._error
        return self.state


class _Inline:
    """The same interface without a thread or a hash: one buffer (uploads resumed
    without a ``Received`` state: another process received the bytes before)."""

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


class FastLocalStorage(LocalStorage):
    """``LocalStorage`` with the threaded, buffered, early-write-back ``append``."""

    def append(self, token: str, stream: BinaryIO, *, offset: int, length: int,
               watchers=()) -> tuple[int, str | None]:
        path = self.temp_path(token)
        size = max(1, min(CHUNK_SIZE, length))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        written = 0
        state = None
        try:
            start = self._start_received(token, fd, offset)
            # Reusable buffers: the body goes socket -> buffer -> file (and hash), no other copy.
            pipeline = (_ChunkWatchers(fd, size, watchers if offset == 0 else (), start)
                        if start is not None else _Inline(fd, size))
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
                state = pipeline.close()  # before closing the file it may still flush
            if state is not None:
                _keep_received(self._received_key(token), state, fd)
        finally:
            os.close(fd)
        held = offset + written
        if written < length:
            raise ClientDisconnected(f"{held}")
        return held, state.sha256 if state is not None else None

    def _set_aside_existing(self, target, token: str) -> None:
        # Replacing an object frees its blocks, ~13 ms for 20 MB on this disk: the
        # old object keeps a second name in tmp/ (a hard link, instant) so that the
        # rename over it frees nothing, and ``sweep`` deletes it once the response is sent.
        aside = self.temp_path(token).with_suffix(SET_ASIDE)
        aside.unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):  # nothing stored under this hash yet
            os.link(target, aside)
