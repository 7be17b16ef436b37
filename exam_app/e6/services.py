"""E6 business operations: sitting, anonymous copies, barème, lots, marking,
harmonisation and the levée d'anonymat.

Functions take keyword-only arguments, flush and audit, never commit. They
raise :class:`E6Error` (a French message, optionally with the list of what is
missing) when an operation is refused; nothing is written then.
"""

from __future__ import annotations

import math
import re
import secrets
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.e6.models import (
    Attendance,
    E6AdjustedMark,
    E6Adjustment,
    E6Copy,
    E6Corrector,
    E6Lot,
    E6Points,
    E6Question,
    E6Release,
    E6Room,
    E6Sitting,
)
from exam_app.enrolment.models import Candidate, Centre, ExamSession
from exam_app.extensions import db
from exam_app.units import get_unit

UNIT_CODE = "E6"


class E6Error(ValueError):
    """A refused operation: ``message`` for the user, ``details`` lists what is missing."""

    def __init__(self, message: str, details: list[str] | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.field = field


class StaleCopy(E6Error):
    """The copy changed since the client loaded it (another tab, a replayed save)."""


def max_mark() -> Decimal:
    return Decimal(get_unit(UNIT_CODE).max_mark)


# ---- sitting --------------------------------------------------------------


def add_room(*, centre: Centre, name: str, starts_at: datetime, capacity: int, actor,
             now: datetime | None = None) -> E6Room:
    """Add a room of the E6 sitting to a centre."""
    name = name.strip()
    if not name:
        raise E6Error("Donnez un nom à la salle.", field="name")
    if db.session.scalar(sa.select(E6Room.id).where(E6Room.centre_id == centre.id,
                                                    E6Room.name == name)):
        raise E6Error(f"Une salle « {name} » existe déjà dans ce centre.", field="name")
    if not 1 <= capacity <= 1000:
        raise E6Error("La capacité doit être comprise entre 1 et 1000 places.", field="capacity")
    room = E6Room(centre_id=centre.id, name=name, starts_at=starts_at, capacity=capacity)
    db.session.add(room)
    db.session.flush()
    record(actor=actor, action="e6.room.add", object_type="e6_room", object_id=room.id,
           session_id=centre.session_id, now=now,
           after={"centre": centre.code, "name": name, "starts_at": starts_at,
                  "capacity": capacity})
    return room


def centre_rooms(centre_id: int) -> list[E6Room]:
    return list(db.session.scalars(
        sa.select(E6Room).where(E6Room.centre_id == centre_id).order_by(E6Room.starts_at,
                                                                        E6Room.name)))


def distribute_candidates(*, centre: Centre, actor, now: datetime | None = None) -> int:
    """Seat the centre's candidates who have no room yet, alphabetically, room after room."""
    rooms = centre_rooms(centre.id)
    if not rooms:
        raise E6Error("Ajoutez d'abord au moins une salle.")
    candidates = db.session.scalars(
        sa.select(Candidate).where(Candidate.centre_id == centre.id)
        .order_by(Candidate.last_name, Candidate.first_name, Candidate.number)).all()
    sittings = {s.candidate_id: s for s in db.session.scalars(
        sa.select(E6Sitting).where(E6Sitting.candidate_id.in_([c.id for c in candidates])))}
    seated = defaultdict(int)
    for sitting in sittings.values():
        if sitting.room_id:
            seated[sitting.room_id] += 1
    waiting = [c for c in candidates if not (c.id in sittings and sittings[c.id].room_id)]
    free = sum(max(room.capacity - seated[room.id], 0) for room in rooms)
    if len(waiting) > free:
        raise E6Error(f"Places insuffisantes : {len(waiting)} candidat(s) à placer pour "
                      f"{free} place(s) libre(s). Ajoutez une salle ou augmentez une capacité.")
    room_iter = iter(rooms)
    room = next(room_iter)
    for candidate in waiting:
        while seated[room.id] >= room.capacity:
            room = next(room_iter)
        sitting = sittings.get(candidate.id)
        if sitting is None:
            sitting = E6Sitting(candidate_id=candidate.id)
            db.session.add(sitting)
        sitting.room_id = room.id
        seated[room.id] += 1
    db.session.flush()
    record(actor=actor, action="e6.room.distribute", object_type="centre", object_id=centre.id,
           session_id=centre.session_id, now=now, after={"seated": len(waiting)})
    return len(waiting)


@dataclass(frozen=True)
class RosterLine:
    sitting: E6Sitting
    candidate: Candidate
    ends_at: datetime
    has_extra_time: bool


def end_time(*, starts_at: datetime, duration_minutes: int, extra_fraction) -> datetime:
    """When a candidate's paper ends: the session's duration plus their extra time."""
    minutes = math.ceil(duration_minutes * (1 + extra_fraction))
    return starts_at + timedelta(minutes=minutes)


def room_roster(room: E6Room, session: ExamSession) -> list[RosterLine]:
    """The attendance list of a room, alphabetical, with each candidate's end time."""
    sittings = db.session.scalars(
        sa.select(E6Sitting).join(Candidate, Candidate.id == E6Sitting.candidate_id)
        .where(E6Sitting.room_id == room.id)
        .order_by(Candidate.last_name, Candidate.first_name, Candidate.number)).all()
    return [RosterLine(s, s.candidate,
                       end_time(starts_at=room.starts_at,
                                duration_minutes=session.e6_duration_minutes,
                                extra_fraction=s.candidate.extra_time_fraction),
                       bool(s.candidate.extra_time_fraction))
            for s in sittings]


ANONYMOUS_ALPHABET = "ACDEFHJKLMNPRTUVWXY3479"  # no look-alikes (0/O, 1/I, 5/S, 8/B)


def new_anonymous_number(session_id: int, *, taken: set[str] | None = None,
                         choice=secrets.choice) -> str:
    """A random, unguessable number, unique in the session (never derived from the candidate).

    ``choice`` is ``secrets.choice``; only the seeded demo passes another one."""
    taken = taken if taken is not None else set(db.session.scalars(
        sa.select(E6Copy.anonymous_number).where(E6Copy.session_id == session_id)))
    while True:
        body = "".join(choice(ANONYMOUS_ALPHABET) for _ in range(8))
        number = f"{body[:4]}-{body[4:]}"
        if number not in taken:
            taken.add(number)
            return number


def is_released(session_id: int) -> bool:
    return db.session.scalar(sa.select(E6Release.id).where(E6Release.session_id == session_id)) \
        is not None


def record_attendance(*, room: E6Room, statuses: dict[int, Attendance], actor,
                      now: datetime | None = None) -> dict[str, int]:
    """Record present/absent for the room's candidates; a present candidate's copy gets
    its anonymous number. Unmentioned candidates keep their status."""
    now = now or utcnow()
    session_id = room.centre.session_id
    if is_released(session_id):
        raise E6Error("L'anonymat est levé : la présence ne peut plus être modifiée.")
    sittings = {s.candidate_id: s for s in db.session.scalars(
        sa.select(E6Sitting).where(E6Sitting.room_id == room.id))}
    unknown = set(statuses) - set(sittings)
    if unknown:
        raise E6Error("Un candidat de la liste n'est pas dans cette salle : rechargez la page.")
    copies = {c.candidate_id: c for c in db.session.scalars(
        sa.select(E6Copy).where(E6Copy.candidate_id.in_(list(sittings))))}
    taken = set(db.session.scalars(
        sa.select(E6Copy.anonymous_number).where(E6Copy.session_id == session_id)))
    changed = {"present": 0, "absent": 0}
    for candidate_id, status in statuses.items():
        sitting = sittings[candidate_id]
        if sitting.attendance == status.value:
            continue
        copy = copies.get(candidate_id)
        if status is Attendance.ABSENT and copy is not None:
            if copy.lot_id is not None or copy.points:
                raise E6Error(
                    "Un candidat déjà corrigé ou affecté à un lot ne peut plus être déclaré "
                    "absent : contactez la division des examens.")
            db.session.delete(copy)
        if status is Attendance.PRESENT and copy is None:
            db.session.add(E6Copy(session_id=session_id, candidate_id=candidate_id,
                                  anonymous_number=new_anonymous_number(session_id, taken=taken)))
        before = sitting.attendance
        sitting.attendance = status.value
        sitting.recorded_at = now
        sitting.recorded_by_id = getattr(actor, "id", None)
        changed[status.value] += 1
        record(actor=actor, action="e6.attendance", object_type="e6_sitting",
               object_id=sitting.id, session_id=session_id, now=now,
               before={"attendance": before}, after={"attendance": status.value})
    db.session.flush()
    return changed


def centre_label_copies(centre_id: int) -> list[tuple[E6Room | None, E6Copy]]:
    """The centre's copies in attendance-list order (room, then alphabetical): the order
    the labels are printed and handed out, so the sheet itself names nobody."""
    rows = db.session.execute(
        sa.select(E6Copy, E6Room)
        .join(E6Sitting, E6Sitting.candidate_id == E6Copy.candidate_id)
        .join(Candidate, Candidate.id == E6Copy.candidate_id)
        .outerjoin(E6Room, E6Room.id == E6Sitting.room_id)
        .where(Candidate.centre_id == centre_id)
        .order_by(E6Room.starts_at, E6Room.name, Candidate.last_name, Candidate.first_name,
                  Candidate.number)).all()
    return [(room, copy) for copy, room in rows]


# ---- barème ---------------------------------------------------------------


def parse_decimal(value, *, what: str) -> Decimal:
    """'12,5' / '12.5' / 12.5 -> Decimal('12.5'); anything else is a French error."""
    if isinstance(value, bool) or value is None:
        raise E6Error(f"{what} : nombre attendu.")
    text = str(value).strip().replace(",", ".").replace("\u202f", "").replace(" ", "")
    if not re.fullmatch(r"-?\d{1,3}(\.\d{1,3})?", text):
        raise E6Error(f"{what} : « {str(value).strip()[:20]} » n'est pas un nombre (ex. 12,5).")
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regexp already checked
        raise E6Error(f"{what} : nombre invalide.") from None


def is_multiple(value: Decimal, step: Decimal) -> bool:
    return (value / step) == (value / step).to_integral_value()


def parse_bareme(text: str, *, step: Decimal) -> list[tuple[str, Decimal]]:
    """One question per line, 'label ; points'. Errors name the line."""
    lines = []
    errors = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        label, sep, points = raw.rpartition(";")
        if not sep or not label.strip():
            errors.append(f"Ligne {number} : écrivez « intitulé ; points ».")
            continue
        label = label.strip()
        if len(label) > 200:
            errors.append(f"Ligne {number} : intitulé trop long (200 caractères au plus).")
            continue
        try:
            value = parse_decimal(points, what=f"Ligne {number}")
        except E6Error as exc:
            errors.append(exc.message)
            continue
        if value <= 0:
            errors.append(f"Ligne {number} : les points doivent être positifs.")
        elif not is_multiple(value, step):
            errors.append(f"Ligne {number} : les points doivent être un multiple de "
                          f"{_fr(step)} (pas de notation de la session).")
        else:
            lines.append((label, value))
    if len(lines) > 40:
        errors.append("40 questions au plus.")
    if errors:
        raise E6Error("Le barème n'est pas valide.", errors)
    if not lines:
        raise E6Error("Le barème est vide : saisissez au moins une question.")
    total = sum(points for _, points in lines)
    if total != max_mark():
        raise E6Error(f"Le total du barème est {_fr(total)} points : il doit être de "
                      f"{_fr(max_mark())} exactement.")
    return lines


def _fr(value: Decimal) -> str:
    from exam_app.formatting import decimal_fr

    return decimal_fr(value)


def questions(session_id: int) -> list[E6Question]:
    return list(db.session.scalars(
        sa.select(E6Question).where(E6Question.session_id == session_id)
        .order_by(E6Question.position)))


def lots_exist(session_id: int) -> bool:
    return db.session.scalar(sa.select(E6Lot.id).where(E6Lot.session_id == session_id)
                             .limit(1)) is not None


def set_bareme(*, session: ExamSession, text: str, actor, now: datetime | None = None
               ) -> list[E6Question]:
    """Replace the session's barème (frozen once lots are formed)."""
    if lots_exist(session.id):
        raise E6Error("Les lots sont formés : le barème ne peut plus être modifié.")
    lines = parse_bareme(text, step=session.mark_step)
    old = questions(session.id)
    before = [{"label": q.label, "points": q.max_points} for q in old]
    for question in old:
        db.session.delete(question)
    db.session.flush()
    new = [E6Question(session_id=session.id, position=i, label=label, max_points=points)
           for i, (label, points) in enumerate(lines, start=1)]
    db.session.add_all(new)
    db.session.flush()
    record(actor=actor, action="e6.bareme.set", object_type="exam_session", object_id=session.id,
           session_id=session.id, now=now, before={"questions": before},
           after={"questions": [{"label": q.label, "points": q.max_points} for q in new]})
    return new


def bareme_text(session_id: int) -> str:
    return "\n".join(f"{q.label} ; {_fr(q.max_points)}" for q in questions(session_id))


# ---- correcteurs and lots -------------------------------------------------


def correctors(session_id: int) -> list[E6Corrector]:
    return list(db.session.scalars(
        sa.select(E6Corrector).where(E6Corrector.session_id == session_id)
        .order_by(E6Corrector.id)))


def enroll_corrector(*, session: ExamSession, user, establishment, actor,
                     now: datetime | None = None) -> E6Corrector:
    """Enrol a correcteur for the session, with the establishment they teach in."""
    from exam_app.accounts.models import Role

    if not user.has_role(Role.CORRECTEUR):
        raise E6Error("Cet utilisateur n'a pas le rôle correcteur.")
    if db.session.scalar(sa.select(E6Corrector.id).where(E6Corrector.session_id == session.id,
                                                         E6Corrector.user_id == user.id)):
        raise E6Error(f"{user.display_name} est déjà correcteur de cette session.")
    corrector = E6Corrector(session_id=session.id, user_id=user.id,
                            establishment_id=establishment.id if establishment else None)
    db.session.add(corrector)
    db.session.flush()
    record(actor=actor, action="e6.corrector.add", object_type="e6_corrector",
           object_id=corrector.id, session_id=session.id, now=now,
           after={"user": user.username,
                  "establishment": establishment.uai if establishment else None})
    return corrector


def remove_corrector(*, corrector: E6Corrector, actor, now: datetime | None = None) -> None:
    """Withdraw a correcteur who has no lot yet."""
    if db.session.scalar(sa.select(E6Lot.id).where(E6Lot.session_id == corrector.session_id,
                                                   E6Lot.corrector_id == corrector.user_id)):
        raise E6Error("Ce correcteur a déjà un lot : il ne peut plus être retiré.")
    record(actor=actor, action="e6.corrector.remove", object_type="e6_corrector",
           object_id=corrector.id, session_id=corrector.session_id, now=now,
           before={"user": corrector.user.username})
    db.session.delete(corrector)
    db.session.flush()


class LotPlanError(E6Error):
    pass


def plan_lots(copies: list[tuple[int, int]], markers: list[tuple[int, int | None]]
              ) -> dict[int, list[int]]:
    """Assign copies to correcteurs: nobody gets a copy from their own establishment, and
    the largest lot is as small as possible (a max-flow per candidate capacity).

    ``copies``: (copy_id, establishment_id); ``markers``: (user_id, establishment_id).
    Returns user_id -> copy ids (sorted). Deterministic for a given input.
    """
    if not markers:
        raise LotPlanError("Aucun correcteur n'est inscrit pour cette session.")
    by_establishment: dict[int, list[int]] = defaultdict(list)
    for copy_id, establishment_id in sorted(copies):
        by_establishment[establishment_id].append(copy_id)
    establishments = sorted(by_establishment)
    orphans = [e for e in establishments if all(m[1] == e for m in markers)]
    if orphans:
        raise LotPlanError(
            "Aucun correcteur ne peut corriger certaines copies : tous les correcteurs "
            "enseignent dans leur établissement. Inscrivez un correcteur d'un autre "
            "établissement.")
    n, k = len(copies), len(markers)
    if n == 0:
        return {m[0]: [] for m in markers}
    flow = _LotFlow(by_establishment, establishments, markers)
    # Fill every lot up to n // k first, then raise the cap: flow into a correcteur
    # never decreases while augmenting, so small lots stay as full as possible.
    flow.augment(n // k)
    cap = math.ceil(n / k)
    while flow.total() < n:
        flow.augment(cap)
        cap += 1
    counts = flow.counts()
    lots: dict[int, list[int]] = {m[0]: [] for m in markers}
    for establishment in establishments:
        pool = iter(by_establishment[establishment])
        for marker_id, _ in markers:
            for _ in range(counts.get((establishment, marker_id), 0)):
                lots[marker_id].append(next(pool))
    return {marker: sorted(ids) for marker, ids in lots.items()}


class _LotFlow:
    """Edmonds–Karp on source -> establishment (its copies) -> allowed correcteur ->
    sink (the lot cap). Small graphs: a few dozen establishments and correcteurs."""

    SOURCE, SINK = ("s",), ("t",)

    def __init__(self, by_establishment, establishments, markers):
        self.capacity: dict = defaultdict(lambda: defaultdict(int))
        self.flow: dict = defaultdict(lambda: defaultdict(int))
        self.establishments = establishments
        self.markers = markers
        for e in establishments:
            self.capacity[self.SOURCE][("e", e)] = len(by_establishment[e])
            for marker_id, marker_establishment in markers:
                if marker_establishment != e:
                    self.capacity[("e", e)][("m", marker_id)] = len(by_establishment[e])
        self.nodes = ([self.SOURCE] + [("e", e) for e in establishments]
                      + [("m", m) for m, _ in markers] + [self.SINK])

    def _residual(self, u, v) -> int:
        return self.capacity[u][v] - self.flow[u][v] + self.flow[v][u]

    def total(self) -> int:
        return sum(self.flow[self.SOURCE][("e", e)] for e in self.establishments)

    def counts(self) -> dict[tuple[int, int], int]:
        return {(e, m): self.flow[("e", e)][("m", m)] for e in self.establishments
                for m, _ in self.markers if self.flow[("e", e)][("m", m)] > 0}

    def augment(self, cap: int) -> None:
        for marker_id, _ in self.markers:
            self.capacity[("m", marker_id)][self.SINK] = cap
        while True:
            parent = {self.SOURCE: None}
            queue = [self.SOURCE]
            while queue and self.SINK not in parent:
                u = queue.pop(0)
                for v in self.nodes:
                    if v not in parent and self._residual(u, v) > 0:
                        parent[v] = u
                        queue.append(v)
            if self.SINK not in parent:
                return
            path, v = [], self.SINK
            while parent[v] is not None:
                path.append((parent[v], v))
                v = parent[v]
            push = min(self._residual(u, v) for u, v in path)
            for u, v in path:
                back = min(push, self.flow[v][u])
                self.flow[v][u] -= back
                self.flow[u][v] += push - back


def marks_entered(session_id: int) -> bool:
    return db.session.scalar(
        sa.select(E6Points.id).join(E6Copy, E6Copy.id == E6Points.copy_id)
        .where(E6Copy.session_id == session_id).limit(1)) is not None


def form_lots(*, session: ExamSession, actor, now: datetime | None = None) -> list[E6Lot]:
    """Form (or re-form, while no mark is entered) the lots of the session's copies."""
    now = now or utcnow()
    missing = []
    if not questions(session.id):
        missing.append("Le barème n'est pas défini.")
    no_attendance = db.session.scalar(
        sa.select(sa.func.count(Candidate.id))
        .outerjoin(E6Sitting, E6Sitting.candidate_id == Candidate.id)
        .where(Candidate.session_id == session.id, E6Sitting.attendance.is_(None)))
    if no_attendance:
        missing.append(f"{no_attendance} candidat(s) sans présence enregistrée.")
    markers = correctors(session.id)
    if not markers:
        missing.append("Aucun correcteur n'est inscrit pour cette session.")
    if missing:
        raise E6Error("Les lots ne peuvent pas encore être formés.", missing)
    existing = list(db.session.scalars(sa.select(E6Lot).where(E6Lot.session_id == session.id)))
    if existing and marks_entered(session.id):
        raise E6Error("Des notes sont déjà saisies : les lots ne peuvent plus être refaits.")
    rows = db.session.execute(
        sa.select(E6Copy, Candidate.establishment_id)
        .join(Candidate, Candidate.id == E6Copy.candidate_id)
        .where(E6Copy.session_id == session.id)).all()
    if not rows:
        raise E6Error("Aucune copie : enregistrez d'abord la présence des candidats.")
    plan = plan_lots([(copy.id, establishment_id) for copy, establishment_id in rows],
                     [(m.user_id, m.establishment_id) for m in markers])
    copies_by_id = {copy.id: copy for copy, _ in rows}
    for copy in copies_by_id.values():
        copy.lot_id = None
    db.session.flush()
    for lot in existing:
        db.session.delete(lot)
    db.session.flush()
    lots = []
    for index, marker in enumerate(markers, start=1):
        lot = E6Lot(session_id=session.id, code=f"L{index:02d}", corrector_id=marker.user_id,
                    created_at=now)
        db.session.add(lot)
        db.session.flush()
        for copy_id in plan[marker.user_id]:
            copies_by_id[copy_id].lot_id = lot.id
        lots.append(lot)
    db.session.flush()
    record(actor=actor, action="e6.lots.form", object_type="exam_session", object_id=session.id,
           session_id=session.id, now=now,
           after={"lots": {lot.code: len(plan[lot.corrector_id]) for lot in lots}})
    return lots


def session_lots(session_id: int) -> list[E6Lot]:
    return list(db.session.scalars(
        sa.select(E6Lot).where(E6Lot.session_id == session_id).order_by(E6Lot.code)))


def lot_sizes(session_id: int) -> dict[int, int]:
    return dict(db.session.execute(
        sa.select(E6Copy.lot_id, sa.func.count(E6Copy.id))
        .where(E6Copy.session_id == session_id, E6Copy.lot_id.is_not(None))
        .group_by(E6Copy.lot_id)).all())


# ---- marking (correcteur side: never joins the candidate) -----------------


def corrector_lots(user_id: int) -> list[E6Lot]:
    return list(db.session.scalars(
        sa.select(E6Lot).where(E6Lot.corrector_id == user_id)
        .order_by(E6Lot.created_at.desc(), E6Lot.code)))


def lot_copies(lot: E6Lot) -> list[E6Copy]:
    """The lot's copies by anonymous number (an order that says nothing about candidates)."""
    return list(db.session.scalars(
        sa.select(E6Copy).where(E6Copy.lot_id == lot.id).order_by(E6Copy.anonymous_number)))


def copy_is_complete(copy: E6Copy, question_ids: set[int]) -> bool:
    return {p.question_id for p in copy.points} >= question_ids


def save_copy(*, copy: E6Copy, points: dict, comment: str | None, version: int, actor,
              now: datetime | None = None) -> E6Copy:
    """Save a correcteur's points for one copy (autosave): bounds checked, total computed.

    ``points`` maps question id -> value ('' or None clears it); ``version`` is the copy
    version the client started from: an older one is refused (StaleCopy)."""
    now = now or utcnow()
    lot = copy.lot
    if lot is None or lot.state != "open":
        raise E6Error("Ce lot est validé : les notes ne peuvent plus être modifiées.")
    if version != copy.version:
        raise StaleCopy("Cette copie a été modifiée entre-temps (autre onglet ?) : rechargez "
                        "la page pour voir la dernière version. Votre saisie n'a pas été "
                        "enregistrée.")
    session = db.session.get(ExamSession, copy.session_id)
    by_id = {q.id: q for q in questions(copy.session_id)}
    current = {p.question_id: p for p in copy.points}
    cleaned: dict[int, Decimal | None] = {}
    for key, value in points.items():
        question_id = int(key) if str(key).isdigit() else None
        question = by_id.get(question_id)
        if question is None:
            raise E6Error("Question inconnue dans le barème : rechargez la page.")
        what = f"Question « {question.label} »"
        if value is None or (isinstance(value, str) and not value.strip()):
            cleaned[question.id] = None
            continue
        number = parse_decimal(value, what=what)
        if number < 0 or number > question.max_points:
            raise E6Error(f"{what} : {_fr(number)} hors barème (entre 0 et "
                          f"{_fr(question.max_points)}).", field=str(question.id))
        if not is_multiple(number, session.mark_step):
            raise E6Error(f"{what} : les points vont par pas de {_fr(session.mark_step)}.",
                          field=str(question.id))
        cleaned[question.id] = number
    if comment is not None and len(comment) > 2000:
        raise E6Error("Le commentaire est trop long (2000 caractères au plus).", field="comment")
    before = {str(q): p.points for q, p in current.items()}
    for question_id, number in cleaned.items():
        existing = current.get(question_id)
        if number is None and existing is not None:
            copy.points.remove(existing)
        elif number is not None and existing is None:
            copy.points.append(E6Points(question_id=question_id, points=number))
        elif number is not None:
            existing.points = number
    after = {str(p.question_id): p.points for p in copy.points}
    comment_changed = comment is not None and comment != copy.comment
    if after == before and not comment_changed:
        return copy
    if comment_changed:
        copy.comment = comment
    complete = set(after) >= {str(q) for q in by_id}
    copy.raw_total = (sum((p.points for p in copy.points), Decimal(0)).quantize(Decimal("0.01"))
                      if complete else None)
    copy.mark = copy.raw_total
    copy.updated_at = now
    db.session.flush()
    record(actor=actor, action="e6.copy.save", object_type="e6_copy", object_id=copy.id,
           session_id=copy.session_id, now=now, before={"points": before},
           after={"points": after, "total": copy.raw_total,
                  "comment_changed": comment_changed})
    return copy


def validate_lot(*, lot: E6Lot, actor, now: datetime | None = None) -> E6Lot:
    """The correcteur validates their lot: every copy fully marked, then nothing changes."""
    now = now or utcnow()
    if lot.state != "open":
        raise E6Error("Ce lot est déjà validé.")
    question_ids = {q.id for q in questions(lot.session_id)}
    incomplete = [c.anonymous_number for c in lot_copies(lot)
                  if not copy_is_complete(c, question_ids)]
    if incomplete:
        raise E6Error("Le lot ne peut pas être validé : des copies ne sont pas entièrement "
                      "notées.", [f"Copie {n}" for n in incomplete])
    lot.validated_at = now
    db.session.flush()
    record(actor=actor, action="e6.lot.validate", object_type="e6_lot", object_id=lot.id,
           session_id=lot.session_id, now=now, after={"lot": lot.code})
    return lot


# ---- harmonisation ---------------------------------------------------------


@dataclass
class MarkerStats:
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


def harmonisation_stats(session_id: int) -> tuple[list[MarkerStats], MarkerStats]:
    """Per validated (or final) lot: count, mean, standard deviation; and all copies."""
    rows = []
    everyone = MarkerStats("Toutes les copies", None)
    for lot in session_lots(session_id):
        if lot.state == "open":
            continue
        marks = [c.mark for c in lot_copies(lot) if c.mark is not None]
        rows.append(MarkerStats(f"{lot.code} — {lot.corrector.display_name}", lot, marks))
        everyone.marks.extend(marks)
    return rows, everyone


def round_to_step(value: Decimal, step: Decimal) -> Decimal:
    steps = (value / step).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return (steps * step).quantize(Decimal("0.01"))


def adjust_lot(*, lot: E6Lot, factor: Decimal, offset_points: Decimal, reason: str, actor,
               now: datetime | None = None) -> E6Adjustment:
    """Apply a harmonisation adjustment to a validated lot; keep every before/after mark."""
    now = now or utcnow()
    if lot.state == "open":
        raise E6Error("Ce lot n'est pas encore validé par son correcteur.")
    if lot.state == "final":
        raise E6Error("Ce lot est définitif : il ne peut plus être ajusté.")
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
    if lot.state != "validated":
        raise E6Error("Seul un lot validé par son correcteur peut être rendu définitif."
                      if lot.state == "open" else "Ce lot est déjà définitif.")
    lot.finalized_at = now
    lot.finalized_by_id = getattr(actor, "id", None)
    db.session.flush()
    record(actor=actor, action="e6.lot.finalize", object_type="e6_lot", object_id=lot.id,
           session_id=lot.session_id, now=now, after={"lot": lot.code})
    return lot


def reopen_lot(*, lot: E6Lot, reason: str, actor, now: datetime | None = None) -> E6Lot:
    """Send a validated lot back to its correcteur (before any adjustment)."""
    if lot.state != "validated":
        raise E6Error("Seul un lot validé (et pas encore définitif) peut être rouvert.")
    if lot.adjustments:
        raise E6Error("Ce lot a été ajusté : il ne peut plus être rouvert.")
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise E6Error("Indiquez le motif de la réouverture (5 caractères au moins).")
    lot.validated_at = None
    db.session.flush()
    record(actor=actor, action="e6.lot.reopen", object_type="e6_lot", object_id=lot.id,
           session_id=lot.session_id, now=now, reason=reason, after={"lot": lot.code})
    return lot


# ---- levée d'anonymat and results -----------------------------------------


def lifting_blockers(session_id: int) -> list[str]:
    """Everything that prevents the levée d'anonymat, in French (empty when ready)."""
    blockers = []
    if not questions(session_id):
        blockers.append("Le barème n'est pas défini.")
    no_attendance = db.session.scalar(
        sa.select(sa.func.count(Candidate.id))
        .outerjoin(E6Sitting, E6Sitting.candidate_id == Candidate.id)
        .where(Candidate.session_id == session_id, E6Sitting.attendance.is_(None)))
    if no_attendance:
        blockers.append(f"{no_attendance} candidat(s) sans présence enregistrée.")
    unassigned = db.session.scalar(sa.select(sa.func.count(E6Copy.id)).where(
        E6Copy.session_id == session_id, E6Copy.lot_id.is_(None)))
    if unassigned:
        blockers.append(f"{unassigned} copie(s) dans aucun lot.")
    lots = session_lots(session_id)
    if not lots:
        blockers.append("Aucun lot n'est formé.")
    for lot in lots:
        if lot.state != "final":
            blockers.append(f"Lot {lot.code} ({lot.corrector.display_name}) : "
                            f"{lot.state_label.lower()}, pas encore définitif.")
    return blockers


def lift_anonymity(*, session: ExamSession, actor, now: datetime | None = None) -> E6Release:
    """Join marks to candidates, once every lot is final; refused with the list otherwise."""
    now = now or utcnow()
    if is_released(session.id):
        raise E6Error("L'anonymat est déjà levé pour cette session.")
    blockers = lifting_blockers(session.id)
    if blockers:
        raise E6Error("La levée d'anonymat est refusée : tous les lots doivent être définitifs.",
                      blockers)
    release = E6Release(session_id=session.id, lifted_at=now,
                        lifted_by_id=getattr(actor, "id", None))
    db.session.add(release)
    db.session.flush()
    record(actor=actor, action="e6.anonymity.lift", object_type="exam_session",
           object_id=session.id, session_id=session.id, now=now,
           after={"copies": db.session.scalar(sa.select(sa.func.count(E6Copy.id)).where(
               E6Copy.session_id == session.id))})
    return release


def release_of(session_id: int) -> E6Release | None:
    return db.session.scalar(sa.select(E6Release).where(E6Release.session_id == session_id))


def e6_results(session_id: int) -> dict[int, str]:
    """Candidate id -> E6 result as printed: '14,5', 'ABS' or 'NV' ('' when unknown).

    Only meaningful after the levée d'anonymat; callers check :func:`is_released`."""
    from exam_app.dossiers.validity import nv_candidate_ids

    nv = nv_candidate_ids(session_id=session_id, unit_code=UNIT_CODE)
    results: dict[int, str] = {}
    sittings = db.session.execute(
        sa.select(Candidate.id, E6Sitting.attendance)
        .outerjoin(E6Sitting, E6Sitting.candidate_id == Candidate.id)
        .where(Candidate.session_id == session_id)).all()
    marks = dict(db.session.execute(
        sa.select(E6Copy.candidate_id, E6Copy.mark).where(E6Copy.session_id == session_id)).all())
    for candidate_id, attendance in sittings:
        if candidate_id in nv:
            results[candidate_id] = "NV"
        elif attendance == Attendance.ABSENT.value:
            results[candidate_id] = "ABS"
        elif marks.get(candidate_id) is not None:
            results[candidate_id] = _fr(marks[candidate_id])
        else:
            results[candidate_id] = ""
    return results


def correspondence(session_id: int) -> list[tuple[E6Copy, Candidate, E6Lot | None]]:
    """The anonymous number <-> candidate table (the gestionnaire only)."""
    rows = db.session.execute(
        sa.select(E6Copy, Candidate, E6Lot)
        .join(Candidate, Candidate.id == E6Copy.candidate_id)
        .outerjoin(E6Lot, E6Lot.id == E6Copy.lot_id)
        .where(E6Copy.session_id == session_id)
        .order_by(E6Copy.anonymous_number)).all()
    return [tuple(row) for row in rows]
