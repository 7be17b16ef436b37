"""The harmonisation figures from SQL aggregates (e6/harmonisation_fast.py) are the plain
computation's (e6/harmonisation.py: the list of marks, statistics.fmean and pstdev), to
the last digit, on seeded marks; and the page reads the validated lots only."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from exam_app.clock import utcnow
from exam_app.e6 import harmonisation, harmonisation_fast, plot
from exam_app.e6.models import E6Copy
from exam_app.extensions import db as _db
from tests.e6.builders import seat

STEPS = (Decimal("0.01"), Decimal("0.25"), Decimal("0.5"))


def _random_marks(rng: random.Random, count: int) -> list[Decimal]:
    step = rng.choice(STEPS)
    return [min(Decimal(20), (Decimal(rng.randint(0, 2000)) / 100 // step) * step)
            .quantize(Decimal("0.01")) for _ in range(count)]


@pytest.mark.parametrize("seed", range(300))
def test_mark_counts_give_the_reference_figures(seed):
    rng = random.Random(seed)
    marks = _random_marks(rng, rng.choice((0, 1, 2, 3, rng.randint(4, 400))))
    reference = harmonisation.MarkerStats("L", None, marks)
    fast = harmonisation_fast.MarkCounts("L", None)
    for mark in marks:
        fast.add(mark, 1)
    assert (fast.count, fast.mean, fast.stdev, fast.distribution()) == \
        (reference.count, reference.mean, reference.stdev, reference.distribution())


def _mark_world(e6_world, create_candidate, rng: random.Random) -> None:
    """More copies in both lots, random marks (two decimals), the first lot validated and
    the second too unless it stays open."""
    first, second = e6_world["lots"]
    for lot in (first, second):
        for _ in range(rng.randint(5, 40)):
            candidate = create_candidate(e6_world["session"], centre=e6_world["centre"],
                                         establishment=e6_world["schools"][1])
            seat(candidate, e6_world["room"]).lot_id = lot.id
    _db.session.flush()
    copies = _db.session.query(E6Copy).filter(E6Copy.lot_id.in_([first.id, second.id])).all()
    for copy in copies:
        copy.mark = None if rng.random() < 0.05 else _random_marks(rng, 1)[0]
        copy.raw_total = copy.mark
    first.validated_at = utcnow()
    _db.session.flush()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("second_open", [False, True])
def test_session_figures_and_plot_match_the_reference(e6_world, create_candidate, seed,
                                                      second_open):
    rng = random.Random(seed)
    _mark_world(e6_world, create_candidate, rng)
    if not second_open:
        e6_world["lots"][1].validated_at = utcnow()
        _db.session.flush()
    session_id = e6_world["session"].id
    rows, everyone = harmonisation.harmonisation_stats(session_id)
    fast_rows, fast_everyone = harmonisation_fast.harmonisation_stats(session_id)

    def figures(stats):
        return (stats.label, stats.lot, stats.count, stats.mean, stats.stdev,
                stats.distribution())

    assert [figures(r) for r in fast_rows] == [figures(r) for r in rows]
    assert len(rows) == (1 if second_open else 2)
    assert figures(fast_everyone) == figures(everyone)
    assert everyone.count > 0
    assert plot.build_plot(fast_rows, fast_everyone) == plot.build_plot(rows, everyone)
    # The copies listed under each validated lot: all of its copies, by anonymous number.
    listed = harmonisation_fast.lot_copies_shown([r.lot.id for r in fast_rows])
    reference = harmonisation.marked_copies(session_id)
    assert listed == {r.lot.id: reference[r.lot.id] for r in rows}
