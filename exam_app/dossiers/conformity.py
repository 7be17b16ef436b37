"""Conformity control: the session's non-conformity reasons, the checklist
generated from the unit definition, and the decision (revisions audited)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.deliberation.services import ResultsLocked, ensure_results_open
from exam_app.dossiers.common import DepositError, get_or_create_dossier
from exam_app.dossiers.internships import (
    internship_days,
    internship_minimum_applies,
    internships,
)
from exam_app.dossiers.models import ConformityReason, Decision, Dossier
from exam_app.dossiers.state import DossierView, dossier_view
from exam_app.enrolment.models import Candidate, ExamSession
from exam_app.extensions import db


@dataclass(frozen=True)
class Reason:
    """A non-conformity reason; ``makes_nv``: a dossier refused for it makes the unit NV."""

    code: str
    label: str
    makes_nv: bool = True


DEFAULT_REASONS: tuple[Reason, ...] = (
    Reason("absence_dossier", "Absence de dossier"),
    Reason("hors_delai", "Dépôt hors délai"),
    Reason("pieces_manquantes", "Pièces manquantes"),
    Reason("stage_insuffisant", "Durée de stage insuffisante"),
    Reason("pieces_non_signees", "Pièces non signées ou non visées"),
)


def reasons_for(session_id: int) -> list[Reason]:
    """The session's configured reasons, or the defaults when none is configured."""
    rows = db.session.scalars(sa.select(ConformityReason).where(
        ConformityReason.session_id == session_id).order_by(ConformityReason.position,
                                                            ConformityReason.id)).all()
    if not rows:
        return list(DEFAULT_REASONS)
    return [Reason(r.code, r.label, r.makes_nv) for r in rows]


def configure_reasons(*, session: ExamSession, reasons: list[Reason], actor,
                      now: datetime | None = None) -> None:
    """Replace the session's reason list (labels and NV effect), audited."""
    now = now or utcnow()
    if not reasons:
        raise DepositError("Gardez au moins un motif.", status=400)
    codes = [r.code for r in reasons]
    if len(set(codes)) != len(codes) or not all(codes):
        raise DepositError("Deux motifs ont le même intitulé.", status=400)
    current = reasons_for(session.id)
    removed = {r.code for r in current} - set(codes)
    if removed:
        used = set()
        for reasons_used in db.session.scalars(
                sa.select(Dossier.decision_reasons).join(Candidate)
                .where(Candidate.session_id == session.id, Dossier.decision.is_not(None))):
            used |= set(reasons_used or [])
        blocked = [r.label for r in current if r.code in removed & used]
        if blocked:
            raise DepositError(
                f"Motif utilisé par des décisions, il ne peut pas être retiré : {', '.join(blocked)} "
                "(vous pouvez changer son effet NV).", status=409)
    before = [r.__dict__ for r in current]
    db.session.execute(sa.delete(ConformityReason).where(ConformityReason.session_id == session.id))
    for position, reason in enumerate(reasons):
        db.session.add(ConformityReason(session_id=session.id, code=reason.code,
                                        label=reason.label[:200], makes_nv=reason.makes_nv,
                                        position=position))
    db.session.flush()
    record(actor=actor, action="dossier.reasons_configured", object_type="exam_session",
           object_id=session.id, session_id=session.id, before={"reasons": before},
           after={"reasons": [r.__dict__ for r in reasons]}, now=now)


def reason_code(label: str) -> str:
    """A stable code for a new reason, from its label."""
    from exam_app.enrolment.models import search_key

    return re.sub(r"[^a-z0-9]+", "_", search_key(label).lower()).strip("_")[:40]


@dataclass(frozen=True)
class Check:
    """One line of the checklist."""

    label: str
    ok: bool
    detail: str = ""
    reason: str | None = None  # the non-conformity reason a failure suggests
    manual: bool = False  # the checker must look (signatures): no automatic verdict


def automatic_checks(view: DossierView) -> list[Check]:
    """The checklist, generated from the unit definition and pre-filled from the deposit."""
    checks: list[Check] = []
    checks.append(Check("Dossier déposé", bool(view.files),
                        f"{len(view.files)} fichier(s)" if view.files else "aucun fichier",
                        "absence_dossier"))
    late = [f for f in view.files if view.deadline is not None and f.deposited_at > view.deadline]
    checks.append(Check("Déposé dans les délais", not late,
                        "" if not late else f"{len(late)} fichier(s) après la date limite",
                        "hors_delai"))
    for state in view.pieces:
        count = (f"{state.count} fichier(s), attendu : {state.piece.min_count}"
                 + (f" à {state.piece.max_count}" if state.piece.max_count != state.piece.min_count
                    else ""))
        checks.append(Check(f"Pièce : {state.piece.label}", state.complete, count,
                            "pieces_manquantes"))
        if state.max_pages is not None:
            over = state.over_pages
            checks.append(Check(f"{state.piece.label} : {state.max_pages} page(s) max. par fichier",
                                not over, ", ".join(f"{f.original_name} ({f.pages} p.)"
                                                    for f in over)))
    if internship_minimum_applies(status=view.candidate.status, unit=view.unit):
        minimum = view.candidate.session.internship_min_days
        days = internship_days(internships(view.candidate.id))
        checks.append(Check(f"Stage déclaré ≥ {minimum} jours", days >= minimum,
                            f"{days} jour(s) ouvrés déclarés", "stage_insuffisant"))
    flagged = [f for f in view.files if f.is_flagged]
    checks.append(Check("Aucun contenu actif (JavaScript, fichiers joints, actions)", not flagged,
                        " ; ".join(f"{f.original_name} : {', '.join(f.flag_labels)}"
                                   for f in flagged)))
    repaired = [f for f in view.files if f.repairs]
    if repaired:
        checks.append(Check("Fichiers lus sans réparation", False,
                            " ; ".join(f"{f.original_name} : {', '.join(f.repair_labels)}"
                                       for f in repaired)))
    for state in view.pieces:
        if state.piece.needs_signature:
            checks.append(Check(f"{state.piece.label} : signée / visée", True,
                                "à vérifier dans la pièce", "pieces_non_signees", manual=True))
    for item in view.unit.conformity_items:
        checks.append(Check(item, True, "à vérifier dans le dossier ; un manque est une "
                            "insuffisance à noter dans l'évaluation, sans effet NV",
                            manual=True))
    return checks


MAX_ELEMENTS = 20


def recorded_missing_elements(*, candidate_id: int, unit_code: str) -> list[str]:
    """The elements the conformity decision recorded as missing (for the commission)."""
    value = db.session.scalar(sa.select(Dossier.missing_elements).where(
        Dossier.candidate_id == candidate_id, Dossier.unit_code == unit_code,
        Dossier.decision == Decision.COMPLIANT.value))
    return list(value or [])


def clean_missing_elements(lines: list[str]) -> list[str]:
    """The missing elements as recorded: trimmed, non-empty, distinct, 200 characters each."""
    cleaned = [line.strip()[:200] for line in lines if line and line.strip()]
    cleaned = list(dict.fromkeys(cleaned))
    if len(cleaned) > MAX_ELEMENTS:
        raise DepositError(f"Au plus {MAX_ELEMENTS} éléments manquants.", status=400,
                           field="missing_elements")
    return cleaned


def missing_pieces(view: DossierView) -> list[str]:
    """The required pieces without enough files, as the checker reads them."""
    return [state.piece.label if state.count == 0
            else f"{state.piece.label} ({state.count}/{state.piece.min_count})"
            for state in view.pieces if not state.complete]


def _required_confirmations(view: DossierView, decision: Decision, *, confirm_missing: bool,
                            confirm_early: bool) -> dict:
    """Refuse a conforme decision on an incomplete dossier, or any decision before the
    deadline, unless confirmed; returns what was confirmed (for the audit event)."""
    from exam_app.formatting import local_datetime, zone_label

    confirmed: dict = {}
    missing = missing_pieces(view) if decision is Decision.COMPLIANT else []
    if missing and not confirm_missing:
        raise DepositError(
            f"Pièces manquantes : {', '.join(missing)}. Confirmez pour déclarer ce dossier "
            "conforme malgré tout.", status=409, code="confirm_missing", field="confirm_missing",
            details=missing)
    if missing:
        confirmed["confirmed_missing"] = missing
    if view.is_open and not confirm_early:
        when = (f"la date limite de dépôt ({local_datetime(view.deadline)}, {zone_label()}) "
                "n'est pas passée" if view.deadline is not None
                else "la date limite de dépôt n'est pas fixée")
        raise DepositError(
            f"Décision avant la date limite : {when}, le candidat peut encore déposer. "
            "Confirmez pour décider dès maintenant.", status=409, code="confirm_early",
            field="confirm_early", details=[when])
    if view.is_open:
        confirmed["confirmed_early"] = {"deadline": view.deadline}
    return confirmed


def decide(*, candidate: Candidate, unit_code: str, decision: Decision, reasons: list[str],
           comment: str, actor, revision_reason: str | None = None,
           confirm_missing: bool = False, confirm_early: bool = False,
           missing_elements: list[str] | None = None,
           now: datetime | None = None) -> Dossier:
    """Record the conformity decision; changing an existing one needs a reason (audited).

    ``missing_elements``: elements lacking from a dossier that is otherwise present and
    conforme ("l'absence d'un des éléments sera considérée comme une insuffisance et sera
    sanctionnée dans l'évaluation"): recorded for the commission, never NV.

    Declaring conforme a dossier with missing pieces needs ``confirm_missing``;
    deciding before the (possibly extended) deadline needs ``confirm_early``.
    """
    now = now or utcnow()
    decision = Decision(decision)
    # NV is a result: once the délibération is closed, no decision changes it.
    try:
        ensure_results_open(candidate.session_id)
    except ResultsLocked as exc:
        raise DepositError(exc.message, status=409) from None
    known = {r.code for r in reasons_for(candidate.session_id)}
    reasons = [r for r in dict.fromkeys(reasons) if r]
    unknown = [r for r in reasons if r not in known]
    if unknown:
        raise DepositError("Motif de non-conformité inconnu.", status=400)
    if decision is Decision.NON_COMPLIANT and not reasons:
        raise DepositError("Choisissez au moins un motif de non-conformité.", status=400)
    elements = clean_missing_elements(missing_elements or [])
    if decision is Decision.COMPLIANT:
        reasons = []
    else:
        elements = []  # a refused dossier is NV already: its elements are moot
    view = dossier_view(candidate=candidate, unit_code=unit_code, now=now)
    revision_reason = (revision_reason or "").strip() or None
    if view.dossier is not None and view.dossier.decision is not None and revision_reason is None:
        raise DepositError(
            "Une décision a déjà été prise : indiquez le motif de la révision pour la modifier.",
            status=409)
    confirmed = _required_confirmations(view, decision, confirm_missing=confirm_missing,
                                        confirm_early=confirm_early)
    dossier = view.dossier or get_or_create_dossier(candidate=candidate, unit_code=unit_code,
                                                    now=now)
    before = None
    if dossier.decision is not None:
        before = {"decision": dossier.decision, "reasons": list(dossier.decision_reasons or []),
                  "comment": dossier.decision_comment,
                  "missing_elements": list(dossier.missing_elements or [])}
    dossier.decision = decision.value
    dossier.decision_reasons = reasons
    dossier.missing_elements = elements
    dossier.decision_comment = (comment or "").strip()[:2000] or None
    dossier.decided_at = now
    dossier.decided_by_id = getattr(actor, "id", None)
    db.session.flush()
    record(actor=actor, action="dossier.conformity_revised" if before else "dossier.conformity_decided",
           object_type="dossier", object_id=dossier.id, session_id=candidate.session_id,
           before=before, after={"unit": unit_code, "decision": decision.value, "reasons": reasons,
                                 "comment": dossier.decision_comment,
                                 "missing_elements": elements, **confirmed},
           reason=revision_reason, now=now)
    return dossier
