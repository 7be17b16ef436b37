"""The imports' fast paths against their plain references.

The candidate import's fast path (``services._apply_rows``: batches of plain statements,
no ORM object per candidate) against its reference (``services._apply_rows_reference``:
one ORM object per candidate): the same tally and the same rows, on a file that creates,
updates, leaves unchanged, changes forms, adds a missing form and names new
establishments, across several batches. ``csv_decode.lines`` against ``io.StringIO``."""

from __future__ import annotations

import io
import random
from datetime import UTC, date, datetime

import sqlalchemy as sa

from exam_app.enrolment import services
from exam_app.enrolment.csv_decode import lines
from exam_app.enrolment.csv_import import parse
from exam_app.enrolment.models import Candidate, CandidateUnitForm, Establishment
from tests.enrolment.test_csv_import import csv_text, row

BEFORE = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
TODAY = date(2026, 11, 27)


def _state(db, session) -> dict:
    candidates = db.session.execute(
        sa.select(Candidate.number, Candidate.last_name, Candidate.first_name,
                  Candidate.birth_date, Establishment.uai, Candidate.centre_id,
                  Candidate.extra_time, Candidate.email, Candidate.search_text,
                  Candidate.created_at, Candidate.updated_at)
        .join(Establishment, Candidate.establishment_id == Establishment.id)
        .where(Candidate.session_id == session.id).order_by(Candidate.number)).all()
    forms = db.session.execute(
        sa.select(Candidate.number, CandidateUnitForm.unit_code, CandidateUnitForm.form)
        .join(CandidateUnitForm, CandidateUnitForm.candidate_id == Candidate.id)
        .where(Candidate.session_id == session.id).order_by(Candidate.number)).all()
    establishments = db.session.execute(
        sa.select(Establishment.uai, Establishment.name, Establishment.kind,
                  Establishment.city).order_by(Establishment.uai)).all()
    return {"candidates": candidates, "forms": forms, "establishments": establishments}


def _first_file() -> str:
    return csv_text(*(row(number=f"A{i:02d}", last=f"Nom{i}", extra="1/3" if i % 4 == 0 else "",
                          email=f"a{i}@example.fr" if i % 2 else "",
                          form="CCF" if i % 3 else "ponctuel") for i in range(30)))


def _second_file() -> str:
    rows = [row(number=f"A{i:02d}", last=f"Nom{i}", extra="1/3" if i % 4 == 0 else "",
                email=f"a{i}@example.fr" if i % 2 else "", form="CCF" if i % 3 else "ponctuel")
            for i in range(10)]  # unchanged
    rows += [
        row(number="A10", last="Nouveau-Nom"),
        row(number="A11", first="Chloé", email="a11@example.fr"),
        row(number="A12", birth="01/02/2004", extra="1/3"),
        row(number="A13", uai="0421788R", establishment="Lycée Simone-Weil", email="a13@example.fr"),
        row(number="A14", extra="1/4"),
        row(number="A15", last="Nom15", email="a15@example.fr", form="CCF"),  # only the form
        row(number="A16", email=""),
        row(number="A17", uai="0690099K", email="a17@example.fr"),  # another known school
        row(number="X1", last="Sansforme", form="ponctuel"),  # no form recorded yet
    ]
    rows += [row(number=f"N{i:02d}", last=f"Neuf{i}", uai="0421788R" if i % 5 == 0 else
                 "0690026D", form="ponctuel" if i % 2 else "CCF") for i in range(15)]
    rows.append(row(number="N99", uai="0751234Z", establishment="Lycée Nouveau"))
    return csv_text(*rows)


def _run(apply, db, session) -> tuple[services._Tally, dict]:
    parsed = parse(_second_file().encode("utf-8"), max_rows=20_000, today=TODAY)
    services._check_establishments(parsed)
    assert parsed.ok, [str(e) for e in parsed.errors]
    tally = apply(session=session, parsed=parsed)
    return tally, _state(db, session)


def test_fast_path_writes_what_the_reference_writes(db, create_session, create_establishment,
                                                    monkeypatch):
    create_establishment(uai="0690026D", name="Lycée Édouard-Herriot")
    create_establishment(uai="0690099K", name="Lycée Ampère")
    session = create_session()
    monkeypatch.setattr(services, "utcnow", lambda: BEFORE)
    report = services.import_candidates(session=session, data=_first_file().encode("utf-8"),
                                        actor=None, max_rows=20_000)
    assert report.created == 30
    lycee = db.session.scalar(sa.select(Establishment).where(Establishment.uai == "0690026D"))
    db.session.add(Candidate(session_id=session.id, number="X1", last_name="Dupré",
                             first_name="Élodie", birth_date=date(2005, 3, 14),
                             establishment=lycee, created_at=BEFORE, updated_at=BEFORE))
    db.session.commit()

    monkeypatch.setattr(services, "utcnow", lambda: NOW)
    monkeypatch.setattr(services, "BATCH_ROWS", 7)  # 35 rows: six batches, the last short
    reference_tally, reference_state = _run(services._apply_rows_reference, db, session)
    db.session.rollback()
    assert len(_state(db, session)["candidates"]) == 31  # back to the first file and X1
    fast_tally, fast_state = _run(services._apply_rows, db, session)

    assert (reference_tally.created, reference_tally.updated, reference_tally.unchanged,
            reference_tally.establishments_created) == (16, 9, 10, 2)
    assert fast_tally == reference_tally
    assert fast_state == reference_state
    by_number = {c.number: c for c in fast_state["candidates"]}
    assert (by_number["A10"].last_name, by_number["A10"].search_text,
            by_number["A10"].updated_at) == ("Nouveau-Nom", "NOUVEAU-NOM ELODIE A10", NOW)
    assert by_number["A15"].updated_at == NOW  # its form alone changed
    assert by_number["A05"].updated_at == BEFORE  # unchanged
    assert ("X1", "E5", "ponctuel") in fast_state["forms"]
    assert ("0751234Z", "Lycée Nouveau") in [e[:2] for e in fast_state["establishments"]]


def test_fast_path_leaves_no_stale_candidate_in_the_orm_session(db, create_session,
                                                                create_establishment):
    create_establishment(uai="0690026D", name="Lycée Édouard-Herriot")
    session = create_session()
    services.import_candidates(session=session, data=csv_text(row(number="A1")).encode(),
                               actor=None, max_rows=20_000)
    loaded = db.session.scalar(sa.select(Candidate).where(Candidate.number == "A1"))
    assert loaded.form_for("E5") == "ccf"
    report = services.import_candidates(
        session=session, data=csv_text(row(number="A1", last="Autre", form="ponctuel")).encode(),
        actor=None, max_rows=20_000)
    assert report.updated == 1
    assert (loaded.last_name, loaded.form_for("E5")) == ("Autre", "ponctuel")


def test_lines_splits_text_as_stringio_does():
    # csv_decode.lines feeds csv.reader without io.StringIO's copy of the whole text: the
    # same lines, on texts mixing every line ending, quotes and look-alike separators.
    alphabet = ["a", "é", ";", '"', " ", "\r", "\n", "\r\n", "\x85", "\u2028", "\x0b"]
    rng = random.Random(13)
    texts = ["", "a", "a\r", "a\r\n", "\r\n\r\n", "x\n\ny", "end without newline"] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    for text in texts:
        assert list(lines(text)) == list(io.StringIO(text, newline="")), repr(text)
