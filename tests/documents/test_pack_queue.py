"""Issue 16 item 5: the print_pack table is a queue every instance shares. A job whose
runner died (its process or host) is taken over by exactly one other process; a live
runner beats; a runner whose job was taken over writes nothing over its successor."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from exam_app.clock import utcnow
from exam_app.documents import packs
from exam_app.documents.models import PackState, PrintPack
from exam_app.extensions import db as _db
from tests.documents.conftest import DAY


def _job(jury_day, *, state=PackState.PENDING, beat_ago=timedelta(0), kinds=("emargement",)):
    job, _ = packs.request_pack(centre=jury_day["centre"], day=DAY, kinds=list(kinds),
                                fmt="pdf", actor=jury_day["gestionnaire"])
    job.state, job.updated_at = state.value, utcnow() - beat_ago
    _db.session.commit()
    return job.id


def _state(job_id):
    _db.session.expire_all()
    return _db.session.get(PrintPack, job_id)


def test_a_job_whose_runner_stopped_beating_is_taken_over(app, jury_day, monkeypatch):
    monkeypatch.setitem(app.config, "PRINT_PACK_STALE_SECONDS", 60)
    dead = _job(jury_day, state=PackState.RUNNING, beat_ago=timedelta(minutes=5))
    waiting = _job(jury_day, beat_ago=timedelta(minutes=5), kinds=("fiche",))
    alive = _job(jury_day, state=PackState.RUNNING, beat_ago=timedelta(seconds=10),
                 kinds=("bordereau",))
    assert packs.take_over_stale(app) == [dead, waiting]
    assert _state(dead).state == PackState.PENDING.value
    assert utcnow() - _state(dead).updated_at < timedelta(seconds=5)
    assert _state(alive).state == PackState.RUNNING.value
    assert packs.take_over_stale(app) == []  # taken: it beats again (from now)


def test_processes_looking_at_once_take_each_job_once(app, jury_day, monkeypatch):
    """Eight threads (each its own session, as eight processes) look at the same moment:
    every dead job is taken by exactly one of them."""
    monkeypatch.setitem(app.config, "PRINT_PACK_STALE_SECONDS", 60)
    jobs = [_job(jury_day, state=PackState.RUNNING, beat_ago=timedelta(minutes=5),
                 kinds=kinds) for kinds in (("emargement",), ("fiche",), ("bordereau",))]
    barrier, taken, errors = threading.Barrier(8), [], []

    def look():
        try:
            with app.app_context():
                barrier.wait()
                taken.extend(packs.take_over_stale(app))
                _db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=look) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(taken) == sorted(jobs)


def test_a_running_pack_beats_while_it_renders(app, jury_day, monkeypatch):
    monkeypatch.setitem(app.config, "PRINT_PACK_HEARTBEAT_SECONDS", 1)
    job_id = _job(jury_day)
    started = _state(job_id).updated_at
    seen = []

    def slow_write(centre, day, kinds, output, **kwargs):
        for _ in range(3):
            time.sleep(1.2)
            with app.app_context():
                seen.append(_db.session.scalar(sa.select(PrintPack.updated_at)
                                               .where(PrintPack.id == job_id)))
                _db.session.remove()
        Path(output).write_bytes(b"%PDF-1.7 test")

    monkeypatch.setattr(packs, "write_pack", slow_write)
    packs.run(app, job_id)
    assert _state(job_id).state == PackState.DONE.value
    assert len(set(seen)) >= 2 and min(seen) > started  # moved while rendering


def test_a_runner_whose_job_was_taken_over_drops_its_result(app, jury_day, monkeypatch):
    monkeypatch.setitem(app.config, "PRINT_PACK_STALE_SECONDS", 1)
    job_id = _job(jury_day)

    def taken_over_meanwhile(centre, day, kinds, output, **kwargs):
        Path(output).write_bytes(b"%PDF-1.7 from the old runner")
        with app.app_context():  # another process took the job (it looked dead)
            _db.session.execute(sa.update(PrintPack).where(PrintPack.id == job_id).values(
                state=PackState.PENDING.value, updated_at=utcnow() - timedelta(minutes=5)))
            _db.session.commit()
            _db.session.remove()

    monkeypatch.setattr(packs, "write_pack", taken_over_meanwhile)
    packs.run(app, job_id)
    job = _state(job_id)
    assert (job.state, job.result_path) == (PackState.PENDING.value, None)
    packs_dir = Path(app.config["STORAGE_DIR"]) / "packs"
    assert not list(packs_dir.glob(f"pack-{job_id}-*.part"))  # its temporary file is gone
    assert all(b"old runner" not in path.read_bytes()  # and it wrote no pack
               for path in packs_dir.glob(f"pack-{job_id}-*"))


def test_the_watcher_runs_what_it_takes_over(app, jury_day, monkeypatch):
    """The process's watcher finds the dead job and renders it, with nobody asking."""
    monkeypatch.setitem(app.config, "PRINT_PACK_STALE_SECONDS", 1)
    monkeypatch.setitem(app.config, "PRINT_PACK_POLL_SECONDS", 0.3)
    monkeypatch.setitem(app.config, "PRINT_PACK_WORKERS", 1)
    monkeypatch.setattr(packs, "_watcher_pid", None)
    stop = threading.Event()
    monkeypatch.setattr(packs, "_watcher_stop", stop)
    job_id = _job(jury_day, state=PackState.RUNNING, beat_ago=timedelta(minutes=5))
    packs.ensure_watcher(app)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _state(job_id).state != PackState.DONE.value:
            time.sleep(0.2)
        job = _state(job_id)
        assert job.state == PackState.DONE.value
        assert packs.result_file(app, job) is not None
    finally:
        stop.set()
