"""What the jury de délibération sees and signs: each candidate's E4/E5/E6 results with
their provenance (from the results module, the only place results are decided), the
distributions per commission and per correcteur, the diploma's other units with a
weighted total when coefficients exist, the closing, and the procès-verbal (PDF, QR)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from exam_app.accounts.models import User
from exam_app.deliberation import other_units as others
from exam_app.deliberation import services
from exam_app.deliberation.models import Deliberation, OtherMarkKind, ResultChange
from exam_app.e6 import harmonisation_fast, plot
from exam_app.e6.harmonisation import MarkerStats
from exam_app.enrolment.models import Candidate, Centre, ExamSession
from exam_app.enrolment.services import Page, paginate
from exam_app.extensions import db
from exam_app.juries.grids import carries_mark
from exam_app.juries.models import Commission, Passage
from exam_app.printing import verification
from exam_app.printing.document import printed, session_facts
from exam_app.printing.signing import content_hash, from_stamp, stamp
from exam_app.printing.verification import Status, Verification
from exam_app.results.compute import Kind, UnitResult, session_results
from exam_app.units import all_units, get_unit

FILTERS = {"": "Tous les candidats", "modifies": "Résultats modifiés par le jury",
           "attente": "Un résultat en attente"}


# ---- the candidates list -------------------------------------------------------------------


@dataclass
class Row:
    candidate: Candidate
    results: list[UnitResult]
    others: list[str]
    total: Decimal | None
    total_note: str


def _query(session_id: int, q: str, ids: set[int] | None):
    query = sa.select(Candidate).where(Candidate.session_id == session_id) \
        .order_by(Candidate.number)
    q = (q or "").strip()
    if q:
        like = f"%{q.replace('%', '').replace('_', '')}%"
        query = query.where(sa.or_(Candidate.number.ilike(like), Candidate.last_name.ilike(like),
                                   Candidate.first_name.ilike(like)))
    if ids is not None:
        query = query.where(Candidate.id.in_(ids))
    return query


def candidates_page(session: ExamSession, *, q: str = "", only: str = "", page: int = 1,
                    per_page: int = 50) -> tuple[Page, list[Row]]:
    """One page of the session's candidates (search and filter in SQL; the « en attente »
    filter asks the results module), each with their results and the other units."""
    ids = None
    if only == "modifies":
        ids = set(db.session.scalars(sa.select(ResultChange.candidate_id).where(
            ResultChange.session_id == session.id)))
    elif only == "attente":
        ids = {cid for (cid, _), r in session_results(session.id).items() if r.is_pending}
    found = paginate(_query(session.id, q, ids), page=page, per_page=per_page)
    return found, rows_for(session, found.items)


def rows_for(session: ExamSession, candidates: list[Candidate]) -> list[Row]:
    ids = [c.id for c in candidates]
    results = session_results(session.id, candidate_ids=ids)
    units = all_units()
    extra = others.other_units(session.id)
    marks = others.other_marks(session.id, ids) if extra else {}
    rows = []
    for candidate in candidates:
        unit_results = [results.of(candidate.id, u.code) for u in units]
        other = [marks.get((candidate.id, u.code)) for u in extra]
        total, note = weighted_total(unit_results, other, extra) if extra else (None, "")
        rows.append(Row(candidate, unit_results, [others.printed_other(m) for m in other],
                        total, note))
    return rows


def weighted_total(unit_results, other_marks, other_units) -> tuple[Decimal | None, str]:
    """Σ(mark × coefficient) / Σ(coefficients) over the diploma's units, a dispensed unit
    left out; None (with why) while a unit has no mark. Only when the session's other units
    carry their coefficients: E4/E5/E6's come from their definitions."""
    weighted, weights = Decimal(0), Decimal(0)
    for result in unit_results:
        coefficient = Decimal(get_unit(result.unit_code).coefficient)
        if result.kind in (Kind.MARK, Kind.BENEFICE) and result.mark is not None:
            weighted += result.mark * coefficient
            weights += coefficient
        elif result.kind is not Kind.DISPENSE:
            return None, f"{result.unit_code} : {result.label}"
    for unit, mark in zip(other_units, other_marks, strict=True):
        if mark is None:
            return None, f"{unit.code} : pas de note"
        if mark.kind is OtherMarkKind.DISPENSE:
            continue
        if mark.kind is OtherMarkKind.ABS:
            return None, f"{unit.code} : ABS"
        weighted += mark.mark * unit.coefficient
        weights += unit.coefficient
    if not weights:
        return None, "aucune note"
    return (weighted / weights).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), ""


# ---- one candidate -------------------------------------------------------------------------


def candidate_record(session: ExamSession, candidate: Candidate) -> dict:
    """The candidate's results (with provenance), the jury's changes (oldest first) and
    the version of each unit's result, for the change forms."""
    [row] = rows_for(session, [candidate])
    changes = services.changes_of(session.id, [candidate.id])
    versions = {u.code: 0 for u in all_units()}
    for change in changes:
        versions[change.unit_code] = change.sequence
    return {"row": row, "changes": changes, "versions": versions,
            "other_units": others.other_units(session.id)}


# ---- distributions -------------------------------------------------------------------------


def commission_stats(session_id: int, unit_code: str) -> tuple[list[MarkerStats], MarkerStats]:
    """Per commission of an oral unit: the final marks it validated (the passage that carries
    the unit's mark), and all of them."""
    by_commission: dict[str, MarkerStats] = {}
    everyone = MarkerStats("Toutes les commissions", None)
    for code, centre, variant, mark in db.session.execute(
            sa.select(Commission.code, Centre.name, Passage.variant_code, Passage.final_mark)
            .join(Passage, Passage.commission_id == Commission.id)
            .outerjoin(Centre, Centre.id == Commission.centre_id)
            .where(Commission.session_id == session_id, Commission.unit_code == unit_code,
                   Passage.final_mark.is_not(None))
            .order_by(Commission.code)):
        if not carries_mark(unit_code, variant):
            continue
        label = f"{code} — {centre}" if centre else code
        by_commission.setdefault(label, MarkerStats(label, None)).marks.append(mark)
        everyone.marks.append(mark)
    return list(by_commission.values()), everyone


def distributions(session_id: int) -> list[dict]:
    """One block per unit: its statistics per commission (E4, E5) or per correcteur (E6),
    and their plot (the harmonisation page's)."""
    blocks = []
    for unit in all_units():
        if unit.code == "E6":
            rows, everyone = harmonisation_fast.harmonisation_stats(session_id)
            by = "correcteur"
        else:
            rows, everyone = commission_stats(session_id, unit.code)
            by = "commission"
        blocks.append({"unit": unit, "by": by, "rows": rows, "everyone": everyone,
                       "plot": plot.build_plot(rows, everyone, 20) if rows else None})
    return blocks


# ---- closing -------------------------------------------------------------------------------


def close(*, session: ExamSession, actor, now: datetime | None = None) -> Deliberation:
    """The president closes the délibération: one decision under the délibération's lock,
    the pending results counted after taking it."""
    deliberation = services.lock_deliberation(session.id)
    pending = 0
    if deliberation is not None and not deliberation.is_closed:
        pending = sum(1 for r in session_results(session.id).values() if r.is_pending)
    return services.close(session_id=session.id, actor=actor, pending=pending, now=now,
                          deliberation=deliberation)


# ---- the procès-verbal ---------------------------------------------------------------------

PV_KIND = "deliberation-pv"
PV_FIELDS = {
    "doc_session": "Session", "doc_title": "Document", "doc_centre": "Centre",
    "closed_at": "Clôture", "president": "Président",
    "members": "Membres du jury", "units": "Épreuves",
    "rows[*].number": "N° candidat", "rows[*].last_name": "Nom",
    "rows[*].first_name": "Prénom", "rows[*].results": "Résultats",
    "rows[*].changed": "Résultats", "changes[*]": "Modifications du jury",
    "counts": "Résultats",
}


def pv_context(session: ExamSession, deliberation: Deliberation) -> dict:
    """Everything the procès-verbal prints (and so vouches for)."""
    candidates = db.session.scalars(sa.select(Candidate).where(
        Candidate.session_id == session.id).order_by(Candidate.number)).all()
    results = session_results(session.id)
    units = all_units()
    rows, counts = [], {u.code: {"mark": 0, "abs": 0, "nv": 0, "other": 0} for u in units}
    for candidate in candidates:
        unit_results = [results.of(candidate.id, u.code) for u in units]
        for r in unit_results:
            key = {Kind.MARK: "mark", Kind.ABS: "abs", Kind.NV: "nv"}.get(r.kind, "other")
            counts[r.unit_code][key] += 1
        rows.append({"number": candidate.number, "last_name": candidate.last_name,
                     "first_name": candidate.first_name,
                     "results": [r.printed for r in unit_results],
                     "changed": [r.changed_by_jury for r in unit_results]})
    names = dict(db.session.execute(sa.select(Candidate.id, Candidate.number).where(
        Candidate.session_id == session.id)).all())
    changes = [{"number": names.get(c.candidate_id, ""), "unit": c.unit_code,
                "before": c.before or "en attente", "after": services.change_printed(c),
                "reason": c.reason,
                "by": c.created_by.display_name if c.created_by else "",
                "at": c.created_at}
               for c in services.changes_of(session.id)]
    members = [m.user.display_name for m in deliberation.members]
    return {
        "doc_session": session_facts(session),
        "doc_title": "Procès-verbal de délibération",
        "doc_centre": None,  # the académie's document: no centre in its running header
        "closed_at": deliberation.closed_at,
        "president": deliberation.president.display_name if deliberation.president else "",
        "members": members,
        "units": [{"code": u.code, "label": u.title, "coefficient": u.coefficient}
                  for u in units],
        "rows": rows,
        "changes": changes,
        "counts": counts,
    }


def pv_pdf(*, session: ExamSession, deliberation: Deliberation,
           now: datetime | None = None) -> bytes:
    """The procès-verbal of a closed délibération (PDF, signed QR)."""
    html = printed("print/deliberation_pv.html", pv_context(session, deliberation),
                   kind=PV_KIND, ids=[session.id, stamp(deliberation.closed_at)],
                   fields=PV_FIELDS, now=now)
    from exam_app.printing.pdf import render_pdf

    return render_pdf(html)


PV_ACTIONS = {"deliberation.reopen": "Délibération rouverte",
              "deliberation.result.change": "Résultat modifié par le jury"}


def check_pv(payload) -> Verification:
    session = db.session.get(ExamSession, payload.ids[0]) if payload.ids else None
    deliberation = services.deliberation_of(session.id) if session else None
    if session is None or deliberation is None:
        return Verification(Status.NOT_AUTHENTIC)
    title = "Procès-verbal de délibération"
    facts = (("Session", session.name), ("Document", title))
    closed = from_stamp(payload.ids[1]) if len(payload.ids) == 2 else None
    context = pv_context(session, deliberation) if deliberation.is_closed else None
    if context is not None and stamp(deliberation.closed_at) == payload.ids[1] \
            and content_hash(context) == payload.hash:
        return Verification(Status.AUTHENTIC, title, facts)
    context = context or pv_context(session, deliberation)
    events = verification.events_since(closed, {"deliberation": [deliberation.id],
                                                "candidate": _candidate_ids(session.id)})
    return verification.superseded(payload, title, facts, content=context, fields=PV_FIELDS,
                                   events=events, actions=PV_ACTIONS)


def _candidate_ids(session_id: int) -> list[int]:
    return list(db.session.scalars(sa.select(Candidate.id).where(
        Candidate.session_id == session_id)))


def jury_members(deliberation: Deliberation | None) -> list[User]:
    if deliberation is None:
        return []
    people = [deliberation.president] if deliberation.president else []
    return people + [m.user for m in deliberation.members]
