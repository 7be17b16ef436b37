"""The session's rules for deposited files: the page cap of one file and what to
do with each kind of active content (refuse the file, or accept it and flag it
for the conformity control). Read by the deposit, changed here (audited)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.dossiers import pdfcheck
from exam_app.dossiers.common import DepositError
from exam_app.enrolment.models import ExamSession
from exam_app.extensions import db


def file_rules(session: ExamSession) -> dict:
    """The rules in force: ``max_pages`` and ``policy`` ({kind: "refuse" | "flag"})."""
    return {"max_pages": session.dossier_max_pages,
            "policy": pdfcheck.policy_with_defaults(session.active_content_policy)}


def set_file_rules(*, session: ExamSession, max_pages: int, policy: dict[str, str], actor,
                   now: datetime | None = None) -> None:
    """Change the page cap and the active-content policy of the session (audited).

    Applies to files deposited from now on; files already deposited keep their verdict.
    """
    now = now or utcnow()
    if (not isinstance(max_pages, int) or isinstance(max_pages, bool)
            or not 1 <= max_pages <= pdfcheck.MAX_PAGES_LIMIT):
        raise DepositError(f"Le nombre de pages maximal d'un fichier doit être compris entre 1 "
                           f"et {pdfcheck.MAX_PAGES_LIMIT}.", status=400, field="max_pages")
    unknown = [k for k, v in policy.items()
               if k not in pdfcheck.ACTIVE_KINDS or v not in (pdfcheck.REFUSE, pdfcheck.FLAG)]
    if unknown:
        raise DepositError("Réglage du contenu actif inconnu.", status=400, field="policy",
                           details=unknown)
    # Serialised with other changes of the session row (a no-op lock on SQLite, where
    # the one UPDATE below is atomic; the audit keeps every before/after).
    db.session.execute(sa.select(ExamSession.id).where(ExamSession.id == session.id)
                       .with_for_update())
    db.session.refresh(session, attribute_names=["dossier_max_pages", "active_content_policy"])
    before = file_rules(session)
    policy = pdfcheck.policy_with_defaults(policy)
    after = {"max_pages": max_pages, "policy": policy}
    if after == before:
        return
    session.dossier_max_pages = max_pages
    session.active_content_policy = policy
    db.session.flush()
    record(actor=actor, action="dossier.file_rules_set", object_type="exam_session",
           object_id=session.id, session_id=session.id, before=before, after=after, now=now)
