"""Benchmark: start-up time and memory of the production server (issue 16, item 4).

Measures, for the code at BENCH_SOURCE (default: this checkout):
  1. ``import exam_app`` + ``create_app()`` in a fresh interpreter (median of 3), and
     whether WeasyPrint / Alembic got imported;
  2. gunicorn as the README runs it (4 workers x 128 threads, ``--preload``; set
     BENCH_PRELOAD=0 to compare without) on a temporary SQLite database: seconds from
     start to the first 200 on ``/connexion``, then, 3 s later, each idle worker's RSS
     and PSS (``/proc/<pid>/smaps_rollup``; PSS splits the pages shared with the master
     and the other workers between them) and the master's.
Prints ONE JSON line; never fails on a figure. Bounded: the server is stopped after
at most 60 s.

    .venv/bin/python bench/startup.py
    BENCH_PRELOAD=0 .venv/bin/python bench/startup.py
    BENCH_SOURCE=/tmp/base .venv/bin/python bench/startup.py   # another checkout
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOURCE = Path(os.environ.get("BENCH_SOURCE") or Path(__file__).resolve().parent.parent)
PRELOAD = os.environ.get("BENCH_PRELOAD", "1") != "0"
WORKERS, THREADS = 4, 128

PROBE = """
import sys, time
t = time.perf_counter()
from exam_app import create_app
create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "SECRET_KEY": "x", "STORAGE_DIR": sys.argv[2]})
print(time.perf_counter() - t, "weasyprint" in sys.modules, "alembic" in sys.modules)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_mb(pid: int) -> dict:
    """RSS and PSS of one process, in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss"):
            values[key.lower()] = round(int(rest.split()[0]) / 1024, 1)
    return values


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def first_answer(port: int, process: subprocess.Popen, deadline: float) -> float | None:
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            return None
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/connexion")
            if conn.getresponse().status == 200:
                return time.perf_counter() - start
        except OSError:
            time.sleep(0.05)
    return None


def main() -> None:
    env = {**os.environ, "PYTHONPATH": str(SOURCE)}
    with tempfile.TemporaryDirectory() as tmp:
        database = f"sqlite:///{tmp}/startup.db"
        runs = [subprocess.run([sys.executable, "-c", PROBE, database, f"{tmp}/st"], cwd=SOURCE,
                               env=env, capture_output=True, text=True, check=True,
                               timeout=120).stdout.split() for _ in range(3)]
        import_s = statistics.median(float(r[0]) for r in runs)
        port = free_port()
        env.update(DATABASE_URL=database, SECRET_KEY="bench",  # noqa: S106 - a throwaway server
                   STORAGE_DIR=f"{tmp}/st",
                   INSTANCE_PATH=f"{tmp}/instance", SESSION_COOKIE_SECURE="0")
        command = [str(Path(sys.executable).with_name("gunicorn")), "--workers", str(WORKERS),
                   "--threads", str(THREADS), *(["--preload"] if PRELOAD else []),
                   "--bind", f"127.0.0.1:{port}", "wsgi:app"]
        server = subprocess.Popen(command, cwd=SOURCE, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            answer_s = first_answer(port, server, time.perf_counter() + 60)
            time.sleep(3)  # the other workers finish booting; all idle
            workers = [memory_mb(pid) for pid in children(server.pid)]
            master = memory_mb(server.pid)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    pss = [w["pss"] for w in workers]
    print(json.dumps({
        "bench": "startup", "source": str(SOURCE), "preload": PRELOAD,
        "import_create_app_s": round(import_s, 2),
        "imports_weasyprint": runs[0][1] == "True", "imports_alembic": runs[0][2] == "True",
        "first_answer_s": round(answer_s, 2) if answer_s is not None else None,
        "workers": len(workers),
        "worker_rss_mb": round(statistics.median(w["rss"] for w in workers), 1) if workers else None,
        "worker_pss_mb": round(statistics.median(pss), 1) if pss else None,
        "master_rss_mb": master["rss"], "master_pss_mb": master["pss"],
        "server_pss_mb": round(sum(pss) + master["pss"], 1),
        "load_average": round(os.getloadavg()[0], 1),
    }))


if __name__ == "__main__":
    main()
