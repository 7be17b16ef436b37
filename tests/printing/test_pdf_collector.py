"""The garbage collector is paused while WeasyPrint renders, and always put back (issue 16 §3)."""

import gc
import threading

import pytest

from exam_app.printing import pdf
from exam_app.printing.pdf import StaticOnlyFetcher, collector_paused, render_pdf, render_pdfs_to_file

PAGE = '<html><head><link rel="stylesheet" href="/static/css/app.css"></head><body><p>Fiche</p></body></html>'


class RecordingFetcher(StaticOnlyFetcher):
    """Notes whether the collector runs while WeasyPrint fetches the stylesheet (mid-rendering)."""

    def __init__(self):
        super().__init__()
        self.collector_on: list[bool] = []

    def fetch(self, url, headers=None):
        self.collector_on.append(gc.isenabled())
        return super().fetch(url, headers)


@pytest.fixture(autouse=True)
def _collector_on():
    gc.enable()
    yield
    gc.enable()


def test_render_pdf_pauses_the_collector_while_rendering_then_turns_it_back_on():
    fetcher = RecordingFetcher()
    assert render_pdf(PAGE, fetcher=fetcher).startswith(b"%PDF-")
    assert fetcher.collector_on == [False]
    assert gc.isenabled()


def test_a_rendering_that_fails_still_turns_the_collector_back_on(monkeypatch):
    def broken(self, **kwargs):
        raise RuntimeError("layout failed")

    monkeypatch.setattr(pdf.HTML, "write_pdf", broken)
    with pytest.raises(RuntimeError):
        render_pdf(PAGE)
    assert gc.isenabled()


def test_a_collector_turned_off_by_the_caller_stays_off():
    gc.disable()
    render_pdf(PAGE)
    assert not gc.isenabled()


def test_pack_file_rendering_pauses_the_collector_and_turns_it_back_on(tmp_path, monkeypatch):
    seen: list[bool] = []
    real = pdf.StaticOnlyFetcher.fetch

    def recording(self, url, headers=None):
        seen.append(gc.isenabled())
        return real(self, url, headers)

    monkeypatch.setattr(pdf.StaticOnlyFetcher, "fetch", recording)
    assert render_pdfs_to_file([PAGE, PAGE], tmp_path / "pack.pdf") == 2
    assert seen == [False, False]
    assert gc.isenabled()


def test_overlapping_renderings_turn_the_collector_on_when_the_last_one_ends():
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    states: dict[str, bool] = {}

    def first():
        with collector_paused():
            first_in.set()
            second_in.wait(5)
        states["after_first"] = gc.isenabled()
        first_out.set()

    def second():
        first_in.wait(5)
        with collector_paused():
            second_in.set()
            first_out.wait(5)
            states["second_still_rendering"] = gc.isenabled()
        states["after_both"] = gc.isenabled()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert states == {"after_first": False, "second_still_rendering": False, "after_both": True}


def test_renderings_that_never_stop_overlapping_still_collect(monkeypatch):
    collected: list[int] = []
    monkeypatch.setattr(pdf, "COLLECT_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(pdf.gc, "collect", lambda *args: collected.append(1) or 0)
    with collector_paused():
        with collector_paused():
            pass
        # The inner one ended while the outer one still renders: it collected.
        assert collected == [1]
        assert not gc.isenabled()
    assert gc.isenabled()
