"""The fast reader of the PDF check (``pdfcheck_fast``) against pypdf, the reference.

For every file below, hostile or ordinary, ``inspect_pdf`` gives the same
verdict with ``reader="fast"`` as with ``reader="reference"``: the same page
count, active content and repairs, or the same refusal (code and French
message). The fast reader either reads the file itself or defers to pypdf;
the ordinary files (and the plain hostile ones: actions, attachments, XFA,
page trees) are checked to be read by it, so the comparison is not vacuous.
A mutation test then changes bytes of plain files at random (tokens, white
space, escapes, offsets) and compares both readers on each variant.
"""

from __future__ import annotations

import mmap
import random
import zlib
from pathlib import Path

import pytest

from exam_app.dossiers import pdfcheck, pdfcheck_fast
from tests.dossiers.helpers import make_pdf
from tests.dossiers.pdfs import build_pdf, deep_page_tree, deflate_bomb, many_pages, one_page
from tests.dossiers.test_pdf_corpus import PRODUCERS
from tests.dossiers.test_pdfcheck import CASES, _encrypted, _startxref_off


def _verdict(path: Path, data: bytes, reader: str, max_pages: int = 500):
    path.write_bytes(data)
    try:
        info = pdfcheck.inspect_pdf(path, len(data), data[:pdfcheck.HEAD_TAIL],
                                    data[-pdfcheck.HEAD_TAIL:], max_pages=max_pages,
                                    reader=reader)
    except pdfcheck.PdfRejected as refused:
        return ("refused", refused.code, str(refused))
    return ("read", info.pages, sorted(info.active), info.repairs)


def _read_fast(path: Path, data: bytes, max_pages: int = 500):
    """What the fast reader itself answers (None: it defers to pypdf)."""
    path.write_bytes(data)
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        return pdfcheck_fast.read(m, len(data), data[-pdfcheck.HEAD_TAIL:], max_pages)


def _same(tmp_path: Path, data: bytes, max_pages: int = 500):
    path = tmp_path / "check.pdf"
    reference = _verdict(path, data, "reference", max_pages)
    fast = _verdict(path, data, "fast", max_pages)
    assert fast == reference
    return reference


def _indirect_lengths(pages: int) -> bytes:
    """Pages with an image and a deflated content stream whose /Length are indirect
    objects written after them (as the upload bench's file and many producers)."""
    objects = {1: b"<< /Type /Catalog /Pages 2 0 R >>",
               3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"}
    kids, number = [], 4

    def stream(entries: bytes, data: bytes) -> int:
        nonlocal number
        objects[number] = (b"<< " + entries + b" /Length %d 0 R >>\nstream\n" % (number + 1)
                           + data + b"\nendstream")
        objects[number + 1] = b"%d" % len(data)
        number += 2
        return number - 2

    for page in range(pages):
        image = stream(b"/Type /XObject /Subtype /Image /Width 10 /Height 10 "
                       b"/ColorSpace /DeviceRGB /BitsPerComponent 8",
                       random.Random(page).randbytes(300))
        content = stream(b"/Filter /FlateDecode",
                         zlib.compress(b"BT /F1 11 Tf 40 760 Td (Page %d) Tj ET" % page))
        objects[number] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
                           b"/Resources << /Font << /F1 3 0 R >> /XObject << /Im0 %d 0 R >> >> "
                           b"/Contents %d 0 R >>" % (image, content))
        kids.append(number)
        number += 1
    objects[2] = (b"<< /Type /Pages /Kids [%s] /Count %d >>"
                  % (b" ".join(b"%d 0 R" % k for k in kids), pages))
    return build_pdf(objects)


def _with_prev_update(data: bytes, page_extra: bytes) -> bytes:
    """An incremental update rewriting the page (object 3) after the original file."""
    start = len(data)
    body = b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] %s >>\nendobj\n" % (
        page_extra)
    previous = int(data[data.rindex(b"startxref") + 10:].split()[0])
    xref = start + len(body)
    size = int(data[data.index(b"/Size") + 6:].split()[0])
    return (data + body + b"xref\n0 1\n0000000000 65535 f \n3 1\n%010d 00000 n \n" % start
            + b"trailer\n<< /Size %d /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n"
            % (size, previous, xref))


LINK = b"<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] /A %s >>"
PLAIN = {  # files the fast reader reads itself
    **{f"case_{name}": one_page(**kwargs) for name, (kwargs, _) in CASES.items()
       if not kwargs.get("compressed")},
    "indirect_lengths_40_pages": _indirect_lengths(40),
    "balanced_tree_300_pages": many_pages(300),
    "deep_tree_60": deep_page_tree(60),
    "pypdf_writer": make_pdf(3, marker="ordinaire"),
    "pypdf_writer_javascript": make_pdf(1, marker="js", javascript=True),
    "pypdf_writer_attachment": make_pdf(1, marker="pj", attachment=True),
    "escapes_in_strings": one_page(page=b"/Annots [4 0 R]", extra={
        4: LINK % b"<< /S /URI /URI (\\152ava\\163cript:\\(1\\)) >>"}),
    "hex_uri": one_page(page=b"/Annots [4 0 R]", extra={
        4: LINK % b"<< /S /URI /URI <6A617661736372697074 3A> >>"}),
    "name_escapes_in_keys": one_page(page=b"/#41A << /O 4 0 R >>",
                                     extra={4: b"<< /S /Launch /F (x) >>"}),
    "nested_parentheses": one_page(page=b"/Annots [4 0 R]", extra={
        4: LINK % b"<< /S /URI /URI (javascript:(1(2))) /Contents (a\\)b) >>"}),
    "string_named_action": one_page(catalog=b"/OpenAction << /S (/JavaScript) >>"),
    "numbers_and_booleans": one_page(page=b"/Rotate -0 /UserUnit 1.5 /X [true false null +.5]"),
}
DEFERRED = {  # read by pypdf: outside what the fast reader reads
    **{f"case_{name}": one_page(**kwargs) for name, (kwargs, _) in CASES.items()
       if kwargs.get("compressed")},
    "incremental_update_adds_javascript": _with_prev_update(
        one_page(), b"/AA << /O << /S /JavaScript /JS (x) >> >>"),
    "incremental_update_plain": _with_prev_update(one_page(), b""),
    "comment_in_page": one_page(page=b"% a comment\n/Annots [4 0 R]",
                                extra={4: LINK % b"<< /S /Launch /F (x) >>"}),
    "nul_as_white_space": one_page(page=b"/Annots\x00[4 0 R]",
                                   extra={4: LINK % b"<< /S /Launch /F (x) >>"}),
    "form_feed_in_reference": one_page(page=b"/Annots [4\x0c0 R]",
                                       extra={4: LINK % b"<< /S /Launch /F (x) >>"}),
    "reference_past_20_bytes": one_page(page=b"/Annots [4" + b" " * 20 + b"0 R]",
                                        extra={4: LINK % b"<< /S /Launch /F (x) >>"}),
    "signed_reference": one_page(page=b"/Annots [+4 0 R]",
                                 extra={4: LINK % b"<< /S /Launch /F (x) >>"}),
    "duplicate_key": one_page(page=b"/AA << /O 4 0 R >> /AA << >>",
                              extra={4: b"<< /S /Launch /F (x) >>"}),
    "null_key": one_page(page=b"null /AA << /O 4 0 R >>", extra={4: b"<< /S /Launch /F (x) >>"}),
    "parentheses_three_deep": one_page(page=b"/Annots [4 0 R]", extra={
        4: LINK % b"<< /S /URI /URI (javascript:1) /Contents (a(b(c(d)))) >>"}),
    "line_continuation": one_page(page=b"/Annots [4 0 R]", extra={
        4: LINK % b"<< /S /URI /URI (java\\\nscript:1) >>"}),
    "comma_number": one_page(page=b"/UserUnit 1,5"),
    "missing_object": one_page(page=b"/AA << /O 9 0 R >>"),
    "free_object": one_page(page=b"/AA << /O 4 0 R >>", extra={5: b"<< >>"}),
    "wrong_generation": one_page(page=b"/AA << /O 4 1 R >>",
                                 extra={4: b"<< /S /Launch /F (x) >>"}),
    "page_is_a_stream": build_pdf({1: b"<< /Type /Catalog /Pages 2 0 R >>",
                                   2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"},
                                  stream_data={3: (b"/Type /Page /Parent 2 0 R "
                                                   b"/AA << /O << /S /Launch /F (x) >> >>",
                                                   b"q Q")}),
    "page_listed_twice": build_pdf({1: b"<< /Type /Catalog /Pages 2 0 R >>",
                                    2: b"<< /Type /Pages /Kids [3 0 R 3 0 R] /Count 2 >>",
                                    3: b"<< /Type /Page /Parent 2 0 R >>"}),
    "page_tree_cycle": build_pdf({1: b"<< /Type /Catalog /Pages 2 0 R >>",
                                  2: b"<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 1 >>",
                                  3: b"<< /Type /Page /Parent 2 0 R >>"}),
    "inline_kid": build_pdf({1: b"<< /Type /Catalog /Pages 2 0 R >>",
                             2: b"<< /Type /Pages /Kids [<< /Type /Page /AA << /O << /S "
                                b"/Launch >> >> >>] /Count 1 >>"}),
    "untyped_leaf": build_pdf({1: b"<< /Type /Catalog /Pages 2 0 R >>",
                               2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                               3: b"<< /Parent 2 0 R /Annots [4 0 R] >>",
                               4: LINK % b"<< /S /Launch /F (x) >>"}),
    "catalog_without_type": build_pdf({1: b"<< /Pages 2 0 R /OpenAction 4 0 R >>",
                                       2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                                       3: b"<< /Type /Page /Parent 2 0 R >>",
                                       4: b"<< /S /Launch /F (x) >>"}),
    "not_zero_indexed": one_page().replace(b"xref\n0 ", b"xref\n1 ", 1),
    "deep_tree_150": deep_page_tree(150),
    "too_many_pages": many_pages(600),
    "count_lies": many_pages(700, declared=1),
    "no_pages": build_pdf({1: b"<< /Type /Catalog /Pages 2 0 R >>",
                           2: b"<< /Type /Pages /Kids [] /Count 0 >>"}),
    "object_stream_bomb": one_page(compressed=[1, 2, 3], objstm_data=deflate_bomb(8 << 20)),
    "user_password": _encrypted("AES-256", user="ouvrir"),
    "permissions_password": _encrypted("RC4-128"),
    "header_after_bom": b"\xef\xbb\xbf" + make_pdf(2, marker="bom"),
    "trailing_padding": make_pdf(2, marker="pad") + b"\0" * 3000,
    "startxref_off": _startxref_off(make_pdf(2, marker="off"), 5),
    "truncated": one_page()[:-40],
    "truncated_in_xref": one_page()[:-120] + b"\nstartxref\n9\n%%EOF\n",
    "not_a_pdf": b"GIF89a" + bytes(500),
    "empty": b"",
}


@pytest.mark.parametrize("name", list(PLAIN))
def test_plain_files_are_read_by_the_fast_reader_with_pypdfs_verdict(tmp_path, name):
    data = PLAIN[name]
    verdict = _same(tmp_path, data)
    fast = _read_fast(tmp_path / "fast.pdf", data)
    assert fast is not None, "deferred to pypdf"
    assert verdict[0] == "read" and (fast[0], sorted(fast[1])) == tuple(verdict[1:3])


def test_the_plain_cases_find_what_the_reference_finds():
    # The suite's active-content cases the fast reader reads: their expected findings
    # (test_pdfcheck.CASES) are the ones compared above.
    read_here = [name for name, (kwargs, _) in CASES.items() if not kwargs.get("compressed")]
    assert len(read_here) >= 18
    assert {k for name in read_here for k in CASES[name][1]} == {
        "javascript", "launch", "submit_form", "embedded_files", "import_data", "remote_goto",
        "rich_media", "xfa"}


@pytest.mark.parametrize("name", list(DEFERRED))
def test_other_files_are_left_to_pypdf_with_the_same_verdict(tmp_path, name):
    data = DEFERRED[name]
    _same(tmp_path, data)
    if data[:5] == b"%PDF-":
        assert _read_fast(tmp_path / "fast.pdf", data) is None


def test_a_page_cap_gives_the_same_refusal(tmp_path):
    for cap in (1, 2, 3, 299, 300):
        _same(tmp_path, many_pages(300), max_pages=cap)
        _same(tmp_path, many_pages(3, declared=1), max_pages=cap)


@pytest.mark.parametrize("producer", list(PRODUCERS))
def test_real_producers_files_get_the_same_verdict(tmp_path, producer):
    make, pages = PRODUCERS[producer]
    data = make(tmp_path)
    assert _same(tmp_path, data)[:2] == ("read", pages)


_MUTATIONS = [b" ", b"\n", b"\r", b"\x00", b"\x0c", b"%", b"(", b")", b"<", b">", b"[", b"]",
              b"/", b"#", b"\\", b"0", b"9", b"R", b"+", b"-", b".", b",", b"e", b"obj",
              b"endobj", b"stream", b"null", b"<<", b">>", b"/JavaScript", b"/S", b"/AA",
              b"/Type", b"/Page", b"/Kids", b" 0 R", b"#4A", b"\\051", b"\xe9"]


def _mutants(data: bytes, seed: int, count: int):
    rng = random.Random(seed)
    for _ in range(count):
        out = bytearray(data)
        for _ in range(rng.choice((1, 1, 2, 3))):
            at = rng.randrange(len(out))
            piece = rng.choice(_MUTATIONS)
            action = rng.random()
            if action < 0.4:
                out[at:at + len(piece)] = piece  # overwrite (offsets kept)
            elif action < 0.7:
                out[at:at] = piece  # insert (offsets after it shift)
            else:
                del out[at:at + rng.randint(1, 4)]
        yield bytes(out)


@pytest.mark.parametrize("base", ["case_object_in_two_roles", "case_action_chain_cycle",
                                  "case_names_javascript", "case_field_calculation",
                                  "case_javascript_uri", "case_outline_item",
                                  "escapes_in_strings", "balanced_tree_300_pages"])
def test_random_mutations_of_plain_files_get_the_same_verdict(tmp_path, base):
    data = PLAIN[base]
    read_fast = 0
    for n, mutant in enumerate(_mutants(data, seed=zlib.crc32(base.encode()), count=150)):
        try:
            _same(tmp_path, mutant)
        except AssertionError:
            (tmp_path / f"mutant-{n}.pdf").write_bytes(mutant)
            raise
        read_fast += _read_fast(tmp_path / "fast.pdf", mutant) is not None
    assert read_fast > 0  # some mutants stay in the fast reader's subset


def test_the_reader_is_chosen_by_configuration(app, monkeypatch, tmp_path):
    for reader in ("reference", "fast"):
        monkeypatch.setitem(app.config, "DOSSIER_PDF_READER", reader)
        with app.app_context():
            assert pdfcheck.configured_reader() == reader
    path = tmp_path / "one.pdf"
    with pytest.raises(ValueError, match="DOSSIER_PDF_READER"):
        _verdict(path, one_page(), "turbo")
