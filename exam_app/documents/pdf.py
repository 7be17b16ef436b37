"""HTML -> PDF with WeasyPrint, never fetching anything but the app's own static files.

Print templates link their stylesheet with ``url_for('static', ...)``; the
document is rendered against a fake base URL whose ``/static/`` prefix maps
to ``exam_app/static``. Every other URL (http, https, file, ...) is refused,
so a template or a user-provided text cannot make the server fetch anything.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import unquote, urlsplit

from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
BASE_URL = "https://exam-app.invalid/"


class RefusedURL(ValueError):
    pass


class StaticOnlyFetcher(URLFetcher):
    """Serves ``https://exam-app.invalid/static/...`` and ``data:`` URLs; refuses the rest."""

    def __init__(self, static_dir: Path = STATIC_DIR):
        super().__init__(allowed_protocols={"https", "data"}, allow_redirects=False)
        self.static_dir = static_dir.resolve()
        self.refused: list[str] = []

    def fetch(self, url, headers=None):
        if url.startswith("data:"):
            return super().fetch(url, headers)
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}/" != BASE_URL or not parts.path.startswith(
            "/static/"
        ):
            self.refused.append(url)
            raise RefusedURL(f"refused URL: {url}")
        path = (self.static_dir / unquote(parts.path.removeprefix("/static/"))).resolve()
        if not path.is_relative_to(self.static_dir) or not path.is_file():
            self.refused.append(url)
            raise RefusedURL(f"no such static file: {url}")
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": mime})


def render_pdf(html: str, *, fetcher: StaticOnlyFetcher | None = None) -> bytes:
    """Render one HTML document to PDF bytes."""
    fetcher = fetcher or StaticOnlyFetcher()
    return HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher).write_pdf()
