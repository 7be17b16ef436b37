"""The procès-verbal de délibération: every printed field is in its signed content, and
it is offered only once the délibération is closed."""

from __future__ import annotations

from exam_app.deliberation import services
from exam_app.results import deliberation as pages
from tests.printing.signed_fields import record_print, uncovered


def test_every_printed_field_of_the_pv_is_signed(app, delib):
    services.change_result(session_id=delib["session"].id,
                           candidate_id=delib["candidates"][0].id, unit_code="E4", value="NV",
                           reason="Dossier incomplet constaté", version=0, before="14,5",
                           actor=delib["member"])
    deliberation = pages.close(session=delib["session"], actor=delib["president"])
    with app.test_request_context("/"), record_print(app) as recording:
        pages.pv_pdf(session=delib["session"], deliberation=deliberation)
    [render] = recording.renders
    [(kind, content)] = recording.signed
    assert kind == pages.PV_KIND
    assert render.read
    assert uncovered(app, render, content) == []
    assert content["rows"][0]["results"][0] == "NV" and content["rows"][0]["changed"][0]
    assert content["changes"][0]["reason"] == "Dossier incomplet constaté"


def test_pv_before_closing_redirects_with_a_message(delib, client, login_as):
    login_as(delib["president"])
    code = delib["session"].code
    response = client.get(f"/deliberation/{code}/proces-verbal.pdf")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Le procès-verbal est disponible une fois la délibération close." in page
