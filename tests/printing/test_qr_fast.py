"""The fast QR path (printing/qr_fast.py) draws exactly qrcode's matrix for the same data
(byte mode, level M) and mask, whatever the length (versions 1 to 40's block layouts)."""

from __future__ import annotations

import random
import string

import pytest
import qrcode
from qrcode import util

from exam_app.printing import qr_fast
from exam_app.printing.qr import QR_BORDER, qr_svg

ALPHABET = string.ascii_letters + string.digits + "/:._-~é"


def _reference(data: str, mask: int):
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


def test_qr_svg_with_the_mask_search_draws_qrcode_s_modules():
    url = "https://examens.example/verifier/" + "z9Y8" * 30
    code = qrcode.QRCode(border=QR_BORDER)
    code.add_data(url)
    code.make(fit=True)
    assert f'd="{_reference_svg(code.get_matrix())}"' in qr_svg(url)
