"""The readiness board of the session dashboard: each blocker counted exactly while it is
there, gone once fixed, the all-clear said as such, and a cost that does not grow with
the number of candidates."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.clock import utcnow
from exam_app.documents.models import PackState, PrintPack
from exam_app.dossiers.models import Decision, DepositDeadline, Dossier
from exam_app.e6.models import E6Lot
from exam_app.extensions import db as _db
from exam_app.juries.models import CommissionMember, MemberRole, Passage
from exam_app.overview import readiness
from tests.conftest import statements_of
from tests.e6.builders import add_room, seat

NOW = datetime(2027, 4, 1, 10, 0, tzinfo=UTC)
# 18 May 2027 in Paris (UTC+2): 08:00 and 23:30 local.
MORNING = datetime(2027, 5, 18, 6, 0, tzinfo=UTC)
LATE_EVENING = datetime(2027, 5, 18, 21, 30, tzinfo=UTC)


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _passage(commission, candidate, variant, at=MORNING) -> Passage:
    passage = Passage(commission_id=commission.id, candidate_id=candidate.id,
                      unit_code=commission.unit_code, variant_code=variant, scheduled_at=at,
                      room="B12")
    _db.session.add(passage)
    _db.session.flush()
    return passage


def _pack(centre, day: date, kinds: str, state=PackState.DONE) -> PrintPack:
    pack = PrintPack(centre_id=centre.id, day=day, kinds=kinds, fmt="pdf", state=state.value)
    _db.session.add(pack)
    _db.session.flush()
    return pack


@pytest.fixture()
def built(db, create_session, create_centre, create_establishment, create_candidate,
          create_user, create_commission):
    """A session with one instance (or two) of every blocker."""
    session = create_session(code="SAM2027", name="BTS SAM 2027")
    lyon = create_centre(session, code="LYO01", name="Centre de Lyon")
    lycee = create_establishment(name="Lycée Ampère")
    ana = create_candidate(session, centre=lyon, establishment=lycee, last_name="ANA")
    ben = create_candidate(session, centre=lyon, establishment=lycee, e5_form="ccf",
                           last_name="BEN")
    cle = create_candidate(session, establishment=lycee, last_name="CLE")  # no centre
    # Accounts: one staff account never activated counts; a candidate's, a disabled one's
    # and an activated one's do not.
    juror = create_user(Role.EXAMINATEUR)
    juror.password_hash = "!" + "0" * 32
    for user in (create_user(Role.CANDIDAT, candidate=ana),
                 create_user(Role.CORRECTEUR, is_enabled=False)):
        user.password_hash = "!" + "1" * 32
    # Deadlines: E4 passed, E5 to come. ANA decided, BEN has an extension, CLE nothing.
    db.session.add_all([
        DepositDeadline(session_id=session.id, unit_code="E4",
                        deadline_at=datetime(2027, 3, 1, 22, 59, tzinfo=UTC)),
        DepositDeadline(session_id=session.id, unit_code="E5",
                        deadline_at=datetime(2027, 4, 30, 21, 59, tzinfo=UTC)),
        Dossier(candidate_id=ana.id, unit_code="E4", decision=Decision.COMPLIANT.value,
                decided_at=NOW),
        Dossier(candidate_id=ben.id, unit_code="E4",
                extended_until=datetime(2027, 4, 15, tzinfo=UTC)),
    ])
    # Commissions: E4 complete and planned; E5 ponctuel without its professional; E5 CCF
    # complete but with no day.
    e4 = create_commission(session, unit_code="E4", centre=lyon)
    e5 = create_commission(session, unit_code="E5", centre=lyon)
    e5.members = [m for m in e5.members if m.member_role == MemberRole.TEACHER.value]
    ccf = create_commission(session, unit_code="E5", form="ccf")
    ccf.establishment_id = lycee.id
    _passage(e4, ana, "ponctuel")
    # Print packs that do not cover ANA's convocation: another day, without convocations,
    # failed.
    _pack(lyon, date(2027, 5, 17), "convocation")
    _pack(lyon, date(2027, 5, 18), "emargement")
    _pack(lyon, date(2027, 5, 18), "bordereau,convocation", state=PackState.FAILED)
    # E6: ANA seated (present: an anonymous copy, in no lot yet), BEN not.
    amphi = add_room(lyon, name="Amphi")
    copy = seat(ana, amphi)
    db.session.flush()
    return {"session": session, "lyon": lyon, "ana": ana, "ben": ben, "cle": cle,
            "juror": juror, "e4": e4, "e5": e5, "ccf": ccf, "amphi": amphi, "copy": copy,
            "lycee": lycee}


def test_board_counts_each_blocker(built):
    counts = readiness.counts(built["session"], now=NOW)
    lyon = built["lyon"]
    assert counts == readiness.Counts(
        without_centre=1,
        not_activated=1,
        undecided={"E4": 1, "E5": 0},
        incomplete_commissions=2,
        # ANA lacks E5 ponctuel; BEN lacks E4 and both CCF situations; CLE lacks E4, E5.
        unplanned=3,
        unprinted=[(lyon.id, "Centre de Lyon", 1)],
        unseated=[(lyon.id, "Centre de Lyon", 1)],
        copies_without_lot=1,
    )


def _fix_everything(b, create_user) -> None:
    b["cle"].centre_id = b["lyon"].id
    b["juror"].set_password("Activé-par-son-lien-2027")  # activated: a password chosen
    _db.session.add(Dossier(candidate_id=b["cle"].id, unit_code="E4",
                            decision=Decision.NON_COMPLIANT.value, decided_at=NOW))
    _db.session.execute(sa.update(Dossier).where(Dossier.candidate_id == b["ben"].id)
                        .values(decision=Decision.COMPLIANT.value, decided_at=NOW))
    b["e5"].members.append(CommissionMember(user=create_user(Role.EXAMINATEUR),
                                            member_role=MemberRole.PROFESSIONAL.value))
    _passage(b["e5"], b["ana"], "ponctuel")
    _passage(b["e4"], b["ben"], "ponctuel")
    _passage(b["ccf"], b["ben"], "ccf_a")
    _passage(b["ccf"], b["ben"], "ccf_b")
    _passage(b["e4"], b["cle"], "ponctuel", at=LATE_EVENING)  # still 18 May in Paris
    _passage(b["e5"], b["cle"], "ponctuel", at=LATE_EVENING)
    _pack(b["lyon"], date(2027, 5, 18), "convocation,emargement")
    seat(b["ben"], b["amphi"], attendance=None)
    seat(b["cle"], b["amphi"], attendance=None)
    lot = E6Lot(session_id=b["session"].id, code="L01", corrector_id=b["juror"].id)
    _db.session.add(lot)
    _db.session.flush()
    b["copy"].lot_id = lot.id
    _db.session.flush()


def test_board_is_clear_once_every_blocker_is_fixed(built, create_user):
    _fix_everything(built, create_user)
    counts = readiness.counts(built["session"], now=NOW)
    assert counts == readiness.Counts(0, 0, {"E4": 0, "E5": 0}, 0, 0, [], [], 0)


def test_dashboard_says_all_clear(client, login_as, create_user, built):
    _fix_everything(built, create_user)
    # The page reads the real clock: E5's deadline is a month away.
    _db.session.execute(sa.update(DepositDeadline).where(DepositDeadline.unit_code == "E5")
                        .values(deadline_at=utcnow() + timedelta(days=30)))
    login_as(create_user(Role.GESTIONNAIRE))
    page = _text(client.get("/gestion/sessions/SAM2027/"))
    assert '<h2 id="readiness-title">Tout est prêt</h2>' in page
    assert "Rien ne bloque l'étape suivante" in page
    assert "data-blocker=" not in page
    assert "Pour continuer la mise en place" not in page


def test_a_passage_of_another_paris_day_needs_its_own_pack(built):
    # 19 May 00:30 in Paris is 18 May 22:30 UTC: the pack of the 18th does not cover it.
    _pack(built["lyon"], date(2027, 5, 18), "convocation")
    _passage(built["e5"], built["ana"], "ponctuel", at=datetime(2027, 5, 18, 22, 30, tzinfo=UTC))
    counts = readiness.counts(built["session"], now=NOW)
    assert counts.unprinted == [(built["lyon"].id, "Centre de Lyon", 1)]


def _statements(session) -> int:
    _db.session.refresh(session)  # loaded before counting: the board's own statements only
    seen = []

    def count(*args):
        seen.append(args[2])

    sa.event.listen(_db.engine, "before_cursor_execute", count)
    try:
        readiness.counts(session, now=NOW)
    finally:
        sa.event.remove(_db.engine, "before_cursor_execute", count)
    return len(seen)


def test_board_statements_do_not_grow_with_the_candidates(built, create_candidate):
    _db.session.commit()
    few = _statements(built["session"])
    for n in range(40):
        candidate = create_candidate(built["session"], establishment=built["lycee"],
                                     centre=built["lyon"] if n % 2 else None,
                                     e5_form="ccf" if n % 3 else "ponctuel")
        if n % 4 == 0:
            _passage(built["e4"], candidate, "ponctuel")
    _db.session.commit()
    many = _statements(built["session"])
    assert few == many == 9  # one per blocker, two for the convocations
    assert readiness.counts(built["session"], now=NOW).without_centre == 21


def test_dashboard_shows_the_board_with_links(client, login_as, create_user, built):
    # The page reads the real clock: E4's deadline passed yesterday, BEN's extension runs on.
    today = utcnow()
    _db.session.execute(sa.update(DepositDeadline).where(DepositDeadline.unit_code == "E4")
                        .values(deadline_at=today - timedelta(days=1)))
    _db.session.execute(sa.update(Dossier).where(Dossier.candidate_id == built["ben"].id)
                        .values(extended_until=today + timedelta(days=10)))
    login_as(create_user(Role.GESTIONNAIRE))
    page = _text(client.get("/gestion/sessions/SAM2027/"))
    board = page[page.index('id="readiness-title"'):page.index('id="kpi-title"')]
    assert "À faire avant l'étape suivante" in board
    items = re.findall(r'data-blocker="(\w+)">\s*<span class="readiness__count">(\d+)</span>'
                       r'\s*<div>\s*<p class="readiness__label"><strong>([^<]+)</strong>', board)
    assert items[:2] == [("without_centre", "1", "candidat sans centre d'examen"),
                         ("not_activated", "1", "compte non activé")]
    assert [(key, count) for key, count, _ in items] == [
        ("without_centre", "1"), ("not_activated", "1"), ("undecided", "1"),
        ("incomplete_commissions", "2"), ("unplanned", "3"), ("unprinted", "1"),
        ("unseated", "1"), ("copies_without_lot", "1")]
    assert '<a href="/gestion/sessions/SAM2027/conformite/E4">Contrôle de conformité E4 (1)</a>' \
        in board
    lyon = built["lyon"].id
    assert 'href="/gestion/sessions/SAM2027/candidats?centre=aucun"' in board
    assert 'href="/gestion/sessions/SAM2027/personnes"' in board
    assert 'href="/gestion/sessions/SAM2027/commissions"' in board
    assert f'<a href="/centres/{lyon}/impressions">Centre de Lyon (1)</a>' in board
    assert f'<a href="/centre/{lyon}/e6/">Centre de Lyon (1)</a>' in board
    assert 'href="/gestion/sessions/SAM2027/e6/"' in board
    assert "Tout est prêt" not in board


def test_the_without_centre_link_lists_those_candidates(client, login_as, create_user, built):
    login_as(create_user(Role.GESTIONNAIRE))
    page = _text(client.get("/gestion/sessions/SAM2027/candidats?centre=aucun"))
    assert "1 candidat</p>" in page
    assert "CLE" in page and "ANA" not in page
    assert '<option value="aucun" selected>Sans centre</option>' in page


def test_an_empty_session_is_not_called_ready(client, login_as, create_user, create_session):
    create_session(code="VIDE", name="Session vide")
    login_as(create_user(Role.GESTIONNAIRE))
    page = _text(client.get("/gestion/sessions/VIDE/"))
    assert "Tout est prêt" not in page
    assert "Pour continuer la mise en place" in page


def test_dashboard_statements_do_not_grow_and_it_names_ten_without_centre(
        app, client, login_as, create_user, built, create_candidate):
    """The whole dashboard (board, counts, the first names without centre): the same
    statements for 1 candidate without centre or 26, and 10 of them named."""
    login_as(create_user(Role.GESTIONNAIRE))
    _db.session.commit()

    def page():
        response = client.get("/gestion/sessions/SAM2027/")
        assert response.status_code == 200
        return _text(response)

    first, few = statements_of(app, page)
    for n in range(25):
        create_candidate(built["session"], establishment=built["lycee"], centre=None,
                         e5_form="ccf" if n % 3 else "ponctuel")
    _db.session.commit()
    second, many = statements_of(app, page)
    assert len(few) == len(many)
    names = [re.findall(r'aria-label="Candidats concernés">(.*?)</ul>', html, re.S)[0]
             for html in (first, second)]
    assert [len(re.findall(r"<li><code>", n)) for n in names] == [1, 10]
    assert "… et 16 autres" in names[1]
    assert ">26</span>" in second  # the board's count of candidates without centre
