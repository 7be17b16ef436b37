"""A fast path for ``qr.qr_svg`` with a fixed mask: the data codewords and their
Reed-Solomon error correction computed with integers and log tables, instead of
qrcode's bit-by-bit buffer and polynomial objects (most of a QR code's time once the
mask search is skipped). qrcode still lays out the matrix (``makeImpl``) from these
codewords; tests/printing/test_qr_fast.py proves the matrices equal qrcode's own.

Byte mode, error correction level M (qrcode's default), one data segment.
"""

from __future__ import annotations

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


def _ec(data: list[int], count: int) -> list[int]:
    """The ``count`` error correction codewords of one block (polynomial division)."""
    generator = [LOG_TABLE[c] for c in rsPoly_LUT[count][1:]]
    remainder = [0] * count
    for value in data:
        factor = value ^ remainder[0]
        del remainder[0]
        remainder.append(0)
        if factor:
            log = LOG_TABLE[factor]
            for i, g in enumerate(generator):
                remainder[i] ^= EXP_TABLE[(g + log) % 255]
    return remainder


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


def matrix(data: str, *, mask_pattern: int, border: int) -> list[list[bool]]:
    """The module matrix (with its quiet zone) of ``data`` in byte mode with this mask."""
    raw = data.encode("utf-8")
    version = version_for(len(raw))
    code = QRCode(version=version, error_correction=LEVEL, border=border,
                  mask_pattern=mask_pattern)
    code.data_cache = codewords(raw, version)
    code.makeImpl(False, mask_pattern)
    return code.get_matrix()
