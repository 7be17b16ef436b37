"""The readiness board of the session dashboard (issue 13, item 6): what blocks the next
step, how many, and where it is fixed.

Each count comes from one query function of the feature that owns its data; this module
only composes them (``overview`` sits above every feature). None of them loops over
candidates: the board costs the same few statements for 50 candidates or 5,000
(tests/overview/test_readiness.py counts them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import url_for

from exam_app.accounts import services as accounts
from exam_app.documents import packs
from exam_app.dossiers import dashboards as dossiers
from exam_app.e6 import lots, sitting
from exam_app.enrolment import services as enrolment
from exam_app.enrolment.models import ExamSession
from exam_app.juries import planning


@dataclass(frozen=True)
class Counts:
    """What the board counts, straight from the features' queries."""

    without_centre: int
    not_activated: int
    undecided: dict[str, int]  # unit code -> dossiers undecided after the deadline
    incomplete_commissions: int
    unplanned: int
    unprinted: list[tuple[int, str, int]]  # (centre id, name, passages)
    unseated: list[tuple[int, str, int]]  # (centre id, name, candidates)
    copies_without_lot: int


def counts(session: ExamSession, *, now: datetime | None = None,
           without_centre: int | None = None) -> Counts:
    """Every count of the board: one query per blocker (two for convocations).
    ``without_centre``: that count when the caller has it already (the dashboard's
    per-centre counts), not counted again."""
    return Counts(
        without_centre=(enrolment.candidates_without_centre_count(session)
                        if without_centre is None else without_centre),
        not_activated=accounts.staff_not_activated_count(),
        undecided=dossiers.undecided_after_deadline_counts(session=session, now=now),
        incomplete_commissions=planning.incomplete_commissions_count(session.id),
        unplanned=planning.unplanned_candidates_count(session.id),
        unprinted=packs.unprinted_convocation_counts(session),
        unseated=sitting.unseated_counts(session.id),
        copies_without_lot=lots.copies_without_lot_count(session.id),
    )


def session_counts(session: ExamSession, *,
                   now: datetime | None = None) -> tuple[dict, Counts]:
    """The session dashboard's counts (reference): ``enrolment.dashboard_counts`` (places
    and E5 forms), then the board's counts, each from its feature's query.
    ``overview.counts_fused.session_counts`` gives the same with one pass over the
    candidates."""
    places = enrolment.dashboard_counts(session)
    return places, counts(session, now=now, without_centre=places["without_centre"])


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Blocker:
    """One line of the board: a count, what it means, and where to fix it."""

    key: str
    count: int
    label: str
    explanation: str
    links: tuple[Link, ...]


def _plural(count: int, singular: str, plural: str) -> str:
    return singular if count <= 1 else plural


def blockers(session: ExamSession, *, now: datetime | None = None,
             without_centre: int | None = None, counted: Counts | None = None) -> list[Blocker]:
    """The board's lines, in the order of the session's steps (counts of 0 included).
    ``counted``: the counts when the caller has them (the dashboard's)."""
    c = counted if counted is not None else counts(session, now=now,
                                                   without_centre=without_centre)
    code = session.code
    undecided = sum(c.undecided.values())
    unprinted = sum(n for _, _, n in c.unprinted)
    unseated = sum(n for _, _, n in c.unseated)
    return [
        Blocker("without_centre", c.without_centre,
                _plural(c.without_centre, "candidat sans centre d'examen",
                        "candidats sans centre d'examen"),
                "Sans centre, un candidat n'est ni convoqué, ni placé pour l'E6, et le chef "
                "de centre ne le voit pas.",
                (Link("Voir les candidats sans centre",
                      url_for("enrolment.candidates", code=code, centre="aucun")),
                 Link("Table établissement → centre",
                      url_for("documents.centre_table", code=code)))),
        Blocker("not_activated", c.not_activated,
                _plural(c.not_activated, "compte non activé", "comptes non activés"),
                "Jurés, correcteurs, chefs de centre ou gestionnaires qui ne se sont jamais "
                "connectés : ils ne peuvent ni noter ni imprimer tant qu'ils n'ont pas activé "
                "leur compte.",
                (Link("Personnes de la session", url_for("enrolment.people_page", code=code)),)),
        Blocker("undecided", undecided,
                _plural(undecided, "dossier sans décision de conformité",
                        "dossiers sans décision de conformité"),
                "La date limite de dépôt est passée : chaque dossier, déposé ou absent, attend "
                "la décision conforme ou non conforme avant les oraux.",
                tuple(Link(f"Contrôle de conformité {unit} ({n})",
                           url_for("dossiers.queue", code=code, unit_code=unit))
                      for unit, n in c.undecided.items() if n)),
        Blocker("incomplete_commissions", c.incomplete_commissions,
                _plural(c.incomplete_commissions, "commission incomplète",
                        "commissions incomplètes"),
                "Une commission siège avec exactement un enseignant et un professionnel, et "
                "au moins une journée planifiée.",
                (Link("Commissions", url_for("juries.commissions", code=code)),)),
        Blocker("unplanned", c.unplanned,
                _plural(c.unplanned, "candidat sans passage planifié",
                        "candidats sans passage planifié"),
                "Pour chaque épreuve orale qu'il passe (E4, E5 et ses situations), le candidat "
                "doit avoir un passage avec une heure dans une commission.",
                (Link("Affecter et planifier", url_for("juries.commissions", code=code)),)),
        Blocker("unprinted", unprinted,
                _plural(unprinted, "convocation non imprimée", "convocations non imprimées"),
                "Passages planifiés dont aucune impression terminée du centre et du jour ne "
                "contient la convocation.",
                tuple(Link(f"{name} ({n})", url_for("documents.packs", centre_id=centre_id))
                      for centre_id, name, n in c.unprinted)),
        Blocker("unseated", unseated,
                _plural(unseated, "candidat sans salle pour l'E6",
                        "candidats sans salle pour l'E6"),
                "Chaque candidat d'un centre doit être placé dans une salle de l'épreuve écrite "
                "avant d'imprimer les listes d'émargement et les étiquettes.",
                tuple(Link(f"{name} ({n})", url_for("e6.sitting", centre_id=centre_id))
                      for centre_id, name, n in c.unseated)),
        Blocker("copies_without_lot", c.copies_without_lot,
                _plural(c.copies_without_lot, "copie E6 hors lot", "copies E6 hors lot"),
                "Les copies anonymes des candidats présents doivent être réparties en lots "
                "entre les correcteurs.",
                (Link("Former les lots", url_for("e6.manage", code=code)),)),
    ]
