"""THE result of every candidate for every unit, computed in one place (issue 14, §3).

Every reader (the oral bordereaux, the E6 bordereau, the CSV/XLSX exports, the
consistency test) asks this module; nothing else decides a unit's result.
``juries`` and ``e6`` keep only the per-passage and per-copy facts read here.

For each candidate and unit, in this order:
- not sitting the unit (registration): bénéfice (the kept mark and its year),
  dispensé, or not registered;
- NV: the dossier of the unit is not valid (``dossiers.validity``), whatever else;
- oral units (E4, E5): the situations the candidate's form needs (E5 CCF: A and B,
  combined by the session's ``ccf_combination`` rule). The result exists only when
  every needed situation is final or absent; until then it is pending ("en attente");
- E6: absent (the sitting), else the copy's mark after harmonisation, else pending;
- then, over all of it: the jury de délibération's change, when it made one (the latest
  of its chain): its mark or code, with the computed result's provenance kept and the
  change added to it (``deliberation``), so every reader prints the jury's decision.

Bulk: :func:`session_results` reads a session (or some of its candidates) with a
fixed number of queries, whatever the number of candidates.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

import sqlalchemy as sa

from exam_app.deliberation.models import ChangeKind, ResultChange
from exam_app.dossiers import validity
from exam_app.e6.definition import E6
from exam_app.e6.models import Attendance as E6Attendance
from exam_app.e6.models import E6Copy, E6Sitting
from exam_app.enrolment.models import (
    Candidate,
    ExamSession,
    RegistrationKind,
    UnitRegistration,
)
from exam_app.enrolment.sessions import CCF_RULES
from exam_app.extensions import db
from exam_app.formatting import decimal_fr
from exam_app.juries.models import Attendance, Commission, Passage
from exam_app.units import all_units, get_unit


class Kind(StrEnum):
    MARK = "mark"
    ABS = "ABS"
    NV = "NV"
    BENEFICE = "benefice"
    DISPENSE = "dispense"
    PENDING = "pending"
    NOT_REGISTERED = "not_registered"


RULE_ORAL = "Note arrêtée et validée par les deux examinateurs"
RULE_E6 = "Note de la copie après harmonisation"
RULE_BENEFICE = "Bénéfice de note (note ≥ 10 conservée cinq ans)"
RULE_DISPENSE = "Dispense d'épreuve"
RULE_NOT_REGISTERED = "Non inscrit à l'épreuve"
RULE_NV = "Dossier non valide (NV)"
RULE_DELIBERATION = "Décision du jury de délibération"


@dataclass(frozen=True, slots=True)
class Source:
    """Where a result comes from: a passage, an E6 copy, a harmonisation, a kept mark."""

    kind: str  # "passage" | "e6_copy" | "harmonisation" | "kept_mark" | "registration" |
    # "dossier" | "deliberation" (ref: the change's id)
    ref: str  # the passage id, the copy's anonymous number, the kept mark's year...
    detail: str  # a passage: its state ('absent', 'final', 'en cours'); others: the label
    unit_code: str = ""
    variant_code: str = ""
    mark: Decimal | None = None

    @property
    def label(self) -> str:
        """'Passage 12 — CCF — situation B (...) : validé 16', 'Copie A-0001 : 12 brut'..."""
        if self.kind != "passage":
            return self.detail
        state = self.detail
        if state == "final":
            state = f"validé {decimal_fr(self.mark)}" if self.mark is not None \
                else "grille validée"
        return f"Passage {self.ref} — {_variant_label(self.unit_code, self.variant_code)} : {state}"


@dataclass(frozen=True, slots=True)
class UnitResult:
    candidate_id: int
    unit_code: str
    kind: Kind
    mark: Decimal | None = None
    provenance: tuple[Source, ...] = ()
    rule: str = ""
    kept_year: int | None = None

    @property
    def is_pending(self) -> bool:
        return self.kind is Kind.PENDING

    @property
    def changed_by_jury(self) -> bool:
        """The jury de délibération decided this result (its change is the last source)."""
        return bool(self.provenance) and self.provenance[-1].kind == "deliberation"

    @property
    def printed(self) -> str:
        """As every document and export prints it: '14,5', 'ABS', 'NV',
        'Bénéfice 2025 — 14,5', 'Dispensé', 'Non inscrit'; '' while pending."""
        if self.kind is Kind.MARK:
            return decimal_fr(self.mark)
        if self.kind in (Kind.ABS, Kind.NV):
            return self.kind.value
        if self.kind is Kind.BENEFICE:
            return f"Bénéfice {self.kept_year} — {decimal_fr(self.mark)}"
        if self.kind is Kind.DISPENSE:
            return RegistrationKind.DISPENSE.label
        if self.kind is Kind.NOT_REGISTERED:
            return RegistrationKind.NOT_REGISTERED.label
        return ""

    @property
    def label(self) -> str:
        """For pages: the printed result, or 'en attente'."""
        return self.printed or "en attente"


def ccf_rule_label(session: ExamSession) -> str:
    return CCF_RULES[session.ccf_combination]


# ---- the facts read, in bulk ---------------------------------------------------------------


@dataclass
class _Facts:
    session: ExamSession
    candidate_ids: list[int]
    registrations: dict[tuple[int, str], sa.Row]  # UnitRegistration's columns
    nv: dict[str, set[int]]
    passages: dict[tuple[int, str], list]  # (candidate, unit) -> passage rows
    e6_absent: set[int]
    e6_copies: dict[int, tuple[str, Decimal | None, Decimal | None]]
    changes: dict[tuple[int, str], sa.Row]  # (candidate, unit) -> the current change


def _facts(session_id: int, candidate_ids: set[int] | None) -> _Facts:
    session = db.session.get(ExamSession, session_id)
    if candidate_ids is None:
        ids = list(db.session.scalars(sa.select(Candidate.id).where(
            Candidate.session_id == session_id).order_by(Candidate.number)))
    else:
        # A page's few candidates, read by their key and kept if they are the session's
        # (with the session in the query, SQLite walks the session's index instead);
        # the queries below read these candidates by their key alone.
        ids = [id_ for id_, of in db.session.execute(
            sa.select(Candidate.id, Candidate.session_id)
            .where(Candidate.id.in_(candidate_ids)).order_by(Candidate.number))
            if of == session_id]
        candidate_ids = set(ids)
    # A page's few candidates: their registrations only (every E5 candidate has a row for
    # its form, so the session's would make a bordereau's cost grow with the session).
    registration_query = sa.select(
        UnitRegistration.candidate_id, UnitRegistration.unit_code, UnitRegistration.kind,
        UnitRegistration.form, UnitRegistration.kept_mark, UnitRegistration.kept_year,
        UnitRegistration.reason)
    if candidate_ids is None:
        registration_query = registration_query.join(
            Candidate, Candidate.id == UnitRegistration.candidate_id).where(
            Candidate.session_id == session_id)
    else:
        registration_query = registration_query.where(
            UnitRegistration.candidate_id.in_(candidate_ids))
    registrations = {(r.candidate_id, r.unit_code): r
                     for r in db.session.execute(registration_query)}
    nv = {unit.code: validity.nv_candidate_ids(session_id=session_id, unit_code=unit.code,
                                               candidate_ids=candidate_ids)
          for unit in all_units() if unit.has_dossier}
    passage_query = (
        sa.select(Passage.id, Passage.candidate_id, Passage.unit_code, Passage.variant_code,
                  Passage.attendance, Passage.final_mark, Passage.finalized_at)
        .join(Commission, Commission.id == Passage.commission_id)
        .where(Commission.session_id == session_id).order_by(Passage.id))
    if candidate_ids is not None:
        passage_query = passage_query.where(Passage.candidate_id.in_(candidate_ids))
    passages: dict[tuple[int, str], list] = {}
    absent = Attendance.ABSENT
    for id_, candidate_id, unit_code, variant_code, attendance, final_mark, finalized_at \
            in db.session.execute(passage_query):
        passages.setdefault((candidate_id, unit_code), []).append(_PassageFact(
            id_, variant_code, attendance == absent, finalized_at is not None, final_mark))
    sitting_query = sa.select(E6Sitting.candidate_id).where(
        E6Sitting.attendance == E6Attendance.ABSENT)
    copy_query = sa.select(E6Copy.candidate_id, E6Copy.anonymous_number, E6Copy.raw_total,
                           E6Copy.mark)
    if candidate_ids is None:
        sitting_query = sitting_query.join(
            Candidate, Candidate.id == E6Sitting.candidate_id).where(
            Candidate.session_id == session_id)
        copy_query = copy_query.where(E6Copy.session_id == session_id)
    change_query = (
        sa.select(ResultChange.id, ResultChange.candidate_id, ResultChange.unit_code,
                  ResultChange.kind, ResultChange.mark, ResultChange.before, ResultChange.reason)
        .where(ResultChange.session_id == session_id).order_by(ResultChange.sequence))
    if candidate_ids is not None:
        sitting_query = sitting_query.where(E6Sitting.candidate_id.in_(candidate_ids))
        copy_query = copy_query.where(E6Copy.candidate_id.in_(candidate_ids))
        change_query = change_query.where(ResultChange.candidate_id.in_(candidate_ids))
    return _Facts(
        session=session, candidate_ids=ids, registrations=registrations, nv=nv,
        passages=passages, e6_absent=set(db.session.scalars(sitting_query)),
        e6_copies={r.candidate_id: (r.anonymous_number, r.raw_total, r.mark)
                   for r in db.session.execute(copy_query)},
        # By sequence: the last one read for a (candidate, unit) is its current change.
        changes={(r.candidate_id, r.unit_code): r for r in db.session.execute(change_query)})


# ---- the decision --------------------------------------------------------------------------


@functools.cache
def _situations(unit_code: str, form) -> tuple:
    """The situations a form needs, in definition order (E5 CCF: A, B)."""
    return tuple(get_unit(unit_code).variants_for(form))


@functools.cache
def _variant_label(unit_code: str, variant_code: str) -> str:
    return get_unit(unit_code).variant(variant_code).label


class _PassageFact(NamedTuple):
    id: int
    variant_code: str
    absent: bool
    final: bool
    mark: Decimal | None


def _passage_source(row: _PassageFact, unit_code: str) -> Source:
    state = "absent" if row.absent else "final" if row.final else "en cours"
    return Source("passage", str(row.id), state, unit_code, row.variant_code, row.mark)


def _situation(rows: list[_PassageFact]) -> tuple[str, _PassageFact | None]:
    """One situation's state from its passages: 'absent' (any absent: ABS wins, as
    printed since the first bordereaux), 'final' (a validated passage) or 'pending'."""
    final = None
    for row in rows:
        if row.absent:
            return "absent", None
        if final is None and row.final:
            final = row
    return ("final", final) if final is not None else ("pending", None)


def _oral(facts: _Facts, candidate_id: int, unit, registration) -> UnitResult:
    rows = facts.passages.get((candidate_id, unit.code), [])
    sources = tuple(_passage_source(r, unit.code) for r in rows)
    if registration is not None and registration.form is not None:
        form = registration.form
    elif len(unit.forms) == 1:
        form = unit.forms[0]
    elif rows:
        form = unit.variant(rows[0].variant_code).form
    else:
        return UnitResult(candidate_id, unit.code, Kind.PENDING, rule=RULE_ORAL)
    situations = _situations(unit.code, form)
    several = len(situations) > 1
    rule = ccf_rule_label(facts.session) if several else RULE_ORAL
    by_variant: dict[str, list[_PassageFact]] = {}
    for row in rows:
        by_variant.setdefault(row.variant_code, []).append(row)
    states = {v.code: _situation(by_variant.get(v.code, ())) for v in situations}
    if any(state == "pending" for state, _ in states.values()):
        return UnitResult(candidate_id, unit.code, Kind.PENDING, provenance=sources, rule=rule)
    # The passage of the last situation carries the unit's mark (juries.grids.carries_mark).
    last_state, last = states[situations[-1].code]
    absent = [code for code, (state, _) in states.items() if state == "absent"]
    if several and facts.session.ccf_combination == "global_absence_counted":
        absent = [code for code in absent if code == situations[-1].code]
    if absent or last_state == "absent":
        return UnitResult(candidate_id, unit.code, Kind.ABS, provenance=sources, rule=rule)
    if last.mark is None:  # cannot happen: the last situation's validation needs a mark
        return UnitResult(candidate_id, unit.code, Kind.PENDING, provenance=sources, rule=rule)
    return UnitResult(candidate_id, unit.code, Kind.MARK, mark=last.mark,
                      provenance=sources, rule=rule)


def _e6(facts: _Facts, candidate_id: int) -> UnitResult:
    if candidate_id in facts.e6_absent:
        return UnitResult(candidate_id, E6.code, Kind.ABS,
                          provenance=(Source("e6_sitting", str(candidate_id), "Absent à l'E6"),),
                          rule=RULE_E6)
    copy = facts.e6_copies.get(candidate_id)
    if copy is None or copy[2] is None:
        sources = (Source("e6_copy", copy[0], f"Copie {copy[0]} : non notée"),) if copy else ()
        return UnitResult(candidate_id, E6.code, Kind.PENDING, provenance=sources, rule=RULE_E6)
    number, raw, mark = copy
    sources = [Source("e6_copy", number, f"Copie {number} : {decimal_fr(raw)} brut")]
    if raw is not None and raw != mark:
        sources.append(Source("harmonisation", number,
                              f"Harmonisation : {decimal_fr(raw)} → {decimal_fr(mark)}"))
    return UnitResult(candidate_id, E6.code, Kind.MARK, mark=mark, provenance=tuple(sources),
                      rule=RULE_E6)


def _decide(facts: _Facts, candidate_id: int, unit) -> UnitResult:
    computed = _computed(facts, candidate_id, unit)
    change = facts.changes.get((candidate_id, unit.code))
    if change is None:
        return computed
    after = decimal_fr(change.mark) if change.kind is ChangeKind.MARK else change.kind.value
    source = Source("deliberation", str(change.id),
                    f"Délibération : {change.before or 'en attente'} → {after} "
                    f"(motif : {change.reason})", unit.code)
    return UnitResult(candidate_id, unit.code, Kind(change.kind.value), mark=change.mark,
                      provenance=(*computed.provenance, source), rule=RULE_DELIBERATION)


def _computed(facts: _Facts, candidate_id: int, unit) -> UnitResult:
    registration = facts.registrations.get((candidate_id, unit.code))
    if registration is not None and registration.kind is not RegistrationKind.SIT:
        if registration.kind is RegistrationKind.BENEFICE:
            return UnitResult(
                candidate_id, unit.code, Kind.BENEFICE, mark=registration.kept_mark,
                kept_year=registration.kept_year, rule=RULE_BENEFICE,
                provenance=(Source("kept_mark", str(registration.kept_year),
                                   f"Note conservée de la session {registration.kept_year}"
                                   + (f" ({registration.reason})" if registration.reason else "")),))
        kind = Kind.DISPENSE if registration.kind is RegistrationKind.DISPENSE \
            else Kind.NOT_REGISTERED
        return UnitResult(candidate_id, unit.code, kind,
                          rule=RULE_DISPENSE if kind is Kind.DISPENSE else RULE_NOT_REGISTERED,
                          provenance=(Source("registration", unit.code,
                                             registration.reason or kind.value),))
    if candidate_id in facts.nv.get(unit.code, ()):
        return UnitResult(candidate_id, unit.code, Kind.NV, rule=RULE_NV,
                          provenance=(Source("dossier", unit.code, "Dossier non valide"),))
    if unit.code == E6.code:
        return _e6(facts, candidate_id)
    return _oral(facts, candidate_id, unit, registration)


# ---- the API -------------------------------------------------------------------------------


class Results(dict):
    """(candidate id, unit code) -> UnitResult, with the candidates in number order."""

    candidate_ids: list[int]

    def of(self, candidate_id: int, unit_code: str) -> UnitResult:
        return self[(candidate_id, unit_code)]

    def for_unit(self, unit_code: str) -> dict[int, UnitResult]:
        return {cid: self[(cid, unit_code)] for cid in self.candidate_ids}


def session_results(session_id: int, *, candidate_ids=None,
                    unit_codes: tuple[str, ...] | None = None) -> Results:
    """Every result of a session (or of some of its candidates), in a fixed number of
    queries."""
    facts = _facts(session_id, set(candidate_ids) if candidate_ids is not None else None)
    units = [u for u in all_units() if unit_codes is None or u.code in unit_codes]
    results = Results()
    results.candidate_ids = facts.candidate_ids
    for candidate_id in facts.candidate_ids:
        for unit in units:
            results[(candidate_id, unit.code)] = _decide(facts, candidate_id, unit)
    return results


def unit_results(session_id: int, unit_code: str, *, candidate_ids=None) -> dict[int, UnitResult]:
    """One unit's results, by candidate id."""
    get_unit(unit_code)
    return session_results(session_id, candidate_ids=candidate_ids,
                           unit_codes=(unit_code,)).for_unit(unit_code)


def printed_unit_results(session_id: int, unit_code: str) -> dict[int, str]:
    """One unit's results as printed, by candidate id, the pending ones left out."""
    return {cid: r.printed for cid, r in unit_results(session_id, unit_code).items()
            if not r.is_pending}


def candidate_results(candidate: Candidate) -> dict[str, UnitResult]:
    """One candidate's results, by unit code."""
    results = session_results(candidate.session_id, candidate_ids={candidate.id})
    return {unit.code: results.of(candidate.id, unit.code) for unit in all_units()}
