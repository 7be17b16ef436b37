"""Hand-built PDFs for the upload checks: exact structures (actions in chosen
places, object streams, hostile page trees, inflation bombs), made at test time."""

from __future__ import annotations

import zlib

CATALOG = 1
PAGES = 2
FIRST_PAGE = 3


def build_pdf(objects: dict[int, bytes], *, root: int = CATALOG, compressed=(),
              stream_data: dict[int, tuple[bytes, bytes]] | None = None,
              objstm_data: bytes | None = None) -> bytes:
    """A PDF of ``objects`` ({number: body}); those in ``compressed`` go into one
    object stream (deflated) with a cross-reference stream, the others are plain.

    ``stream_data`` gives stream objects: {number: (dictionary entries, data)}.
    ``objstm_data`` replaces the object stream's deflated data (a bomb).
    """
    stream_data = stream_data or {}
    compressed = [n for n in sorted(objects) if n in set(compressed)]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for number in sorted(set(objects) | set(stream_data)):
        if number in compressed:
            continue
        offsets[number] = len(out)
        if number in stream_data:
            entries, data = stream_data[number]
            out += (b"%d 0 obj\n<< %s /Length %d >>\nstream\n" % (number, entries, len(data))
                    + data + b"\nendstream\nendobj\n")
        else:
            out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    size = max(set(objects) | set(stream_data)) + 1
    if not compressed:
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % size
        out += b"".join(b"%010d 00000 n \n" % offsets[n] if n in offsets
                        else b"0000000000 65535 f \n" for n in range(1, size))
        out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
            size, root, xref)
        return bytes(out)
    # The object stream and the cross-reference stream come after the plain objects.
    objstm, xref_number = size, size + 1
    header, body = [], bytearray()
    for number in compressed:
        header.append(b"%d %d" % (number, len(body)))
        body += objects[number] + b"\n"
    head = b" ".join(header) + b"\n"
    data = objstm_data if objstm_data is not None else zlib.compress(head + bytes(body))
    offsets[objstm] = len(out)
    out += (b"%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\n"
            b"stream\n" % (objstm, len(compressed), len(head), len(data)) + data
            + b"\nendstream\nendobj\n")
    offsets[xref_number] = len(out)
    rows = [b"\x00\x00\x00\x00\x00\xff\xff"]
    for number in range(1, xref_number + 1):
        if number in compressed:
            rows.append(b"\x02" + objstm.to_bytes(4, "big") + compressed.index(number).to_bytes(2, "big"))
        elif number in offsets:
            rows.append(b"\x01" + offsets[number].to_bytes(4, "big") + b"\x00\x00")
        else:
            rows.append(b"\x00\x00\x00\x00\x00\xff\xff")
    table = b"".join(rows)
    out += (b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root %d 0 R /Length %d >>\nstream\n"
            % (xref_number, xref_number + 1, root, len(table)) + table
            + b"\nendstream\nendobj\n")
    out += b"startxref\n%d\n%%%%EOF\n" % offsets[xref_number]
    return bytes(out)


def one_page(*, catalog: bytes = b"", page: bytes = b"", extra: dict[int, bytes] | None = None,
             compressed=(), **kwargs) -> bytes:
    """A one-page PDF with extra catalog and page entries and extra objects (from 4)."""
    objects = {
        CATALOG: b"<< /Type /Catalog /Pages 2 0 R " + catalog + b" >>",
        PAGES: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        FIRST_PAGE: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] " + page + b" >>",
        **(extra or {}),
    }
    return build_pdf(objects, compressed=compressed, **kwargs)


def many_pages(count: int, *, declared: int | None = None, fanout: int = 64) -> bytes:
    """``count`` blank pages in a balanced page tree (as producers write one), whose
    root declares ``declared`` pages (default: the truth). Plain objects, xref table."""
    bodies: dict[int, bytes] = {1: b"<< /Type /Catalog /Pages 2 0 R >>"}
    next_number = 3
    # Leaves first, then the levels above them, up to the root (object 2).
    level = []
    for _ in range(count):
        level.append((next_number, 1))
        next_number += 1
    parents: dict[int, int] = {}
    while len(level) > fanout:
        above = []
        for start in range(0, len(level), fanout):
            group = level[start:start + fanout]
            number = next_number
            next_number += 1
            for kid, _ in group:
                parents[kid] = number
            bodies[number] = (b"<< /Type /Pages /Kids [%s] /Count %d /Parent {parent} >>"
                              % (b" ".join(b"%d 0 R" % k for k, _ in group),
                                 sum(n for _, n in group)))
            above.append((number, sum(n for _, n in group)))
        level = above
    for kid, _ in level:
        parents[kid] = 2
    bodies[2] = (b"<< /Type /Pages /MediaBox [0 0 10 10] /Kids [%s] /Count %d >>"
                 % (b" ".join(b"%d 0 R" % k for k, _ in level),
                    count if declared is None else declared))
    for number in range(3, 3 + count):
        bodies[number] = b"<< /Type /Page /Parent %d 0 R >>" % parents[number]
    for number, body in bodies.items():
        if b"{parent}" in body:
            bodies[number] = body.replace(b"{parent}", b"%d 0 R" % parents[number])
    return build_pdf(bodies)


def deep_page_tree(depth: int) -> bytes:
    """One page under ``depth`` nested /Pages nodes."""
    objects = {CATALOG: b"<< /Type /Catalog /Pages 2 0 R >>"}
    for level in range(depth):
        number = 2 + level
        parent = b"/Parent %d 0 R " % (number - 1) if level else b""
        objects[number] = b"<< /Type /Pages %s/Kids [%d 0 R] /Count 1 >>" % (parent, number + 1)
    leaf = 2 + depth
    objects[leaf] = b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] >>" % (leaf - 1)
    return build_pdf(objects)


def deflate_bomb(size: int, block: int = 1 << 20) -> bytes:
    """zlib data inflating to ``size`` zero bytes, made in milliseconds: one deflated
    block of zeros ended by a full flush (so it refers to nothing before it) repeated."""
    assert size % block == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = compressor.compress(b"\0" * block) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.flush(zlib.Z_FINISH)
    checksum = (size % 65521) << 16 | 1  # Adler-32 of zeros: A stays 1, B adds it each byte
    return b"\x78\xda" + piece * (size // block) + tail + checksum.to_bytes(4, "big")
