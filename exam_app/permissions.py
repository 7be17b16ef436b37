"""Who may do what: named checks and role decorators.

Views load an object through a query already filtered by what the user may
see, then call the matching ``can_*`` check and ``abort(403)`` when it fails.
"""

from __future__ import annotations

import functools
from functools import wraps

import sqlalchemy as sa
from flask import abort
from flask_login import current_user, login_required

from exam_app.accounts.models import Role, RoleAssignment, User
from exam_app.clock import use_zone


def roles_required(*roles: Role):
    """Decorator: logged in and holding one of ``roles``, else 403."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def can_manage(user: User, session=None) -> bool:
    """The académie's exam office manages every session."""
    return user.is_authenticated and user.has_role(Role.GESTIONNAIRE)


def can_view_centre(user: User, centre) -> bool:
    if can_manage(user):
        return True
    return centre is not None and centre.id in user.centre_ids()


def can_read_dossier(user: User, dossier, *, now=None) -> bool:
    """The académie, the candidate themself, and the jurors of the candidate's commission.

    A juror reads the dossier of a candidate whose passage for the unit is planned
    (scheduled) in one of their commissions, from the day before that passage
    (Paris) to the end of the unit's oral period (the day of the session's last
    passage for the unit: a session has no end date of its own). Nothing before
    planning, nothing of a candidate planned in another commission.
    """
    if not user.is_authenticated:
        return False
    if can_manage(user):
        return True
    candidate = dossier.candidate
    if candidate.id in user.candidate_ids():
        return True
    if not user.has_role(Role.EXAMINATEUR):
        return False
    return juror_reading_window_open(user, candidate=candidate, unit_code=dossier.unit_code,
                                     now=now)


def juror_reading_window_open(user: User, *, candidate, unit_code: str, now=None) -> bool:
    """Whether ``user`` sits in a commission holding the candidate's planned passage for the
    unit, and ``now`` lies in that passage's reading window (see ``can_read_dossier``)."""
    from datetime import datetime, time, timedelta

    from exam_app.clock import PARIS, to_local, utcnow
    from exam_app.extensions import db
    from exam_app.juries.models import Commission, CommissionMember, Passage

    mine = sa.select(CommissionMember.commission_id).where(CommissionMember.user_id == user.id)
    first = db.session.scalar(
        sa.select(sa.func.min(Passage.scheduled_at))
        .where(Passage.candidate_id == candidate.id, Passage.unit_code == unit_code,
               Passage.commission_id.in_(mine), Passage.scheduled_at.is_not(None)))
    if first is None:
        return False
    last = db.session.scalar(
        sa.select(sa.func.max(Passage.scheduled_at))
        .join(Commission, Commission.id == Passage.commission_id)
        .where(Commission.session_id == candidate.session_id, Passage.unit_code == unit_code))
    # Paris days: from 00:00 the day before the first passage to 24:00 the last oral day.
    opens = datetime.combine(to_local(first).date() - timedelta(days=1), time(0), PARIS)
    closes = datetime.combine(to_local(last).date() + timedelta(days=1), time(0), PARIS)
    now = now or utcnow()
    return opens <= now < closes


def session_or_404(code: str):
    """The exam session with this code; the views that take one are the académie's, whose
    role decorator already admits every session (``can_manage``)."""
    from exam_app.enrolment.models import ExamSession
    from exam_app.extensions import db

    session = db.session.scalar(sa.select(ExamSession).where(ExamSession.code == code))
    if session is None:
        abort(404)
    use_zone(session.timezone)  # the page shows its dates in the session's time zone
    return session


def _managed_or_403(model, object_id: int):
    """An object that only the académie's exam office reaches: 404 when unknown, 403 otherwise."""
    from exam_app.extensions import db

    found = db.session.get(model, object_id)
    if found is None:
        abort(404)
    if not can_manage(current_user):
        abort(403)
    return found


def centre_or_403(centre_id: int):
    """The centre, if the current user may see it: 404 when unknown, 403 when out of scope."""
    from exam_app.enrolment.models import Centre
    from exam_app.extensions import db

    centre = db.session.get(Centre, centre_id)
    if centre is None:
        abort(404)
    if not can_view_centre(current_user, centre):
        abort(403)
    use_zone(centre.session.timezone)
    return centre


def centre_in_session_or_404(session, centre_id):
    """A centre of this session (the académie's planning board): 404 when unknown or of
    another session; 403 when the user does not manage the session."""
    from exam_app.enrolment.models import Centre
    from exam_app.errors import NotFound
    from exam_app.extensions import db

    centre = db.session.get(Centre, centre_id) if isinstance(centre_id, int) else None
    if centre is None or centre.session_id != session.id:
        raise NotFound("Ce centre n'existe pas dans cette session.")
    if not can_manage(current_user, session):
        abort(403)
    return centre


def establishment_in_session_or_404(session, establishment_id: int):
    """An establishment with candidates in this session (the académie's deposit dashboard
    filters by it): 404 when unknown or without a candidate of the session; 403 when the
    user does not manage the session."""
    from exam_app.enrolment.models import Candidate, Establishment
    from exam_app.errors import NotFound
    from exam_app.extensions import db

    establishment = db.session.get(Establishment, establishment_id)
    if establishment is None or db.session.scalar(
            sa.select(Candidate.id).where(Candidate.session_id == session.id,
                                          Candidate.establishment_id == establishment.id)
            .limit(1)) is None:
        raise NotFound("Cet établissement n'a aucun candidat dans cette session.")
    if not can_manage(current_user, session):
        abort(403)
    return establishment


def can_edit_centre_rooms(user: User, centre) -> bool:
    """A centre's rooms and E5 workstations: its own chef de centre, and the académie."""
    if can_manage(user):
        return True
    return centre is not None and user.is_authenticated and centre.id in user.centre_ids()


def centre_for_room_editor_or_403(centre_id: int):
    """The centre whose rooms the current user may edit: 404 when unknown, 403 when it is
    another centre's."""
    from exam_app.enrolment.models import Centre
    from exam_app.extensions import db

    centre = db.session.get(Centre, centre_id)
    if centre is None:
        abort(404)
    if not can_edit_centre_rooms(current_user, centre):
        abort(403)
    use_zone(centre.session.timezone)
    return centre


# --- E6


def e6_room_for_centre_staff_or_403(room_id: int):
    """An E6 room, if the current user may see its centre: 404 when unknown, 403 when out of scope."""
    from exam_app.e6.models import E6Room
    from exam_app.extensions import db

    room = db.session.get(E6Room, room_id)
    if room is None:
        abort(404)
    if not can_view_centre(current_user, room.centre):
        abort(403)
    return room


def lot_for_manager_or_403(lot_id: int):
    """An E6 lot, for the académie: 404 when unknown, 403 for anyone else."""
    from exam_app.e6.models import E6Lot

    return _managed_or_403(E6Lot, lot_id)


def lot_copy_for_manager_or_404(lot_id: int, anonymous_number: str):
    """An anonymous copy of a lot, for the académie (the lot checked as by
    lot_for_manager_or_403): 404 when the copy is not in that lot."""
    from exam_app.e6.models import E6Copy
    from exam_app.extensions import db

    lot = lot_for_manager_or_403(lot_id)
    copy = db.session.scalar(sa.select(E6Copy).where(
        E6Copy.lot_id == lot.id, E6Copy.anonymous_number == anonymous_number[:20]))
    if copy is None:
        abort(404)
    return copy


def lot_for_corrector_or_403(lot_id: int):
    """An E6 lot, if the current user is its correcteur: 404 when unknown, 403 when another's."""

    from exam_app.e6.models import E6Lot
    from exam_app.extensions import db

    lot = db.session.scalar(sa.select(E6Lot).where(E6Lot.id == lot_id,
                                                   E6Lot.corrector_id == current_user.id))
    if lot is None:
        abort(403 if db.session.get(E6Lot, lot_id) else 404)
    return lot


def copy_for_corrector_or_404(lot_id: int, anonymous_number: str):
    """An anonymous copy of the current correcteur's lot (checked as by
    lot_for_corrector_or_403); a copy outside that lot is refused with NotFound."""

    from exam_app.e6.models import E6Copy
    from exam_app.errors import NotFound
    from exam_app.extensions import db

    lot = lot_for_corrector_or_403(lot_id)
    copy = db.session.scalar(sa.select(E6Copy).where(
        E6Copy.lot_id == lot.id, E6Copy.anonymous_number == anonymous_number[:20]))
    if copy is None:
        raise NotFound("Copie inconnue dans ce lot : rechargez la page.")
    return copy

# --- Dossiers
# A candidate's own objects (their candidacies, uploads, files, internships) are
# loaded through a query filtered by ``current_user.candidate_ids()``: another
# candidate's are 404, not even detectable. Reading a dossier is wider
# (``can_read_dossier``: the académie, the candidate, the commission's jurors).


def candidate_for_self_or_404(candidate_id: int):
    """A candidate the current user *is*; others are 404."""
    from exam_app.enrolment.models import Candidate
    from exam_app.extensions import db

    if candidate_id not in current_user.candidate_ids():
        abort(404)
    candidate = db.session.get(Candidate, candidate_id)
    if candidate is None:
        abort(404)
    return candidate


def dossier_unit_or_404(unit_code: str):
    """The unit, if it exists and has a dossier; 404 otherwise."""
    from exam_app.units import get_unit

    try:
        unit = get_unit(unit_code)
    except KeyError:
        abort(404)
    if not unit.has_dossier:
        abort(404)
    return unit


def dossier_for_reader_or_403(candidate_id: int, unit_code: str):
    """(candidate, dossier or None) that the current user may read: 404 when unknown
    (or another candidate's, for a candidate), 403 when out of the reader's scope."""
    from types import SimpleNamespace

    from exam_app.dossiers.models import Dossier
    from exam_app.enrolment.models import Candidate
    from exam_app.extensions import db

    dossier_unit_or_404(unit_code)
    privileged = current_user.has_role(Role.GESTIONNAIRE, Role.EXAMINATEUR)
    if not privileged and candidate_id not in current_user.candidate_ids():
        abort(404)
    candidate = db.session.get(Candidate, candidate_id)
    if candidate is None:
        abort(404)
    dossier = db.session.scalar(sa.select(Dossier).where(
        Dossier.candidate_id == candidate.id, Dossier.unit_code == unit_code))
    subject = dossier or SimpleNamespace(candidate=candidate, unit_code=unit_code)
    if not can_read_dossier(current_user, subject):
        abort(403)
    return candidate, dossier


def dossier_file_for_reader_or_403(file_id: int):
    """A deposited file whose dossier the current user may read (see above)."""
    from exam_app.dossiers.models import DossierFile
    from exam_app.extensions import db

    file = db.session.get(DossierFile, file_id)
    if file is None:
        abort(404)
    dossier_for_reader_or_403(file.dossier.candidate_id, file.dossier.unit_code)
    return file


def dossier_file_for_owner_or_404(file_id: int):
    """A deposited file of one of the current user's own dossiers; others are 404."""

    from exam_app.dossiers.models import Dossier, DossierFile
    from exam_app.extensions import db

    file = db.session.scalar(sa.select(DossierFile).join(Dossier).where(
        DossierFile.id == file_id, Dossier.candidate_id.in_(current_user.candidate_ids())))
    if file is None:
        abort(404)
    return file


def upload_for_owner_or_404(token: str):
    """An upload in progress of the current user's own dossiers; others are 404.

    Its dossier comes with it (a joined load): the chunk path needs both.
    """
    from sqlalchemy.orm import contains_eager

    from exam_app.dossiers.models import Dossier, Upload
    from exam_app.extensions import db

    upload = db.session.scalar(
        sa.select(Upload).join(Upload.dossier).options(contains_eager(Upload.dossier)).where(
            Upload.token == token[:64],
            Dossier.candidate_id.in_(current_user.candidate_ids())))
    if upload is None:
        abort(404)
    return upload


def internship_for_owner_or_404(period_id: int):
    """An internship period the current user declared as a candidate; others are 404."""

    from exam_app.dossiers.models import InternshipPeriod
    from exam_app.extensions import db

    period = db.session.scalar(sa.select(InternshipPeriod).where(
        InternshipPeriod.id == period_id,
        InternshipPeriod.candidate_id.in_(current_user.candidate_ids())))
    if period is None:
        abort(404)
    return period


def commission_for_dossier_reader_or_403(commission_id: int):
    """A commission whose dossiers the current user may list: the académie, its members."""
    from exam_app.extensions import db
    from exam_app.juries.models import Commission

    commission = db.session.get(Commission, commission_id)
    if commission is None:
        abort(404)
    if not (current_user.has_role(Role.GESTIONNAIRE)
            or any(m.user_id == current_user.id for m in commission.members)):
        abort(403)
    return commission


# --- Juries


def passage_for_juror_or_403(passage_id: int):
    """A passage of one of the current juror's commissions: 404 when unknown, 403 otherwise."""
    from exam_app.extensions import db
    from exam_app.juries.models import CommissionMember, Passage

    passage = db.session.scalar(
        sa.select(Passage).join(CommissionMember,
                                CommissionMember.commission_id == Passage.commission_id)
        .where(Passage.id == passage_id, CommissionMember.user_id == current_user.id))
    if passage is None:
        abort(403 if db.session.get(Passage, passage_id) is not None else 404)
    use_zone(passage.commission.session.timezone)
    return passage


def juror_passage_row(passage_id: int, statement, user_id: int, *conditions):
    """The row of ``statement`` (a select whose first entity is ``Passage``) for a
    passage of one of ``user_id``'s commissions that also meets ``conditions`` (the
    caller's, e.g. the login of a session cookie), in that one query; None when there
    is none (no refusal here: see ``juror_passage_row_or_403``)."""
    from exam_app.extensions import db
    from exam_app.juries.models import CommissionMember, Passage

    mine = sa.exists().where(CommissionMember.commission_id == Passage.commission_id,
                             CommissionMember.user_id == user_id)
    return db.session.execute(statement.where(Passage.id == passage_id, mine, *conditions)) \
        .unique().one_or_none()


@functools.cache
def juror_login_statement(statement, role: Role):
    """``statement`` restricted as ``juror_passage_row`` does, for the login of bind
    parameters ``user_id`` and ``token`` holding ``role`` (``login_matches``), built once
    per statement (``statement`` must itself be built once): the hot jury requests no
    longer rebuild and re-key the same conditions on each call."""
    from exam_app.juries.models import Passage

    user_id, token = sa.bindparam("user_id", type_=sa.Integer), sa.bindparam("token",
                                                                            type_=sa.String)
    return statement.where(Passage.id == sa.bindparam("passage_id", type_=sa.Integer),
                           *juror_login_conditions(user_id, token, role))


def login_matches(user_id, token, *roles: Role) -> sa.ColumnElement[bool]:
    """SQL condition: ``User.id == user_id`` is the login ``load_user_from_cookie``
    accepts (same session token), enabled (``login_required`` refuses a user whose
    ``is_authenticated``, that is ``is_active``, is false) and holding one of
    ``roles`` (``roles_required``).
    ``user_id`` and ``token`` are SQL expressions or values (bind parameters)."""
    # One role compares with ``=``: an ``IN`` of a list is re-rendered at each run
    # (an expanding parameter), a measurable part of the autosave's query.
    held = (RoleAssignment.role == roles[0] if len(roles) == 1
            else RoleAssignment.role.in_(list(roles)))
    return sa.and_(
        User.id == user_id, User.session_token == token, User.is_enabled.is_(True),
        sa.exists().where(RoleAssignment.user_id == User.id, held))


def juror_login_conditions(user_id, token, role: Role) -> tuple:
    """The conditions of a statement on ``Passage`` that keep a passage of one of
    ``user_id``'s commissions for the login (``user_id``, session ``token``, values or
    bind parameters) holding ``role``: the seat and ``login_matches``. For the
    statements built once by the jury's lean paths."""
    from exam_app.juries.models import CommissionMember, Passage

    mine = sa.exists().where(CommissionMember.commission_id == Passage.commission_id,
                             CommissionMember.user_id == user_id)
    return mine, sa.exists().where(login_matches(user_id, token, role))


def juror_login_passage_row(passage_id: int, statement, user_id: int, token: str, role: Role):
    """``juror_passage_row`` for the login (``user_id``, session ``token``) a session
    cookie carries, checked in the same query (``accounts.session_login``): the row, or
    None (no refusal here). ``statement`` must be built once (a cached function's)."""
    from exam_app.extensions import db

    return db.session.execute(juror_login_statement(statement, role),
                              {"passage_id": passage_id, "user_id": user_id, "token": token}) \
        .unique().one_or_none()


def juror_passage_row_or_403(passage_id: int, statement):
    """The row of ``statement`` (a select whose first entity is ``Passage``, with the
    caller's columns and loader options) for a passage of one of the current juror's
    commissions: the scope check is in the same query. 404 when unknown, 403 otherwise
    (a second, narrow query only then)."""
    from exam_app.extensions import db
    from exam_app.juries.models import Passage

    row = juror_passage_row(passage_id, statement, current_user.id)
    if row is None:
        known = db.session.scalar(sa.select(Passage.id).where(Passage.id == passage_id))
        abort(403 if known is not None else 404)
    return row


def _juror_passage_column(passage_id: int, column):
    """One column of a passage of one of the current juror's commissions, in one narrow
    query (not the passage with its collections); 404 when unknown, 403 otherwise."""
    from exam_app.extensions import db
    from exam_app.juries.models import CommissionMember, Passage

    value = db.session.scalar(
        sa.select(column).join(CommissionMember,
                               CommissionMember.commission_id == Passage.commission_id)
        .where(Passage.id == passage_id, CommissionMember.user_id == current_user.id))
    if value is None:
        known = db.session.scalar(sa.select(Passage.id).where(Passage.id == passage_id))
        abort(403 if known is not None else 404)
    return value


def passage_version_for_juror_or_403(passage_id: int) -> int:
    """The live version of a passage of one of the current juror's commissions (the
    push's long poll)."""
    from exam_app.juries.models import Passage

    return _juror_passage_column(passage_id, Passage.live_version)


def juror_passage_id_or_403(passage_id: int) -> int:
    """``passage_for_juror_or_403`` without loading the passage: for a service that loads
    it itself under the passage's lock."""
    from exam_app.juries.models import Passage

    return _juror_passage_column(passage_id, Passage.id)


def passage_for_manager_or_403(passage_id: int):
    """A passage, for the académie's exam office: 404 when unknown, 403 otherwise."""
    from exam_app.juries.models import Passage

    passage = _managed_or_403(Passage, passage_id)
    use_zone(passage.commission.session.timezone)  # its day and times: its session's zone
    return passage


def commission_for_manager_or_403(commission_id: int):
    """A commission, for the académie's exam office: 404 when unknown, 403 otherwise."""
    from exam_app.juries.models import Commission

    commission = _managed_or_403(Commission, commission_id)
    use_zone(commission.session.timezone)  # its planning's times: its session's zone
    return commission


def deliberation_for_member_or_403(code: str):
    """(session, délibération) for a member of its jury (president included): 404 when the
    session is unknown, 403 when the user does not sit on its jury (or it has none)."""
    from exam_app.deliberation.models import Deliberation
    from exam_app.extensions import db

    session = session_or_404(code)
    deliberation = db.session.scalar(sa.select(Deliberation).where(
        Deliberation.session_id == session.id))
    if deliberation is None or not current_user.is_authenticated \
            or current_user.id not in deliberation.member_ids():
        abort(403)
    return session, deliberation


def can_read_deliberation_pv(user: User, deliberation) -> bool:
    """The procès-verbal: the académie, and the jury that signed it."""
    return can_manage(user) or (deliberation is not None and user.is_authenticated
                                and user.id in deliberation.member_ids())


def candidate_for_jury_or_404(session, candidate_id: int):
    """A candidate of the session the jury deliberates on; any other is 404."""
    from exam_app.enrolment.models import Candidate
    from exam_app.extensions import db

    candidate = db.session.get(Candidate, candidate_id)
    if candidate is None or candidate.session_id != session.id:
        abort(404)
    return candidate


def passage_for_candidate_or_404(passage_id: int):
    """A passage of a candidate the current user *is* (their convocation); others are 404."""
    from exam_app.extensions import db
    from exam_app.juries.models import Passage

    passage = db.session.get(Passage, passage_id)
    if passage is None or passage.candidate_id not in current_user.candidate_ids():
        abort(404)
    use_zone(passage.candidate.session.timezone)
    return passage


# --- CCF (issue 14, §2): an establishment's coordinator sees its own CCF candidates,
# commissions and passages; the académie sees every establishment's.


def can_coordinate_ccf(user: User, establishment_id: int | None) -> bool:
    """The académie, and the establishment's CCF coordinator."""
    if not user.is_authenticated:
        return False
    if can_manage(user):
        return True
    return establishment_id is not None and establishment_id in user.establishment_ids()


def ccf_establishment_or_403(code: str, establishment_id: int):
    """(session, establishment) whose CCF the current user coordinates: 404 when either
    is unknown, 403 when it is another establishment."""
    from exam_app.enrolment.models import Establishment
    from exam_app.extensions import db

    establishment = db.session.get(Establishment, establishment_id)
    if establishment is None:
        abort(404)
    if not can_coordinate_ccf(current_user, establishment.id):
        abort(403)
    return session_or_404(code), establishment


def ccf_candidate_or_403(candidate_id: int):
    """A candidate of an establishment whose CCF the current user coordinates: 404 when
    unknown, 403 when another establishment's."""
    from exam_app.enrolment.models import Candidate
    from exam_app.extensions import db

    candidate = db.session.get(Candidate, candidate_id)
    if candidate is None:
        abort(404)
    if not can_coordinate_ccf(current_user, candidate.establishment_id):
        abort(403)
    use_zone(candidate.session.timezone)
    return candidate


def ccf_commission_for_coordinator(commission_id: int | None, establishment_id: int):
    """A CCF commission of the establishment (a form's choice), or None: a commission of
    another establishment is treated as unknown."""
    from exam_app.extensions import db
    from exam_app.juries.models import Commission

    if not commission_id:
        return None
    return db.session.scalar(sa.select(Commission).where(
        Commission.id == commission_id, Commission.form == "ccf",
        Commission.establishment_id == establishment_id))
