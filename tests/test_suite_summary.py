"""`make test` ends by saying what it skipped, and why (tests/conftest.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SAMPLE = '''
import pytest

@pytest.mark.skip(reason="raison A")
def test_a(): pass

@pytest.mark.skip(reason="raison A")
def test_b(): pass

def test_c(): pytest.skip("raison B")

@pytest.mark.postgres
def test_d(): pass

def test_e(): pass
'''


def _run(tmp_path, source: str, **env) -> list[str]:
    path = tmp_path / "test_sample.py"
    path.write_text(source)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
         "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), str(path)],
        cwd=ROOT, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **env},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


def test_run_ends_with_skips_grouped_by_reason(tmp_path):
    lines = _run(tmp_path, SAMPLE)
    start = next(i for i, line in enumerate(lines) if "skipped, and why" in line)
    assert lines[start + 1:-1] == [
        "Skipped: 4 tests — reasons:",
        "     2 × raison A",
        "     1 × raison B",
        "     1 × PostgreSQL only: set TEST_DATABASE_URL=postgresql+psycopg://… to run it",
    ]
    assert "1 passed, 4 skipped" in lines[-1]


def test_run_without_skips_says_so(tmp_path):
    lines = _run(tmp_path, "def test_e(): pass\n")
    assert "skipped, and why" in lines[-3]
    assert lines[-2] == "Nothing skipped."
    assert "1 passed" in lines[-1]
