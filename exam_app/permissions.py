"""Who may do what: named checks and role decorators.

Views load an object through a query already filtered by what the user may
see, then call the matching ``can_*`` check and ``abort(403)`` when it fails.
"""

from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user, login_required

from exam_app.accounts.models import Role, User


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


def can_read_dossier(user: User, dossier) -> bool:
    """The académie, the candidate themself, and the jurors of the candidate's commission.

    Until passages exist, a juror's commission is one of the same session and
    unit in the candidate's centre (ponctuel) or establishment (CCF); narrow
    this to the candidate's passages when they arrive.
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
    import sqlalchemy as sa

    from exam_app.extensions import db
    from exam_app.juries.models import Commission, CommissionMember

    scope = []
    if candidate.centre_id is not None:
        scope.append(sa.and_(Commission.form == "ponctuel",
                             Commission.centre_id == candidate.centre_id))
    scope.append(sa.and_(Commission.form == "ccf",
                         Commission.establishment_id == candidate.establishment_id))
    found = db.session.scalar(
        sa.select(Commission.id)
        .join(CommissionMember, CommissionMember.commission_id == Commission.id)
        .where(CommissionMember.user_id == user.id,
               Commission.session_id == candidate.session_id,
               Commission.unit_code == dossier.unit_code,
               sa.or_(*scope))
        .limit(1)
    )
    return found is not None


def centre_or_403(centre_id: int):
    """The centre, if the current user may see it: 404 when unknown, 403 when out of scope."""
    from exam_app.enrolment.models import Centre
    from exam_app.extensions import db

    centre = db.session.get(Centre, centre_id)
    if centre is None:
        abort(404)
    if not can_view_centre(current_user, centre):
        abort(403)
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
    from exam_app.extensions import db

    lot = db.session.get(E6Lot, lot_id)
    if lot is None:
        abort(404)
    if not can_manage(current_user):
        abort(403)
    return lot


def lot_for_corrector_or_403(lot_id: int):
    """An E6 lot, if the current user is its correcteur: 404 when unknown, 403 when another's."""
    import sqlalchemy as sa

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
    import sqlalchemy as sa

    from exam_app.e6.models import E6Copy
    from exam_app.errors import NotFound
    from exam_app.extensions import db

    lot = lot_for_corrector_or_403(lot_id)
    copy = db.session.scalar(sa.select(E6Copy).where(
        E6Copy.lot_id == lot.id, E6Copy.anonymous_number == anonymous_number[:20]))
    if copy is None:
        raise NotFound("Copie inconnue dans ce lot : rechargez la page.")
    return copy
