"""The live board's counts agree with their labels: « 1 absent », « 2 absents » (issue 17)."""

from __future__ import annotations

import re

from exam_app.accounts.models import Role
from exam_app.clock import utcnow
from exam_app.enrolment.models import Attendance
from exam_app.juries import lifecycle


def _absent_label(html: str) -> tuple[str, str]:
    found = re.search(r'<span class="kpi__value" data-k="absent">(\d+)</span>'
                      r'<span class="kpi__label"[^>]*>([^<]+)</span>', html)
    return found.group(1), found.group(2)


def test_board_says_one_absent_then_two_absents(client, login_as, db, create_passage,
                                                create_user):
    first = create_passage()
    second = create_passage(commission=first.commission)
    manager = create_user(Role.GESTIONNAIRE)
    for passage in (first, second):
        passage.scheduled_at = utcnow()
    lifecycle.set_attendance(passage=first, attendance=Attendance.ABSENT, actor=manager)
    db.session.commit()
    login_as(manager)
    url = f"/gestion/sessions/{first.commission.session.code}/suivi"
    assert _absent_label(client.get(url).get_data(as_text=True)) == ("1", "absent")
    lifecycle.set_attendance(passage=second, attendance=Attendance.ABSENT, actor=manager)
    db.session.commit()
    html = client.get(url).get_data(as_text=True)
    assert _absent_label(html) == ("2", "absents")
    assert 'data-plural-of="absent" data-singular="absent" data-plural="absents"' in html
