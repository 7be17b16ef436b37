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


def can_view_candidate(user: User, candidate) -> bool:
    """The académie, the candidate themself, and the head of the candidate's centre."""
    if can_manage(user):
        return True
    if candidate.id in user.candidate_ids():
        return True
    return candidate.centre_id is not None and candidate.centre_id in user.centre_ids()


def can_view_commission(user: User, commission) -> bool:
    if can_manage(user):
        return True
    if commission.centre_id is not None and commission.centre_id in user.centre_ids():
        return True
    return any(m.user_id == user.id for m in commission.members)


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


# --- Juries


def passage_for_juror_or_403(passage_id: int):
    """A passage of one of the current juror's commissions: 404 when unknown, 403 otherwise."""
    import sqlalchemy as sa

    from exam_app.extensions import db
    from exam_app.juries.models import CommissionMember, Passage

    passage = db.session.scalar(
        sa.select(Passage).join(CommissionMember,
                                CommissionMember.commission_id == Passage.commission_id)
        .where(Passage.id == passage_id, CommissionMember.user_id == current_user.id))
    if passage is None:
        abort(403 if db.session.get(Passage, passage_id) is not None else 404)
    return passage


def passage_for_manager_or_403(passage_id: int):
    """A passage, for the académie's exam office: 404 when unknown, 403 otherwise."""
    from exam_app.extensions import db
    from exam_app.juries.models import Passage

    passage = db.session.get(Passage, passage_id)
    if passage is None:
        abort(404)
    if not can_manage(current_user):
        abort(403)
    return passage


def commission_for_manager_or_403(commission_id: int):
    """A commission, for the académie's exam office: 404 when unknown, 403 otherwise."""
    from exam_app.extensions import db
    from exam_app.juries.models import Commission

    commission = db.session.get(Commission, commission_id)
    if commission is None:
        abort(404)
    if not can_manage(current_user):
        abort(403)
    return commission
