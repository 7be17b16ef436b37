"""The fast QR path (printing/qr_fast.py) draws exactly qrcode's matrix for the same data
(byte mode, level M) and mask, whatever the length (versions 1 to 40's block layouts), and
its mask search scores and chooses as qrcode's does."""

from __future__ import annotations

import random
import string

import pytest
import qrcode
from qrcode import util

from exam_app.printing import qr_fast
from exam_app.printing.qr import QR_BORDER, qr_svg

ALPHABET = string.ascii_letters + string.digits + "/:._-~é"


def _reference(data: str, mask: int | None):
    """qrcode's matrix (with its quiet zone) and version; ``mask`` None: its mask search."""
    code = qrcode.QRCode(border=QR_BORDER, mask_pattern=mask)
    code.add_data(util.QRData(data.encode(), mode=util.MODE_8BIT_BYTE))
    code.make(fit=True)
    return code.get_matrix(), code.version


@pytest.mark.parametrize("size", [1, 13, 14, 60, 150, 224, 300, 600, 1200, 2000])
def test_fast_matrix_equals_qrcode_s_for_every_mask(size):
    rng = random.Random(size)
    for mask in range(8):
        data = "".join(rng.choice(ALPHABET) for _ in range(size))
        matrix, version = _reference(data, mask)
        assert qr_fast.version_for(len(data.encode())) == version
        assert qr_fast.matrix(data, mask_pattern=mask, border=QR_BORDER) == matrix


def test_qr_svg_with_a_fixed_mask_draws_the_fast_matrix():
    url = "https://examens.example/verifier/" + "a1B2" * 40
    fixed = qr_svg(url, mask_pattern=3)
    assert fixed.startswith('<svg width="')
    assert fixed != qr_svg(url)  # the mask search picks its own mask for this one
    matrix, _ = _reference(url, 3)
    assert f'viewBox="0 0 {len(matrix)} {len(matrix)}"' in fixed


def _reference_svg(matrix) -> str:
    """qr_svg's drawing done module by module from qrcode's own matrix: one rectangle per
    horizontal run of dark modules."""
    size = len(matrix)
    runs = []
    for y, row in enumerate(matrix):
        x = 0
        while x < size:
            if row[x]:
                start = x
                while x < size and row[x]:
                    x += 1
                runs.append(f"M{start},{y}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    return "".join(runs)


@pytest.mark.parametrize("size", [20, 180, 700])
def test_qr_svg_fast_path_draws_qrcode_s_modules_run_by_run(size):
    rng = random.Random(size * 7)
    for mask in range(8):
        data = "".join(rng.choice(ALPHABET) for _ in range(size))
        matrix, _ = _reference(data, mask)
        assert f'd="{_reference_svg(matrix)}"' in qr_svg(data, mask_pattern=mask)


@pytest.mark.parametrize("size", [1, 14, 90, 193, 260, 420, 1000])
def test_mask_search_chooses_qrcode_s_mask_and_draws_its_matrix(size):
    for seed in range(12):
        rng = random.Random(size * 100 + seed)
        data = "".join(rng.choice(ALPHABET) for _ in range(size))
        matrix, version = _reference(data, None)
        code = qrcode.QRCode(version=version, border=0)
        code.add_data(util.QRData(data.encode(), mode=util.MODE_8BIT_BYTE))
        assert qr_fast.best_mask(data) == code.best_mask_pattern()
        assert qr_fast.matrix(data, mask_pattern=None, border=QR_BORDER) == matrix
        assert f'd="{_reference_svg(matrix)}"' in qr_svg(data)


@pytest.mark.parametrize("size", [3, 60, 193, 700])
def test_penalty_equals_qrcode_s_lost_point_for_every_mask(size):
    rng = random.Random(size)
    data = "".join(rng.choice(ALPHABET) for _ in range(size))
    version = qr_fast.version_for(len(data.encode()))
    code = qrcode.QRCode(version=version, border=0)
    code.data_cache = qr_fast.codewords(data.encode(), version)
    placed = qr_fast._data(code.data_cache, version)
    for mask in range(8):
        code.makeImpl(True, mask)  # as qrcode's best_mask_pattern scores a mask
        reference = util.lost_point(code.modules)
        mine = qr_fast.penalty(qr_fast._place(placed, version, mask, test=True))
        assert mine == reference, mask


def test_penalty_counts_each_rule_on_a_known_matrix():
    """Rows of 21 modules: the rules' points by hand, against qrcode's."""
    lines = ["1" * 21] * 2 + ["10111010000" + "01" * 5] + ["01" * 10 + "0"] * 18
    modules = [[c == "1" for c in line] for line in lines]
    assert qr_fast.penalty(lines) == util.lost_point(modules)
