"""The délibération's state changes: its composition, the jury's result changes, its
closing and reopening, and the lock every mark-changing service asks for.

One serialised decision per change: :func:`lock_deliberation` locks the session's
délibération row (PostgreSQL ``FOR UPDATE``; SQLite: an UPDATE, which takes the
database's write lock) and re-reads it. A mark-changing service elsewhere (jury
validation, E6 marking and harmonisation) calls :func:`ensure_results_open`, which reads
the row ``FOR SHARE``: it waits for a closing in progress and sees its outcome.
Services flush and audit, never commit.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa

from exam_app.accounts.models import Role, RoleAssignment, User
from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.deliberation.models import ChangeKind, Deliberation, DeliberationMember, ResultChange
from exam_app.errors import Conflict, Invalid
from exam_app.extensions import db
from exam_app.formatting import decimal_fr

MIN_REASON = 5
LOCKED_MESSAGE = ("La délibération de cette session est close : les résultats sont verrouillés "
                  "et aucune note ne peut plus être modifiée. Seule la division des examens peut "
                  "rouvrir la délibération, avec un motif.")


class ResultsLocked(Conflict):
    """Refused: the session's délibération is closed (409)."""

    code = "results_locked"

    def __init__(self, message: str = LOCKED_MESSAGE, **kwargs):
        super().__init__(message, **kwargs)


class StaleResult(Conflict):
    """The result changed since the member read it (another member's change)."""

    code = "stale"


def deliberation_of(session_id: int) -> Deliberation | None:
    return db.session.scalar(sa.select(Deliberation).where(Deliberation.session_id == session_id))


def is_locked(session_id: int) -> bool:
    """Whether the session's results are locked (its délibération is closed); no lock."""
    return db.session.scalar(sa.select(Deliberation.closed_at).where(
        Deliberation.session_id == session_id)) is not None


def ensure_results_open(session_id: int) -> None:
    """Refuse (ResultsLocked) a mark change once the délibération is closed. Reads the row
    FOR SHARE on PostgreSQL, so a closing in progress is waited for, not raced."""
    statement = sa.select(Deliberation.closed_at).where(Deliberation.session_id == session_id)
    if db.session.get_bind().dialect.name != "sqlite":
        statement = statement.with_for_update(read=True)
    row = db.session.execute(statement).first()
    if row is not None and row.closed_at is not None:
        raise ResultsLocked()


def lock_deliberation(session_id: int) -> Deliberation | None:
    """The session's délibération, its row locked until the end of the transaction and
    re-read (None when the session has none)."""
    db.session.flush()
    if db.session.get_bind().dialect.name != "sqlite":
        db.session.execute(sa.select(Deliberation.id).where(Deliberation.session_id == session_id)
                           .with_for_update())
    db.session.execute(sa.update(Deliberation).where(Deliberation.session_id == session_id)
                       .values(version=Deliberation.version + 1)
                       .execution_options(synchronize_session=False))
    return db.session.scalars(sa.select(Deliberation).where(Deliberation.session_id == session_id)
                              .execution_options(populate_existing=True)).one_or_none()


# ---- composition ---------------------------------------------------------------------------


def jury_candidates() -> list[User]:
    """The enabled accounts holding the jury de délibération role, by name."""
    return list(db.session.scalars(
        sa.select(User).join(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(RoleAssignment.role == Role.JURY_DELIBERATION.value, User.is_enabled)
        .order_by(User.last_name, User.first_name, User.id)))


def set_jury(*, session, president_id: int | None, member_ids: list[int], actor,
             now: datetime | None = None) -> Deliberation:
    """Name the president and the members of the session's jury (the gestionnaire).
    Only accounts holding the jury de délibération role; refused once closed."""
    now = now or utcnow()
    eligible = {u.id for u in jury_candidates()}
    if president_id is None:
        raise Invalid("Désignez le président du jury de délibération.", field="president")
    chosen = {president_id, *member_ids}
    if not chosen <= eligible:
        raise Invalid("Seuls les comptes ayant le rôle « jury de délibération » peuvent "
                      "siéger au jury.", field="members")
    deliberation = lock_deliberation(session.id)
    if deliberation is None:
        deliberation = Deliberation(session_id=session.id, created_at=now)
        db.session.add(deliberation)
        db.session.flush()
    elif deliberation.is_closed:
        raise ResultsLocked("La délibération est close : sa composition ne peut plus changer.")
    before = {"president": deliberation.president_id,
              "members": sorted(m.user_id for m in deliberation.members)}
    members = sorted(set(member_ids) - {president_id})
    deliberation.president_id = president_id
    deliberation.members = [m for m in deliberation.members if m.user_id in members]
    present = {m.user_id for m in deliberation.members}
    deliberation.members.extend(DeliberationMember(user_id=uid) for uid in members
                                if uid not in present)
    db.session.flush()
    record(actor=actor, action="deliberation.jury", object_type="deliberation",
           object_id=deliberation.id, session_id=session.id, now=now, before=before,
           after={"president": president_id, "members": members})
    return deliberation


def is_member(user, deliberation: Deliberation | None) -> bool:
    return (deliberation is not None and getattr(user, "id", None) is not None
            and user.id in deliberation.member_ids())


def member_sessions(user_id: int) -> list[Deliberation]:
    """The délibérations whose jury names the user (president or member), newest first."""
    named = sa.select(DeliberationMember.deliberation_id).where(
        DeliberationMember.user_id == user_id)
    return list(db.session.scalars(
        sa.select(Deliberation).where(sa.or_(Deliberation.president_id == user_id,
                                             Deliberation.id.in_(named)))
        .order_by(Deliberation.id.desc())))


# ---- result changes ------------------------------------------------------------------------


def parse_result(value: str) -> tuple[ChangeKind, Decimal | None]:
    """'14,5' -> (mark, 14.5); 'ABS', 'NV' -> the code; anything else is refused."""
    text = (value or "").strip().upper().replace(",", ".")
    if text in ("ABS", "NV"):
        return ChangeKind(text), None
    try:
        mark = Decimal(text)
    except InvalidOperation:
        raise Invalid("Saisissez une note sur 20 (ex. 12,5), ou ABS, ou NV.",
                      field="result") from None
    if not mark.is_finite() or not Decimal(0) <= mark <= Decimal(20):
        raise Invalid("La note doit être comprise entre 0 et 20.", field="result")
    if mark != mark.quantize(Decimal("0.01")):
        raise Invalid("La note a au plus deux décimales.", field="result")
    return ChangeKind.MARK, mark.quantize(Decimal("0.01"))


def changes_of(session_id: int, candidate_ids=None) -> list[ResultChange]:
    """Every result change of the session (or of some candidates), oldest first."""
    query = sa.select(ResultChange).where(ResultChange.session_id == session_id)
    if candidate_ids is not None:
        query = query.where(ResultChange.candidate_id.in_(candidate_ids))
    return list(db.session.scalars(query.order_by(ResultChange.candidate_id,
                                                  ResultChange.unit_code,
                                                  ResultChange.sequence)))


def current_sequence(candidate_id: int, unit_code: str) -> int:
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(ResultChange.sequence), 0))
                             .where(ResultChange.candidate_id == candidate_id,
                                    ResultChange.unit_code == unit_code))


def change_result(*, session_id: int, candidate_id: int, unit_code: str, value: str, reason: str,
                  version: int, before: str, actor, now: datetime | None = None) -> ResultChange:
    """A member of the jury changes a unit result, with a reason. ``version`` is the
    sequence of the current change the member read (0: none); if another member changed
    it since, the change is refused (StaleResult) and nothing is written. ``before`` is the
    result as the member saw it (printed), kept with the change."""
    now = now or utcnow()
    kind, mark = parse_result(value)
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON:
        raise Invalid(f"Indiquez le motif de la modification ({MIN_REASON} caractères au "
                      "moins).", field="reason")
    if len(reason) > 2000:
        raise Invalid("Le motif est trop long (2000 caractères au plus).", field="reason")
    deliberation = lock_deliberation(session_id)
    if deliberation is None or not is_member(actor, deliberation):
        raise Invalid("Seuls les membres du jury de délibération de la session peuvent "
                      "modifier un résultat.")
    if deliberation.is_closed:
        raise ResultsLocked()
    current = current_sequence(candidate_id, unit_code)
    if current != version:
        last = db.session.scalar(sa.select(ResultChange).where(
            ResultChange.candidate_id == candidate_id, ResultChange.unit_code == unit_code,
            ResultChange.sequence == current))
        who = last.created_by.display_name if last and last.created_by else "un autre membre"
        raise StaleResult(f"Ce résultat a été modifié entre-temps par {who} : relisez-le. "
                          "Votre modification n'a pas été enregistrée.")
    change = ResultChange(session_id=session_id, candidate_id=candidate_id, unit_code=unit_code,
                          sequence=current + 1, kind=kind, mark=mark, before=before[:60],
                          reason=reason, created_at=now, created_by_id=getattr(actor, "id", None))
    db.session.add(change)
    db.session.flush()
    record(actor=actor, action="deliberation.result.change", object_type="candidate",
           object_id=candidate_id, session_id=session_id, now=now, reason=reason,
           before={"unit": unit_code, "result": before},
           after={"unit": unit_code, "result": change_printed(change),
                  "sequence": change.sequence})
    return change


def change_printed(change: ResultChange) -> str:
    return decimal_fr(change.mark) if change.kind is ChangeKind.MARK else change.kind.value


# ---- closing and reopening -----------------------------------------------------------------


def close(*, session_id: int, actor, pending: int, now: datetime | None = None,
          deliberation: Deliberation | None = None) -> Deliberation:
    """The president closes the délibération: the results are locked. Call with the
    délibération locked (:func:`lock_deliberation`) and ``pending`` counted after it."""
    now = now or utcnow()
    deliberation = deliberation or lock_deliberation(session_id)
    if deliberation is None:
        raise Invalid("Cette session n'a pas de jury de délibération.")
    if deliberation.is_closed:
        raise ResultsLocked("La délibération est déjà close.")
    if getattr(actor, "id", None) != deliberation.president_id:
        raise Invalid("Seul le président du jury peut clore la délibération.")
    if pending:
        raise Invalid(f"{pending} résultat(s) E4, E5 ou E6 sont encore en attente : la "
                      "délibération ne peut être close qu'une fois tous les résultats arrêtés.")
    deliberation.closed_at = now
    deliberation.closed_by_id = actor.id
    db.session.flush()
    record(actor=actor, action="deliberation.close", object_type="deliberation",
           object_id=deliberation.id, session_id=session_id, now=now,
           after={"closed_at": now})
    return deliberation


def reopen(*, session_id: int, reason: str, actor, now: datetime | None = None) -> Deliberation:
    """The gestionnaire reopens a closed délibération, with a reason (audited)."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON:
        raise Invalid(f"Indiquez le motif de la réouverture ({MIN_REASON} caractères au moins).",
                      field="reason")
    deliberation = lock_deliberation(session_id)
    if deliberation is None or not deliberation.is_closed:
        raise Conflict("La délibération n'est pas close : rien à rouvrir.")
    before = {"closed_at": deliberation.closed_at, "closed_by": deliberation.closed_by_id}
    deliberation.closed_at = None
    deliberation.closed_by_id = None
    db.session.flush()
    record(actor=actor, action="deliberation.reopen", object_type="deliberation",
           object_id=deliberation.id, session_id=session_id, now=now, reason=reason[:1000],
           before=before, after={"closed_at": None})
    return deliberation
