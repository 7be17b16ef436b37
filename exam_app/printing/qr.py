"""QR codes as inline SVG, small enough for WeasyPrint to draw quickly."""

from __future__ import annotations

import re

import qrcode

from exam_app.printing import qr_fast

QR_BORDER = 2  # modules of quiet zone around the code
_DARK_RUN = re.compile("1+")


def qr_svg(data: str, *, mask_pattern: int | None = None) -> str:
    """The QR code of ``data`` as an inline SVG of one path, one subpath per run of dark modules.

    ``mask_pattern`` (0-7): use that mask instead of searching the eight for the lowest
    penalty. The search is three quarters of qrcode's time (~30 ms of ~38 for a
    verification URL); a document printed by the hundred (the relevé pack) fixes it. Any
    mask gives a valid code; the search only lowers the odds of large uniform areas,
    which a 30 mm code printed from a vector PDF does not need (the tests decode them).

    WeasyPrint's cost for the SVG grows with the number of path commands: one
    rectangle per horizontal run instead of one per module (what qrcode's
    ``SvgPathImage`` writes) draws the same modules with about half the
    commands, and skips qrcode's per-module image drawing.
    """
    if mask_pattern is None:
        code = qrcode.QRCode(border=QR_BORDER)
        code.add_data(data)
        code.make(fit=True)
        # with the quiet zone (border), as rows of '1' (dark) and '0'
        lines = ["".join("1" if module else "0" for module in row) for row in code.get_matrix()]
    else:  # the fast path (printing/qr_fast.py): same matrix as qrcode's in byte mode
        lines = qr_fast.rows(data, mask_pattern=mask_pattern, border=QR_BORDER)
    size = len(lines)
    runs = [f"M{start},{y}h{end - start}v1h-{end - start}z"
            for y, line in enumerate(lines)
            for start, end in map(re.Match.span, _DARK_RUN.finditer(line))]
    return (f'<svg width="{size}mm" height="{size}mm" version="1.1" viewBox="0 0 {size} {size}" '
            f'xmlns="http://www.w3.org/2000/svg"><path d="{"".join(runs)}" fill="#000000" '
            'stroke="none" /></svg>')
