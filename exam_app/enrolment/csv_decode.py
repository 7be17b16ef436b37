"""Reading the candidates CSV's bytes as text: the encodings French spreadsheets
export (UTF-8 with or without BOM, UTF-16, Windows-1252), binary files refused
with a French message, and the column separator."""

from __future__ import annotations

import re
from collections.abc import Iterator


class UnreadableFile(ValueError):
    """The file as a whole cannot be read as a CSV."""


def decode(data: bytes) -> tuple[str, str]:
    """Bytes -> (text, encoding name). UTF-8 (with or without BOM), UTF-16 with BOM,
    or Windows-1252, as French spreadsheets export them."""
    if not data.strip():
        raise UnreadableFile("Le fichier est vide.")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "UTF-16"
        except UnicodeDecodeError:
            raise UnreadableFile("Le fichier est en UTF-16 mais son contenu est illisible.") from None
    if b"\x00" in data[:65536] or data.startswith((b"%PDF", b"PK\x03\x04", b"\x7fELF", b"MZ")):
        raise UnreadableFile(
            "Ce fichier n'est pas un fichier CSV (contenu binaire : tableur, PDF ou archive ?). "
            "Depuis le tableur, choisissez « Enregistrer sous » puis « CSV (séparateur : "
            "point-virgule) »."
        )
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "UTF-8 (BOM)"
        except UnicodeDecodeError:
            raise UnreadableFile(
                "Le fichier annonce l'encodage UTF-8 mais contient des caractères invalides."
            ) from None
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise UnreadableFile(
            "Encodage du fichier non reconnu : enregistrez-le en UTF-8 ou en "
            "« CSV (séparateur : point-virgule) » depuis le tableur."
        ) from None
    return text, "Windows-1252"


def has_binary_controls(text: str) -> bool:
    sample = text[:65536]
    controls = sum(1 for c in sample if ord(c) < 32 and c not in "\t\r\n")
    return controls > 0


def sniff_delimiter(header_line: str) -> str:
    semicolons, commas = header_line.count(";"), header_line.count(",")
    if semicolons == 0 and commas == 0:
        raise UnreadableFile(
            "Séparateur de colonnes non reconnu : la première ligne doit contenir les en-têtes "
            "séparés par des points-virgules (;) ou des virgules (,)."
        )
    return ";" if semicolons >= commas else ","


# A line as ``io.StringIO(text, newline="")`` yields it: up to and including "\r\n", "\r"
# or "\n", the last one possibly without an end.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def lines(text: str) -> Iterator[str]:
    """The text's lines for ``csv.reader``, one at a time: what ``io.StringIO(text,
    newline="")`` gives, without its copy of the whole text (4 bytes a character)."""
    return (match.group() for match in _LINE.finditer(text))
