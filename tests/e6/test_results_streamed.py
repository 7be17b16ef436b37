"""Issue 16 item 2: the results exports are streamed a batch of candidates at a time
(their cost to the first byte does not grow with the session), from one snapshot of the
database, and the streamed XLSX is a workbook spreadsheets read as before."""

from __future__ import annotations

import csv
import io
import threading

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from exam_app.e6.models import E6Copy
from exam_app.extensions import db as database
from exam_app.results import exports
from exam_app.xlsx_export import Sheet, stream_workbook
from tests.conftest import statements_of
from tests.e6.conftest import lift


def _csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def test_results_are_computed_a_batch_at_a_time(db, e6_world, monkeypatch):
    """Each batch of candidates is computed on its own (never the whole session at once),
    and the rows are the same whatever the batch size."""
    lift(e6_world)
    session_id = e6_world["session"].id
    whole = exports.export_csv(session_id)
    asked = []
    real = exports.session_results

    def counting(session_id, *, candidate_ids=None, **kwargs):
        asked.append(None if candidate_ids is None else len(candidate_ids))
        return real(session_id, candidate_ids=candidate_ids, **kwargs)

    monkeypatch.setattr(exports, "session_results", counting)
    monkeypatch.setattr(exports, "FIRST_BATCH", 3)
    monkeypatch.setattr(exports, "BATCH", 2)
    assert exports.export_csv(session_id) == whole
    candidates = len(e6_world["candidates"])
    assert candidates == 7
    assert asked == [3, 2, 2]
    assert len(_csv_rows(whole)) == candidates + 1


def test_the_first_piece_is_the_first_batch_whatever_the_session(app, client, login_as,
                                                                  e6_world, create_candidate,
                                                                  monkeypatch):
    """The CSV's first piece is the header and the first FIRST_BATCH candidates, computed
    with the same statements for 7 candidates or 17: nothing of the rest is read first."""
    lift(e6_world)
    monkeypatch.setattr(exports, "FIRST_BATCH", 2)
    monkeypatch.setattr(exports, "BATCH", 3)
    login_as(e6_world["gestionnaire"])
    url = f"/gestion/sessions/{e6_world['session'].code}/e6/resultats.csv"

    def first_piece():
        response = client.get(url, buffered=False)
        first = next(iter(response.response))
        response.close()
        return first

    firsts, counts = [], []
    for extra in (0, 10):
        for _ in range(extra):
            create_candidate(e6_world["session"], centre=e6_world["centre"],
                             establishment=e6_world["schools"][0])
        database.session.commit()
        first, statements = statements_of(app, first_piece)
        firsts.append(_csv_rows(first))
        counts.append(len(statements))
    assert [len(rows) for rows in firsts] == [1 + 2, 1 + 2]  # the header and 2 candidates
    assert counts[0] == counts[1]


def test_the_download_is_streamed_and_starts_before_the_last_batch(client, login_as,
                                                                   e6_world, monkeypatch):
    lift(e6_world)
    monkeypatch.setattr(exports, "FIRST_BATCH", 1)
    monkeypatch.setattr(exports, "BATCH", 1)
    computed = []
    real = exports.session_results
    monkeypatch.setattr(exports, "session_results",
                        lambda *a, **k: computed.append(1) or real(*a, **k))
    login_as(e6_world["gestionnaire"])
    code = e6_world["session"].code
    for suffix in ("resultats.csv", "resultats.xlsx"):
        computed.clear()
        response = client.get(f"/gestion/sessions/{code}/e6/{suffix}", buffered=False)
        assert response.status_code == 200
        assert response.is_streamed
        assert "Content-Length" not in response.headers
        pieces = iter(response.response)
        first = next(pieces)
        assert first.startswith(b"\xef\xbb\xbf" if suffix.endswith("csv") else b"PK")
        assert len(computed) < len(e6_world["candidates"])  # not everything computed yet
        rest = b"".join(pieces)
        response.close()
        assert len(computed) == len(e6_world["candidates"])
        assert first + rest  # the whole file


def test_a_mark_changed_during_the_download_is_not_half_in_it(app, client, login_as, e6_world,
                                                              monkeypatch):
    """The export reads one snapshot: a mark committed by someone else between two
    batches is not in the file (it would be in the next download)."""
    lot_of = lift(e6_world)
    monkeypatch.setattr(exports, "FIRST_BATCH", 1)
    monkeypatch.setattr(exports, "BATCH", 1)
    session = e6_world["session"]
    last = max((c for c in e6_world["candidates"] if c.id in lot_of), key=lambda c: c.number)
    login_as(e6_world["gestionnaire"])
    response = client.get(f"/gestion/sessions/{session.code}/e6/resultats.csv", buffered=False)
    pieces = iter(response.response)
    body = next(pieces)  # the first candidates are read: the snapshot is taken

    def change_mark():
        with app.app_context():
            database.session.execute(sa.update(E6Copy).where(E6Copy.candidate_id == last.id)
                               .values(mark=19))
            database.session.commit()
            database.session.remove()

    writer = threading.Thread(target=change_mark)
    writer.start()
    writer.join(timeout=30)
    assert not writer.is_alive()
    body += b"".join(pieces)
    response.close()
    rows = {row[0]: row for row in _csv_rows(body)[1:]}
    assert rows[last.number][-1] != "19"
    # The next download sees the new mark.
    again = _csv_rows(client.get(f"/gestion/sessions/{session.code}/e6/resultats.csv").data)
    assert {row[0]: row for row in again[1:]}[last.number][-1] == "19"


def test_streamed_workbook_reads_as_a_workbook(tmp_path):
    """Bold frozen header, widths, numbers as numbers, empty cells absent, text escaped,
    control characters dropped, a title: as openpyxl wrote it before."""
    rows = [["N°", "Nom", "Note"], ["001", "<Dupont & fils>", 14.5], ["002", "Zoé\x07", None],
            ["003", "'=SUM(A1)", 0]]
    data = b"".join(stream_workbook([Sheet("Résultats", iter(rows), (16, 24, 8)),
                                     Sheet("Légende", iter([["Code", "Sens"], ["ABS", "Absent"]]),
                                           (28, 90))],
                                    title="Résultats BTS SAM 2027", rows_per_chunk=1))
    workbook = load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == ["Résultats", "Légende"]
    sheet = workbook["Résultats"]
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["N°", "Nom", "Note"], ["001", "<Dupont & fils>", 14.5], ["002", "Zoé", None],
        ["003", "'=SUM(A1)", 0]]
    assert sheet["C3"].data_type == "n" and sheet["C3"].value is None
    assert sheet["C2"].data_type == "n"
    assert all(cell.font.b for cell in sheet[1]) and not sheet["A2"].font.b
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["B"].width == 24
    assert workbook.properties.title == "Résultats BTS SAM 2027"
    assert [[c.value for c in row] for row in workbook["Légende"].iter_rows()] == [
        ["Code", "Sens"], ["ABS", "Absent"]]


@pytest.mark.parametrize("count", [0, 1, 1234])
def test_streamed_workbook_any_number_of_rows(count):
    rows = [["n"]] + [[i] for i in range(count)]
    data = b"".join(stream_workbook([Sheet("S", iter(rows))], title="t", rows_per_chunk=100))
    values = [row[0] for row in load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True)]
    assert values == ["n", *range(count)]
