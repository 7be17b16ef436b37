"""A jury day for printed documents: one E4 commission in a centre on
mercredi 12 mai 2027 with a marked candidate (14,5), an absent one (ABS) and
one without a dossier after the deadline (NV)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from exam_app.accounts.models import Role
from exam_app.clock import utcnow
from exam_app.dossiers.models import Decision, DepositDeadline, Dossier
from exam_app.juries import autosave, grids, lifecycle, planning, validation
from exam_app.juries.models import AGREED, Attendance

DAY = date(2027, 5, 12)
T0 = datetime(2027, 5, 12, 7, 0, tzinfo=UTC)  # 9 h 00 in Paris


def pdf_text(pdf: bytes) -> str:
    import io

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def decode_qr(pdf: bytes, tmp_path) -> str:
    (tmp_path / "doc.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "150", "-f", "1", "-l", "1",
                    str(tmp_path / "doc.pdf"), str(tmp_path / "page")], check=True)
    page = sorted(tmp_path.glob("page*.png"))[0]
    return subprocess.run(["zbarimg", "--raw", "-q", str(page)], capture_output=True, text=True,
                          check=True).stdout.strip()


needs_poppler_zbar = pytest.mark.skipif(
    not (shutil.which("pdftoppm") and shutil.which("zbarimg")),
    reason="pdftoppm (poppler-utils) and zbarimg (zbar-tools) are needed to decode QR codes",
)


def save_agreed(passage, user, values: dict[str, str], now=T0):
    ops = []
    for name, value in values.items():
        ops.append({"op": uuid.uuid4().hex, "field": name, "value": value,
                    "base": _version(passage, name)})
    context = autosave.save_context(passage_id=passage.id, user_id=user.id, grid_key=AGREED)
    autosave.save_fields(context=context, ops=ops, actor=user, now=now)
    from exam_app.extensions import db

    db.session.expire_all()


def _version(passage, name) -> int:
    from exam_app.extensions import db
    from exam_app.juries.models import Grid, GridField

    version = db.session.scalar(sa.select(GridField.version).join(Grid).where(
        Grid.passage_id == passage.id, Grid.key == AGREED, GridField.name == name))
    return version or 0


def finalize(passage, mark: str, now=T0):
    first, second = (m.user for m in passage.commission.members)
    if passage.started_at is None:
        lifecycle.start_passage(passage=passage, actor=first, now=now)
    # A joint validation needs every criterion assessed (issue 11, rule 15).
    criteria = {name: "S" for name in grids.field_names(passage.unit_code, passage.variant_code)
                if name.startswith("c:")}
    save_agreed(passage, first, {**criteria, "mark": mark, "c:outils_maitrise": "TS",
                                 "appreciation": "Présentation claire & <b>structurée</b>."},
                now=now)
    validation.validate(passage=passage, revision=passage.agreed_revision, actor=first, now=now)
    validation.validate(passage=passage, revision=passage.agreed_revision, actor=second, now=now)


@pytest.fixture()
def jury_day(db, create_session, create_centre, create_candidate, create_commission,
             create_user):
    session = create_session()
    centre = create_centre(session, name="Lycée Ampère", address="31 rue de la Bourse",
                           postal_code="69002")
    teacher = create_user(Role.EXAMINATEUR, first_name="Anne", last_name="Roy")
    pro = create_user(Role.EXAMINATEUR, first_name="Paul", last_name="Marchand")
    commission = create_commission(session, centre=centre, teacher=teacher, professional=pro)
    marked = create_candidate(session, centre=centre, last_name="DUPONT", first_name="Léa")
    absent = create_candidate(session, centre=centre, last_name="MARTIN", first_name="Hugo")
    nv = create_candidate(session, centre=centre, last_name="NGUYEN", first_name="Linh")
    gestionnaire = create_user(Role.GESTIONNAIRE)
    db.session.add(DepositDeadline(session_id=session.id, unit_code="E4",
                                   deadline_at=utcnow() - timedelta(days=1)))
    for c in (marked, absent):
        db.session.add(Dossier(candidate_id=c.id, unit_code="E4",
                               decision=Decision.COMPLIANT.value, decided_at=T0))
    passages = planning.assign_candidates(
        commission=commission, numbers=[marked.number, absent.number, nv.number],
        variant_code="ponctuel", actor=gestionnaire, now=T0 - timedelta(days=10))
    for n, p in enumerate(passages):
        p.scheduled_at = T0 + timedelta(hours=n)
        p.room = "B12"
    db.session.flush()
    lifecycle.set_attendance(passage=passages[1], attendance=Attendance.ABSENT, actor=teacher,
                             now=T0)
    return {"session": session, "centre": centre, "commission": commission,
            "passages": passages, "marked": marked, "absent": absent, "nv": nv,
            "teacher": teacher, "pro": pro, "gestionnaire": gestionnaire}
