"""E6 honours the per-unit registration (issue 14, §1): a candidate who does not sit E6
is not seated, never blocks the lots nor the levée d'anonymat, and is printed and
exported as "Bénéfice 2025 — 14,5" or "Dispensé"."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from exam_app.e6 import release, sitting
from exam_app.e6.lots import form_lots
from exam_app.results import exports
from exam_app.results.e6_bordereau import bordereau_context
from tests.e6.builders import add_room
from tests.e6.conftest import lift
from tests.registration_helpers import register


def test_distribute_seats_only_the_candidates_who_sit_e6(db, create_session, create_centre,
                                                         create_candidate):
    session = create_session(year=2027)
    centre = create_centre(session)
    names = ("ASSIS", "BENEFICE", "DISPENSE", "NONINSCRIT")
    candidates = {n: create_candidate(session, centre=centre, last_name=n) for n in names}
    register(candidates["BENEFICE"], "E6", "benefice")
    register(candidates["DISPENSE"], "E6", "dispense")
    register(candidates["NONINSCRIT"], "E6", "not_registered")
    room = add_room(centre, "A", capacity=1)  # one seat is enough
    assert sitting.distribute_candidates(centre=centre, actor=None) == 1
    assert [line.candidate.last_name for line in sitting.room_roster(room, session)] == ["ASSIS"]


def test_unseated_candidates_who_do_not_sit_block_neither_lots_nor_levee(db, e6_world,
                                                                         create_candidate):
    session = e6_world["session"]
    kept = create_candidate(session, centre=e6_world["centre"], last_name="GARDELANOTE",
                            number="02719999998")
    exempt = create_candidate(session, centre=e6_world["centre"], last_name="EXEMPTE",
                              number="02719999999")
    register(kept, "E6", "benefice", kept_mark="15", kept_year="2025")
    register(exempt, "E6", "dispense")
    # Re-forming the lots asks for every attendance: theirs is not asked.
    lots = form_lots(session=session, actor=None)
    e6_world["lots"] = lots
    assert not any("sans présence" in b for b in release.lifting_blockers(session.id))
    lift(e6_world)
    assert release.is_released(session.id)

    rows = list(csv.reader(io.StringIO(exports.export_csv(session.id).decode("utf-8")[1:]),
                           delimiter=";"))
    assert rows[-2:] == [["02719999998", "GARDELANOTE", kept.first_name, "", "",
                          "Bénéfice 2025 — 15"],
                         ["02719999999", "EXEMPTE", exempt.first_name, "", "", "Dispensé"]]
    sheet = load_workbook(io.BytesIO(exports.export_xlsx(session.id, title="t"))).active
    assert [row[5] for row in sheet.iter_rows(values_only=True)][-2:] == [
        "Bénéfice 2025 — 15", "Dispensé"]

    block = bordereau_context(session)["blocks"][0]
    assert {r["last_name"]: r["result"] for r in block["rows"]}["EXEMPTE"] == "Dispensé"
    assert {r["last_name"]: r["result"] for r in block["rows"]}["GARDELANOTE"] == \
        "Bénéfice 2025 — 15"
    # Six copies marked, one absent: the bénéfice and the dispense are neither.
    assert (block["present"], block["absent"], block["nv"]) == (6, 1, 0)
