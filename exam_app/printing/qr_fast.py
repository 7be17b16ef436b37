"""The fast path of ``qr.qr_svg``: qrcode's matrix, mask search included, about twenty
times faster. The data codewords and their Reed-Solomon error correction are computed
with integers and multiplication tables, instead of qrcode's bit-by-bit buffer and
polynomial objects; the data bits are placed once (the data modules' places in qrcode's
zigzag order, cached per version), then each mask is one integer XOR with a cached
layout of the version and mask (its function patterns and mask bits), instead of
qrcode's module-by-module ``map_data``; each mask is scored with qrcode's penalty rules
on the rows read as one integer (``penalty``). qrcode itself builds each layout once
(its own pattern methods); tests/printing/test_qr_fast.py proves the penalties, the
chosen masks and the matrices equal qrcode's own.

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


def _patterns(version: int, mask_pattern: int, test: bool) -> QRCode:
    """A qrcode ``QRCode`` whose modules hold the function patterns (None on the data
    modules): qrcode's ``makeImpl(test, mask)`` up to ``map_data``. ``test``: the format and
    version information left light, as qrcode lays out a matrix to score a mask."""
    code = QRCode(version=version, error_correction=LEVEL, mask_pattern=mask_pattern)
    count = code.modules_count = version * 4 + 17
    code.modules = [[None] * count for _ in range(count)]
    code.setup_position_probe_pattern(0, 0)
    code.setup_position_probe_pattern(count - 7, 0)
    code.setup_position_probe_pattern(0, count - 7)
    code.setup_position_adjust_pattern()
    code.setup_timing_pattern()
    code.setup_type_info(test, mask_pattern)
    if version >= 7:
        code.setup_type_number(test)
    return code


@cache
def _places(version: int) -> tuple[int, ...]:
    """The data modules' indexes (row by row) in qrcode's placement order (``map_data``'s
    zigzag); the same for every mask (at most 40 versions cached)."""
    code = _patterns(version, 0, False)
    count = code.modules_count
    places = []
    inc, row = -1, count - 1
    for col in range(count - 1, 0, -2):  # map_data's zigzag, two columns at a time
        if col <= 6:
            col -= 1
        while True:
            for c in (col, col - 1):
                if code.modules[row][c] is None:
                    places.append(row * count + c)
            row += inc
            if row < 0 or count <= row:
                row -= inc
                inc = -inc
                break
    return tuple(places)


@lru_cache(maxsize=128)
def _layout(version: int, mask_pattern: int, test: bool = False) -> tuple[int, int]:
    """(the function patterns, the mask's bits on the data modules), both row by row as one
    integer, the first module in the highest bit (two integers of version² bits a key)."""
    code = _patterns(version, mask_pattern, test)
    count = code.modules_count
    mask = util.mask_func(mask_pattern)
    masked = ["0"] * (count * count)
    for place in _places(version):
        if mask(*divmod(place, count)):
            masked[place] = "1"
    patterns = "".join("1" if module else "0" for line in code.modules for module in line)
    return int(patterns, 2), int("".join(masked), 2)


def _data(words: list[int], version: int) -> int:
    """The codewords' bits on their data modules, unmasked, row by row as one integer
    (the remainder bits after the codewords are light before the mask)."""
    count = version * 4 + 17
    bits = format(int.from_bytes(bytes(words), "big"), f"0{8 * len(words)}b")
    flat = ["0"] * (count * count)
    for place, bit in zip(_places(version), bits, strict=False):  # then the remainder bits
        flat[place] = bit
    return int("".join(flat), 2)


def _place(data: int, version: int, mask_pattern: int, *, test: bool = False) -> list[str]:
    """The module rows without quiet zone: the placed data masked, the function patterns."""
    patterns, mask_bits = _layout(version, mask_pattern, test)
    count = version * 4 + 17
    text = format(patterns | (data ^ mask_bits), f"0{count * count}b")
    return [text[i:i + count] for i in range(0, count * count, count)]


_FINDER_LIKE = ("10111010000", "00001011101")


@cache
def _line_masks(count: int) -> tuple[int, int, int]:
    """Bit masks over ``count`` lines of ``count`` modules read as one integer (first line
    in the highest bits): (neighbours in one line, of the rows; the same over rows then
    columns; every line but the first)."""
    one_line = "0" + "1" * (count - 1)  # a line's first module has no left neighbour
    return (int(one_line * count, 2), int(one_line * 2 * count, 2),
            (1 << count * (count - 1)) - 1)


def penalty(lines: list[str]) -> int:
    """qrcode's ``util.lost_point`` of a matrix given as rows of '0'/'1' (ISO/IEC 18004
    §7.8.3): runs of five or more (3 + 1 per module beyond five), uniform 2x2 blocks (3
    each), finder-like 1:1:3:1:1 patterns with four light modules (40 each), and the
    distance of the dark share from 50 % (10 per full 5 %); in rows and in columns.

    The rows (then the rows and the columns) are read as ONE integer, a bit a module, and
    scored with a few bit operations on it; masks keep a neighbour in its own line."""
    count = len(lines)
    in_rows, in_lines, below_first = _line_masks(count)
    columns = list(map("".join, zip(*lines, strict=True)))
    # Finder-like patterns: '|' between the lines, so that none is counted across two.
    text = "|".join((*lines, *columns))
    points = 40 * (text.count(_FINDER_LIKE[0]) + text.count(_FINDER_LIKE[1]))
    # Runs: bit j of ``equal`` says modules j and j+1 match (one line); of ``five``, that
    # modules j..j+4 match. A run of L >= 5 has L - 4 such windows and one last window (a
    # set bit of ``five`` without the next): L - 2 = (L - 4) + 2.
    rows_value = int("".join(lines), 2)
    every = (rows_value << count * count) | int("".join(columns), 2)
    equal = ~(every ^ (every >> 1)) & in_lines
    five = equal & (equal >> 1) & (equal >> 2) & (equal >> 3)
    points += five.bit_count() + 2 * (five & ~(five >> 1)).bit_count()
    # 2x2 blocks: bit j of ``same`` says a module matches the one above it; a block is
    # uniform when a module matches the one above, its right neighbour too, and its
    # right neighbour in its own row.
    same = ~(rows_value ^ (rows_value >> count)) & below_first
    beside = ~(rows_value ^ (rows_value >> 1)) & in_rows
    points += 3 * (same & (same >> 1) & beside).bit_count()
    dark = rows_value.bit_count()
    return points + int(abs(float(dark) / (count ** 2) * 100 - 50) / 5) * 10


def _best_mask(placed: int, version: int) -> int:
    """The mask qrcode's ``best_mask_pattern`` chooses: the lowest penalty of the eight
    (scored on the test layout), the first on a tie."""
    scores = [penalty(_place(placed, version, mask, test=True)) for mask in range(8)]
    return scores.index(min(scores))


def best_mask(data: str) -> int:
    """The mask qrcode's search chooses for ``data`` in byte mode."""
    raw = data.encode("utf-8")
    version = version_for(len(raw))
    return _best_mask(_data(codewords(raw, version), version), version)


def rows(data: str, *, mask_pattern: int | None, border: int) -> list[str]:
    """The module rows (with the quiet zone) of ``data`` in byte mode with this mask (None:
    the mask qrcode's search would choose), each a string of '1' (dark) and '0'."""
    raw = data.encode("utf-8")
    version = version_for(len(raw))
    placed = _data(codewords(raw, version), version)
    if mask_pattern is None:
        mask_pattern = _best_mask(placed, version)
    count = version * 4 + 17
    side = "0" * border
    quiet = ["0" * (count + 2 * border)] * border
    return quiet + [side + line + side
                    for line in _place(placed, version, mask_pattern)] + quiet


def matrix(data: str, *, mask_pattern: int | None, border: int) -> list[list[bool]]:
    """The module matrix (with its quiet zone) of ``data`` in byte mode with this mask."""
    return [[module == "1" for module in row]
            for row in rows(data, mask_pattern=mask_pattern, border=border)]
