"""A faster reader for the structure check of an ordinary PDF, beside pypdf.

``pdfcheck.inspect_pdf`` reads the file with pypdf (the reference). pypdf's
parser reads names and numbers a few bytes at a time; on the bench's 116-page
file that is ~15-27 ms after the last byte of a deposit has arrived. This
module reads the same objects with one regular expression per token, builds
pypdf's own object types from them (``NameObject``, ``DictionaryObject``,
``IndirectObject``... and ``create_string_object`` for strings), and hands
them to the very same walk (``pdfcheck._Walk``) and page count rules. So the
verdict is computed by the same code, only the bytes are read differently.

It reads only a plain subset of PDF, where it can be sure to see what pypdf
(in its strict first pass) sees, and **defers** (``read`` returns None, and
pypdf reads the file as before) on anything else:

- one classic cross-reference table at ``startxref`` (zero-indexed, 20-byte
  entries, no object listed twice), no ``/Prev`` (incremental updates),
  ``/XRefStm`` (hybrid files) or ``/Encrypt`` in the trailer; the file ends
  with ``startxref``, its offset and ``%%EOF``;
- every object the check resolves is an in-use entry of that table, starting
  exactly with its ``N G obj`` header and ending with ``endobj``; no stream
  object among them (their ``/Length`` would have to be followed);
- tokens in the plain syntax only: spaces, tabs and line ends as white space
  (no comments, no NUL or form feed), names of printable ASCII (``#xx``
  escapes decoded as pypdf does, ASCII results only), numbers and references
  exactly as pypdf's 20-byte look-ahead reads them, literal strings with the
  common escapes, hex strings, ``true``/``false``/``null``; no duplicate key;
- a catalog with ``/Type /Catalog``; a page tree of ``/Pages`` and ``/Page``
  nodes (typed, kids given as references, no page or node reached twice)
  within pypdf's limits of depth and entries as ``pdfcheck`` configures them;
  at least one page and no more than the session's cap, declared and counted;
- the walk itself ends normally (a refusal, a limit reached, anything raised
  while walking: deferred, so the refusal and its message are pypdf's).

Whatever pypdf would refuse or repair is therefore decided by pypdf. The
equivalence is tested over the test suite's hostile files and real producers'
files (``tests/dossiers/test_pdfcheck_fast.py``): either this reader defers,
or it gives pypdf's pages and findings.
"""

from __future__ import annotations

import re

from pypdf.generic import (
    ArrayObject,
    BooleanObject,
    DictionaryObject,
    FloatObject,
    IndirectObject,
    NameObject,
    NullObject,
    NumberObject,
    create_string_object,
)

from exam_app.dossiers import pdfcheck


class Defer(Exception):
    """The file is outside the plain subset read here: pypdf reads it."""


# Where pypdf stops reading a name, number or keyword: white space (its regex \s) or a
# delimiter. A token followed by anything else would go on for pypdf: not matched here.
_STOP = rb"(?=[ \t\r\n\f\v()<>\[\]{}/%])"
# A literal string: its characters, the common escapes, balanced parentheses two levels
# deep (possessive: a string not closed fails at once, without backtracking).
_CHAR = rb"[^()\\]|\\[nrtbf()\\]|\\[0-7]{1,3}+"
_STRING = rb"\((?:" + _CHAR + rb")*+\)"
for _ in range(2):
    _STRING = rb"\((?:" + _CHAR + rb"|" + _STRING + rb")*+\)"
# One token per match, white space before it skipped. Groups: a reference, a name, a
# number, a punctuation mark, a string or keyword, and anything else (``bad``: defer).
_TOKENS = re.compile(rb"""[ \t\r\n]*(?:
    (\d{1,10}[ \t\r\n]+\d{1,5}[ \t\r\n]+R""" + _STOP + rb""")
  | (/[^\x00-\x20\x7f-\xff()<>\[\]{}/%]*""" + _STOP + rb""")
  | ([+-]?(?:\d+\.?\d*|\.\d+)(?![+,\-.0-9])""" + _STOP + rb""")
  | (<<|>>|\[|\])
  | (""" + _STRING + rb"""|<[0-9A-Fa-f \t\r\n]*>
     |(?:true|false|null)""" + _STOP + rb""")
  | ([^ \t\r\n])
)""", re.X)
_STRING_ESCAPE = re.compile(rb"\\([nrtbf()\\]|[0-7]{1,3})")
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f",
            b"(": b"(", b")": b")", b"\\": b"\\"}
_HEADER = re.compile(rb"(\d{1,10}) (\d{1,5}) obj(?=[ \t\r\n<\[(/])")
_TAIL = re.compile(rb"[\r\n]startxref(?:\r\n|\r|\n)(\d{1,10})(?:\r\n|\r|\n)%%EOF(?:\r\n|\r|\n)?\Z")
_XREF = re.compile(rb"xref(?:\r\n|\r|\n)")
_SUBSECTION = re.compile(rb"(\d{1,10}) (\d{1,10})(?:\r\n|\r|\n)")
_ENTRIES = re.compile(rb"(?:\d{10} \d{5} [nf](?:\r\n| \r| \n))*")  # 20 bytes each
_TRAILER = re.compile(rb"[ \t\r\n]*trailer[ \t\r\n]*(?=<<)")
_TRAILER_END = re.compile(rb"[ \t\r\n]*startxref[ \t\r\n]")
MAX_NESTING = 32
MAX_ENTRIES = 10_000  # per dictionary or array (pypdf allows 100,000: deferred before)
MAX_OBJECT_BYTES = 64 * 1024  # one object the check reads (a page, an action): larger is deferred


class _Document:
    """What ``pdfcheck._Walk`` and the page count need of a reader: ``trailer``,
    ``pages`` and, for the ``IndirectObject``s, ``get_object``."""

    def __init__(self, data, size: int, tail: bytes):
        self.data = data
        self.size = size
        self.objects: dict[tuple[int, int], object] = {}
        self.tokens: dict[bytes, object] = {}  # names, numbers and references met, shared
        # Bytes the tokenizer may go through: an object's text runs to the next "endobj",
        # so the texts of objects read whole do not overlap in an ordinary file; a file
        # making them overlap (headers inside strings) is deferred past twice its size.
        self.budget = 2 * max(size, 1 << 20)
        self.offsets: dict[int, tuple[int, int]] = {}
        self.trailer = self._read_xref(tail)
        self.pages: list[DictionaryObject] = []

    # ---- cross-reference table and trailer ----

    def _read_xref(self, tail: bytes) -> DictionaryObject:
        found = _TAIL.search(tail)
        if found is None:
            raise Defer
        data = self.data
        at = int(found.group(1))
        match = _XREF.match(data, at)
        if match is None:
            raise Defer
        position = match.end()
        first = True
        while True:
            header = _SUBSECTION.match(data, position)
            if header is None:
                break
            start, count = int(header.group(1)), int(header.group(2))
            if first and start != 0:
                raise Defer  # pypdf corrects the numbers of a table not zero-indexed
            first = False
            position = header.end()
            if count > pdfcheck.MAX_XREF_ENTRIES or position + 20 * count > self.size:
                raise Defer
            table = bytes(data[position:position + 20 * count])
            if len(table) != 20 * count or not _ENTRIES.fullmatch(table):
                raise Defer
            position += 20 * count
            offsets = self.offsets
            for number, at in zip(range(start, start + count), range(0, 20 * count, 20),
                                  strict=True):
                if number in offsets:
                    raise Defer
                if table[at + 17] == 0x6E:  # n
                    offsets[number] = (int(table[at + 11:at + 16]), int(table[at:at + 10]))
                else:
                    offsets[number] = None  # free: listed, but not readable here
        if first:
            raise Defer
        match = _TRAILER.match(data, position)
        if match is None:
            raise Defer
        end = _TRAILER_END.search(data, match.end(), match.end() + MAX_OBJECT_BYTES)
        if end is None:
            raise Defer
        trailer = self._parse(data[match.end():end.start()])
        if not isinstance(trailer, DictionaryObject) or any(
                key in trailer for key in ("/Prev", "/XRefStm", "/Encrypt")):
            raise Defer
        return trailer

    # ---- objects ----

    def get_object(self, reference):
        key = (reference.idnum, reference.generation)
        if key in self.objects:
            return self.objects[key]
        entry = self.offsets.get(reference.idnum)
        if entry is None or entry[0] != reference.generation:
            raise Defer  # pypdf would search the file for it, or answer null
        data = self.data
        header = _HEADER.match(data, entry[1])
        if header is None or (int(header.group(1)), int(header.group(2))) != key:
            raise Defer
        # Up to the next "endobj": a stream's "stream" keyword, or an "endobj" inside
        # a string, leaves tokens that do not make one value: deferred.
        end = data.find(b"endobj", header.end(), header.end() + MAX_OBJECT_BYTES)
        if end == -1:
            raise Defer
        self.budget -= end - header.end()
        if self.budget < 0:
            raise Defer
        value = self._parse(data[header.end():end])
        self.objects[key] = value
        return value

    def _parse(self, text: bytes):
        """The one value written in ``text`` (white space around it allowed)."""
        stack: list[list] = [[]]
        kinds: list[bytes] = []
        append = stack[-1].append
        tokens = self.tokens
        for ref, name, number, mark, other, _bad in _TOKENS.findall(text):
            scalar = ref or name or number
            if scalar:
                value = tokens.get(scalar)
                if value is None:
                    value = tokens[scalar] = self._scalar(ref, name, number)
                append(value)
            elif mark:
                if mark == b"<<" or mark == b"[":
                    if len(stack) > MAX_NESTING:
                        raise Defer
                    stack.append([])
                    kinds.append(mark)
                    append = stack[-1].append
                    continue
                if not kinds or (mark == b">>") != (kinds.pop() == b"<<"):
                    raise Defer
                items = stack.pop()
                if len(items) > MAX_ENTRIES:
                    raise Defer
                append = stack[-1].append
                if mark == b"]":
                    array = ArrayObject()
                    array.extend(items)
                    append(array)
                    continue
                keys = items[0::2]
                if len(items) % 2 or not all(isinstance(k, NameObject) for k in keys) or (
                        len(set(keys)) != len(keys)):
                    raise Defer  # a key that is not a name, a key without value, twice
                dictionary = DictionaryObject()
                dictionary.update(zip(keys, items[1::2], strict=True))
                append(dictionary)
            elif other:
                append(self._literal(other))
            else:
                raise Defer
        if kinds or len(stack[0]) != 1:
            raise Defer
        return stack[0][0]

    def _scalar(self, ref: bytes, name: bytes, number: bytes):
        if ref:
            if len(ref) > 19:
                raise Defer  # past pypdf's 20-byte look-ahead: not a reference for it
            idnum, generation, _ = ref.split(None, 2)
            return IndirectObject(int(idnum), int(generation), self)
        if name:
            if len(name) > 1000:
                raise Defer
            if b"#" in name:
                name = NameObject.unnumber(name)
                if not name.isascii():
                    raise Defer
            return NameObject(name.decode("ascii"))
        if len(number) >= 20:
            raise Defer
        return FloatObject(number) if b"." in number else NumberObject(number)

    @staticmethod
    def _literal(text: bytes):
        if text == b"null":
            return NullObject()
        if text == b"true" or text == b"false":
            return BooleanObject(text == b"true")
        if text[:1] == b"<":
            digits = bytes(c for c in text[1:-1] if c not in b" \t\r\n")
            if len(digits) % 2:
                digits += b"0"
            return create_string_object(bytes.fromhex(digits.decode("ascii")))
        body = text[1:-1]
        if b"\\" in body:
            def unescape(match):
                code = match.group(1)
                if code in _ESCAPES:
                    return _ESCAPES[code]
                value = int(code, 8)
                if value > 255:
                    raise Defer
                return bytes((value,))

            body = _STRING_ESCAPE.sub(unescape, body)
        return create_string_object(body)

    # ---- page tree ----

    def flatten(self, max_pages: int) -> None:
        """``pages``: the leaves of the page tree, as pypdf's ``_flatten`` lists them."""
        root = self.trailer["/Root"]
        if not isinstance(root, DictionaryObject) or root.get("/Type") != "/Catalog":
            raise Defer
        top = root.get("/Pages")
        if not isinstance(top, IndirectObject):
            raise Defer
        declared = top.get_object().get("/Count")
        if isinstance(declared, int) and declared > max_pages:
            raise Defer  # refused by pypdf before it reads the tree
        max_entries = 2 * max_pages + 64  # pdfcheck._page_count's limits for pypdf
        max_page_entries = 64 * max_pages + 4096
        entries = page_entries = 0
        seen = {(top.idnum, top.generation)}
        stack = [(top.get_object(), 0, frozenset())]
        while stack:
            node, depth, inherited = stack.pop()
            if not isinstance(node, DictionaryObject) or not node:
                raise Defer
            kind = node.get("/Type")
            if kind == "/Page" and "/Kids" not in node:
                page_entries += len(node) + sum(a not in node for a in inherited)
                if page_entries > max_page_entries:
                    raise Defer
                self.pages.append(node)
                continue
            if kind != "/Pages" or depth >= 100:
                raise Defer
            inherited = inherited | {a for a in ("/Resources", "/MediaBox", "/CropBox", "/Rotate")
                                     if a in node}
            kids = node.get("/Kids")
            if not isinstance(kids, ArrayObject):
                raise Defer
            children = []
            for kid in kids:
                if not isinstance(kid, IndirectObject) or (kid.idnum, kid.generation) in seen:
                    raise Defer  # inline, or reached twice (a cycle, a page listed twice)
                seen.add((kid.idnum, kid.generation))
                entries += 1
                if entries > max_entries:
                    raise Defer
                children.append((kid.get_object(), depth + 1, inherited))
            stack.extend(reversed(children))
        if not self.pages or len(self.pages) > max_pages:
            raise Defer


def read(data, size: int, tail: bytes, max_pages: int) -> tuple[int, set[str]] | None:
    """(pages, active content found) of a PDF in the plain subset, or None: let pypdf read it.

    ``data``: the file's bytes (a memory map); ``tail``: its last bytes. Called only
    for a file that needs no repair (``pdfcheck._repairs`` found none).
    """
    if data[:5] != b"%PDF-":
        return None
    try:
        document = _Document(data, size, tail)
        document.flatten(max_pages)
        found = pdfcheck._Walk(document).run()
    except Exception:  # noqa: BLE001 - Defer, or anything the walk raised: pypdf decides
        return None
    return len(document.pages), found
