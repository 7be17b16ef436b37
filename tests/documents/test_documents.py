from datetime import timedelta

import pytest

from exam_app.documents import attendance, bordereau, convocation, evaluation
from exam_app.juries import lifecycle, validation
from exam_app.printing.pdf import StaticOnlyFetcher, render_pdf
from tests.documents.conftest import DAY, T0, decode_qr, finalize, needs_poppler_zbar, pdf_text


@pytest.fixture()
def request_context(app):
    with app.test_request_context("/", base_url="https://examens.example/"):
        yield


def _verify(client, url: str) -> str:
    assert url.startswith("https://examens.example/verifier/")
    return client.get(url.removeprefix("https://examens.example")).get_data(as_text=True)


def test_bordereau_before_final_marks_is_provisional_without_qr(jury_day, request_context):
    printed = bordereau.build(jury_day["commission"], now=T0)
    text = pdf_text(render_pdf(printed.html))
    assert "PROVISOIRE" in text
    assert "<svg" not in printed.html
    assert "/verifier/" not in printed.html


def test_bordereau_shows_marks_abs_nv_jurors_and_pages(jury_day, request_context):
    finalize(jury_day["passages"][0], "14,5")
    printed = bordereau.build(jury_day["commission"], now=T0 + timedelta(hours=5))
    text = pdf_text(render_pdf(printed.html))
    assert "PROVISOIRE" not in text
    for expected in ("DUPONT", "Léa", "14,5", "MARTIN", "ABS", "NGUYEN", "NV", "Anne Roy",
                     "Paul Marchand", "3 candidat(s) : 1 noté(s), 1 absent(s) (ABS), 1 non "
                     "valide(s) (NV).", "Page 1 / 1", "Lycée Ampère", "Édité le 12/05/2027 à 14 h 00"):
        assert expected in text, expected
    lines = [line for line in text.splitlines() if jury_day["marked"].number in line]
    assert lines == [f"{jury_day['marked'].number} DUPONT Léa 14,5"]


@needs_poppler_zbar
def test_bordereau_qr_decodes_and_verifies_then_superseded_after_reopen(
        jury_day, client, app, tmp_path):
    passage = jury_day["passages"][0]
    finalize(passage, "14,5")
    with app.test_request_context("/", base_url="https://examens.example/"):
        pdf = render_pdf(bordereau.build(jury_day["commission"],
                                         now=T0 + timedelta(hours=5)).html)
    url = decode_qr(pdf, tmp_path)
    page = _verify(client, url)
    assert "Document authentique et à jour." in page
    assert jury_day["commission"].code in page

    tampered = url[:-3] + ("AAA" if url[-3:] != "AAA" else "BBB")
    assert "Document non authentique." in _verify(client, tampered)
    one_byte = url[:-10] + chr(ord(url[-10]) ^ 1) + url[-9:]
    assert "Document non authentique." in _verify(client, one_byte)

    validation.reopen(passage=passage, reason="Erreur de report de la note",
                      actor=jury_day["gestionnaire"], now=T0 + timedelta(days=1))
    finalize(passage, "16", now=T0 + timedelta(days=1, hours=1))
    page = _verify(client, url)
    assert "Document authentique mais remplacé" in page
    assert "les données ont été modifiées le 13/05/2027 à 09 h 00" in page
    assert "16" not in page.split("verify-title")[1].split("</section>")[0].replace(
        jury_day["commission"].code, "")


def test_fiche_shows_the_agreed_grid_mark_durations_and_jurors(jury_day, request_context):
    passage = jury_day["passages"][0]
    finalize(passage, "14,5")
    lifecycle.advance(passage=passage, from_index=0, actor=jury_day["teacher"],
                      now=T0 + timedelta(minutes=20))
    printed = evaluation.build(passage, now=T0 + timedelta(hours=1))
    text = pdf_text(render_pdf(printed.html))
    for expected in ("Fiche d'évaluation — E4", "DUPONT Léa", "Note : 14,5 / 20",
                     "Présentation claire & <b>structurée</b>.", "Anne Roy", "Paul Marchand",
                     "20 min 00 s", "25 min", "30 min", "TI", "TS", "Page 1 / 1"):
        assert expected in text, expected
    assert "PROVISOIRE" not in text
    assert "/verifier/" in printed.html


def test_fiche_prints_the_passage_date_once(jury_day, request_context):
    # Issue 17: « mercredi 12 mai 2027, 12/05/2027 à 09 h 00 » said the date twice.
    printed = evaluation.build(jury_day["passages"][0], now=T0 + timedelta(days=3))
    text = pdf_text(render_pdf(printed.html))
    assert "mercredi 12 mai 2027 à 09 h 00 (heure de Paris) · salle B12" in text
    assert "12/05/2027" not in text  # printed on the 15th: no other 12/05 on the page


def test_fiche_of_a_pending_passage_is_provisional(jury_day, request_context):
    printed = evaluation.build(jury_day["passages"][0], now=T0)
    assert "PROVISOIRE" in pdf_text(render_pdf(printed.html))
    assert "/verifier/" not in printed.html


def test_fiche_of_an_absent_candidate_says_abs_and_is_verifiable(jury_day, request_context):
    printed = evaluation.build(jury_day["passages"][1], now=T0)
    text = pdf_text(render_pdf(printed.html))
    assert "Note : ABS" in text
    assert "PROVISOIRE" not in text


@needs_poppler_zbar
def test_convocation_content_and_qr(jury_day, client, app, tmp_path):
    with app.test_request_context("/", base_url="https://examens.example/"):
        printed = convocation.build(jury_day["passages"][0], now=T0 - timedelta(days=20))
        pdf = render_pdf(printed.html)
    text = pdf_text(pdf)
    for expected in ("Convocation — épreuve E4", "DUPONT Léa", jury_day["marked"].number,
                     "mercredi 12 mai 2027", "09 h 00 (heure de Paris)", "Lycée Ampère",
                     "31 rue de la Bourse, 69002 Lyon", "B12", "pièce d'identité",
                     "propre matériel numérique", "Page 1 / 1"):
        assert expected in text, expected
    # Issue 17: the date is printed once (the « Heure » line gives the hour alone).
    assert "12/05/2027 à 09 h 00" not in text
    assert text.count("12 mai 2027") == 1
    assert "Document authentique et à jour." in _verify(client, decode_qr(pdf, tmp_path))


@needs_poppler_zbar
def test_attendance_sheet_lists_candidates_in_passage_order(jury_day, client, app, tmp_path):
    centre = jury_day["centre"]
    assert attendance.sheets(centre.id, DAY) == [("B12", "matin")]
    with app.test_request_context("/", base_url="https://examens.example/"):
        pdf = render_pdf(attendance.build(centre, DAY, "B12", "matin", now=T0).html)
    text = pdf_text(pdf)
    assert text.index("DUPONT") < text.index("MARTIN") < text.index("NGUYEN")
    assert "mercredi 12 mai 2027, matin · salle B12" in text
    assert "3 candidat(s) convoqué(s)." in text
    assert "Document authentique et à jour." in _verify(client, decode_qr(pdf, tmp_path))


def test_user_text_with_a_file_url_is_escaped_and_never_fetched(jury_day, request_context):
    passage = jury_day["passages"][0]
    finalize(passage, "12")
    from tests.documents.conftest import save_agreed

    validation.reopen(passage=passage, reason="Correction", actor=jury_day["gestionnaire"],
                      now=T0 + timedelta(hours=1))
    hostile = '<img src="file:///etc/passwd"><img src="http://127.0.0.1:9/x.png">'
    save_agreed(passage, jury_day["teacher"], {"appreciation": hostile},
                now=T0 + timedelta(hours=1))
    fetcher = StaticOnlyFetcher()
    text = pdf_text(render_pdf(evaluation.build(passage, now=T0).html, fetcher=fetcher))
    assert fetcher.refused == []
    assert '<img src="file:///etc/passwd">' in text.replace("\n", "")


def test_convocation_verifies_as_superseded_after_the_passage_moves(jury_day, client, app):
    from exam_app.juries import planning
    from exam_app.printing.signing import read_token

    passage = jury_day["passages"][2]
    with app.test_request_context("/", base_url="https://examens.example/"):
        printed = convocation.build(passage, now=T0 - timedelta(days=20))
    url = printed.html.split('<span class="url">')[1].split("</span>")[0]
    token = url.rsplit("/", 1)[1]
    assert read_token(secret_key=app.config["SECRET_KEY"], token=token).kind == "convocation"
    planning.move_passage(passage=passage, scheduled_at=T0 + timedelta(hours=6),
                          actor=jury_day["gestionnaire"], now=T0 - timedelta(days=5))
    page = _verify(client, url)
    assert "Document authentique mais remplacé" in page
    assert "les données ont été modifiées le 07/05/2027 à 09 h 00" in page
    assert "15 h 00" not in page


def test_fiche_verifies_as_superseded_after_a_reopened_mark(jury_day, client, app):
    passage = jury_day["passages"][0]
    finalize(passage, "14,5")
    with app.test_request_context("/", base_url="https://examens.example/"):
        printed = evaluation.build(passage, now=T0 + timedelta(hours=2))
    url = printed.html.split('<span class="url">')[1].split("</span>")[0]
    assert "Document authentique et à jour." in _verify(client, url)
    validation.reopen(passage=passage, reason="Erreur de saisie", actor=jury_day["gestionnaire"],
                      now=T0 + timedelta(hours=3))
    page = _verify(client, url)
    assert "Document authentique mais remplacé" in page
    assert "les données ont été modifiées le 12/05/2027 à 12 h 00" in page


def test_fiches_built_in_batch_equal_one_by_one_and_keep_nv(jury_day, request_context):
    finalize(jury_day["passages"][0], "14,5")
    now = T0 + timedelta(hours=1)
    passages = jury_day["passages"]
    batch = list(evaluation.build_many(passages, now=now))
    assert [p.html for p in batch] == [evaluation.build(p, now=now).html for p in passages]
    text = pdf_text(render_pdf(batch[2].html))
    assert "NGUYEN Linh" in text and "Note : NV" in text
    assert "PROVISOIRE" not in text


def test_fiche_prints_the_start_exception(jury_day, app, request_context):
    """A passage started by the gestionnaire's exception says so on its fiche (and signs it)."""
    from exam_app.dossiers.common import find_dossier
    from exam_app.juries import derogation
    from tests.dossiers.helpers import complete_dossier

    passage = jury_day["passages"][0]
    dossier = find_dossier(candidate_id=passage.candidate_id, unit_code="E4")
    dossier.decision, dossier.decided_at = None, None  # complete but not decided yet
    complete_dossier(app, passage.candidate, "E4")
    jury_day["gestionnaire"].first_name, jury_day["gestionnaire"].last_name = "Gaëlle", "Bureau"
    derogation.grant_start_exception(passage=passage, reason="Dossier papier remis le matin",
                                     actor=jury_day["gestionnaire"],
                                     now=T0 - timedelta(minutes=30))
    finalize(passage, "14,5")
    printed = evaluation.build(passage, now=T0 + timedelta(hours=1))
    text = pdf_text(render_pdf(printed.html))
    assert ("Dérogation accordée par Gaëlle Bureau le 12/05/2027 à 08 h 30 : Dossier papier "
            "remis le matin") in " ".join(text.split())
    assert "PROVISOIRE" not in text
    assert evaluation.fiche_context(passage)["exception"].startswith("Dérogation accordée")
    assert evaluation.fiche_context(jury_day["passages"][1])["exception"] is None
    assert "Dérogation" not in pdf_text(render_pdf(evaluation.build(jury_day["passages"][1],
                                                                    now=T0).html))
