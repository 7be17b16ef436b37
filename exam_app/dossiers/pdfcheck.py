"""Checking that an uploaded file is a readable, unencrypted PDF, cheaply first.

Order matters for cost: the ``%PDF-`` header and the ``%%EOF`` trailer are
read from the first and last kilobytes (microseconds); the ``startxref``
offset must point inside the file at a cross-reference table or stream.
Only then does pypdf open the file, which reads the xref and the page tree
without scanning the body. A file of junk behind a valid header fails the
cheap checks, so pypdf never spends seconds rebuilding a broken xref on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

HEAD_TAIL = 2048
_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF", re.S)


class PdfRejected(ValueError):
    """A file refused, with the French message shown to the candidate."""


@dataclass(frozen=True)
class PdfInfo:
    pages: int
    has_javascript: bool
    has_embedded_files: bool


NOT_PDF = "Ce fichier n'est pas un PDF (son contenu ne commence pas par « %PDF- ») : exportez-le en PDF."
EMPTY = "Le fichier est vide (0 octet)."
TRUNCATED = ("Le fichier PDF est incomplet ou tronqué (fin de fichier absente) : "
             "renvoyez-le en entier.")
UNREADABLE = "Le fichier PDF est endommagé ou illisible : ouvrez-le et réenregistrez-le en PDF."
ENCRYPTED = ("Le fichier PDF est protégé par un mot de passe ou chiffré : "
             "enregistrez-en une copie sans protection.")


def check_head_tail(head: bytes, tail: bytes, size: int) -> int:
    """Cheap checks; return the startxref offset."""
    if size == 0:
        raise PdfRejected(EMPTY)
    if not head.startswith(b"%PDF-"):
        raise PdfRejected(NOT_PDF)
    if b"%%EOF" not in tail:
        raise PdfRejected(TRUNCATED)
    matches = list(_STARTXREF.finditer(tail))
    if not matches:
        raise PdfRejected(UNREADABLE)
    offset = int(matches[-1].group(1))
    if offset <= 0 or offset >= size:
        raise PdfRejected(UNREADABLE)
    return offset


def _points_at_xref(path: Path, offset: int) -> bool:
    with open(path, "rb") as handle:
        handle.seek(offset)
        start = handle.read(64).lstrip()
    return start.startswith(b"xref") or re.match(rb"\d+\s+\d+\s+obj", start) is not None


def inspect_pdf(path: Path, size: int, head: bytes, tail: bytes,
                raw_javascript: bool | None = None, skipped=()) -> PdfInfo:
    """Page count and flags of a PDF, or ``PdfRejected`` with the reason.

    ``raw_javascript`` is the result of an ``ActiveContentScanner`` fed the
    whole file while it was received, ``skipped`` the byte ranges of stream
    data it did not search; None scans the file here, and so does an object
    of the cross-reference table that starts inside a skipped range.
    """
    offset = check_head_tail(head, tail, size)
    if not _points_at_xref(path, offset):
        raise PdfRejected(UNREADABLE)

    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    # An open file, not a path: given a path, pypdf reads the whole file into memory.
    with open(path, "rb") as handle:
        info, offsets = _inspect(handle, PdfReader, PdfReadError)
    if skipped and raw_javascript is False and any(
            start <= offset < end for offset in offsets for start, end in skipped):
        raw_javascript = None  # an object hides in "stream data": search everything
    if not info.has_javascript:
        found = _raw_mentions_js(path) if raw_javascript is None else raw_javascript
        info = PdfInfo(info.pages, found, info.has_embedded_files)
    return info


def _inspect(handle, PdfReader, PdfReadError  # noqa: N803 - lazily imported classes
             ) -> tuple[PdfInfo, list[int]]:
    """The PDF's info and the file offsets of its cross-reference table's objects."""
    try:
        reader = PdfReader(handle, strict=False)
        offsets = [offset for table in reader.xref.values() for offset in table.values()
                   if isinstance(offset, int)]
        if reader.is_encrypted:
            raise PdfRejected(ENCRYPTED)
        pages = len(reader.pages)
        root = reader.trailer["/Root"].get_object()
        names = root.get("/Names")
        names = names.get_object() if names is not None else {}
        has_js = "/JavaScript" in names or _open_action_is_js(root) or "/AA" in root
        has_files = "/EmbeddedFiles" in names
    except PdfRejected:
        raise
    except (PdfReadError, KeyError, ValueError, TypeError, AttributeError, IndexError,
            RecursionError, OSError) as exc:
        raise PdfRejected(UNREADABLE) from exc
    if pages == 0:
        raise PdfRejected(UNREADABLE)
    return (PdfInfo(pages=pages, has_javascript=bool(has_js), has_embedded_files=bool(has_files)),
            offsets)


def _open_action_is_js(root) -> bool:
    action = root.get("/OpenAction")
    if action is None:
        return False
    action = action.get_object()
    return hasattr(action, "get") and action.get("/S") == "/JavaScript"


_ACTIVE = re.compile(rb"/J(?:avaScript|S\s*[(<])")


def _raw_mentions_js(path: Path) -> bool:
    # Uncompressed JavaScript actions anywhere in the file: one regex pass over a
    # memory map (no copy; the literal "/J" prefix keeps it fast).
    import mmap

    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return _ACTIVE.search(data) is not None


# What may end a chunk and still become an ``_ACTIVE`` match with the next one:
# "/", "/J", "/Java", "/JS   " ... (one "/", then letters of the keyword or blanks).
_PARTIAL = re.compile(rb"/(?:J(?:a(?:v(?:a(?:S(?:c(?:r(?:i(?:pt?)?)?)?)?)?)?)?|S\s*)?)?")
_BLANKS = b" \t\n\r\f\v"  # what ``\s`` matches in a bytes pattern
_TAIL = 256


def _carry(data) -> bytes:
    """The end of ``data`` that may begin a match continued in the next chunk (or b"")."""
    tail = bytes(data[-_TAIL:])
    # A partial match is at most 10 non-blank bytes ("/JavaScrip"), then blanks.
    if len(tail.rstrip(_BLANKS)) < 16 and len(data) > _TAIL:
        whole = bytes(data)  # a long run of blanks at the end: rare, look further back
        tail = whole[max(0, len(whole.rstrip(_BLANKS)) - 16):]
    last = tail.rfind(b"/")
    return tail[last:] if last != -1 and _PARTIAL.fullmatch(tail, last) else b""


# A stream's data begins after its dictionary and the "stream" keyword with its
# end of line; its declared length, when direct, is in that dictionary.
_STREAM_START = re.compile(rb">>\s{0,64}stream(?:\r\n|\n)")
_LENGTH = re.compile(rb"/Length\s+(\d{1,12})(?![\d.]|\s+\d+\s+R)")
_STREAM_END = re.compile(rb"\s{0,4}endstream")
_LOOKBACK = 1024  # text kept to read a stream's dictionary across slices
_END_PROBE = 13  # bytes after a skipped stream in which "endstream" must appear


class ActiveContentScanner:
    """``_raw_mentions_js`` over a file fed chunk by chunk, while it is received.

    Fed from the upload's hashing thread, so the scan overlaps the socket
    reads and disk writes instead of re-reading the written file afterwards.
    A match split across two chunks is found: the end of a chunk that may
    begin one (see ``_PARTIAL``) is carried over to the next.

    The data of a stream whose dictionary gives a direct ``/Length`` is
    skipped, not searched: JavaScript actions are dictionaries, and stream
    data (images, fonts, compressed content: nearly all of a big PDF's bytes)
    is where a regex spends its time. The skipped length is checked: when
    "endstream" does not follow where the length said (a damaged or crafted
    file), ``complete`` is False and the caller scans the whole file instead.
    A stream with an indirect length, and an object stream (``/ObjStm``, whose
    data are objects), are searched like the rest. ``skipped`` lists the
    byte ranges not searched, so that a file whose cross-reference table
    points into one of them is scanned whole (``inspect_pdf``).
    """

    # The regex holds the GIL while it runs: scanning a 1 MiB chunk in one call
    # stalls the request thread (receiving the next chunk) for about a millisecond
    # each time; slices this long keep each stall in the tens of microseconds.
    STEP = 64 * 1024

    def __init__(self):
        self.found = False
        self._carry = b""
        self._tail = b""  # the last text searched, for a stream's dictionary
        self._skip = 0  # bytes of stream data still to skip
        self._probe: bytes | None = None  # what follows a skipped stream, being checked
        self._mismatch = False
        self._seen = 0  # bytes fed before the current slice
        self.skipped: list[tuple[int, int]] = []  # [start, end) of stream data not searched

    @property
    def complete(self) -> bool:
        """Whether ``found`` covers the whole file (False: scan the file itself)."""
        return self.found or not (self._mismatch or self._skip or self._probe is not None)

    def feed(self, chunk) -> None:
        if len(chunk) <= self.STEP:
            self._feed(chunk)
            return
        view = memoryview(chunk)
        for start in range(0, len(view), self.STEP):
            self._feed(view[start:start + self.STEP])

    def _feed(self, chunk) -> None:
        view = memoryview(chunk)
        base, total = self._seen, len(view)
        self._seen += total
        while len(view) and not self.found:
            if self._skip:
                n = min(self._skip, len(view))
                self._skip -= n
                view = view[n:]
                if not self._skip:
                    self._probe = b""
                continue
            if self._probe is not None:  # peek: these bytes are searched below too
                self._probe += bytes(view[:_END_PROBE - len(self._probe)])
                if len(self._probe) >= _END_PROBE or _STREAM_END.match(self._probe):
                    self._mismatch |= _STREAM_END.match(self._probe) is None
                    self._probe = None
            text = bytes(view)
            window = self._tail + text
            match = _STREAM_START.search(window, max(0, len(self._tail) - 80))
            while match is not None and match.end() <= len(self._tail):
                match = _STREAM_START.search(window, match.start() + 1)
            if match is None:
                self._search(text)
                self._tail = window[-_LOOKBACK:]
                return
            upto = match.end() - len(self._tail)
            self._search(text[:upto])
            view = view[upto:]
            length = _declared_length(window[:match.start()])
            if length is None:  # indirect length: search the data as text
                self._tail = window[:match.end()][-_LOOKBACK:]
                continue
            self._carry, self._tail, self._skip = b"", b"", length
            start = base + total - len(view)
            self.skipped.append((start, start + length))
            if not length:
                self._probe = b""

    def _search(self, chunk) -> None:
        if self.found or not len(chunk):
            return
        data = self._carry + bytes(chunk) if self._carry else chunk
        if _ACTIVE.search(data) is not None:
            self.found = True
            return
        self._carry = _carry(data)


def _declared_length(before: bytes) -> int | None:
    """The direct /Length of the dictionary ending ``before`` (its object's text); None
    when unknown, and for an object stream, whose data are objects to search."""
    window = before[-_LOOKBACK:]
    start = window.rfind(b"obj")
    if start == -1 or b"/ObjStm" in window[start:]:
        return None
    lengths = list(_LENGTH.finditer(window, start))
    return int(lengths[-1].group(1)) if lengths else None
