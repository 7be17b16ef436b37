"""A fast path for ``qr.qr_svg`` with a fixed mask: the data codewords and their
Reed-Solomon error correction computed with integers and multiplication tables, instead
of qrcode's bit-by-bit buffer and polynomial objects, then laid out from a cached layout
of the version and mask (the function patterns, and the data modules' places in
qrcode's zigzag order with their mask bits) with one integer XOR, instead of qrcode's
module-by-module ``map_data`` (most of a QR code's time once the mask search is
skipped). qrcode itself builds each layout once (its own pattern methods);
tests/printing/test_qr_fast.py proves the matrices equal qrcode's own.

Byte mode, error correction level M (qrcode's default), one data segment.
"""

from __future__ import annotations

from functools import cache, lru_cache

from qrcode import QRCode, constants, util
from qrcode.base import EXP_TABLE, LOG_TABLE, rs_blocks
from qrcode.LUT import rsPoly_LUT

LEVEL = constants.ERROR_CORRECT_M
_LIMITS = util.BIT_LIMIT_TABLE[LEVEL]
_BYTE = util.MODE_8BIT_BYTE


def _length_bits(version: int) -> int:
    return util.mode_sizes_for_version(version)[_BYTE]


def version_for(size: int) -> int:
    """The smallest version whose capacity holds ``size`` bytes (byte mode, level M)."""
    for version in range(1, 41):
        if 4 + _length_bits(version) + 8 * size <= _LIMITS[version]:
            return version
    raise ValueError("data too long for a QR code")


@cache
def _products(count: int) -> tuple[int, ...]:
    """For each byte f, the generator polynomial of ``count`` codewords times f (GF(256)),
    its coefficients as the bytes of one integer (highest degree first)."""
    generator = [LOG_TABLE[c] for c in rsPoly_LUT[count][1:]]
    return (0,) + tuple(int.from_bytes(bytes(EXP_TABLE[(g + LOG_TABLE[f]) % 255]
                                             for g in generator), "big")
                        for f in range(1, 256))


def _ec(data: list[int], count: int) -> list[int]:
    """The ``count`` error correction codewords of one block (polynomial division; the
    remainder's coefficients are the bytes of one integer, shifted a byte per step)."""
    products = _products(count)
    top, keep = 8 * (count - 1), (1 << 8 * count) - 1
    remainder = 0
    for value in data:
        remainder = ((remainder << 8) & keep) ^ products[value ^ (remainder >> top)]
    return list(remainder.to_bytes(count, "big"))


def codewords(data: bytes, version: int) -> list[int]:
    """The interleaved data and error correction codewords of ``data`` (``create_data``)."""
    limit = _LIMITS[version]
    length_bits = _length_bits(version)
    bits = 4 + length_bits + 8 * len(data)
    value = (((_BYTE << length_bits) | len(data)) << (8 * len(data))) \
        | int.from_bytes(data, "big")
    terminator = min(limit - bits, 4)
    value <<= terminator
    bits += terminator
    if bits % 8:
        value <<= 8 - bits % 8
        bits += 8 - bits % 8
    stream = list(value.to_bytes(bits // 8, "big"))
    pads = (limit - bits) // 8
    stream += [util.PAD0 if i % 2 == 0 else util.PAD1 for i in range(pads)]
    blocks, offset = [], 0
    for block in rs_blocks(version, LEVEL):
        chunk = stream[offset:offset + block.data_count]
        offset += block.data_count
        blocks.append((chunk, _ec(chunk, block.total_count - block.data_count)))
    out = []
    for i in range(max(len(d) for d, _ in blocks)):
        out += [d[i] for d, _ in blocks if i < len(d)]
    for i in range(max(len(e) for _, e in blocks)):
        out += [e[i] for _, e in blocks if i < len(e)]
    return out


@lru_cache(maxsize=64)
def _layout(version: int, mask_pattern: int) -> tuple[list[str], list[int], int]:
    """(the function patterns as a flat list of '0'/'1' with '0' on data modules, the data
    modules' flat indexes in qrcode's placement order, their mask bits as one integer in
    that order) — qrcode's ``makeImpl`` up to ``map_data``, and ``map_data``'s walk."""
    code = QRCode(version=version, error_correction=LEVEL, mask_pattern=mask_pattern)
    count = code.modules_count = version * 4 + 17
    code.modules = [[None] * count for _ in range(count)]
    code.setup_position_probe_pattern(0, 0)
    code.setup_position_probe_pattern(count - 7, 0)
    code.setup_position_probe_pattern(0, count - 7)
    code.setup_position_adjust_pattern()
    code.setup_timing_pattern()
    code.setup_type_info(False, mask_pattern)
    if version >= 7:
        code.setup_type_number(False)
    mask = util.mask_func(mask_pattern)
    places, mask_bits = [], 0
    inc, row = -1, count - 1
    for col in range(count - 1, 0, -2):  # map_data's zigzag, two columns at a time
        if col <= 6:
            col -= 1
        while True:
            for c in (col, col - 1):
                if code.modules[row][c] is None:
                    places.append(row * count + c)
                    mask_bits = (mask_bits << 1) | bool(mask(row, c))
            row += inc
            if row < 0 or count <= row:
                row -= inc
                inc = -inc
                break
    base = ["1" if module else "0" for line in code.modules for module in line]
    return base, places, mask_bits


def rows(data: str, *, mask_pattern: int, border: int) -> list[str]:
    """The module rows (with the quiet zone) of ``data`` in byte mode with this mask, each
    a string of '1' (dark) and '0'."""
    raw = data.encode("utf-8")
    version = version_for(len(raw))
    base, places, mask_bits = _layout(version, mask_pattern)
    words = codewords(raw, version)
    spare = len(places) - 8 * len(words)  # remainder bits: light before the mask
    value = (int.from_bytes(bytes(words), "big") << spare) ^ mask_bits
    flat = base.copy()
    for place, bit in zip(places, format(value, f"0{len(places)}b"), strict=True):
        flat[place] = bit
    count = version * 4 + 17
    side = "0" * border
    quiet = ["0" * (count + 2 * border)] * border
    return quiet + [side + "".join(flat[i:i + count]) + side
                    for i in range(0, count * count, count)] + quiet


def matrix(data: str, *, mask_pattern: int, border: int) -> list[list[bool]]:
    """The module matrix (with its quiet zone) of ``data`` in byte mode with this mask."""
    return [[module == "1" for module in row]
            for row in rows(data, mask_pattern=mask_pattern, border=border)]
