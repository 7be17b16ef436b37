"""Benchmark: push to ~240 jurors and the board under gunicorn, as production runs it.

Starts gunicorn with the production worker model (gthread, WORKERS x THREADS, see
``exam_app/juries/push.py``) on loopback with a temporary database (SQLite, or a
temporary database in BENCH_DATABASE_URL's PostgreSQL server), seeds PAIRS
commissions of two jurors with one passage each (today) and one gestionnaire,
logs everyone in, then, in the same run:
  1. ordinary load, no waiter: LOAD clients GET their passage's state (``/etat``) in
     a loop; latency and throughput;
  2. WAITERS idle long polls open (every juror's page and the board, each on its own
     keep-alive connection, asking again at once as the browser does); the same
     ordinary load again: latency and throughput with the waiters held;
  3. push latency: a juror pauses or resumes the timer, the other juror's long poll
     answers and that client fetches the state (as the page does): time from the
     POST leaving to the state in hand, CHANGES times, spread over the passages;
  4. the workers' memory (RSS) and threads before and with the waiters.
Prints ONE JSON line; never fails on a timing (exit code non-zero only on errors).

    .venv/bin/python bench/push.py
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/push.py
    BENCH_THREADS=4 .venv/bin/python bench/push.py   # today's 4 x 4: the starvation
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.autosave import Client, free_port, prepare_database, wait_for  # noqa: E402

PAIRS = int(os.environ.get("BENCH_PAIRS", 120))  # 240 jurors
WORKERS = int(os.environ.get("BENCH_WORKERS", 4))
THREADS = int(os.environ.get("BENCH_THREADS", 128))
LOAD = int(os.environ.get("BENCH_LOAD", 16))
LOAD_SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", 12))
CHANGES = int(os.environ.get("BENCH_CHANGES", 80))
PASSWORD = "bench-password"  # noqa: S105 - a throwaway account in a temporary database


def seed(database_url: str, tmp: Path) -> tuple[list[dict], str]:
    """PAIRS commissions with one passage today each; the jurors, and the day."""
    from datetime import UTC, date, datetime, timedelta

    from werkzeug.security import generate_password_hash

    from exam_app import create_app
    from exam_app.accounts.models import Role, RoleAssignment, User
    from exam_app.clock import to_local
    from exam_app.dossiers.models import Decision, DepositDeadline, Dossier
    from exam_app.enrolment.models import (
        Candidate,
        CandidateUnitForm,
        Centre,
        Establishment,
        ExamSession,
    )
    from exam_app.extensions import db
    from exam_app.juries import planning
    from exam_app.juries.models import Commission, CommissionMember, MemberRole

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "bench",
                      "STORAGE_DIR": str(tmp / "storage")})
    jurors = []
    now = datetime.now(UTC)
    with app.app_context():
        db.create_all()
        session = ExamSession(code="BENCH", name="Bench", year=2027)
        db.session.add(session)
        db.session.flush()
        db.session.add(DepositDeadline(session_id=session.id, unit_code="E4",
                                       deadline_at=now - timedelta(days=30)))
        centre = Centre(session=session, code="B1", name="Centre bench")
        school = Establishment(uai="0000001B", name="Lycée bench")
        manager = User(username="bench-gestion", first_name="Gestion", last_name="Bench")
        # A cheap scrypt (bench accounts only): 241 logins must not take minutes.
        manager.password_hash = generate_password_hash(PASSWORD, method="scrypt:1024:8:1")
        manager.session_token = uuid.uuid4().hex
        manager.roles.append(RoleAssignment(role=Role.GESTIONNAIRE.value))
        db.session.add_all([centre, school, manager])
        for pair in range(PAIRS):
            users = []
            for member in range(2):
                user = User(username=f"push{pair}-{member}", first_name="Juré",
                            last_name=f"{pair}-{member}")
                user.password_hash, user.session_token = manager.password_hash, uuid.uuid4().hex
                user.roles.append(RoleAssignment(role=Role.EXAMINATEUR.value))
                users.append(user)
            commission = Commission(session=session, unit_code="E4", form="ponctuel",
                                    code=f"E4-PUSH-{pair:03d}", centre=centre)
            commission.members = [
                CommissionMember(user=users[0], member_role=MemberRole.TEACHER.value),
                CommissionMember(user=users[1], member_role=MemberRole.PROFESSIONAL.value)]
            candidate = Candidate(session=session, number=f"P{pair:06d}", last_name="PUSH",
                                  first_name=str(pair), birth_date=date(2005, 1, 1),
                                  establishment=school, centre=centre,
                                  unit_forms=[CandidateUnitForm(unit_code="E5", form="ponctuel")])
            db.session.add_all([commission, candidate])
            db.session.flush()
            db.session.add(Dossier(candidate_id=candidate.id, unit_code="E4",
                                   decision_reasons=[], decision=Decision.COMPLIANT.value,
                                   decided_at=now))
            [passage] = planning.assign_candidates(commission=commission,
                                                   numbers=[candidate.number],
                                                   variant_code="ponctuel", actor=None)
            passage.scheduled_at = now
            jurors += [{"username": user.username, "passage": passage.id, "pair": pair}
                       for user in users]
        db.session.commit()
        db.engine.dispose()
    return jurors, to_local(now).date().isoformat()


def _login(port: int, username: str, passage_id: int | None) -> tuple[Client, str, str]:
    """A logged-in client, its CSRF token and the page's push version."""
    client = Client(port)
    client.login(username)
    if passage_id is None:
        return client, "", ""
    _, page, _ = client.request("GET", f"/jury/passages/{passage_id}")
    token = re.search(rb'data-csrf="([^"]+)"', page).group(1).decode()
    version = re.search(rb'data-live-version="([^"]*)"', page).group(1).decode()
    return client, token, version


class Waiter(threading.Thread):
    """One open page: a long poll on a keep-alive connection, asked again at once; on a
    change it fetches the passage's state, as the page does (``arrivals``: when)."""

    def __init__(self, port: int, client: Client, path: str, version: str,
                 state_path: str | None, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.client, self.path, self.version = port, client, path, version
        self.state_path, self.stop = state_path, stop
        self.arrivals: list[float] = []  # the state in hand after a change
        self.signals: list[float] = []   # the long poll's answer
        self.answers = self.retries = self.errors = 0
        self.waiting_since = 0.0
        self.last_error = ""

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def run(self) -> None:
        conn = self._connection()
        cookie = "; ".join(f"{k}={v}" for k, v in self.client.cookies.items())
        while not self.stop.is_set():
            sep = "&" if "?" in self.path else "?"
            try:
                self.waiting_since = time.monotonic()
                conn.request("GET", f"{self.path}{sep}depuis={self.version}",
                             headers={"Cookie": cookie, "Accept": "application/json"})
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    raise RuntimeError(f"wait {response.status}")
                data = json.loads(body)
                self.answers += 1
                self.version = data["version"]
                if data.get("retry_ms"):
                    self.retries += 1
                    time.sleep(data["retry_ms"] / 1000)
                elif data["changed"] and self.state_path:
                    self.signals.append(time.monotonic())
                    conn.request("GET", self.state_path, headers={"Cookie": cookie})
                    response = conn.getresponse()
                    response.read()
                    self.arrivals.append(time.monotonic())
                elif data["changed"]:  # the board: at most one board a second
                    time.sleep(1)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # gunicorn closed the idle keep-alive connection (after a retry_ms pause):
                # the browser reconnects without a word, so does this client.
                conn.close()
                conn = self._connection()
            except Exception as error:  # noqa: BLE001 - counted; reconnect as the page would
                if self.stop.is_set():
                    break
                self.errors += 1
                self.last_error = repr(error)
                conn.close()
                conn = self._connection()
                time.sleep(0.5)
        conn.close()


def ordinary_load(clients: list[tuple[Client, int]], seconds: float) -> dict:
    """LOAD clients GET their passage's state in a loop for ``seconds``."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop(client: Client, passage_id: int) -> None:
        mine = []
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                status = client.request("GET", f"/jury/passages/{passage_id}/etat")[0]
            except OSError as error:  # a starved server (BENCH_THREADS=4): 30 s, no answer
                status = repr(error)
            mine.append((time.perf_counter() - started) * 1000)
            if status != 200:
                with lock:
                    errors.append(f"etat {status}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=loop, args=pair) for pair in clients]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    return {"requests": len(latencies), "failed": len(errors),
            "median_ms": round(statistics.median(latencies), 2),
            "p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)], 2),
            "max_ms": round(latencies[-1], 2),
            "rps": round(len(latencies) / (time.perf_counter() - began), 1), "errors": errors}


def ready(port: int) -> None:
    """Wait until the workers answer (on a loaded machine they boot in tens of seconds)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if Client(port).request("GET", "/connexion")[0] == 200:
                time.sleep(5)  # the other workers, booted at the same time
                return
        except OSError:
            time.sleep(1)
    raise RuntimeError("gunicorn's workers did not answer")


def workers_usage(master: int) -> dict:
    """RSS (MB) and threads of gunicorn's workers."""
    rss = threads = 0
    for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        status = Path(f"/proc/{pid}/status").read_text()
        rss += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
        threads += int(re.search(r"Threads:\s+(\d+)", status).group(1))
    return {"rss_mb": round(rss / 1024, 1), "threads": threads}


def percentile(values: list[float], share: float) -> float:
    values = sorted(values)
    return round(values[max(0, int(len(values) * share + 0.5) - 1)], 1)


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="bench-push-"))
    database_url, drop_database = prepare_database(tmp)
    process = None
    stop = threading.Event()
    try:
        jurors, day = seed(database_url, tmp)
        port = free_port()
        env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "bench-secret",
               "SESSION_COOKIE_SECURE": "0", "INSTANCE_PATH": str(tmp / "instance"),
               "STORAGE_DIR": str(tmp / "storage")}
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--threads",
             str(THREADS), "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
             "wsgi:app"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        wait_for(port, process)
        ready(port)
        with ThreadPoolExecutor(8) as pool:
            logged = list(pool.map(lambda j: _login(port, j["username"], j["passage"]), jurors))
        manager, _, _ = _login(port, "bench-gestion", None)
        # The passages are running (the timer changes below are pauses and resumes).
        for (client, token, _), juror in zip(logged[::2], jurors[::2], strict=True):
            client.request("POST", f"/jury/passages/{juror['passage']}/minuteur",
                           json.dumps({"action": "start"}).encode(),
                           {"Content-Type": "application/json", "X-CSRFToken": token})
        load_clients = [(logged[i][0], jurors[i]["passage"]) for i in range(LOAD)]
        idle_usage = workers_usage(process.pid)
        without = ordinary_load(load_clients, LOAD_SECONDS)

        # Every juror's page and the board hold a long poll.
        waiters = []
        for (client, _, _), juror in zip(logged, jurors, strict=True):
            passage_id = juror["passage"]
            _, body, _ = client.request("GET", f"/jury/passages/{passage_id}/attendre?depuis=")
            waiters.append(Waiter(port, client, f"/jury/passages/{passage_id}/attendre",
                                  json.loads(body)["version"], f"/jury/passages/{passage_id}/etat",
                                  stop))
        board = Waiter(port, manager, f"/gestion/sessions/BENCH/suivi/attendre?jour={day}",
                       "", None, stop)
        for waiter in [*waiters, board]:
            waiter.start()
        # Until every long poll is held by a thread of a worker (and a little longer).
        deadline = time.monotonic() + 120
        while (workers_usage(process.pid)["threads"] < idle_usage["threads"] + len(waiters)
               and time.monotonic() < deadline):
            time.sleep(0.5)
        time.sleep(2)
        held_usage = workers_usage(process.pid)
        held = ordinary_load(load_clients, LOAD_SECONDS)

        # Push latency: juror 0 of a pair pauses or resumes; juror 1's page gets the state.
        latencies, signals, posts, missed = [], [], [], 0
        for n in range(CHANGES):
            pair = (n * 7) % PAIRS
            client, token, _ = logged[2 * pair]
            other = waiters[2 * pair + 1]
            seen = len(other.arrivals)
            body = ({"action": "pause", "reason": "Bench"} if (n // PAIRS) % 2 == 0
                    else {"action": "resume"})
            sent = time.monotonic()
            status, _, _ = client.request(
                "POST", f"/jury/passages/{jurors[2 * pair]['passage']}/minuteur",
                json.dumps(body).encode(),
                {"Content-Type": "application/json", "X-CSRFToken": token})
            answered = time.monotonic()
            while len(other.arrivals) == seen and time.monotonic() - sent < 10:
                time.sleep(0.002)
            if len(other.arrivals) == seen or status != 200:
                missed += 1
            else:
                latencies.append((other.arrivals[seen] - sent) * 1000)
                # The mechanism alone: from the committed change (the POST's answer) to
                # the other page's long poll answering (negative: it answered first).
                signals.append((other.signals[seen] - answered) * 1000)
                posts.append((answered - sent) * 1000)
            time.sleep(0.05)
        stop.set()
        for waiter in [*waiters, board]:  # the held polls end within PUSH_WAIT_SECONDS
            waiter.join(timeout=30)
        after = ordinary_load(load_clients, LOAD_SECONDS)
        retries = sum(w.retries for w in waiters) + board.retries
        wait_errors = sum(w.errors for w in waiters) + board.errors
        if wait_errors:
            print("wait errors:", {w.last_error for w in [*waiters, board] if w.last_error},
                  file=sys.stderr)
        board_answers = board.answers
    finally:
        stop.set()
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        drop_database()
        shutil.rmtree(tmp, ignore_errors=True)
    errors = (len(without["errors"]) + len(held["errors"]) + len(after["errors"]) + missed
              + wait_errors)
    print(json.dumps({
        "bench": "push",
        "database": "postgresql" if database_url.startswith("postgresql") else "sqlite",
        "gunicorn": f"gthread {WORKERS}x{THREADS}", "waiters": len(waiters) + 1,
        "load_clients": LOAD,
        "ordinary_without_waiters": {k: v for k, v in without.items() if k != "errors"},
        "ordinary_with_waiters": {k: v for k, v in held.items() if k != "errors"},
        "ordinary_after_waiters": {k: v for k, v in after.items() if k != "errors"},
        "ratio_median": round(held["median_ms"] / without["median_ms"], 2),  # vs "after" too
        "ratio_p99": round(held["p99_ms"] / without["p99_ms"], 2),
        "push_ms_p50": percentile(latencies, 0.5) if latencies else None,
        "push_ms_p99": percentile(latencies, 0.99) if latencies else None,
        "push_ms_max": round(max(latencies), 1) if latencies else None,
        "signal_after_commit_ms_p50": percentile(signals, 0.5) if signals else None,
        "signal_after_commit_ms_p99": percentile(signals, 0.99) if signals else None,
        "timer_post_ms_p50": percentile(posts, 0.5) if posts else None,
        "changes": CHANGES, "missed": missed, "retries_over_cap": retries,
        "board_answers": board_answers, "workers_idle": idle_usage,
        "workers_with_waiters": held_usage, "errors": errors,
    }))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
