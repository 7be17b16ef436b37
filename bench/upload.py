"""Benchmark: the real deposit path under gunicorn vs a plain copy of the same bytes.

Starts gunicorn (one sync worker) on a free loopback port with a temporary
SQLite database and STORAGE_DIR, logs in as a candidate and deposits a 20 MB
PDF 20 times the way the browser does (``static/js/dossier-upload.js``): the
announcement (POST JSON), then PATCHes of 8 MiB (``CHUNK``) with
``Upload-Offset``, each sent once the previous one was answered, the offset
taken from the answer, the last one finalising the deposit (checks, hash,
promotion). The PDF is a realistic one (``make_realistic_pdf``): ~100 pages,
each a JPEG image and a deflated content stream, every stream's ``/Length``
an indirect object written after it, as many producers do. The file is
removed between runs so the duplicate check does not refuse it.

The baseline copies the same bytes 20 times to the same disk (read, write,
fsync, rename), alternated upload by upload with the deposits so both see the
same load. Also measured, for comparison only: the same file in one PATCH
(``single_*``, the old headline). Then announces and sends a 200 MB upload,
which must be refused without the worker growing.

``ratio`` = mean raw copy time / mean chunked deposit time (the target);
``ratio_of_best`` = the same with the fastest of each (least disturbed when
other work shares the machine); ``worker_cpu_ms_per_upload`` = the worker's
user + system CPU time per chunked deposit (the hashing thread included).
Prints one JSON line. Never fails on a timing.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RUNS = int(os.environ.get("BENCH_RUNS", 20))
SIZE = 20 * 1000 * 1000 - 4096  # just under the default 20 MB per-file limit
CHUNK = 8 * 1024 * 1024  # dossier-upload.js
FILE_ID = b"<" + b"ab" * 16 + b">"
OVERSIZE = 200 * 1024 * 1024
PASSWORD = "bench-password-1"  # noqa: S105 - a throwaway account in a temporary database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_big_pdf(path: Path, size: int) -> None:
    """A valid one-page PDF padded with an incompressible stream to ``size`` bytes."""
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"]
    with open(path, "wb") as out:
        out.write(head)
        offsets = []
        for n, body in enumerate(objs, start=1):
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
        tail_estimate = 300
        stream_len = size - out.tell() - tail_estimate - 60
        offsets.append(out.tell())
        out.write(b"4 0 obj\n<< /Length %d >>\nstream\n" % stream_len)
        remaining = stream_len
        while remaining:
            chunk = os.urandom(min(remaining, 1 << 20))
            out.write(chunk)
            remaining -= len(chunk)
        out.write(b"\nendstream\nendobj\n")
        xref = out.tell()
        out.write(b"xref\n0 5\n0000000000 65535 f \n")
        for offset in offsets:
            out.write(b"%010d 00000 n \n" % offset)
        out.write(b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref)


def _noise_jpeg(seed: int, side: int) -> bytes:
    """A photograph-like JPEG (noise over a gradient) that compresses as photos do not."""
    import random

    from PIL import Image

    rng = random.Random(seed)
    image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    gradient = Image.linear_gradient("L").resize((side, side)).convert("RGB")
    image = Image.blend(image, gradient, 0.3)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def make_realistic_pdf(path: Path, size: int) -> int:
    """A scanned-document-like PDF of about ``size`` bytes (never more); its page count.

    Each page draws one JPEG image (``/DCTDecode``) and a line of text from a
    deflated content stream; every stream's ``/Length`` is an indirect object
    written right after the stream (as Ghostscript and many scanners write
    them), so a reader must resolve it elsewhere in the file before it knows
    where the stream ends. A classic cross-reference table, an /Info dict and
    a file /ID, a shared font. Deterministic for a given size.
    """
    images = [_noise_jpeg(seed, 420 + 8 * seed) for seed in range(12)]
    objects: list[bytes | None] = [None]  # object numbers from 1

    def add(body: bytes | None = None) -> int:
        objects.append(body)
        return len(objects) - 1

    def add_stream(dictionary: bytes, data: bytes) -> int:
        number = add()
        length = add(b"%d" % len(data))
        objects[number] = (b"<< " + dictionary + b" /Length %d 0 R >>\nstream\n" % length
                           + data + b"\nendstream")
        return number

    catalog, pages_root, font, info = add(), add(), add(), add()
    objects[font] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    objects[info] = (b"<< /Producer (bench make_realistic_pdf) /Title (Rapport de stage)"
                     b" /CreationDate (D:20270301120000Z) >>")
    kids = []
    total = 4096
    n = 0
    while True:
        image = images[n % len(images)]
        if total + len(image) + 1024 > size:
            break
        side = 420 + 8 * (n % len(images))
        im = add_stream(b"/Type /XObject /Subtype /Image /Width %d /Height %d "
                        b"/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode"
                        % (side, side), image)
        text = (b"q 515 0 0 515 40 200 cm /Im0 Do Q BT /F1 11 Tf 40 760 Td "
                b"(Annexe - page %d) Tj ET" % (n + 1))
        content = add_stream(b"/Filter /FlateDecode", zlib.compress(text))
        kids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] "
                        b"/Resources << /Font << /F1 %d 0 R >> /XObject << /Im0 %d 0 R >> >> "
                        b"/Contents %d 0 R >>" % (pages_root, font, im, content)))
        total += len(image) + 700
        n += 1
    objects[pages_root] = (b"<< /Type /Pages /Count %d /Kids [" % len(kids)
                           + b" ".join(b"%d 0 R" % k for k in kids) + b"] >>")
    objects[catalog] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_root
    with open(path, "wb") as out:
        out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(objects[1:], start=1):
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
        xref = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % len(objects))
        for offset in offsets:
            out.write(b"%010d 00000 n \n" % offset)
        out.write(b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R /ID [<%s> <%s>] >>\n"
                  b"startxref\n%d\n%%%%EOF\n" % (len(objects), catalog, info,
                                                   FILE_ID[1:-1], FILE_ID[1:-1], xref))
    assert path.stat().st_size <= size, path.stat().st_size
    return len(kids)


def seed(db_url: str, storage: str) -> tuple[str, int]:
    from exam_app import create_app
    from exam_app.accounts.models import Role, RoleAssignment, User
    from exam_app.clock import utcnow
    from exam_app.dossiers.models import DepositDeadline
    from exam_app.enrolment.models import Candidate, CandidateUnitForm, Establishment, ExamSession
    from exam_app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": db_url, "SECRET_KEY": "bench",
                      "STORAGE_DIR": storage})
    with app.app_context():
        db.create_all()
        session = ExamSession(code="BENCH", name="Bench", year=2027)
        establishment = Establishment(uai="0000001A", name="Lycée bench")
        candidate = Candidate(session=session, number="B1", last_name="BENCH", first_name="Bob",
                              birth_date=date(2005, 1, 1), establishment=establishment,
                              unit_forms=[CandidateUnitForm(unit_code="E5", form="ponctuel")])
        user = User(username="bench", first_name="Bob", last_name="Bench")
        user.set_password(PASSWORD)
        db.session.add_all([session, establishment, candidate, user])
        db.session.flush()
        user.roles.append(RoleAssignment(role=Role.CANDIDAT.value, candidate_id=candidate.id))
        db.session.add(DepositDeadline(session_id=session.id, unit_code="E4",
                                       deadline_at=utcnow() + timedelta(days=1)))
        db.session.commit()
        return "bench", candidate.id


class Client:
    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body=None, headers=None, length: int | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120, blocksize=1 << 20)
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if length is not None:
            headers["Content-Length"] = str(length)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return response.status, data


def csrf(html: bytes) -> str:
    return re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1).decode()


def rss_kb(pid: int) -> tuple[int, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (load-independent, unlike the wall time)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pid(master: int) -> int:
    for _ in range(100):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("no gunicorn worker")


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    storage = tmp / "storage"
    db_url = f"sqlite:///{tmp}/bench.db"
    username, candidate_id = seed(db_url, str(storage))
    pdf = tmp / "annexes.pdf"
    pages = make_realistic_pdf(pdf, SIZE)
    size = pdf.stat().st_size
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "STORAGE_DIR": str(storage), "SECRET_KEY": "bench",
           "SESSION_COOKIE_SECURE": "0", "INSTANCE_PATH": str(tmp / "instance")}
    log = open(tmp / "gunicorn.log", "wb")  # noqa: SIM115 - closed in the finally below
    gunicorn = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--workers", "1", "--timeout", "120",
         "--no-control-socket",
         "--bind", f"127.0.0.1:{port}", "--chdir", str(ROOT), "wsgi:app"],
        env=env, stdout=subprocess.DEVNULL, stderr=log,
        start_new_session=True)
    try:
        worker = worker_pid(gunicorn.pid)
        client = Client(port)
        for _ in range(100):
            try:
                status, page = client.request("GET", "/connexion")
                break
            except OSError:
                time.sleep(0.1)
        form = urlencode({"username": username, "password": PASSWORD, "csrf_token": csrf(page)})
        client.request("POST", "/connexion", body=form,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
        status, home = client.request("GET", "/candidat/")
        token = csrf(home)
        json_headers = {"Content-Type": "application/json", "Accept": "application/json",
                        "X-CSRFToken": token}

        def announce(name: str, size: int) -> tuple[int, dict]:
            status, body = client.request(
                "POST", f"/candidat/{candidate_id}/dossiers/E4/envois", headers=json_headers,
                body=json.dumps({"piece": "sommaire", "name": name, "size": size}))
            return status, json.loads(body)

        def patch(url: str, data, offset: int) -> tuple[int, dict]:
            status, body = client.request("PATCH", url, body=data, length=len(data), headers={
                "X-CSRFToken": token, "Upload-Offset": str(offset), "Accept": "application/json",
                "Content-Type": "application/offset+octet-stream"})
            try:
                return status, json.loads(body)
            except ValueError:
                return status, {"body": body[:300].decode(errors="replace")}

        def upload(data: bytes, name: str, chunk: int) -> tuple[int, dict, int]:
            """As dossier-upload.js: announce, then chunks of ``chunk`` bytes at the offset
            the server answered, one after the other; (status, body, requests)."""
            status, body = announce(name, len(data))
            if status != 201:
                return status, body, 1
            url, offset, requests = body["url"], 0, 1
            view = memoryview(data)
            while True:
                end = min(offset + chunk, len(data))
                status, body = patch(url, view[offset:end], offset)
                requests += 1
                if status != 200 or body.get("complete"):
                    return status, body, requests
                offset = body["offset"]

        def remove(file_id: int) -> None:
            client.request("POST", f"/candidat/fichiers/{file_id}/supprimer",
                           body=urlencode({"csrf_token": token}),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})

        def raw_copy(n: int) -> float:
            target = storage / f"raw-{n}.tmp"
            start = time.perf_counter()
            with open(pdf, "rb") as src, open(target, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(target, storage / f"raw-{n}.bin")
            seconds = time.perf_counter() - start
            (storage / f"raw-{n}.bin").unlink()
            return seconds

        data = pdf.read_bytes()

        def variant(n: int) -> bytes:
            """The file with its own /ID: each deposit stores a new object, as different
            candidates' files do (the same bytes again would replace the stored object)."""
            return data.replace(FILE_ID, b"<%032x>" % n, 1)

        # Warm-up (imports, first query plans) with a small PDF, then one of each kind.
        small = tmp / "small.pdf"
        make_big_pdf(small, 200_000)
        for payload, chunk in ((small.read_bytes(), CHUNK), (variant(10**6), CHUNK),
                               (variant(10**6 + 1), len(data))):
            status, body, _ = upload(payload, "warm.pdf", chunk)
            assert status == 200, body
            remove(body["file"]["id"])
        raw_copy(-1)
        rss_before, hwm_before = rss_kb(worker)

        # Alternated: a chunked deposit, a plain copy, a single-PATCH deposit, a plain copy...
        chunked = single = raw = chunked_cpu = single_cpu = 0.0
        requests = 0
        times: dict[str, list[float]] = {"chunked": [], "single": [], "raw": []}
        for n in range(RUNS):
            for chunk in (CHUNK, len(data)):
                payload = variant(2 * n + (chunk == CHUNK))
                cpu = cpu_seconds(worker)
                start = time.perf_counter()
                status, body, count = upload(payload, "annexes.pdf", chunk)
                seconds = time.perf_counter() - start
                cpu = cpu_seconds(worker) - cpu
                assert status == 200 and body["file"]["pages"] == pages, body
                remove(body["file"]["id"])
                times["chunked" if chunk == CHUNK else "single"].append(seconds)
                if chunk == CHUNK:
                    chunked += seconds
                    chunked_cpu += cpu
                    requests += count
                else:
                    single += seconds
                    single_cpu += cpu
                copy = raw_copy(n)
                times["raw"].append(copy)
                raw += copy / 2  # two copies per run: the mean matches one upload
        _, hwm_after = rss_kb(worker)

        # A 200 MB upload: refused when announced, and refused unread when sent anyway.
        _, hwm_before_oversize = rss_kb(worker)
        announced, _ = client.request(
            "POST", f"/candidat/{candidate_id}/dossiers/E4/envois", headers=json_headers,
            body=json.dumps({"piece": "sommaire", "name": "huge.pdf", "size": OVERSIZE}))
        status, body = client.request(
            "POST", f"/candidat/{candidate_id}/dossiers/E4/envois", headers=json_headers,
            body=json.dumps({"piece": "sommaire", "name": "small.pdf", "size": 1000}))
        url = json.loads(body)["url"]
        sent_status = _send_oversize(port, client, url, token)
        _, hwm_after_oversize = rss_kb(worker)
        mb = size * RUNS / 1e6
        result = {
            "bench": "upload",
            "file_mb": round(size / 1e6, 2),
            "pages": pages,
            "chunk_mib": CHUNK / (1 << 20),
            "runs": RUNS,
            "requests_per_upload": requests / RUNS,
            "mb_per_s": round(mb / chunked, 1),
            "raw_mb_per_s": round(mb / raw, 1),
            "ratio": round(raw / chunked, 2),
            "ms_per_upload": round(1000 * chunked / RUNS, 1),
            "raw_ms": round(1000 * raw / RUNS, 1),
            "worker_cpu_ms_per_upload": round(1000 * chunked_cpu / RUNS, 1),
            # The fastest of each (least disturbed by other work on a shared machine).
            "best_ms": round(1000 * min(times["chunked"]), 1),
            "raw_best_ms": round(1000 * min(times["raw"]), 1),
            "ratio_of_best": round(min(times["raw"]) / min(times["chunked"]), 2),
            "single_best_ms": round(1000 * min(times["single"]), 1),
            "single_mb_per_s": round(mb / single, 1),
            "single_worker_cpu_ms": round(1000 * single_cpu / RUNS, 1),
            "single_ratio": round(raw / single, 2),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "rss_growth_mb": round((hwm_after - hwm_before) / 1024, 1),
            "worker_rss_mb": round(rss_before / 1024, 1),
            "oversize_announced_status": announced,
            "oversize_sent_status": sent_status,
            "oversize_rss_growth_mb": round((hwm_after_oversize - hwm_before_oversize) / 1024, 1),
            "target": {"ratio": ">= 0.5", "rss_growth_mb": "<= 30"},
        }
        print(json.dumps(result))
    finally:
        os.killpg(gunicorn.pid, signal.SIGTERM)
        log.close()
        try:
            gunicorn.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(gunicorn.pid, signal.SIGKILL)
        if os.environ.get("BENCH_KEEP"):
            print(tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _send_oversize(port: int, client: Client, url: str, token: str) -> int | str:
    """PATCH 200 MB of zeros without holding them; the server answers 413 unread."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest("PATCH", url)
        for key, value in {"Cookie": "; ".join(f"{k}={v}" for k, v in client.cookies.items()),
                           "X-CSRFToken": token, "Upload-Offset": "0", "Accept": "application/json",
                           "Content-Type": "application/offset+octet-stream",
                           "Content-Length": str(OVERSIZE)}.items():
            conn.putheader(key, value)
        conn.endheaders()
        zeros = bytes(1 << 20)
        try:
            for _ in range(OVERSIZE >> 20):
                conn.send(zeros)
        except OSError:
            pass  # the server refused and closed: expected
        try:
            return conn.getresponse().status
        except (OSError, http.client.HTTPException) as exc:
            return type(exc).__name__
    finally:
        conn.close()


if __name__ == "__main__":
    main()
