"""Transmitting an establishment's CCF marks to the académie, and reopening them.

One serialised decision each: a conditional UPDATE of the establishment's
``CcfTransmission`` row (``transmitted_at IS NULL`` to transmit, ``IS NOT NULL`` to
reopen), so two coordinators pressing at once give one transmission and one refusal.
The transmission then locks every passage of the establishment's CCF commissions (in id
order, as ``juries.locking.lock_passage`` does) and reads the results under those locks:
a jury decision racing it either lands first (and is read) or is refused after it
(``juries.ccf.require_open``). Refused while any candidate's result is pending.

Same contract as every service: keyword-only arguments, flush and audit, never commit.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.documents import ccf_bordereau
from exam_app.enrolment.models import Establishment, ExamSession
from exam_app.errors import Conflict, Invalid
from exam_app.extensions import db
from exam_app.formatting import local_datetime
from exam_app.juries import ccf
from exam_app.juries.models import CcfTransmission, Commission, Passage
from exam_app.units import UnitForm

NOTHING_TO_TRANSMIT = "Aucun candidat de l'établissement ne passe l'E5 en CCF : rien à transmettre."


def _lock_passages(session: ExamSession, establishment: Establishment) -> None:
    """Lock the establishment's CCF passages (PostgreSQL: FOR UPDATE, in id order; SQLite:
    the conditional UPDATE already holds the database's write lock)."""
    if db.session.get_bind().dialect.name == "sqlite":
        return
    db.session.execute(
        sa.select(Passage.id).join(Commission, Commission.id == Passage.commission_id)
        .where(Commission.session_id == session.id, Commission.form == UnitForm.CCF.value,
               Commission.establishment_id == establishment.id)
        .order_by(Passage.id).with_for_update(of=Passage))


def pending(rows: list[dict]) -> list[str]:
    """What keeps the marks from being transmitted: each candidate whose result is pending."""
    return [f"{r['last_name']} {r['first_name']} (n° {r['number']}) : "
            + " ; ".join(f"situation {'AB'[i]} {s}" for i, s in enumerate(r["situations"]))
            for r in rows if r["pending"]]


def transmit(*, session: ExamSession, establishment: Establishment, actor,
             now: datetime | None = None) -> CcfTransmission:
    """The coordinator transmits the establishment's CCF results to the académie; they are
    then locked. Refused when already transmitted or while a result is pending."""
    now = now or utcnow()
    row = ccf.transmission_row(session.id, establishment.id)
    done = db.session.execute(
        sa.update(CcfTransmission)
        .where(CcfTransmission.id == row.id, CcfTransmission.transmitted_at.is_(None))
        .values(transmitted_at=now, transmitted_by_id=getattr(actor, "id", None),
                count=CcfTransmission.count + 1)
        .execution_options(synchronize_session=False))
    if done.rowcount != 1:
        db.session.refresh(row)
        when = f" le {local_datetime(row.transmitted_at)}" if row.transmitted_at else ""
        raise Conflict(f"Les notes de CCF de {establishment.name} ont déjà été transmises"
                       f"{when} : rechargez la page.")
    _lock_passages(session, establishment)
    rows = ccf_bordereau.rows(session, establishment)
    if not rows:
        raise Invalid(NOTHING_TO_TRANSMIT)
    waiting = pending(rows)
    if waiting:
        raise Invalid("Transmission impossible : le résultat de "
                      f"{len(waiting)} candidat(s) est en attente (chaque situation doit être "
                      "validée, ABS ou NV).", details=waiting)
    db.session.refresh(row)
    record(actor=actor, action="ccf.transmit", object_type="establishment",
           object_id=establishment.id, session_id=session.id, now=now,
           after={"transmission": row.count,
                  "results": {r["number"]: r["result"] for r in rows}})
    return row


def reopen(*, session: ExamSession, establishment: Establishment, reason: str, actor,
           now: datetime | None = None) -> CcfTransmission:
    """The gestionnaire reopens transmitted CCF marks, with a reason (audited): the jury
    and the coordinator may change them again, then transmit anew."""
    now = now or utcnow()
    reason = " ".join((reason or "").split())
    if len(reason) < 5:
        raise Invalid("Indiquez le motif de la réouverture (5 caractères au moins).",
                      field="reason")
    if len(reason) > 1000:
        raise Invalid("1000 caractères au plus.", field="reason")
    row = ccf.transmission(session.id, establishment.id)
    before = row.transmitted_at if row is not None else None
    done = db.session.execute(
        sa.update(CcfTransmission)
        .where(CcfTransmission.session_id == session.id,
               CcfTransmission.establishment_id == establishment.id,
               CcfTransmission.transmitted_at.is_not(None))
        .values(transmitted_at=None, reopened_at=now,
                reopened_by_id=getattr(actor, "id", None), reopen_reason=reason)
        .execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise Conflict(f"Les notes de CCF de {establishment.name} ne sont pas transmises : "
                       "rien à rouvrir.")
    db.session.refresh(row)
    record(actor=actor, action="ccf.reopen", object_type="establishment",
           object_id=establishment.id, session_id=session.id, now=now, reason=reason,
           before={"transmitted_at": before}, after={"transmitted_at": None})
    return row


def establishments_overview(session: ExamSession) -> list[dict]:
    """Every establishment with CCF candidates or commissions in the session, with its
    transmission (the gestionnaire's list)."""
    from exam_app.e5.definition import E5
    from exam_app.enrolment.models import Candidate

    counts = dict(db.session.execute(
        sa.select(Candidate.establishment_id, sa.func.count(Candidate.id))
        .where(Candidate.session_id == session.id, Candidate.sits_in(E5.code, UnitForm.CCF))
        .group_by(Candidate.establishment_id)).all())
    with_commissions = set(db.session.scalars(sa.select(Commission.establishment_id).where(
        Commission.session_id == session.id, Commission.form == UnitForm.CCF.value)))
    ids = {i for i in set(counts) | with_commissions if i is not None}
    transmissions = {t.establishment_id: t for t in db.session.scalars(
        sa.select(CcfTransmission).where(CcfTransmission.session_id == session.id))}
    establishments = db.session.scalars(sa.select(Establishment).where(
        Establishment.id.in_(ids)).order_by(Establishment.name)).all() if ids else []
    return [{"establishment": e, "candidates": counts.get(e.id, 0),
             "transmission": transmissions.get(e.id)} for e in establishments]
