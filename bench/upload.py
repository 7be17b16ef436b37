"""Benchmark: the real deposit path under gunicorn vs a plain copy of the same bytes.

Starts gunicorn (one sync worker) on a free loopback port with a temporary
SQLite database and STORAGE_DIR, logs in as a candidate, uploads a 20 MB PDF
20 times through the app's raw upload endpoint (announce + one PATCH with the
whole body: checks and hashing included; the file is removed between runs so
the duplicate check does not refuse it), and copies the same bytes 20 times to
the same disk (read, write, fsync, rename) for the baseline. Then announces
and sends a 200 MB upload, which must be refused without the worker growing.
Prints one JSON line. Never fails on a timing.
"""

from __future__ import annotations

import http.client
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
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RUNS = 20
SIZE = 20 * 1000 * 1000 - 4096  # just under the default 20 MB per-file limit
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
    pdf = tmp / "big.pdf"
    make_big_pdf(pdf, SIZE)
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

        def upload(path: Path, size: int) -> tuple[int, dict]:
            status, body = client.request(
                "POST", f"/candidat/{candidate_id}/dossiers/E4/envois", headers=json_headers,
                body=json.dumps({"piece": "sommaire", "name": path.name, "size": size}))
            if status != 201:
                return status, json.loads(body)
            url = json.loads(body)["url"]
            with open(path, "rb") as handle:
                status, body = client.request("PATCH", url, body=handle, length=size, headers={
                    "X-CSRFToken": token, "Upload-Offset": "0", "Accept": "application/json",
                    "Content-Type": "application/offset+octet-stream"})
            try:
                return status, json.loads(body)
            except ValueError:
                return status, {"body": body[:300].decode(errors="replace")}

        def remove(file_id: int) -> None:
            client.request("POST", f"/candidat/fichiers/{file_id}/supprimer",
                           body=urlencode({"csrf_token": token}),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})

        # Warm-up (imports, first query plans) with a small PDF.
        small = tmp / "small.pdf"
        make_big_pdf(small, 200_000)
        status, body = upload(small, small.stat().st_size)
        assert status == 200, body
        remove(body["file"]["id"])
        rss_before, hwm_before = rss_kb(worker)

        elapsed = 0.0
        for _ in range(RUNS):
            start = time.perf_counter()
            status, body = upload(pdf, size)
            elapsed += time.perf_counter() - start
            assert status == 200, body
            remove(body["file"]["id"])
        _, hwm_after = rss_kb(worker)

        raw = 0.0
        for n in range(RUNS):
            target = storage / f"raw-{n}.tmp"
            start = time.perf_counter()
            with open(pdf, "rb") as src, open(target, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(target, storage / f"raw-{n}.bin")
            raw += time.perf_counter() - start
            (storage / f"raw-{n}.bin").unlink()

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
            "runs": RUNS,
            "mb_per_s": round(mb / elapsed, 1),
            "raw_mb_per_s": round(mb / raw, 1),
            "ratio": round((mb / elapsed) / (mb / raw), 2),
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
