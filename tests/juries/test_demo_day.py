"""The demo loads a jury day for the E4-LYO01 commission (jury1, jury2)."""

from __future__ import annotations

import sqlalchemy as sa

from exam_app.juries.models import Commission, Passage


def test_demo_loads_today_passages_for_jury1(demo_db):
    counts = dict(demo_db.session.execute(
        sa.select(Commission.code, sa.func.count(Passage.id))
        .join(Passage, Passage.commission_id == Commission.id)
        .group_by(Commission.code)).all())
    members = demo_db.session.scalar(sa.select(Commission).where(Commission.code == "E4-LYO01")).members
    assert (counts["E4-LYO01"], sorted(m.user.username for m in members)) == (8, ["jury1", "jury2"])
