"""HTML -> PDF with WeasyPrint, never fetching anything but the app's own static files.

Print templates link their stylesheet with ``url_for('static', ...)``; the
document is rendered against a fake base URL whose ``/static/`` prefix maps
to ``exam_app/static``. Every other URL (http, https, file, ...) is refused,
so a template or a user-provided text cannot make the server fetch anything.

Each thread keeps one WeasyPrint ``FontConfiguration`` for all the documents
it renders: a new one per document (WeasyPrint's default) loads the fonts
again every time and leaks about 0.25 MB per document in a long-lived
process (measured with WeasyPrint 70; see BENCHMARKS.md, "pdf").

Python's cyclic garbage collector is paused while WeasyPrint lays a document
out (``collector_paused``). Layout allocates hundreds of thousands of objects
that live until the PDF is written, so the collector keeps running full
collections, and each of them walks every object of the process: in a web
worker or a pack's parent, the app's own objects (ORM rows, templates,
modules) made rendering 10-15 % slower than WeasyPrint alone in a small
process (issue 16 §3; BENCHMARKS.md, "pdf"). The document's cyclic garbage
is collected by the next ordinary collection after it, in the same process.
"""

from __future__ import annotations

import gc
import mimetypes
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
BASE_URL = "https://exam-app.invalid/"


_local = threading.local()


def font_config() -> FontConfiguration:
    """This thread's font configuration (Pango is not safe to share between threads)."""
    config = getattr(_local, "font_config", None)
    if config is None:
        config = _local.font_config = FontConfiguration()
    return config


_collector_lock = threading.Lock()
_collector_pauses = 0  # threads rendering now; the collector runs again when none is
_collector_was_enabled = True  # as the first of them found it
_collector_paused_at = 0.0
# Renderings that overlap without end (a worker's threads printing all day) must not
# starve the collector: past this many seconds paused, a rendering that ends collects.
COLLECT_AFTER_SECONDS = 10.0


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a rendering, then put it back as it was.

    Threads of one worker may render at once: the collector is turned back on
    only when the last of them ends, and only if it was on when the first began;
    while renderings keep overlapping, one that ends collects every
    ``COLLECT_AFTER_SECONDS``.
    """
    global _collector_pauses, _collector_was_enabled, _collector_paused_at
    with _collector_lock:
        if _collector_pauses == 0:
            _collector_was_enabled = gc.isenabled()
            _collector_paused_at = time.monotonic()
            gc.disable()
        _collector_pauses += 1
    try:
        yield
    finally:
        collect = False
        with _collector_lock:
            _collector_pauses -= 1
            if _collector_pauses == 0:
                if _collector_was_enabled:
                    gc.enable()
            elif (_collector_was_enabled
                  and time.monotonic() - _collector_paused_at > COLLECT_AFTER_SECONDS):
                _collector_paused_at = time.monotonic()
                collect = True
        if collect:
            gc.collect()


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


# The documents a candidate receives as a file are tagged PDFs (PDF/UA-1: structure tree,
# /MarkInfo /Marked, language from <html lang>, title from <title> shown by the reader),
# for screen readers (issue 17). Its cost per page is in BENCHMARKS.md, "pdf".
TAGGED_VARIANT = "pdf/ua-1"


def render_pdf(html: str, *, fetcher: StaticOnlyFetcher | None = None,
               tagged: bool = False) -> bytes:
    """Render one HTML document to PDF bytes; ``tagged``: an accessible PDF/UA-1 file."""
    fetcher = fetcher or StaticOnlyFetcher()
    with collector_paused():
        return HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher).write_pdf(
            font_config=font_config(), pdf_variant=TAGGED_VARIANT if tagged else None)


def render_pdfs_to_file(htmls: list[str], path: str | Path) -> int:
    """Render several HTML documents into ONE PDF file, their pages in order; the page count.

    The pages of the separately laid-out documents are written together
    (``Document.copy``, as WeasyPrint's documentation shows for combining
    documents): each font is subset and embedded once for the whole file.
    """
    fetcher = StaticOnlyFetcher()
    config = font_config()
    documents = []
    for html in htmls:
        with collector_paused():
            documents.append(HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher).render(
                font_config=config))
    pages = [page for document in documents for page in document.pages]
    with collector_paused():
        documents[0].copy(pages).write_pdf(str(path))
    return len(pages)
