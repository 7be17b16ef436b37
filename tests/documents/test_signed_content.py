"""Every printed document signs everything it prints (issue 12, items 13 and 14).

The printed fields are derived from the templates themselves (the names and
attribute paths each template reads while a real document is built, see
tests/printing/signed_fields.py), and each must be in the signed content. Then
the three cases the audit found: a convocation after the extra time changes, an
émargement and a fiche after a first-name correction now verify as superseded,
and the verification page says which field changed, when and why.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from exam_app.clock import utcnow
from exam_app.documents import attendance, bordereau, convocation, evaluation
from exam_app.dossiers import receipts
from exam_app.dossiers.conformity import decide
from exam_app.dossiers.models import Decision
from exam_app.dossiers.state import dossier_view
from exam_app.juries import validation
from exam_app.printing.signing import read_app_token
from exam_app.printing.verification import Status, verify
from tests.documents.conftest import DAY, T0, finalize
from tests.dossiers.helpers import complete_dossier
from tests.printing.signed_fields import PRINT_DIR, record_print, uncovered

BASE = "https://examens.example"
# The E6 templates are walked by tests/e6/test_signed_content.py.
E6_TEMPLATES = {"print/e6_labels.html", "print/e6_emargement.html", "print/e6_bordereau.html"}
# Never signed: an activation letter prints a secret one-time link, which no QR code should
# vouch for (rendered by tests/accounts/test_activation.py).
UNSIGNED_TEMPLATES = {"print/activation_letter.html"}
# The CCF bordereau (a CCF commission's, with the session's rule) is walked by
# tests/results/test_consistency.py, which builds CCF situations.
CCF_TEMPLATES = {"print/bordereau_ccf.html",
                 # an establishment's: tests/ccf/test_ccf.py
                 "print/bordereau_etablissement_ccf.html"}
# The procès-verbal de délibération is walked by tests/deliberation/test_pv.py.
DELIBERATION_TEMPLATES = {"print/deliberation_pv.html"}
# The relevé de notes (one signed page per candidate) is walked by tests/documents/test_releve.py.
RELEVE_TEMPLATES = {"print/releve.html"}


@pytest.fixture()
def request_context(app):
    with app.test_request_context("/", base_url=BASE + "/"):
        yield


def _token(html: str) -> str:
    return html.split(f"{BASE}/verifier/", 1)[1].split("<", 1)[0].split('"', 1)[0]


def _build_every_document(app, jury_day):
    finalize(jury_day["passages"][0], "14,5")
    candidate = jury_day["passages"][0].candidate
    complete_dossier(app, candidate, "E4")
    yield "print/convocation.html", convocation.build(jury_day["passages"][0], now=T0)
    yield "print/attendance.html", attendance.build(jury_day["centre"], DAY, "B12", "matin",
                                                    now=T0)
    yield "print/evaluation.html", evaluation.build(jury_day["passages"][0], now=T0)
    yield "print/bordereau.html", bordereau.build(jury_day["commission"], now=T0)
    receipts.render_receipt(dossier_view(candidate=candidate, unit_code="E4"))
    yield "print/receipt.html", None


def test_every_printed_field_is_in_the_signed_content(app, jury_day, request_context):
    walked = set()
    with record_print(app) as recording:
        for template, _ in _build_every_document(app, jury_day):
            walked.add(template)
    assert len(recording.renders) == len(recording.signed) == 5
    for render, (kind, content) in zip(recording.renders, recording.signed, strict=True):
        assert render.read, render.template  # the recording sees the template's reads
        assert uncovered(app, render, content) == [], (render.template, kind)
    # Every print template is walked here or by the E6 test.
    every = {f"print/{p.name}" for p in PRINT_DIR.glob("*.html") if not p.name.startswith("_")}
    assert walked | E6_TEMPLATES | UNSIGNED_TEMPLATES | CCF_TEMPLATES \
        | DELIBERATION_TEMPLATES | RELEVE_TEMPLATES == every


def test_the_check_catches_a_printed_field_left_out_of_the_signature(app, jury_day,
                                                                     request_context):
    """The derivation is real: the convocation without its extra time in the signed content
    (as before issue 12) is reported."""
    with record_print(app) as recording:
        convocation.build(jury_day["passages"][0], now=T0)
    [render], [(_, content)] = recording.renders, recording.signed
    content = {**content, "candidate": {k: v for k, v in content["candidate"].items()
                                        if k != "extra_time"}}
    assert uncovered(app, render, content) == ["candidate.extra_time"]


def _page(client, html: str) -> str:
    return client.get(f"/verifier/{_token(html)}").get_data(as_text=True).split(
        'id="verify-title"', 1)[1].split("</section>", 1)[0]


def _import(session, candidate, *, first_name=None, extra_time=None, now):
    """What a re-import of the candidate list does to one candidate (audited per import)."""
    from exam_app.audit.services import record

    if first_name is not None:
        candidate.first_name = first_name
    if extra_time is not None:
        candidate.extra_time = extra_time
    candidate.updated_at = now
    record(actor=None, action="candidate.import", object_type="exam_session",
           object_id=session.id, session_id=session.id, now=now, after={"file": "liste.csv"})


def test_convocation_is_superseded_when_the_extra_time_changes(app, client, jury_day,
                                                               request_context):
    passage = jury_day["passages"][2]
    printed = convocation.build(passage, now=T0 - timedelta(days=20))
    assert "Document authentique et à jour." in _page(client, printed.html)
    _import(jury_day["session"], passage.candidate, extra_time="1/3",
            now=T0 - timedelta(days=10))
    page = _page(client, printed.html)
    assert "Document authentique mais remplacé" in page
    assert "les données ont été modifiées le 02/05/2027 à 09 h 00" in page
    assert "<li>Temps majoré</li>" in page
    assert "<li>Liste des candidats mise à jour par import le 02/05/2027 à 09 h 00</li>" in page
    assert "1/3" not in page


def test_emargement_is_superseded_after_a_first_name_correction(app, client, jury_day,
                                                                request_context):
    printed = attendance.build(jury_day["centre"], DAY, "B12", "matin", now=T0 - timedelta(days=2))
    assert "Document authentique et à jour." in _page(client, printed.html)
    candidate = jury_day["passages"][1].candidate
    _import(jury_day["session"], candidate, first_name="Lucie", now=T0 - timedelta(days=1))
    page = _page(client, printed.html)
    assert "Document authentique mais remplacé" in page
    assert "les données ont été modifiées le 11/05/2027 à 09 h 00" in page
    assert "<li>Prénom</li>" in page
    assert "<li>Nom</li>" not in page
    assert "Lucie" not in page


def test_fiche_is_superseded_after_a_first_name_correction(app, client, jury_day,
                                                           request_context):
    passage = jury_day["passages"][0]
    finalize(passage, "14,5")
    printed = evaluation.build(passage, now=T0 + timedelta(hours=2))
    assert "Document authentique et à jour." in _page(client, printed.html)
    _import(jury_day["session"], passage.candidate, first_name="Léah",
            now=T0 + timedelta(days=1))
    page = _page(client, printed.html)
    assert "Document authentique mais remplacé" in page
    assert "<li>Prénom</li>" in page
    assert "les données ont été modifiées le 13/05/2027 à 09 h 00" in page
    # The public page shows the candidate's number, not the name the fiche never printed.
    assert "Léah" not in page and passage.candidate.number in page


def test_bordereau_superseded_by_a_reopened_mark_says_why(app, client, jury_day,
                                                          request_context):
    passage = jury_day["passages"][0]
    finalize(passage, "14,5")
    printed = bordereau.build(jury_day["commission"], now=T0 + timedelta(hours=5))
    validation.reopen(passage=passage, reason="Erreur de report de la note",
                      actor=jury_day["gestionnaire"], now=T0 + timedelta(days=1))
    finalize(passage, "16", now=T0 + timedelta(days=1, hours=1))
    page = _page(client, printed.html)
    assert "les données ont été modifiées le 13/05/2027 à 09 h 00" in page
    assert "<li>Notes</li>" in page
    assert ("<li>Note rouverte le 13/05/2027 à 09 h 00 : Erreur de report de la note</li>"
            in page)
    # (The session's generated name, « BTS SAM test N », may hold a 16 of its own.)
    assert "16" not in page.replace(jury_day["commission"].code, "").replace(
        jury_day["session"].name, "")


def test_bordereau_superseded_by_an_nv_decision_says_when_and_why(app, client, jury_day,
                                                                  request_context):
    finalize(jury_day["passages"][0], "14,5")
    printed = bordereau.build(jury_day["commission"], now=T0 + timedelta(hours=5))
    decide(candidate=jury_day["marked"], unit_code="E4", decision=Decision.NON_COMPLIANT,
           reasons=["pieces_manquantes"], comment="", actor=jury_day["gestionnaire"],
           now=T0 + timedelta(days=2), revision_reason="Dossier reconnu incomplet",
           confirm_missing=True, confirm_early=True)
    page = _page(client, printed.html)
    assert "Document authentique mais remplacé" in page
    assert "les données ont été modifiées le 14/05/2027 à 09 h 00" in page
    assert "<li>Notes</li>" in page
    assert ("Décision de conformité du dossier révisée le 14/05/2027 à 09 h 00 : "
            "Dossier reconnu incomplet") in page


def test_receipt_signs_what_it_prints_and_says_what_changed(app, client, jury_day,
                                                            request_context):
    from tests.dossiers.helpers import deposit

    candidate = jury_day["marked"]
    complete_dossier(app, candidate, "E4")
    with record_print(app) as recording:
        receipts.render_receipt(dossier_view(candidate=candidate, unit_code="E4"))
    [(_, content)] = recording.signed
    token = _signed_token(content, candidate)
    assert verify(read_app_token(token)).status is Status.AUTHENTIC
    deposit(app, candidate, "E4", "sommaire", name="autre.pdf")
    result = verify(read_app_token(token))
    assert result.status is Status.SUPERSEDED
    assert "Fichiers déposés" in result.changes
    assert "Nom" not in result.changes


def _signed_token(content, candidate):
    """The receipt's token as printed (the PDF is compressed: signed again, same content)."""
    from exam_app.dossiers.common import find_dossier
    from exam_app.printing.signing import app_token, stamp

    dossier = find_dossier(candidate_id=candidate.id, unit_code="E4")
    return app_token(receipts.KIND, [dossier.id, stamp(utcnow())], content, receipts.FIELDS)


def test_document_signed_before_field_digests_is_superseded_and_says_reprint(
        app, client, jury_day, request_context):
    """Signed over fewer fields, it cannot vouch for the rest: superseded, never current."""
    from flask import current_app

    from exam_app.printing.signing import make_token, stamp

    passage = jury_day["passages"][0]
    c = passage.candidate
    old = make_token(secret_key=current_app.config["SECRET_KEY"], kind=convocation.KIND,
                     ids=[passage.id, stamp(T0)],
                     content=[c.number, c.last_name, c.first_name, "E4", "ponctuel"])
    result = verify(read_app_token(old))
    assert (result.status, result.legacy, result.changes) == (Status.SUPERSEDED, True, ())
    page = client.get(f"/verifier/{old}").get_data(as_text=True)
    assert "réimprimez-le pour obtenir la version à jour" in page
    assert c.first_name not in page.split('id="verify-title"')[1]
