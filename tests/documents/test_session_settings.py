"""What a session's set-up changes in printed documents (issue 13, item 1): dates and
times printed in the session's time zone; a rule changed after use supersedes the
documents that depend on it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from exam_app.documents import bordereau, convocation, evaluation
from exam_app.enrolment import sessions
from exam_app.printing.pdf import render_pdf
from tests.documents.conftest import T0, finalize, pdf_text


def _verify(client, url: str) -> str:
    return client.get(url.removeprefix("https://examens.example")).get_data(as_text=True)


def _url(printed) -> str:
    return printed.html.split('<span class="url">')[1].split("</span>")[0]


@pytest.fixture()
def request_context(app):
    with app.test_request_context("/", base_url="https://examens.example/"):
        yield


def test_convocation_prints_the_time_in_the_session_time_zone(jury_day, request_context):
    passage = jury_day["passages"][0]  # T0: 07:00 UTC
    paris = pdf_text(render_pdf(convocation.build(passage, now=T0).html))
    assert "12/05/2027 à 09 h 00 (heure de Paris)" in paris
    jury_day["session"].timezone = "America/Cayenne"
    cayenne = pdf_text(render_pdf(convocation.build(passage, now=T0).html))
    assert "12/05/2027 à 04 h 00 (heure de Cayenne)" in cayenne
    assert "Édité le 12/05/2027 à 04 h 00 (heure de Cayenne)" in cayenne


def test_a_used_rule_changed_with_a_reason_supersedes_the_fiche_and_bordereau(
        jury_day, client, app):
    finalize(jury_day["passages"][0], "14,5")
    with app.test_request_context("/", base_url="https://examens.example/"):
        fiche = _url(evaluation.build(jury_day["passages"][0], now=T0 + timedelta(hours=2)))
        sheet = _url(bordereau.build(jury_day["commission"], now=T0 + timedelta(hours=5)))
    assert "Document authentique et à jour." in _verify(client, fiche)
    assert "Document authentique et à jour." in _verify(client, sheet)
    session = jury_day["session"]
    assert sessions.rules_in_use(session)["mark_step"] is True
    sessions.change_rules(session=session, actor=jury_day["gestionnaire"], mark_step="0.25",
                          reason="Circulaire rectificative")
    assert "Document authentique mais remplacé" in _verify(client, fiche)
    assert "Document authentique mais remplacé" in _verify(client, sheet)
    # Printed again after the change: authentic.
    with app.test_request_context("/", base_url="https://examens.example/"):
        reprinted = _url(evaluation.build(jury_day["passages"][0], now=T0 + timedelta(days=1)))
    assert "Document authentique et à jour." in _verify(client, reprinted)


def test_changing_a_rule_the_fiche_does_not_depend_on_leaves_it_authentic(
        jury_day, client, app):
    finalize(jury_day["passages"][0], "14,5")
    with app.test_request_context("/", base_url="https://examens.example/"):
        printed = _url(evaluation.build(jury_day["passages"][0], now=T0 + timedelta(hours=2)))
    sessions.change_rules(session=jury_day["session"], actor=jury_day["gestionnaire"],
                          internship_min_days=84, e6_duration_minutes=300,
                          reason="Nouvelle circulaire")
    assert "Document authentique et à jour." in _verify(client, printed)
