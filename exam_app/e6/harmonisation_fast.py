"""Harmonisation statistics from SQL aggregates (the fast path of
:func:`exam_app.e6.harmonisation.harmonisation_stats`, the plain reference).

The database counts the copies of each validated lot by mark (``GROUP BY lot, mark``,
through the copies' lot index): the page reads a few rows per lot (one per distinct
mark), never the session's copies. The count, mean and standard deviation follow
exactly from those counts, computed as the reference computes them from the list of
marks (``statistics.fmean`` and ``statistics.pstdev`` on floats): the same figures to
the last digit. tests/e6/test_harmonisation_fast.py compares the two on seeded lots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from fractions import Fraction

import sqlalchemy as sa

from exam_app.e6.lots import session_lots
from exam_app.e6.models import E6Copy, E6Lot
from exam_app.extensions import db


@dataclass
class MarkCounts:
    """One lot's (or all validated lots') marks as how many copies carry each mark; the
    same figures as :class:`exam_app.e6.harmonisation.MarkerStats`."""

    label: str
    lot: E6Lot | None
    counts: dict[Decimal, int] = field(default_factory=dict)

    def add(self, mark: Decimal, count: int) -> None:
        self.counts[mark] = self.counts.get(mark, 0) + count

    def distribution(self) -> list[tuple[Decimal, int]]:
        """(mark, how many copies) by mark."""
        return sorted(self.counts.items())

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def _float_sum(self) -> Fraction:
        # The exact sum of the marks as floats (what math.fsum rounds once).
        return sum((Fraction(float(mark)) * n for mark, n in self.counts.items()), Fraction(0))

    @property
    def mean(self) -> Decimal | None:
        n = self.count
        if not n:
            return None
        # statistics.fmean: fsum (the exact float sum, rounded once) divided by n.
        return round(Decimal(float(self._float_sum()) / n), 2)

    @property
    def stdev(self) -> Decimal | None:
        n = self.count
        if n < 2:
            return None
        # statistics.pstdev on floats: the exact mean square deviation, then its square
        # root rounded once to a float (here through 60 digits).
        mean = self._float_sum() / n
        ss = sum((n_ * (Fraction(float(mark)) - mean) ** 2
                  for mark, n_ in self.counts.items()), Fraction(0))
        mss = ss / n
        with localcontext() as context:
            context.prec = 60
            root = (Decimal(mss.numerator) / Decimal(mss.denominator)).sqrt()
        return round(Decimal(float(root)), 2)


def harmonisation_stats(session_id: int, *, lots: list[E6Lot] | None = None,
                        ) -> tuple[list[MarkCounts], MarkCounts]:
    """Per validated (or final) lot: count, mean, standard deviation and the marks'
    distribution; and all of them together. One query, whatever the session's size."""
    lots = session_lots(session_id) if lots is None else lots
    shown = [lot for lot in lots if lot.state != "open"]
    by_lot = {lot.id: MarkCounts(f"{lot.code} — {lot.corrector.display_name}", lot)
              for lot in shown}
    everyone = MarkCounts("Toutes les copies", None)
    if by_lot:
        for lot_id, mark, count in db.session.execute(
                sa.select(E6Copy.lot_id, E6Copy.mark, sa.func.count())
                .where(E6Copy.lot_id.in_(list(by_lot)), E6Copy.mark.is_not(None))
                .group_by(E6Copy.lot_id, E6Copy.mark)):
            by_lot[lot_id].add(mark, count)
            everyone.add(mark, count)
    return list(by_lot.values()), everyone


def lot_copies_shown(lot_ids: list[int]) -> dict[int, list]:
    """Lot id -> its copies' (anonymous_number, raw_total, mark) by anonymous number, for
    the given lots only (the validated ones the page lists), in one query."""
    by_lot: dict[int, list] = {lot_id: [] for lot_id in lot_ids}
    if lot_ids:
        for row in db.session.execute(
                sa.select(E6Copy.lot_id, E6Copy.anonymous_number, E6Copy.raw_total, E6Copy.mark)
                .where(E6Copy.lot_id.in_(lot_ids))
                .order_by(E6Copy.lot_id, E6Copy.anonymous_number)):
            by_lot[row.lot_id].append(row)
    return by_lot
