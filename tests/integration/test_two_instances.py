"""Issue 16 item 5: the app as two stateless gunicorn instances behind nginx (Debian's),
sharing the database and STORAGE_DIR, as the README's production section runs it.

One scenario, on the suite's database (a scratch database beside TEST_DATABASE_URL on
PostgreSQL, a file on SQLite): the demo is loaded by the command line, then two
instances ("a" and "b", X-Served-By) and nginx start, and each of these is checked:

- sessions: a login made through nginx holds on both instances;
- uploads: a file whose first half went to instance a is resumed and finished on b;
- the signed QR code of the deposit receipt rendered by one instance verifies on both;
- push: a juror's long poll waiting on a is woken by the other juror's change on b, and
  a long poll through nginx (buffering off) is answered as soon as the change is made;
- print packs: a pack asked on a, whose instance is then killed (SIGKILL) before it
  could render, is taken over by b from the shared queue and downloads through nginx.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
PASSWORD = "demo-multi-instance"

pytestmark = pytest.mark.skipif(
    NGINX is None and not os.environ.get("REQUIRE_NGINX"),
    reason="nginx is not installed (sudo apt-get install -y nginx); CI installs it")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):  # noqa: S310 - local test server
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


class Browser:
    """One person's cookies (valid on every instance: same host, same SECRET_KEY)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.token = ""

    def open(self, path: str, *, data: bytes | None = None, method: str | None = None,
             headers: dict | None = None, base: str | None = None, timeout: float = 60):
        request = urllib.request.Request((base or self.base) + path, data=data,  # noqa: S310
                                         method=method, headers=headers or {})
        try:
            response = self.opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()
        with response:
            return response.status, dict(response.headers), response.read()

    def page(self, path: str, **kwargs) -> str:
        status, _, body = self.open(path, **kwargs)
        assert status == 200, (path, status, body[:300])
        text = body.decode()
        found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', text) or \
            re.search(r'data-csrf="([^"]+)"', text)
        if found:
            self.token = found.group(1)
        return text

    def login(self, username: str) -> Browser:
        self.page("/connexion")
        data = urllib.parse.urlencode({"username": username, "password": PASSWORD,
                                       "csrf_token": self.token}).encode()
        status, _, body = self.open("/connexion", data=data)
        assert status == 200 and b"Se connecter" not in body[:20000], status
        return self

    def json(self, path: str, body, *, method: str = "POST", base: str | None = None):
        status, headers, raw = self.open(
            path, data=json.dumps(body).encode(), method=method, base=base,
            headers={"Content-Type": "application/json", "X-CSRFToken": self.token})
        return status, json.loads(raw or b"{}")


@contextmanager
def _process(command: list[str], env: dict, log: Path):
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _nginx_conf(tmp: Path, port: int, upstreams: list[int]) -> Path:
    """The README's configuration (production section), on local ports and without TLS."""
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / name).mkdir(exist_ok=True)
    servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=30s;"
                        for p in upstreams)
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = tmp / "nginx.conf"
    conf.write_text(f"""{user}worker_processes 1;
error_log {tmp}/error.log;
pid {tmp}/nginx.pid;
events {{ worker_connections 512; }}
http {{
  access_log {tmp}/access.log;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  upstream exam_app {{
{servers}
    keepalive 16;
  }}
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 64m;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host              $http_host;
    proxy_set_header X-Forwarded-For   $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    location / {{
      proxy_pass http://exam_app;
    }}
    location ~ ^/(jury/passages/[0-9]+|gestion/sessions/[^/]+/suivi)/attendre$ {{
      proxy_pass http://exam_app;
      proxy_buffering off;
      proxy_cache off;
      proxy_read_timeout 60s;
      proxy_send_timeout 60s;
    }}
  }}
}}
""")
    return conf


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    from tests.conftest import scratch_database

    tmp = tmp_path_factory.mktemp("multi")
    with ExitStack() as stack:
        if os.environ.get("TEST_DATABASE_URL"):
            url = stack.enter_context(scratch_database(tmp, "multi"))
        else:
            url = f"sqlite:///{tmp}/shared.db"
        ports = {"a": _free_port(), "b": _free_port(), "nginx": _free_port()}
        public = f"http://127.0.0.1:{ports['nginx']}"
        env = {**os.environ, "DATABASE_URL": url, "STORAGE_DIR": str(tmp / "storage"),
               "SECRET_KEY": "multi-instance-test-secret", "PUBLIC_URL": public,
               "SESSION_COOKIE_SECURE": "0", "PROXY_COUNT": "1", "FLASK_APP": "exam_app",
               "DEMO_PASSWORD": PASSWORD, "PUSH_MAX_WAITERS": "8",
               "PRINT_PACK_WORKERS": "1", "PRINT_PACK_HEARTBEAT_SECONDS": "1",
               "PRINT_PACK_STALE_SECONDS": "3", "PRINT_PACK_POLL_SECONDS": "1"}
        env.pop("TEST_DATABASE_URL", None)
        for command in (["db", "upgrade"], ["demo", "--candidates", "30"]):
            subprocess.run([str(BIN / "flask"), *command], cwd=ROOT, check=True,
                           env={**env, "INSTANCE_PATH": str(tmp / "cli")},
                           capture_output=True, timeout=600)
        instances = {}
        for name in ("a", "b"):
            instance_env = {**env, "INSTANCE_NAME": name,
                            "INSTANCE_PATH": str(tmp / f"instance-{name}")}
            instances[name] = stack.enter_context(_process(
                [str(BIN / "gunicorn"), "--workers", "2", "--threads", "16", "--preload",
                 "--keep-alive", "75", "--bind", f"127.0.0.1:{ports[name]}", "wsgi:app"],
                instance_env, tmp / f"gunicorn-{name}.log"))
        conf = _nginx_conf(tmp, ports["nginx"], [ports["a"], ports["b"]])
        stack.enter_context(_process([NGINX, "-p", str(tmp), "-c", str(conf),
                                      "-g", "daemon off;"], env, tmp / "nginx.out"))
        for name in ("a", "b", "nginx"):
            _wait_http(f"http://127.0.0.1:{ports[name]}/connexion")
        if os.environ.get("MULTI_KEEP_LOGS"):  # to look at after a failure
            stack.callback(shutil.copytree, tmp, os.environ["MULTI_KEEP_LOGS"],
                           ignore=shutil.ignore_patterns("storage", "*.db"), dirs_exist_ok=True)
        yield {"tmp": tmp, "ports": ports, "instances": instances, "public": public,
               "url": {name: f"http://127.0.0.1:{port}" for name, port in ports.items()},
               "storage": tmp / "storage"}


def test_a_login_holds_on_both_instances(deployment):
    gestion = Browser(deployment["public"]).login("gestion")
    served = []
    for _ in range(8):  # one request each (no redirect): nginx alternates the instances
        status, headers, body = gestion.open("/gestion/sessions/SAM2027/")
        assert status == 200 and b"Se connecter" not in body
        served.append(headers.get("X-Served-By"))
    assert set(served) == {"a", "b"}  # nginx spread them, the cookie held on each


def test_an_upload_started_on_one_instance_is_finished_on_the_other(deployment):
    from tests.dossiers.helpers import make_pdf

    urls = deployment["url"]
    candidate = Browser(deployment["public"]).login("candidat1")
    home = candidate.page("/candidat/")
    candidate_id = re.search(r"/candidat/(\d+)/", home).group(1)
    unit, piece = re.search(r'id="ajouter-(E[45])-([a-z0-9_-]+)"', home).groups()  # room left
    data = make_pdf(2, marker="multi-instance", padding=400_000)
    status, created = candidate.json(f"/candidat/{candidate_id}/dossiers/{unit}/envois",
                                     {"piece": piece, "name": "piece.pdf",
                                      "size": len(data)}, base=urls["a"])
    assert status == 201, created
    half = len(data) // 2
    status, _, body = candidate.open(created["url"], data=data[:half], method="PATCH",
                                     base=urls["a"], headers={
                                         "X-CSRFToken": candidate.token, "Upload-Offset": "0",
                                         "Content-Type": "application/offset+octet-stream"})
    assert status == 200 and json.loads(body)["offset"] == half
    status, _, body = candidate.open(created["url"], base=urls["b"])  # b sees a's bytes
    assert json.loads(body)["offset"] == half
    status, _, body = candidate.open(created["url"], data=data[half:], method="PATCH",
                                     base=urls["b"], headers={
                                         "X-CSRFToken": candidate.token,
                                         "Upload-Offset": str(half),
                                         "Content-Type": "application/offset+octet-stream"})
    answer = json.loads(body)
    assert status == 200 and answer["complete"] is True, answer
    import hashlib

    assert answer["file"]["sha256"] == hashlib.sha256(data).hexdigest()
    # The receipt, rendered by b, carries a signed QR code: both instances vouch for it.
    status, headers, pdf = candidate.open(f"/dossiers/{candidate_id}/{unit}/accuse-de-depot.pdf",
                                          base=urls["b"])
    assert status == 200 and pdf.startswith(b"%PDF")
    link = _qr_link(pdf, deployment["tmp"])
    assert link.startswith(deployment["public"] + "/verifier/")
    for name in ("a", "b"):
        status, _, page = Browser(urls[name]).open(link.removeprefix(deployment["public"]))
        assert status == 200, name
        assert "Document authentique et à jour." in page.decode(), name


def _qr_link(pdf: bytes, tmp: Path) -> str:
    with tempfile.TemporaryDirectory(dir=tmp) as work:
        (Path(work) / "doc.pdf").write_bytes(pdf)
        subprocess.run(["pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1",
                        str(Path(work) / "doc.pdf"), str(Path(work) / "page")], check=True)
        [image] = Path(work).glob("page*.png")
        out = subprocess.run(["zbarimg", "--raw", "-q", str(image)], capture_output=True,
                             text=True, check=True)
    return out.stdout.strip().splitlines()[0]


def test_a_change_on_one_instance_wakes_a_wait_on_the_other(deployment):
    urls = deployment["url"]
    first = Browser(deployment["public"]).login("jury1")
    second = Browser(deployment["public"]).login("jury2")
    home = first.page("/jury/")
    passage_ids = [int(n) for n in dict.fromkeys(re.findall(r"/jury/passages/(\d+)", home))]
    assert passage_ids
    for passage_id in passage_ids:
        second.page(f"/jury/passages/{passage_id}")
        status, _, body = first.open(f"/jury/passages/{passage_id}/attendre?depuis=x",
                                     base=urls["a"])
        since = json.loads(body)["version"]
        answers: dict = {}

        def wait(browser, base, key, since=since, passage_id=passage_id, answers=answers):
            started = time.monotonic()
            status, _, body = browser.open(f"/jury/passages/{passage_id}/attendre?depuis={since}",
                                           base=base)
            answers[key] = (status, json.loads(body), started, time.monotonic())

        waiters = [threading.Thread(target=wait, args=(first, urls["a"], "a")),
                   threading.Thread(target=wait, args=(first, deployment["public"], "nginx"))]
        for waiter in waiters:
            waiter.start()
        time.sleep(1.5)  # both are waiting
        changed_at = time.monotonic()
        status, answer = second.json(f"/jury/passages/{passage_id}/minuteur",
                                     {"action": "start"}, base=urls["b"])
        for waiter in waiters:
            waiter.join(timeout=60)
        if status != 200:
            continue  # this passage cannot start now (finished, absent…): the next one
        for key in ("a", "nginx"):
            status, body, _, answered_at = answers[key]
            assert status == 200 and body["changed"] is True, (key, body)
            # Woken by the change (not before it, not at the end of the 22-30 s wait).
            assert 0 < answered_at - changed_at < 3.0, (key, answered_at - changed_at)
        return
    pytest.fail("no passage of the demo's jury day could be started")


def test_a_pack_whose_instance_died_is_finished_by_the_other(deployment):
    from exam_app.documents.packs import PackSlots

    urls = deployment["url"]
    head = Browser(deployment["public"]).login("centre1")
    home = head.page("/centre/")
    centre_id = re.search(r"/centres/(\d+)/impressions", home).group(1)
    page = head.page(f"/centres/{centre_id}/impressions", base=urls["a"])
    day = re.search(r'id="day" name="day"[^>]*value="([0-9-]+)"', page).group(1)
    # Every rendering slot is taken (another pack would be rendering): the job waits on a.
    slots = PackSlots(deployment["storage"] / "packs" / "slots", 1)
    held = slots.try_acquire()
    assert held is not None
    try:
        form = urllib.parse.urlencode({"csrf_token": head.token, "day": day,
                                       "kinds": "emargement", "fmt": "pdf"}).encode()
        request = urllib.request.Request(  # noqa: S310 - local test server
            urls["a"] + f"/centres/{centre_id}/impressions", data=form)

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        opener = urllib.request.build_opener(NoRedirect, *[
            h for h in head.opener.handlers if isinstance(h, urllib.request.HTTPCookieProcessor)])
        try:
            opener.open(request, timeout=60)
            pytest.fail("the request should redirect to the pack's page")
        except urllib.error.HTTPError as redirect:
            assert redirect.code == 302
            pack_url = urllib.parse.urlparse(redirect.headers["Location"]).path
        time.sleep(1.0)
        status, _, body = head.open(pack_url + "/etat", base=urls["b"])
        assert json.loads(body)["state"] == "pending"
        instance = deployment["instances"]["a"]
        os.killpg(instance.pid, signal.SIGKILL)  # instance a dies, its job with it
        instance.wait(timeout=30)
    finally:
        os.close(held)
    deadline = time.monotonic() + 90
    state = {}
    while time.monotonic() < deadline:
        status, headers, body = head.open(pack_url + "/etat")  # through nginx: b only now
        state = json.loads(body)
        if state["state"] in ("done", "failed"):
            break
        time.sleep(0.5)
    assert state["state"] == "done", state
    status, headers, pdf = head.open(pack_url + "/fichier")
    assert status == 200 and pdf.startswith(b"%PDF"), status
    assert headers.get("X-Served-By") == "b"
