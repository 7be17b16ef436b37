"""The imports' fast paths against their plain references.

The candidate import's fast path (``services._apply_rows``: batches of plain statements,
no ORM object per candidate) against its reference (``services._apply_rows_reference``:
one ORM object per candidate): the same tally (audit numbers included) and the same rows,
across several batches, on a file without "Statut" and "Centre" columns that creates,
updates, leaves unchanged, changes forms, adds a missing form, names new establishments
and keeps the recorded statuses and bénéfices; and on a file with both columns: centres
set on new candidates and on candidates without one, statuses changed or kept, the E5
form each status gives by the establishment's CCF flag, bénéfices and dispenses left as
they are. ``csv_decode.lines`` against ``io.StringIO``."""

from __future__ import annotations

import io
import random
from datetime import UTC, date, datetime
from decimal import Decimal

import sqlalchemy as sa

from exam_app.enrolment import services
from exam_app.enrolment.csv_decode import lines
from exam_app.enrolment.csv_import import parse
from exam_app.enrolment.models import (
    Candidate,
    CandidateStatus,
    CentreOrigin,
    Establishment,
    RegistrationKind,
    UnitRegistration,
)
from tests.enrolment.test_csv_import import csv_text, row

BEFORE = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
TODAY = date(2026, 11, 27)


def _state(db, session) -> dict:
    candidates = db.session.execute(
        sa.select(Candidate.number, Candidate.last_name, Candidate.first_name,
                  Candidate.birth_date, Establishment.uai, Candidate.centre_id,
                  Candidate.centre_origin, Candidate.status, Candidate.extra_time,
                  Candidate.email, Candidate.search_text, Candidate.created_at,
                  Candidate.updated_at)
        .join(Establishment, Candidate.establishment_id == Establishment.id)
        .where(Candidate.session_id == session.id).order_by(Candidate.number)).all()
    registrations = db.session.execute(
        sa.select(Candidate.number, UnitRegistration.unit_code, UnitRegistration.kind,
                  UnitRegistration.form, UnitRegistration.kept_mark, UnitRegistration.kept_year,
                  UnitRegistration.reason, UnitRegistration.updated_at)
        .join(UnitRegistration, UnitRegistration.candidate_id == Candidate.id)
        .where(Candidate.session_id == session.id)
        .order_by(Candidate.number, UnitRegistration.unit_code)).all()
    establishments = db.session.execute(
        sa.select(Establishment.uai, Establishment.name, Establishment.kind,
                  Establishment.city, Establishment.is_ccf_allowed)
        .order_by(Establishment.uai)).all()
    return {"candidates": candidates, "registrations": registrations,
            "establishments": establishments}


def _set_registration(db, session, number: str, kind: RegistrationKind, **values) -> None:
    candidate = db.session.scalar(sa.select(Candidate).where(
        Candidate.session_id == session.id, Candidate.number == number))
    registration = candidate.registration("E5")
    registration.kind, registration.form = kind, None
    for key, value in values.items():
        setattr(registration, key, value)


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


def _run(apply, db, session, text: str) -> tuple[services._Tally, dict]:
    parsed = parse(text.encode("utf-8"), max_rows=20_000, today=TODAY)
    services._check_establishments(parsed)
    centres = services._check_centres(parsed, session)
    assert parsed.ok, [str(e) for e in parsed.errors]
    tally = apply(session=session, parsed=parsed, centres=centres)
    return tally, _state(db, session)


def _compare(db, session, text: str, candidates: int) -> tuple[services._Tally, dict]:
    """The reference's outcome, rolled back, then the fast path's: they must agree."""
    reference_tally, reference_state = _run(services._apply_rows_reference, db, session, text)
    db.session.rollback()
    assert len(_state(db, session)["candidates"]) == candidates  # back to before the file
    fast_tally, fast_state = _run(services._apply_rows, db, session, text)
    assert fast_tally == reference_tally
    assert fast_state == reference_state
    return fast_tally, fast_state


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
    # A status recorded before: a file without a "Statut" column leaves it.
    db.session.execute(sa.update(Candidate).where(Candidate.number.in_(["A10", "A05"]))
                       .values(status=CandidateStatus.INDIVIDUEL))
    # Bénéfices on E5: the file's form ("CCF") does not replace them.
    for number in ("A05", "A16"):
        _set_registration(db, session, number, RegistrationKind.BENEFICE,
                          kept_mark=Decimal("14.50"), kept_year=2025, reason="demande du 12/01")
    db.session.commit()

    monkeypatch.setattr(services, "utcnow", lambda: NOW)
    monkeypatch.setattr(services, "BATCH_ROWS", 7)  # 35 rows: six batches, the last short
    tally, state = _compare(db, session, _second_file(), 31)  # the first file and X1

    assert (tally.created, tally.updated, tally.unchanged, tally.establishments_created) == (
        16, 9, 10, 2)
    assert tally.updated_numbers == ["A10", "A11", "A12", "A13", "A14", "A15", "A16", "A17", "X1"]
    assert tally.created_numbers == [f"N{i:02d}" for i in range(15)] + ["N99"]
    by_number = {c.number: c for c in state["candidates"]}
    assert (by_number["A10"].last_name, by_number["A10"].search_text,
            by_number["A10"].updated_at) == ("Nouveau-Nom", "NOUVEAU-NOM ELODIE A10", NOW)
    assert by_number["A10"].status == by_number["A05"].status == CandidateStatus.INDIVIDUEL
    assert by_number["A15"].updated_at == NOW  # its form alone changed
    assert by_number["A05"].updated_at == BEFORE  # unchanged, bénéfice and all
    assert (by_number["A16"].extra_time, by_number["A16"].updated_at) == (None, NOW)
    registrations = {r.number: r for r in state["registrations"]}
    for number in ("A05", "A16"):
        assert registrations[number][2:] == (RegistrationKind.BENEFICE, None, Decimal("14.50"),
                                             2025, "demande du 12/01", None)
    assert registrations["X1"][1:4] == ("E5", RegistrationKind.SIT, "ponctuel")
    assert ("0751234Z", "Lycée Nouveau") in [e[:2] for e in state["establishments"]]


STATUS_HEADER = ("N° candidat;Nom;Prénom;Date de naissance;UAI;Établissement;Forme E5;"
                 "Aménagement;Courriel;Statut;Centre")


def _row(number: str, status: str, form: str = "", centre: str = "", uai: str = "0690026D",
         **values) -> str:
    return f"{row(number=number, uai=uai, form=form, **values)};{status};{centre}"


def _first_status_file() -> str:
    return csv_text(
        _row("S01", "scolaire", centre="C1"),
        _row("S02", "scolaire"),
        _row("S03", "individuel"),
        _row("S04", "scolaire", form="ponctuel"),
        _row("S05", "apprentissage", uai="0690099K"),
        _row("S06", "scolaire"),
        _row("S07", "scolaire"),
        _row("S08", "formation continue"),
        _row("S09", "scolaire"),
        _row("S10", "scolaire"),
        _row("S11", "scolaire", uai="0690099K"),
        _row("S12", "distance"),
        _row("S13", "scolaire", centre="C1"),
        *(_row(f"S{i}", "apprentissage", centre="C2" if i % 2 else "") for i in range(14, 24)),
        header=STATUS_HEADER)


def _second_status_file() -> str:
    return csv_text(
        _row("S01", "scolaire", centre="C1"),  # unchanged
        _row("S02", "scolaire", centre="C1"),  # gets a centre, nothing else
        _row("S03", "scolaire"),  # individuel -> scolaire: CCF by its establishment
        _row("S04", "scolaire"),  # same status, no form: keeps its ponctuel
        _row("S05", "apprentissage", uai="0690099K", email="s05@example.fr"),
        _row("S06", "individuel"),  # bénéfice kept, status changed
        _row("S07", "scolaire", form="ponctuel"),  # bénéfice kept: unchanged
        _row("S08", "distance"),  # dispense kept, status changed
        _row("S09", "scolaire"),  # a manual centre, none in the file: unchanged
        _row("S10", "scolaire", centre="C2"),  # the same manual centre: unchanged
        _row("S11", "apprentissage"),  # status and establishment change together
        _row("S12", "", form="CCF"),  # no status on the row: kept, the file's form
        _row("S13", "scolaire", centre="C1"),  # unchanged
        *(_row(f"S{i}", "apprentissage", centre="C2" if i % 2 else "") for i in range(14, 24)),
        _row("X1", "scolaire", uai="0690099K"),  # no registration: the status's default added
        _row("X2", "scolaire", uai="0690099K"),  # the same status, no registration: none added
        _row("N01", "scolaire", centre="C1"),
        _row("N02", "individuel"),
        _row("N03", "apprentissage", uai="0690099K"),
        _row("N04", "scolaire", uai="0690099K", form="CCF"),
        _row("N05", "scolaire", uai="0751234Z", establishment="Lycée Nouveau", centre="C2"),
        _row("N06", "", form="ponctuel"),
        header=STATUS_HEADER)


def test_fast_path_writes_what_the_reference_writes_with_centres_and_statuses(
        db, create_session, create_establishment, create_centre, monkeypatch):
    create_establishment(uai="0690026D", name="Lycée Édouard-Herriot", is_ccf_allowed=True)
    lycee_ampere = create_establishment(uai="0690099K", name="Lycée Ampère")
    session = create_session()
    c1 = create_centre(session=session, code="C1")
    c2 = create_centre(session=session, code="C2")
    monkeypatch.setattr(services, "utcnow", lambda: BEFORE)
    report = services.import_candidates(session=session, data=_first_status_file().encode(),
                                        actor=None, max_rows=20_000)
    assert report.created == 23, report.errors
    for number, status in (("X1", None), ("X2", CandidateStatus.SCOLAIRE)):
        db.session.add(Candidate(session_id=session.id, number=number, last_name="Dupré",
                                 first_name="Élodie", birth_date=date(2005, 3, 14),
                                 establishment=lycee_ampere, status=status,
                                 created_at=BEFORE, updated_at=BEFORE))
    db.session.execute(sa.update(Candidate).where(Candidate.number.in_(["S09", "S10"]))
                       .values(centre_id=c2.id, centre_origin=CentreOrigin.MANUAL))
    for number in ("S06", "S07"):
        _set_registration(db, session, number, RegistrationKind.BENEFICE,
                          kept_mark=Decimal("12.00"), kept_year=2024, reason="demande")
    _set_registration(db, session, "S08", RegistrationKind.DISPENSE, reason="bloc 1 validé")
    db.session.commit()

    monkeypatch.setattr(services, "utcnow", lambda: NOW)
    monkeypatch.setattr(services, "BATCH_ROWS", 4)
    tally, state = _compare(db, session, _second_status_file(), 25)

    assert (tally.created, tally.updated, tally.unchanged, tally.establishments_created) == (
        6, 8, 17, 1)
    assert tally.updated_numbers == ["S02", "S03", "S05", "S06", "S08", "S11", "S12", "X1"]
    by_number = {c.number: c for c in state["candidates"]}
    registrations = {r.number: r[2:4] for r in state["registrations"]}
    sit = RegistrationKind.SIT

    def seen(number):
        c = by_number[number]
        return (c.status, c.centre_id, c.centre_origin, registrations.get(number))

    assert seen("N01") == ("scolaire", c1.id, CentreOrigin.IMPORT, (sit, "ccf"))
    assert seen("N02") == ("individuel", None, None, (sit, "ponctuel"))
    assert seen("N03") == ("apprentissage", None, None, (sit, "ponctuel"))  # not CCF
    assert seen("N04") == ("scolaire", None, None, (sit, "ccf"))  # the file's form
    assert seen("N05") == ("scolaire", c2.id, CentreOrigin.IMPORT, (sit, "ponctuel"))
    assert seen("N06") == (None, None, None, (sit, "ponctuel"))
    assert seen("S01") == ("scolaire", c1.id, CentreOrigin.IMPORT, (sit, "ccf"))
    assert seen("S02") == ("scolaire", c1.id, CentreOrigin.IMPORT, (sit, "ccf"))
    assert seen("S03") == ("scolaire", None, None, (sit, "ccf"))
    assert seen("S04") == ("scolaire", None, None, (sit, "ponctuel"))
    assert seen("S06") == ("individuel", None, None, (RegistrationKind.BENEFICE, None))
    assert seen("S07") == ("scolaire", None, None, (RegistrationKind.BENEFICE, None))
    assert seen("S08") == ("distance", None, None, (RegistrationKind.DISPENSE, None))
    assert seen("S09") == seen("S10") == ("scolaire", c2.id, CentreOrigin.MANUAL, (sit, "ccf"))
    assert seen("S12") == ("distance", None, None, (sit, "ccf"))
    assert seen("X1") == ("scolaire", None, None, (sit, "ponctuel"))  # Lycée Ampère: no CCF
    assert seen("X2") == ("scolaire", None, None, None)
    assert [r[2:] for r in state["registrations"] if r.number in ("S06", "S07", "S08")] == [
        (RegistrationKind.BENEFICE, None, Decimal("12.00"), 2024, "demande", None),
        (RegistrationKind.BENEFICE, None, Decimal("12.00"), 2024, "demande", None),
        (RegistrationKind.DISPENSE, None, None, None, "bloc 1 validé", None)]
    assert {n: by_number[n].updated_at for n in ("S01", "S02", "S07", "S09", "S10", "X2")} == {
        "S01": BEFORE, "S02": NOW, "S07": BEFORE, "S09": BEFORE, "S10": BEFORE, "X2": BEFORE}


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
