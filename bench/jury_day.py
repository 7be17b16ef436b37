"""Benchmark: a whole académie's jury day on one machine (issue 16, item 1).

Starts the app as the README's production section runs it (gunicorn, gthread,
WORKERS x THREADS, ``--preload``, ``--keep-alive 75``) on loopback with a temporary
database in PostgreSQL (BENCH_DATABASE_URL's server; without it, the local server at
127.0.0.1:5432 when it answers, else SQLite, said in ``database_note``;
``BENCH_DATABASE_URL=sqlite`` asks for SQLite), seeds MAX commissions of two jurors with a
passage each (today) and a gestionnaire.

At 8:00 the jurors of the target's load (2 x 120) arrive in a wave: each, at an instant
drawn uniformly within BENCH_WAVE_SECONDS (30), logs in, opens their home and their
passage's page, every request timed (``login_wave``; not part of the knee). The others
log in one by one. Then it runs the jury day's request pattern at a doubling number of
commissions (15, 30, 60, ..., MAX), each for WARMUP + SECONDS, as the pages do it
(``jury-passage.js``, ``jury-board.js``):

- each juror's page holds a long poll (``/attendre``) and, when it answers "changed"
  with a version newer than the one whose state the page holds, reads the passage's
  state at once (``/etat``); without a change the state is read every 5 s
  (``pushPollMs`` while the push works). The page holds the version its own save
  answered (``live_version``) when that follows the one it held: the push of its own
  save then reads nothing (a push that comes while a save is in flight waits for the
  save's answer);
- each juror types in the agreed grid: an autosave (``/grilles/commune/champs``) every
  2 to 5 s (uniformly drawn), of their own field, with the version last acknowledged;
  each save wakes the other juror's long poll (the agreed grid is shared);
- BOARDS browsers show the live board: each holds the board's long poll, which answers
  with the whole board when a passage of the day changes.

Measured per load (``loads``): every non-held request's latency (state reads,
autosaves), by endpoint (median, p95, p99), the long polls answered, errors (any answer
but 200 and an accepted save), the server's CPU (gunicorn's processes, and the
database's for PostgreSQL) in cores, ``change_seen_ms`` (from a save sent to the other
juror's page holding a state with it: what a juror waits to see the other's typing), and
at the end "lost": acknowledged saves whose value or version is not the database's.
``knee_commissions`` is the largest load whose worst p99, and every smaller load's,
stays <= TARGET_MS with no error (target >= 120). The headline ``commissions``,
``p99_ms``, ``errors`` and ``server_cpu_cores`` are those of the target's load (120, or
the first load above it), or of the largest load run when the bench stopped before it;
``largest_load`` and ``errors_all_loads`` (the login wave's included) give the rest.
The doubling stops at MAX, or after a load whose p99 is over 4 x TARGET_MS (the next
would only be worse). The client runs on the same machine and takes CPU too: its own
CPU is reported (``client_cpu_cores``). Prints ONE JSON line; never fails on a timing
(exit code non-zero only on errors).

    .venv/bin/python bench/jury_day.py
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/jury_day.py
    BENCH_DATABASE_URL=sqlite .venv/bin/python bench/jury_day.py
    BENCH_MAX=60 BENCH_SECONDS=10 .venv/bin/python bench/jury_day.py   # a quick look
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.autosave import free_port, prepare_database, wait_for  # noqa: E402

MAX = int(os.environ.get("BENCH_MAX", 240))
START = int(os.environ.get("BENCH_START", 15))
SECONDS = float(os.environ.get("BENCH_SECONDS", 30))
WARMUP = float(os.environ.get("BENCH_WARMUP", 5))
BOARDS = int(os.environ.get("BENCH_BOARDS", 10))
WORKERS = int(os.environ.get("BENCH_WORKERS", 4))
THREADS = int(os.environ.get("BENCH_THREADS", 128))
TARGET_MS = 250.0
TARGET_COMMISSIONS = 120  # the load the target is set at: the headline figures are its own
WAVE_SECONDS = float(os.environ.get("BENCH_WAVE_SECONDS", 30))
POLL_S = 5.0              # jury-passage.js: pushPollMs while the push works
SAVE_S = (2.0, 5.0)       # an autosave every 2 to 5 s
PASSWORD = "bench-password"  # noqa: S105 - throwaway accounts in a temporary database


class Connection:
    """One browser connection (keep-alive, as a browser's), with the person's cookies."""

    def __init__(self, port: int, cookies: dict):
        self.port, self.cookies = port, cookies
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None, timeout: float = 60) -> tuple[int, bytes]:
        all_headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
                       "User-Agent": "bench-jury-day", "Accept": "application/json"}
        all_headers.update(headers or {})
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            try:
                self.conn.request(method, path, body=body, headers=all_headers)
                response = self.conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt:  # a kept-alive connection the server closed: once more, fresh
                    raise
                continue
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    key, _, rest = value.partition("=")
                    self.cookies[key] = rest.split(";", 1)[0]
            if response.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            return response.status, data
        raise RuntimeError("unreachable")


def login(port: int, username: str, timed: Callable | None = None) -> dict:
    """Log in as a browser does (the form, then its POST); ``timed(step, ms)`` gets each
    request's time (the login wave)."""
    cookies: dict = {}
    conn = Connection(port, cookies)
    began = time.perf_counter()
    _, page = conn.request("GET", "/connexion", headers={"Accept": "text/html"})
    if timed:
        timed("connexion_form", (time.perf_counter() - began) * 1000)
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": username, "password": PASSWORD,
                                   "csrf_token": token.decode()}).encode()
    began = time.perf_counter()
    status, _ = conn.request("POST", "/connexion", form,
                             {"Content-Type": "application/x-www-form-urlencoded"})
    if timed:
        timed("connexion", (time.perf_counter() - began) * 1000)
    if status != 302:
        raise RuntimeError(f"login failed for {username}: {status}")
    return cookies


def long_poll(conn: Connection, name: str, path, stats, stop: threading.Event,
              on_answer) -> None:
    """A page's long poll: asked again at once after each answer (after ``retry_ms`` when
    the server says so, after 1 s on an error), until ``stop``."""
    while not stop.is_set():
        try:
            status, data = conn.request("GET", path())
        except OSError as error:
            stats.error(f"{name} {error!r}")
            time.sleep(1)
            continue
        if status != 200:
            stats.error(f"{name} {status}")
            time.sleep(1)
            continue
        answer = json.loads(data)
        with stats.lock:
            stats.answers += 1 if stats.recording else 0
        on_answer(answer)
        if answer.get("retry_ms"):
            time.sleep(answer["retry_ms"] / 1000)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.answers = 0  # long polls answered
        self.recording = False

    def add(self, kind: str, ms: float) -> None:
        if self.recording:
            with self.lock:
                self.latencies.setdefault(kind, []).append(ms)

    def error(self, text: str) -> None:
        if self.recording:
            with self.lock:
                self.errors.append(text)


class Juror:
    """One juror's page: a long poll thread and the page's own requests."""

    def __init__(self, port: int, juror: dict, rng: random.Random,
                 timed: Callable | None = None):
        """The juror logs in and opens the passage's page (``timed``: through their home
        first, each request timed, as in the login wave)."""
        self.port, self.juror, self.stats = port, juror, Stats()
        self.rng = rng
        self.cookies = login(port, juror["username"], timed)
        page_conn = Connection(port, self.cookies)
        if timed:
            began = time.perf_counter()
            status, _ = page_conn.request("GET", "/jury/", headers={"Accept": "text/html"})
            timed("accueil", (time.perf_counter() - began) * 1000)
            if status != 200:
                raise RuntimeError(f"juror's home: {status}")
        began = time.perf_counter()
        _, page = page_conn.request("GET", f"/jury/passages/{juror['passage']}",
                                    headers={"Accept": "text/html"})
        if timed:
            timed("passage", (time.perf_counter() - began) * 1000)
        self.token = re.search(rb'data-csrf="([^"]+)"', page).group(1).decode()
        self.version = re.search(rb'data-live-version="([^"]*)"', page).group(1).decode()
        self.field_version = 0
        self.seen = -1  # the live version whose state the page holds (``seenVersion``)
        self.saving = False  # a save in flight (``inflight``) ...
        self.pushed_during_save = -1  # ... and the push it defers (``pushedDuringSave``)
        self.saving_lock = threading.Lock()
        self.saves = 0
        self.sent: dict = {}
        self.partner: Juror | None = None  # the other juror of the passage
        self.sends: list[tuple[float, int]] = []  # (sent at, live version) of saves
        self.receipts: list[tuple[float, int]] = []  # (received at, version) of states
        self.wake = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, stats: Stats, stop: threading.Event) -> None:
        """The page's two activities for one load (they end when ``stop`` is set)."""
        self.stats = stats
        self.sends, self.receipts = [], []
        self.threads = [threading.Thread(target=self.waiting, args=(stop,), daemon=True),
                        threading.Thread(target=self.acting, args=(stop,), daemon=True)]
        for thread in self.threads:
            thread.start()

    def waiting(self, stop: threading.Event) -> None:
        def changed(answer: dict) -> None:
            self.version = answer["version"]
            version = int(answer["version"])
            if answer.get("changed") and not version <= self.seen:
                with self.saving_lock:  # a save in flight decides when answered
                    if self.saving:
                        self.pushed_during_save = max(self.pushed_during_save, version)
                    else:
                        self.wake.set()

        long_poll(Connection(self.port, self.cookies), "attendre",
                  lambda: f"/jury/passages/{self.juror['passage']}/attendre?depuis="
                          + urllib.parse.quote(self.version), self.stats, stop, changed)

    def acting(self, stop: threading.Event) -> None:
        conn = Connection(self.port, self.cookies)
        now = time.monotonic()
        next_save = now + self.rng.uniform(*SAVE_S)
        next_poll = now + self.rng.uniform(0, POLL_S)
        n = self.saves
        while not stop.is_set():
            timeout = max(0.0, min(next_save, next_poll) - time.monotonic())
            woken = self.wake.wait(timeout)
            if stop.is_set():
                break
            now = time.monotonic()
            if woken or now >= next_poll:
                self.wake.clear()
                self.state(conn)
                next_poll = time.monotonic() + POLL_S
            elif now >= next_save:
                n += 1
                self.saves = n
                with self.saving_lock:
                    self.saving = True
                self.save(conn, n)
                with self.saving_lock:
                    self.saving = False
                    if self.pushed_during_save > self.seen:
                        self.wake.set()
                    self.pushed_during_save = -1
                next_save = time.monotonic() + self.rng.uniform(*SAVE_S)

    def state(self, conn: Connection) -> None:
        started = time.perf_counter()
        try:
            status, data = conn.request("GET", f"/jury/passages/{self.juror['passage']}/etat")
        except OSError as error:
            self.stats.error(f"etat {error!r}")
            return
        self.stats.add("etat", (time.perf_counter() - started) * 1000)
        if status != 200:
            self.stats.error(f"etat {status}")
            return
        version = json.loads(data)["version"]
        self.seen = max(self.seen, version)
        if self.stats.recording:
            self.receipts.append((time.monotonic(), version))

    def save(self, conn: Connection, n: int) -> None:
        value = f"{self.juror['username']} écrit {n}"
        body = json.dumps({"ops": [{"op": f"{self.juror['username']}-{n}-{uuid.uuid4().hex[:8]}",
                                    "field": self.juror["field"], "value": value,
                                    "base": self.field_version}]}).encode()
        started = time.perf_counter()
        sent_at = time.monotonic()
        try:
            status, data = conn.request(
                "POST", f"/jury/passages/{self.juror['passage']}/grilles/commune/champs", body,
                {"Content-Type": "application/json", "X-CSRFToken": self.token})
        except OSError as error:
            self.stats.error(f"champs {error!r}")
            return
        self.stats.add("champs", (time.perf_counter() - started) * 1000)
        if status != 200:
            self.stats.error(f"champs {status} {data[:100]!r}")
            return
        [result] = json.loads(data)["results"]
        if result["status"] != "ok":
            self.stats.error(f"champs {result['status']}")
            return
        self.field_version = result["version"]
        self.sent = {"version": result["version"], "value": value}
        live = json.loads(data).get("live_version")
        if isinstance(live, int) and self.stats.recording:
            self.sends.append((sent_at, live))
        if isinstance(live, int) and live == self.seen + 1:
            self.seen = live


class Board:
    """One browser showing the live board: its long poll, asked again at once."""

    def __init__(self, port: int, cookies: dict, url: str, version: str):
        self.port, self.cookies, self.url, self.version = port, dict(cookies), url, version
        self.stats = Stats()

    def start(self, stats: Stats, stop: threading.Event) -> None:
        self.stats = stats
        threading.Thread(target=self.run, args=(stop,), daemon=True).start()

    def run(self, stop: threading.Event) -> None:
        def changed(answer: dict) -> None:
            self.version = answer["version"]

        long_poll(Connection(self.port, self.cookies), "board",
                  lambda: self.url + "&depuis=" + urllib.parse.quote(self.version),
                  self.stats, stop, changed)


def _cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [pid, *(int(p) for p in out.stdout.split())]


def _postgres_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "postgres"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (every process, /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * share + 0.5) - 1))]


def run_load(port: int, jurors: list[Juror], boards: list[Board], master: int,
             postgres: bool) -> dict:
    stats = Stats()
    stop = threading.Event()
    for juror in jurors:
        juror.wake.clear()
        juror.start(stats, stop)
    for board in boards:
        board.start(stats, stop)
    time.sleep(WARMUP)
    pids = _children(master)
    db_pids = _postgres_pids() if postgres else []
    cpu0, db0, own0, busy0 = (_cpu_seconds(pids), {p: _cpu_seconds([p]) for p in db_pids},
                              resource.getrusage(resource.RUSAGE_SELF), _machine_busy_seconds())
    began = time.monotonic()
    stats.recording = True
    time.sleep(SECONDS)
    stats.recording = False
    wall = time.monotonic() - began
    own1 = resource.getrusage(resource.RUSAGE_SELF)
    busy = _machine_busy_seconds() - busy0
    cpu = _cpu_seconds(pids) - cpu0
    # The database's processes alive at both readings (a backend that came or went
    # meanwhile is left out, so this is a floor).
    db_cpu = sum(max(0.0, _cpu_seconds([p]) - before) for p, before in db0.items())
    stop.set()
    for juror in jurors:
        juror.wake.set()
    # Held long polls end by themselves (at most PUSH_WAIT_SECONDS); the actors at once.
    for juror in jurors:
        juror.threads[1].join(timeout=30)
    # A save's change seen by the other juror: from the save sent to the first state the
    # other page read with that version or a later one (the push, then ``/etat``).
    seen_ms = []
    for juror in jurors:
        for sent_at, version in juror.sends:
            seen_ms += [min(((at - sent_at) * 1000 for at, v in juror.partner.receipts
                             if v >= version and at >= sent_at), default=None)]
    unseen = sum(1 for ms in seen_ms if ms is None)
    seen_ms = [ms for ms in seen_ms if ms is not None]
    endpoints = {}
    for kind, values in stats.latencies.items():
        endpoints[kind] = {"requests": len(values), "rps": round(len(values) / wall, 1),
                           "median_ms": round(statistics.median(values), 1),
                           "p95_ms": round(percentile(values, 0.95), 1),
                           "p99_ms": round(percentile(values, 0.99), 1)}
    worst = max((e["p99_ms"] for e in endpoints.values()), default=0.0)
    return {"commissions": len(jurors) // 2, "p99_ms": worst, "endpoints": endpoints,
            "long_polls_answered_per_s": round(stats.answers / wall, 1),
            # Not a request: how soon a juror sees the other's typing (the save, the
            # watcher's tick, the push, the state read). Saves whose change the other
            # page had not read when the load ended are counted apart.
            "change_seen_ms": {
                "saves": len(seen_ms), "not_seen_in_load": unseen,
                "median": round(statistics.median(seen_ms), 1) if seen_ms else None,
                "p95": round(percentile(seen_ms, 0.95), 1) if seen_ms else None,
                "p99": round(percentile(seen_ms, 0.99), 1) if seen_ms else None},
            "errors": len(stats.errors), "error_samples": stats.errors[:5],
            "server_cpu_cores": round(cpu / wall, 2),
            "db_cpu_cores": round(db_cpu / wall, 2) if postgres else None,
            "machine_cpu_cores": round(busy / wall, 2),
            "client_cpu_cores": round((own1.ru_utime + own1.ru_stime
                                       - own0.ru_utime - own0.ru_stime) / wall, 2),
            "load_average": round(os.getloadavg()[0], 2)}


def login_wave(port: int, seeded: list[dict], rng: random.Random,
               master: int) -> tuple[list[Juror], dict]:
    """8:00: the jurors of ``seeded`` arrive, each at an instant drawn uniformly within
    WAVE_SECONDS, and log in, open their home (``/jury/``) and their passage's page;
    every request timed by step. Not part of the knee (no jury page is open yet)."""
    times: dict[str, list[float]] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def timed(step: str, ms: float) -> None:
        with lock:
            times.setdefault(step, []).append(ms)

    offsets = [rng.uniform(0, WAVE_SECONDS) for _ in seeded]
    jurors: list[Juror | None] = [None] * len(seeded)
    pids = _children(master)
    cpu0, began = _cpu_seconds(pids), time.monotonic()

    def arrive(index: int) -> None:
        time.sleep(max(0.0, offsets[index] - (time.monotonic() - began)))
        try:
            jurors[index] = Juror(port, seeded[index], rng, timed)
        except Exception as error:  # noqa: BLE001 - counted; the juror logs in again below
            with lock:
                errors.append(repr(error))

    threads = [threading.Thread(target=arrive, args=(i,)) for i in range(len(seeded))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - began
    cpu = _cpu_seconds(pids) - cpu0
    for index, juror in enumerate(jurors):
        if juror is None:
            jurors[index] = Juror(port, seeded[index], rng)
    steps = {step: {"requests": len(values), "median_ms": round(statistics.median(values), 1),
                    "p95_ms": round(percentile(values, 0.95), 1),
                    "p99_ms": round(percentile(values, 0.99), 1),
                    "max_ms": round(max(values), 1)}
             for step, values in times.items()}
    return jurors, {"jurors": len(seeded), "spread_s": WAVE_SECONDS, "wall_s": round(wall, 1),
                    "errors": len(errors), "error_samples": errors[:5],
                    "server_cpu_cores": round(cpu / wall, 2) if wall else None,
                    "steps": steps}


def count_lost(database_url: str, jurors: list[Juror], tmp: Path) -> int:
    import sqlalchemy as sa

    from exam_app import create_app
    from exam_app.extensions import db
    from exam_app.juries.models import AGREED, Grid, GridField

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "bench",
                      "STORAGE_DIR": str(tmp / "storage")})
    lost = 0
    with app.app_context():
        for juror in jurors:
            if not juror.sent:
                continue
            row = db.session.execute(
                sa.select(GridField.value, GridField.version).join(Grid).where(
                    Grid.passage_id == juror.juror["passage"], Grid.key == AGREED,
                    GridField.name == juror.juror["field"])).one_or_none()
            if row is None or (row.version, row.value) != (juror.sent["version"],
                                                          juror.sent["value"]):
                lost += 1
        db.session.remove()
        db.engine.dispose()
    return lost


DEFAULT_POSTGRESQL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def default_to_postgresql() -> str | None:
    """The README runs production on PostgreSQL: without BENCH_DATABASE_URL, the local
    server (DEFAULT_POSTGRESQL) when it answers; SQLite otherwise, said on stderr and in
    the JSON line (``database_note``). ``BENCH_DATABASE_URL=sqlite`` asks for SQLite."""
    given = os.environ.get("BENCH_DATABASE_URL")
    if given == "sqlite":
        del os.environ["BENCH_DATABASE_URL"]
        return "SQLite, as asked (BENCH_DATABASE_URL=sqlite)"
    if given:
        return None
    import sqlalchemy as sa

    engine = sa.create_engine(DEFAULT_POSTGRESQL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except Exception as error:  # noqa: BLE001 - no server: SQLite, said aloud
        note = (f"SQLite: no PostgreSQL at {DEFAULT_POSTGRESQL} ({type(error).__name__}); "
                "set BENCH_DATABASE_URL for the production database")
        print(f"jury_day: {note}", file=sys.stderr, flush=True)
        return note
    finally:
        engine.dispose()
    os.environ["BENCH_DATABASE_URL"] = DEFAULT_POSTGRESQL
    return None


def main() -> int:
    from bench import push

    tmp = Path(tempfile.mkdtemp(prefix="bench-jury-day-"))
    database_note = default_to_postgresql()
    database_url, drop_database = prepare_database(tmp)
    postgres = database_url.startswith("postgresql")
    server = None
    try:
        push.PAIRS = MAX
        seeded, day = push.seed(database_url, tmp)
        for juror in seeded:  # the two jurors of a pair write different fields
            juror["field"] = "appreciation" if juror["username"].endswith("-0") else \
                "s:performance"
        port = free_port()
        env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "bench-secret",
               "STORAGE_DIR": str(tmp / "storage"), "SESSION_COOKIE_SECURE": "0",
               "INSTANCE_PATH": str(tmp / "instance"), "PUSH_MAX_WAITERS": str(THREADS - 16)}
        server = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "--workers", str(WORKERS), "--threads",
             str(THREADS), "--preload", "--keep-alive", "75", "--bind", f"127.0.0.1:{port}",
             "wsgi:app"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        wait_for(port, server)
        time.sleep(1.0)
        rng = random.Random(2027)
        # The target load's jurors arrive in a wave (timed), the others one by one.
        wave_size = 2 * min(TARGET_COMMISSIONS, MAX)
        jurors, wave = login_wave(port, seeded[:wave_size], rng, server.pid)
        print(json.dumps({"login_wave": wave}, ensure_ascii=False), file=sys.stderr, flush=True)
        jurors += [Juror(port, juror, rng) for juror in seeded[wave_size:]]
        by_passage: dict[int, list[Juror]] = {}
        for juror in jurors:
            by_passage.setdefault(juror.juror["passage"], []).append(juror)
        for first, second in by_passage.values():
            first.partner, second.partner = second, first
        manager = login(port, "bench-gestion")
        _, board_page = Connection(port, manager).request(
            "GET", f"/gestion/sessions/BENCH/suivi?jour={day}", headers={"Accept": "text/html"})
        wait_url = re.search(rb'data-wait-url="([^"]+)"', board_page).group(1).decode()
        wait_url = wait_url.replace("&amp;", "&")
        board_version = re.search(rb'data-version="([^"]*)"', board_page).group(1).decode()
        boards = [Board(port, manager, wait_url, board_version) for _ in range(BOARDS)]
        loads, results, count = [], [], START
        while count <= MAX:
            loads.append(count)
            count *= 2
        if loads[-1] != MAX and MAX > START:
            loads.append(MAX)
        for count in loads:
            result = run_load(port, jurors[:2 * count], boards, server.pid, postgres)
            print(json.dumps(result, ensure_ascii=False), file=sys.stderr, flush=True)
            results.append(result)
            if result["p99_ms"] > 4 * TARGET_MS:
                break
            time.sleep(3)
        lost = count_lost(database_url, jurors, tmp)
        # The knee: the largest load whose p99, and every smaller load's, stayed within
        # the target with no error.
        knee = 0
        for result in results:
            if result["p99_ms"] > TARGET_MS or result["errors"]:
                break
            knee = result["commissions"]
        # The headline figures: the target's load (120 commissions; the first load from
        # 120 up when BENCH_START doubles past it), or the largest run when the bench
        # stopped before it; the larger loads' are in "loads".
        headline = next((r for r in results if r["commissions"] >= TARGET_COMMISSIONS),
                        results[-1])
        largest = results[-1]
        print(json.dumps({
            "bench": "jury_day",
            "database": "postgresql" if postgres else "sqlite",
            "database_note": database_note,
            "workers": WORKERS, "threads": THREADS, "boards": BOARDS,
            "seconds_per_load": SECONDS,
            "commissions": headline["commissions"], "p99_ms": headline["p99_ms"],
            "errors": headline["errors"], "lost": lost,
            "server_cpu_cores": headline["server_cpu_cores"],
            "db_cpu_cores": headline["db_cpu_cores"],
            "machine_cpu_cores": headline["machine_cpu_cores"],
            "knee_commissions": knee, "target_knee": TARGET_COMMISSIONS,
            "target_p99_ms": TARGET_MS, "target_met": knee >= TARGET_COMMISSIONS,
            "errors_all_loads": sum(r["errors"] for r in results) + wave["errors"],
            "largest_load": {key: largest[key] for key in (
                "commissions", "p99_ms", "errors", "server_cpu_cores", "machine_cpu_cores")},
            "login_wave": wave,
            "loads": results,
        }, ensure_ascii=False))
        return 0
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        drop_database()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
