"""Harmonisation (the commission d'entente): per-correcteur statistics, lot
adjustments that keep every before/after mark, final and reopened lots."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.e6.common import E6Error, E6Locked, max_mark, require_results_open, round_to_step
from exam_app.e6.lots import session_lots
from exam_app.e6.marking import lot_copies
from exam_app.e6.models import E6AdjustedMark, E6Adjustment, E6Copy, E6Lot
from exam_app.enrolment.models import ExamSession
from exam_app.extensions import db


@dataclass
class MarkerStats:
    """The marks of one lot (or of all copies) and their statistics."""
    label: str
    lot: E6Lot | None
    marks: list[Decimal] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.marks)

    @property
    def mean(self) -> Decimal | None:
        return round(Decimal(statistics.fmean(self.marks)), 2) if self.marks else None

    @property
    def stdev(self) -> Decimal | None:
        if len(self.marks) < 2:
            return None
        return round(Decimal(statistics.pstdev([float(m) for m in self.marks])), 2)

    def distribution(self) -> list[tuple[Decimal, int]]:
        """(mark, how many copies) by mark: what the plot draws."""
        return sorted(Counter(self.marks).items())


def marked_copies(session_id: int) -> dict[int, list]:
    """Lot id -> its copies' (anonymous_number, raw_total, mark) by anonymous number, for
    every lot of the session, in one query (not the copies with their points, lot by lot)."""
    by_lot: dict[int, list] = {}
    for row in db.session.execute(
            sa.select(E6Copy.lot_id, E6Copy.anonymous_number, E6Copy.raw_total, E6Copy.mark)
            .where(E6Copy.session_id == session_id, E6Copy.lot_id.is_not(None))
            .order_by(E6Copy.lot_id, E6Copy.anonymous_number)):
        by_lot.setdefault(row.lot_id, []).append(row)
    return by_lot


def harmonisation_stats(session_id: int, *, copies: dict[int, list] | None = None,
                        lots: list[E6Lot] | None = None) -> tuple[list[MarkerStats], MarkerStats]:
    """Per validated (or final) lot: count, mean, standard deviation; and all copies.
    ``copies`` (:func:`marked_copies`) and ``lots`` when the caller has them already."""
    copies = marked_copies(session_id) if copies is None else copies
    rows = []
    everyone = MarkerStats("Toutes les copies", None)
    for lot in session_lots(session_id) if lots is None else lots:
        if lot.state == "open":
            continue
        marks = [c.mark for c in copies.get(lot.id, []) if c.mark is not None]
        rows.append(MarkerStats(f"{lot.code} — {lot.corrector.display_name}", lot, marks))
        everyone.marks.extend(marks)
    return rows, everyone


def adjust_lot(*, lot: E6Lot, factor: Decimal, offset_points: Decimal, reason: str, actor,
               now: datetime | None = None) -> E6Adjustment:
    """Apply a harmonisation adjustment to a validated lot; keep every before/after mark."""
    now = now or utcnow()
    require_results_open(lot.session_id)
    if lot.state == "open":
        raise E6Error("Ce lot n'est pas encore validé par son correcteur.")
    if lot.state == "final":
        raise E6Locked("Ce lot est définitif : il ne peut plus être ajusté.")
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise E6Error("Indiquez le motif de l'ajustement (5 caractères au moins).",
                      field="reason")
    if not Decimal("0.5") <= factor <= Decimal(2):
        raise E6Error("Le coefficient doit être compris entre 0,5 et 2.", field="factor")
    if not Decimal(-5) <= offset_points <= Decimal(5):
        raise E6Error("Le décalage doit être compris entre −5 et +5 points.", field="offset")
    if factor == 1 and offset_points == 0:
        raise E6Error("Cet ajustement ne change aucune note.")
    session = db.session.get(ExamSession, lot.session_id)
    adjustment = E6Adjustment(lot_id=lot.id, factor=factor, offset_points=offset_points,
                              reason=reason, created_at=now,
                              created_by_id=getattr(actor, "id", None))
    db.session.add(adjustment)
    db.session.flush()
    top = max_mark()
    changes = {}
    for copy in lot_copies(lot):
        before = copy.mark
        after = round_to_step(before * factor + offset_points, session.mark_step)
        after = min(max(after, Decimal(0)), top)
        adjustment.changes.append(E6AdjustedMark(copy_id=copy.id, before=before, after=after))
        copy.mark = after
        changes[copy.anonymous_number] = {"before": before, "after": after}
    db.session.flush()
    record(actor=actor, action="e6.lot.adjust", object_type="e6_lot", object_id=lot.id,
           session_id=lot.session_id, now=now, reason=reason,
           before={n: c["before"] for n, c in changes.items()},
           after={n: c["after"] for n, c in changes.items()})
    return adjustment


def finalize_lot(*, lot: E6Lot, actor, now: datetime | None = None) -> E6Lot:
    """Close harmonisation for a validated lot: its marks become final."""
    now = now or utcnow()
    require_results_open(lot.session_id)
    if lot.state == "open":
        raise E6Error("Seul un lot validé par son correcteur peut être rendu définitif.")
    if lot.state != "validated":
        raise E6Locked("Ce lot est déjà définitif.")
    lot.finalized_at = now
    lot.finalized_by_id = getattr(actor, "id", None)
    db.session.flush()
    record(actor=actor, action="e6.lot.finalize", object_type="e6_lot", object_id=lot.id,
           session_id=lot.session_id, now=now, after={"lot": lot.code})
    return lot


def last_reopening(lot: E6Lot):
    """The audit event of the lot's last sending back to its correcteur (reason, when, by
    whom), or None; shown while the lot is open again."""
    from exam_app.audit.models import AuditEvent

    if lot.state != "open":
        return None
    return db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "e6.lot.reopen",
                                    AuditEvent.object_type == "e6_lot",
                                    AuditEvent.object_id == str(lot.id))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(1))


def reopen_lot(*, lot: E6Lot, reason: str, actor, now: datetime | None = None) -> E6Lot:
    """Send a validated lot back to its correcteur (before any adjustment)."""
    require_results_open(lot.session_id)
    if lot.state != "validated":
        raise E6Error("Seul un lot validé (et pas encore définitif) peut être rouvert.")
    if lot.adjustments:
        raise E6Locked("Ce lot a été ajusté : il ne peut plus être rouvert.")
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise E6Error("Indiquez le motif de la réouverture (5 caractères au moins).")
    lot.validated_at = None
    db.session.flush()
    record(actor=actor, action="e6.lot.reopen", object_type="e6_lot", object_id=lot.id,
           session_id=lot.session_id, now=now, reason=reason, after={"lot": lot.code})
    return lot
