"""What a screen reader relies on in a PDF: tags, language, title (issue 17)."""

from __future__ import annotations

import io
import subprocess

from pypdf import PdfReader


def tagging(pdf: bytes) -> dict:
    """What a screen reader relies on, read from the PDF's catalogue and metadata."""
    reader = PdfReader(io.BytesIO(pdf))
    root = reader.trailer["/Root"]
    return {"marked": bool(root.get("/MarkInfo", {}).get("/Marked")),
            "struct_tree": "/StructTreeRoot" in root,
            "lang": root.get("/Lang"),
            "display_title": bool(root.get("/ViewerPreferences", {}).get("/DisplayDocTitle")),
            "title": reader.metadata.title}


def pdfinfo(pdf: bytes, tmp_path) -> dict[str, str]:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}
