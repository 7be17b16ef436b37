"""Checking that an uploaded file is a PDF a juror can open, and what it contains.

Three steps, cheapest first:

1. the first and last bytes: a ``%PDF-`` header (within the first KiB, as
   readers accept it), a ``%%EOF`` marker somewhere (a file without one was
   cut short);
2. pypdf opens the file (non-strict: it repairs what readers repair, such as
   a byte-order mark before the header, padding after ``%%EOF`` or a
   ``startxref`` a few bytes off; each repair is recorded as a warning for the
   conformity control), decrypts it with the empty password when it only
   carries a permissions password, and counts its pages (the declared count
   first, so a file of 100,000 pages is refused before its page tree is read);
3. a walk of the parsed objects where a viewer finds something to run:
   the catalog's ``/OpenAction`` and ``/AA``, the name trees (``/JavaScript``,
   ``/EmbeddedFiles``), the form (fields' actions, XFA), the outline, and each
   page's ``/AA`` and annotations (link actions, attachments, media), following
   ``/Next`` chains. Names escaped with ``#`` and objects inside compressed
   object streams are seen as a reader sees them, since pypdf decoded them; an
   object nothing refers to is never run, so it is not reported.

Steps 2 and 3 read the objects with ``pdfcheck_fast`` first (``DOSSIER_PDF_READER``,
"fast" by default): a reader of the plain PDFs most producers write, several times
faster than pypdf's parser, building pypdf's object types for the same walk below;
it defers to pypdf anything outside that subset (incremental updates, object and
cross-reference streams, encryption, repairs, odd syntax) and every refusal.

Everything pypdf does here runs under ``LIMITS`` (decompressed size per
stream, page-tree depth and size) and the walk is bounded (objects visited
once, a cap on their number and on nesting), so a crafted file is refused
quickly and with bounded memory. Any error while reading is a refusal with a
French message, never a 500.

What to do with active content (refuse or flag) is the session's policy
(``ACTIVE_KINDS`` gives each kind's default); ``refused_kinds`` applies it.
"""

from __future__ import annotations

import logging
import mmap
import re
from dataclasses import dataclass, field
from pathlib import Path

HEAD_TAIL = 2048
HEADER_WINDOW = 1024  # readers accept a header within the first KiB (ISO 32000-2, 7.5.2)
TRAILING_OK = 2048  # bytes after the last %%EOF that are not worth a warning
_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF", re.S)

# Bounds of one check. A stream decoded during the check (object streams,
# cross-reference streams) may not inflate past INFLATE_MAX: a file inflating
# to a gigabyte is refused after 32 MB of work. The page tree may not be deeper
# than pypdf's 100 levels.
INFLATE_MAX = 32 * 1000 * 1000
MAX_OBJECTS = 200_000  # objects the walk may resolve
MAX_DEPTH = 64  # nesting of actions, fields, name-tree and outline levels
MAX_PAGES_LIMIT = 10_000  # the highest page cap a session may set
DEFAULT_MAX_PAGES = 500


class PdfRejected(ValueError):
    """A file refused, with the French message shown to the candidate and a stable code."""

    def __init__(self, message: str, code: str = "not_pdf"):
        super().__init__(message)
        self.code = code


REFUSE = "refuse"
FLAG = "flag"


@dataclass(frozen=True)
class ActiveKind:
    """A kind of active content: its label (French) and the session's default action."""

    code: str
    label: str
    default: str


ACTIVE_KINDS: dict[str, ActiveKind] = {k.code: k for k in (
    ActiveKind("javascript", "JavaScript", REFUSE),
    ActiveKind("launch", "lancement d'une application (/Launch)", REFUSE),
    ActiveKind("submit_form", "envoi de formulaire vers un serveur (/SubmitForm)", REFUSE),
    ActiveKind("embedded_files", "fichiers joints", REFUSE),
    ActiveKind("import_data", "import de données (/ImportData)", FLAG),
    ActiveKind("remote_goto", "lien vers un autre document (/GoToR, /GoToE)", FLAG),
    ActiveKind("rich_media", "contenu multimédia (vidéo, son, /RichMedia)", FLAG),
    ActiveKind("xfa", "formulaire XFA", FLAG),
)}

# Warnings: what pypdf had to repair to read the file (shown in the conformity control).
REPAIRS = {
    "header_offset": "en-tête PDF précédé d'octets parasites",
    "trailing_data": "données parasites après la fin du PDF",
    "xref_repaired": "table des références croisées réparée à la lecture",
}


@dataclass(frozen=True)
class PdfInfo:
    pages: int
    active: frozenset[str] = frozenset()  # codes of ACTIVE_KINDS found
    repairs: tuple[str, ...] = ()  # codes of REPAIRS

    @property
    def has_javascript(self) -> bool:
        return "javascript" in self.active

    @property
    def has_embedded_files(self) -> bool:
        return "embedded_files" in self.active


NOT_PDF = "Ce fichier n'est pas un PDF (son contenu ne commence pas par « %PDF- ») : exportez-le en PDF."
EMPTY = "Le fichier est vide (0 octet)."
TRUNCATED = ("Le fichier PDF est incomplet ou tronqué (fin de fichier absente) : "
             "renvoyez-le en entier.")
UNREADABLE = ("Le fichier PDF est endommagé et n'a pas pu être lu, même en le réparant : "
              "ouvrez-le et réenregistrez-le en PDF (« Imprimer » → « Enregistrer en PDF »).")
ENCRYPTED = ("Le fichier PDF est protégé par un mot de passe d'ouverture : les correcteurs ne "
             "pourraient pas le lire. Enregistrez-en une copie sans mot de passe d'ouverture "
             "(un mot de passe qui limite seulement l'impression ou la copie est accepté).")
TOO_COMPLEX = ("Le fichier PDF est trop volumineux une fois décompressé ou sa structure est trop "
               "complexe pour être contrôlée : réenregistrez-le en PDF (« Imprimer » → "
               "« Enregistrer en PDF ») ou réduisez-le.")


def too_many_pages(pages, cap: int) -> str:
    return (f"Le fichier compte {pages} pages : un fichier déposé est limité à {cap} pages "
            "pour cette session. Scindez-le ou réduisez-le.")


def refused_message(kinds) -> str:
    """The candidate's message for a file refused for its active content."""
    labels = ", ".join(ACTIVE_KINDS[k].label for k in sorted(kinds, key=list(ACTIVE_KINDS).index))
    return (f"Le fichier contient du contenu actif refusé pour cette session : {labels}. "
            "Enregistrez-en une copie sans ces éléments (par exemple « Imprimer » → "
            "« Enregistrer en PDF ») et déposez-la.")


def policy_with_defaults(policy: dict | None) -> dict[str, str]:
    """Each kind's action: the session's choice, else the default."""
    policy = policy or {}
    return {code: policy.get(code) if policy.get(code) in (REFUSE, FLAG) else kind.default
            for code, kind in ACTIVE_KINDS.items()}


def refused_kinds(info: PdfInfo, policy: dict | None) -> list[str]:
    """The kinds found in the file that the policy refuses (in ``ACTIVE_KINDS`` order)."""
    actions = policy_with_defaults(policy)
    return [code for code in ACTIVE_KINDS if code in info.active and actions[code] == REFUSE]


# ---- step 1: the first and last bytes ------------------------------------------------

def check_head_tail(head: bytes, tail: bytes, size: int) -> int:
    """Cheap checks on the first and last bytes; return the header's offset."""
    if size == 0:
        raise PdfRejected(EMPTY)
    start = head.find(b"%PDF-", 0, HEADER_WINDOW + 5)
    if start == -1:
        raise PdfRejected(NOT_PDF)
    return start


def _last_eof(path: Path, size: int, tail: bytes) -> int:
    """The offset just after the file's last ``%%EOF``, or -1 when there is none."""
    at = tail.rfind(b"%%EOF")
    if at != -1:
        return size - len(tail) + at + 5
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        at = data.rfind(b"%%EOF")
    return at + 5 if at != -1 else -1


# pypdf reads each cross-reference entry in Python, and when it repairs a file it
# re-reads every object's header: tens of microseconds each, so a 20 MB file
# declaring a million entries would hold a worker for most of a minute. The
# entries a file's tables declare are counted from the raw bytes first (a literal
# search, milliseconds) and a file declaring more than MAX_XREF_ENTRIES is
# refused before pypdf reads it; pypdf caps its cross-reference streams at the
# same number. Ordinary files hold a few thousand objects.
MAX_XREF_ENTRIES = 100_000
_SUBSECTION = re.compile(rb"[ \t\r\n]*(\d{1,10})[ \t]+(\d{1,10})[ \t]*[\r\n]+")


def _declared_entries(path: Path, marks=None) -> int:
    """How many entries the file's cross-reference tables declare (stops past the limit).

    ``marks``: the offset of every ``b"xref"`` in the file, in order, when they
    were found while the file was received (``storage.Received``); else the file
    is searched here. Cross-reference streams are bounded by pypdf itself
    (``xref_stream_maximum_entries``).
    """
    total = 0
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        for at in (marks if marks is not None else _find_all(data, b"xref")):
            if total > MAX_XREF_ENTRIES:
                break
            position = at + 4
            if (at == 0 or data[at - 1] not in b"tT") and data[position:position + 1] in (
                    b"\r", b"\n", b" ", b"\t"):  # "xref" opening a table, not "startxref"
                while total <= MAX_XREF_ENTRIES:
                    header = _SUBSECTION.match(data, position)
                    if header is None:
                        break
                    count = int(header.group(2))
                    total += count
                    position = header.end() + 20 * count  # entries are 20 bytes each
    return total


def _find_all(data, needle: bytes):
    """Offsets of ``needle`` in ``data``, in order. mmap.find (a C search for a
    literal) rather than a regex scan: milliseconds for 20 MB, where re.finditer
    takes seconds."""
    at = data.find(needle)
    while at != -1:
        yield at
        at = data.find(needle, at + len(needle))


def _points_at_xref(path: Path, offset: int) -> bool:
    with open(path, "rb") as handle:
        handle.seek(offset)
        start = handle.read(64).lstrip()
    return start.startswith(b"xref") or re.match(rb"\d+\s+\d+\s+obj", start) is not None


def _repairs(path: Path, size: int, head_at: int, tail: bytes) -> tuple[str, ...]:
    """What a reader repairs in this file (before pypdf opens it): codes of REPAIRS."""
    end = _last_eof(path, size, tail)
    if end == -1:
        raise PdfRejected(TRUNCATED)
    found = []
    if head_at:
        found.append("header_offset")
    if size - end > TRAILING_OK:
        found.append("trailing_data")
    if end != size:  # the trailer is before the padding
        with open(path, "rb") as handle:
            handle.seek(max(0, end - HEAD_TAIL))
            tail = handle.read(min(end, HEAD_TAIL))
    matches = list(_STARTXREF.finditer(tail))
    offset = int(matches[-1].group(1)) if matches else -1
    # Offsets counted from the header (as some readers do) when bytes precede it.
    if not any(0 < at < size and _points_at_xref(path, at) for at in {offset, offset + head_at}):
        found.append("xref_repaired")
    return tuple(found)


# ---- step 2 and 3: pypdf ------------------------------------------------------------

def _limits():
    from pypdf import Configuration

    return Configuration().with_overwrites(
        zlib_maximum_output_length=INFLATE_MAX, lzw_maximum_output_length=INFLATE_MAX,
        run_length_maximum_output_length=INFLATE_MAX, brotli_maximum_output_length=INFLATE_MAX,
        jbig2_maximum_output_length=INFLATE_MAX, image_maximum_buffer_size=INFLATE_MAX,
        array_based_stream_maximum_output_length=INFLATE_MAX,
        stream_decoding_work_maximum_length=4 * INFLATE_MAX,
        # A damaged deflate stream is retried byte by byte: keep that short.
        zlib_maximum_recovery_input_length=256 * 1024,
        page_tree_maximum_depth=100, outline_maximum_depth=MAX_DEPTH,
        form_fields_maximum_depth=MAX_DEPTH, named_destinations_maximum_depth=MAX_DEPTH,
        jbig2dec_binary=None, disable_legacy_handling=True)


READERS = ("fast", "reference")


def configured_reader() -> str:
    """The application's ``DOSSIER_PDF_READER`` (``"fast"`` outside an application)."""
    from flask import current_app, has_app_context

    return current_app.config.get("DOSSIER_PDF_READER", "fast") if has_app_context() else "fast"


def inspect_pdf(path: Path, size: int, head: bytes, tail: bytes, *,
                max_pages: int = DEFAULT_MAX_PAGES, xref_marks=None,
                reader: str = "fast") -> PdfInfo:
    """Page count, active content and repairs of a PDF, or ``PdfRejected`` with the reason.

    ``max_pages``: a file with more pages is refused (before its page tree is
    read when its declared count says so). ``xref_marks``: the offset of every
    ``b"xref"`` in the file, found while it was received (else searched here).
    ``reader`` (``DOSSIER_PDF_READER``): ``"fast"`` first tries ``pdfcheck_fast``
    on a file needing no repair (it reads the plain PDFs nearly all producers
    write, and defers anything else to pypdf); ``"reference"`` reads with pypdf only.
    """
    if reader not in READERS:
        raise ValueError(f"DOSSIER_PDF_READER must be one of {READERS}, not {reader!r}")
    head_at = check_head_tail(head, tail, size)
    repairs = _repairs(path, size, head_at, tail)
    if _declared_entries(path, xref_marks) > MAX_XREF_ENTRIES:
        raise PdfRejected(TOO_COMPLEX, "too_complex")

    from pypdf import apply_configuration
    from pypdf.errors import DependencyError, LimitReachedError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    # A memory map, not a path: given a path, pypdf reads the whole file into memory.
    # Not a buffered file either: pypdf reads names and numbers 16 bytes at a time,
    # each read a method call through the buffer's lock; the map serves them directly
    # from the page cache (the bench's 116-page file: ~35 ms -> ~27 ms), and only the
    # pages pypdf reads (the cross-reference table, the objects walked) are mapped in.
    with (open(path, "rb") as raw, mmap.mmap(raw.fileno(), 0, access=mmap.ACCESS_READ) as handle,
          apply_configuration(_limits())):
        if reader == "fast" and not repairs:
            from exam_app.dossiers import pdfcheck_fast

            fast = pdfcheck_fast.read(handle, size, tail, max_pages)
            if fast is not None:
                return PdfInfo(pages=fast[0], active=frozenset(fast[1]), repairs=repairs)
        try:
            try:
                # Strict first: a well-formed file (nearly all) is read without pypdf's
                # repairs, which re-read every object's header (seconds for 100,000 objects).
                pages, active = _read(handle, max_pages, strict=True)
            except (PdfRejected, LimitReachedError, _TooBig, DependencyError, RecursionError,
                    MemoryError):
                raise
            except Exception:  # noqa: BLE001 - not well-formed: read it as viewers do
                handle.seek(0)
                pages, active = _read(handle, max_pages, strict=False)
        except PdfRejected:
            raise
        except (LimitReachedError, _TooBig, RecursionError) as exc:
            raise PdfRejected(TOO_COMPLEX, "too_complex") from exc
        except DependencyError as exc:  # an encryption pypdf cannot undo here
            raise PdfRejected(ENCRYPTED, "encrypted") from exc
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - hostile input: any parser error is a refusal
            logging.getLogger(__name__).info("PDF refused as unreadable: %r", exc)
            raise PdfRejected(UNREADABLE) from exc
    return PdfInfo(pages=pages, active=frozenset(active), repairs=repairs)


def _read(handle, max_pages: int, *, strict: bool) -> tuple[int, set[str]]:
    from pypdf import PdfReader

    reader = PdfReader(handle, strict=strict, xref_stream_maximum_entries=MAX_XREF_ENTRIES)
    _open(reader)
    pages = _page_count(reader, max_pages)
    return pages, _Walk(reader).run()


def _open(reader) -> None:
    """Decrypt a file that opens without a password; refuse one that needs it."""
    if not reader.is_encrypted:
        return
    from pypdf import PasswordType

    if reader.decrypt("") == PasswordType.NOT_DECRYPTED:
        raise PdfRejected(ENCRYPTED, "encrypted")


def _page_count(reader, max_pages: int) -> int:
    root = reader.trailer["/Root"].get_object()
    declared = root["/Pages"].get_object().get("/Count")
    if isinstance(declared, int) and declared > max_pages:
        raise PdfRejected(too_many_pages(declared, max_pages), "too_many_pages")
    # The declared count may lie: the page tree is read with an entry cap just
    # above what an accepted file may hold (pages plus intermediate nodes).
    from pypdf import apply_configuration

    with apply_configuration(page_tree_maximum_entries=2 * max_pages + 64,
                             page_tree_maximum_page_entries=64 * max_pages + 4096):
        try:
            pages = len(reader.pages)
        except _limit_error() as exc:
            if "depth" in str(exc):  # too deep, not too long
                raise
            raise PdfRejected(too_many_pages(f"plus de {max_pages}", max_pages),
                              "too_many_pages") from exc
    if pages == 0:
        raise PdfRejected(UNREADABLE)
    if pages > max_pages:
        raise PdfRejected(too_many_pages(pages, max_pages), "too_many_pages")
    return pages


def _limit_error():
    from pypdf.errors import LimitReachedError

    return LimitReachedError


class _TooBig(Exception):
    """The walk met more objects than ``MAX_OBJECTS``."""


_ACTION_KINDS = {
    "/JavaScript": "javascript", "/Launch": "launch", "/SubmitForm": "submit_form",
    "/ImportData": "import_data", "/GoToR": "remote_goto", "/GoToE": "remote_goto",
    "/RichMediaExecute": "rich_media", "/Movie": "rich_media", "/Sound": "rich_media",
    "/Rendition": "rich_media",
}
_ANNOT_KINDS = {
    "/FileAttachment": "embedded_files", "/RichMedia": "rich_media", "/Movie": "rich_media",
    "/Sound": "rich_media", "/Screen": "rich_media",
}


@dataclass
class _Walk:
    """Where a viewer finds something to run, bounded.

    Each object is walked once per role (as an action, an annotation, a form
    field, a name-tree node...): an object reached twice in one role is skipped
    (cycles end), but one object playing two roles is read in both, so a
    harmless action that is also a link annotation still has its /A looked at.
    """

    reader: object
    found: set[str] = field(default_factory=set)
    seen: set[tuple[str, int, int]] = field(default_factory=set)
    count: int = 0

    def run(self) -> set[str]:
        root = self.resolve(self.reader.trailer["/Root"], "root")
        if not isinstance(root, dict):
            raise PdfRejected(UNREADABLE)
        open_action = root.get("/OpenAction")
        if open_action is not None:
            self.action(open_action, 0)  # an array there is a destination: ignored
        self.triggers(root.get("/AA"))
        names = self.resolve(root.get("/Names"), "names")
        if isinstance(names, dict):
            if self.tree_has_entries(names.get("/JavaScript"), "javascript", 0):
                self.found.add("javascript")
            if self.tree_has_entries(names.get("/EmbeddedFiles"), "files", 0):
                self.found.add("embedded_files")
        form = self.resolve(root.get("/AcroForm"), "form")
        if isinstance(form, dict):
            if form.get("/XFA") is not None:
                self.found.add("xfa")
            for field_ in self.array(form.get("/Fields"), "fields"):
                self.form_field(field_, 0)
        outlines = self.resolve(root.get("/Outlines"), "outlines")
        if isinstance(outlines, dict):
            self.outline(outlines.get("/First"), 0)
        for page in self.reader.pages:
            self.triggers(page.get("/AA"))
            for annot in self.array(page.get("/Annots"), "annots"):
                self.annotation(annot)
        return self.found

    def resolve(self, obj, role: str):
        """The object behind a reference, or None when it was already walked in ``role``."""
        from pypdf.generic import IndirectObject

        if isinstance(obj, IndirectObject):
            key = (role, obj.idnum, obj.generation)
            if key in self.seen:
                return None
            self.seen.add(key)
            self.count += 1
            if self.count > MAX_OBJECTS:
                raise _TooBig
            obj = obj.get_object()
        return obj

    def array(self, obj, role: str) -> list:
        obj = self.resolve(obj, role)
        return list(obj) if isinstance(obj, list) else []

    def action(self, obj, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise _TooBig
        obj = self.resolve(obj, "action")
        if not isinstance(obj, dict):
            return
        subtype = _direct(obj.get("/S"))
        kind = _ACTION_KINDS.get(subtype)
        if kind:
            self.found.add(kind)
        if "/JS" in obj:
            self.found.add("javascript")
        if subtype == "/URI":
            uri = _direct(obj.get("/URI"))
            if isinstance(uri, (str, bytes)) and _is_script_uri(uri):
                self.found.add("javascript")
        following = obj.get("/Next")
        if following is not None:
            items = (self.array(following, "next") if isinstance(_direct(following), list)
                     else [following])
            for item in items:
                self.action(item, depth + 1)

    def triggers(self, obj) -> None:
        """An additional-actions dictionary (/AA): every trigger's action."""
        obj = self.resolve(obj, "triggers")
        if isinstance(obj, dict):
            for value in obj.values():
                self.action(value, 0)

    def annotation(self, obj) -> None:
        obj = self.resolve(obj, "annot")
        if not isinstance(obj, dict):
            return
        kind = _ANNOT_KINDS.get(_direct(obj.get("/Subtype")))
        if kind:
            self.found.add(kind)
        self.action(obj.get("/A"), 0)
        self.triggers(obj.get("/AA"))

    def form_field(self, obj, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise _TooBig
        obj = self.resolve(obj, "field")
        if not isinstance(obj, dict):
            return
        self.action(obj.get("/A"), 0)
        self.triggers(obj.get("/AA"))
        for kid in self.array(obj.get("/Kids"), "field-kids"):
            self.form_field(kid, depth + 1)

    def outline(self, first, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise _TooBig
        item = self.resolve(first, "outline")
        while isinstance(item, dict):
            self.action(item.get("/A"), 0)
            self.outline(item.get("/First"), depth + 1)
            item = self.resolve(item.get("/Next"), "outline")

    def tree_has_entries(self, obj, tree: str, depth: int) -> bool:
        """Whether a name tree holds at least one entry (``tree``: which one, as a role)."""
        if depth > MAX_DEPTH:
            raise _TooBig
        obj = self.resolve(obj, tree)
        if not isinstance(obj, dict):
            return False
        if self.array(obj.get("/Names"), tree + "-names"):
            return True
        return any(self.tree_has_entries(kid, tree, depth + 1)
                   for kid in self.array(obj.get("/Kids"), tree + "-kids"))


def _is_script_uri(uri) -> bool:
    text = uri.decode("latin-1") if isinstance(uri, bytes) else str(uri)
    return re.sub(r"[\s\x00-\x1f]", "", text).lower().startswith(("javascript:", "vbscript:"))


def _direct(obj):
    """A scalar value (a name, a string) behind a possible reference."""
    return obj.get_object() if hasattr(obj, "get_object") else obj
