"""QR codes as inline SVG, small enough for WeasyPrint to draw quickly."""

from __future__ import annotations

import qrcode

QR_BORDER = 2  # modules of quiet zone around the code


def qr_svg(data: str) -> str:
    """The QR code of ``data`` as an inline SVG of one path, one subpath per run of dark modules.

    WeasyPrint's cost for the SVG grows with the number of path commands: one
    rectangle per horizontal run instead of one per module (what qrcode's
    ``SvgPathImage`` writes) draws the same modules with about half the
    commands, and skips qrcode's per-module image drawing.
    """
    code = qrcode.QRCode(border=QR_BORDER)
    code.add_data(data)
    code.make(fit=True)
    matrix = code.get_matrix()  # with the quiet zone (border)
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
    return (f'<svg width="{size}mm" height="{size}mm" version="1.1" viewBox="0 0 {size} {size}" '
            f'xmlns="http://www.w3.org/2000/svg"><path d="{"".join(runs)}" fill="#000000" '
            'stroke="none" /></svg>')
