"""Browser tests: the passage screen never says "tout est enregistré" when it is not.

Each failure mode of issue 11 (items 4 to 8) is injected with Playwright's
``route``: a refused value (mark 21, 14,25 with a 0,5 step), a proxy's 502, a
lost response followed by more typing, a late poll carrying older versions,
and an expired login. The live server and the passage come from
``test_jury_day``'s ``jury_server`` fixture.
"""

from __future__ import annotations

import json
import time

import pytest

from exam_app.extensions import db
from exam_app.juries import grids
from exam_app.juries.models import Passage, Validation
from tests.browser import test_jury_day as day

pytestmark = pytest.mark.browser

jury_server = day.jury_server
SAVED = "Connecté — tout est enregistré"
SAVES = "**/grilles/*/champs"


_OPENED: list = []


@pytest.fixture(autouse=True)
def _close_contexts():
    """Close every context a test opened, also when it fails (its routes go with it)."""
    yield
    while _OPENED:
        _OPENED.pop().close()


def _open(chromium, server, username="jurya"):
    """A juror's context and page on the passage screen, page errors collected."""
    context, page = day._login(chromium, server["url"], username)
    _OPENED.append(context)
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(f"{server['url']}/jury/passages/{server['passage_id']}")
    from playwright.sync_api import expect

    expect(page.locator("#net-status")).to_have_text(SAVED)
    # The first state has arrived (the summary is the script's, not the template's).
    expect(page.locator("#validation-summary")).to_contain_text("La note devient définitive")
    # The offline copy of the page is made (its fetches done): none of them is still in
    # flight to bring a session cookie back after a test clears the cookies.
    expect(page.locator("#jury")).to_have_attribute("data-offline-ready", "1", timeout=10000)
    return context, page


def _stored(server, grid="agreed", username="jurya"):
    """The passage's grid values as stored: {field: (value, version)}."""
    with server["app"].app_context():
        passage = db.session.get(Passage, server["passage_id"])
        user = next(m.user for m in passage.commission.members if m.user.username == username)
        view = grids.grids_view(passage, user.id)["agreed" if grid == "agreed" else "own"]
        validations = db.session.query(Validation).filter_by(passage_id=passage.id).count()
        db.session.remove()
    return {name: (f["value"], f["version"]) for name, f in view.items()}, validations


def _queue(page) -> list:
    return page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('jury-queue:'))"
                         ".flatMap(k => JSON.parse(localStorage.getItem(k)))")


def _sent_ops(requests) -> dict:
    """Each operation id sent, with the set of values it was sent with."""
    ops = {}
    for body in requests:
        for op in json.loads(body)["ops"]:
            ops.setdefault(op["op"], set()).add(op["value"])
    return ops


def test_refused_value_stays_on_its_field_with_the_message(jury_server, chromium):
    from playwright.sync_api import expect

    context, page = _open(chromium, jury_server)
    posts = []
    page.on("request", lambda r: posts.append(r.post_data) if r.method == "POST"
            and "/champs" in r.url else None)
    mark, banner = page.locator("#commune-mark"), page.locator("#net-status")
    error = page.locator("#commune-mark-error")

    page.fill("#commune-mark", "21")
    expect(banner).to_contain_text("Refusé : « Note proposée » — La note doit être comprise "
                                   "entre 0 et 20.", timeout=5000)
    expect(error).to_have_text("Valeur refusée : La note doit être comprise entre 0 et 20. "
                               "Elle n'est pas enregistrée.")
    expect(mark).to_have_attribute("aria-invalid", "true")
    expect(mark).to_have_attribute("aria-describedby", "commune-mark-error")
    # Several polls later: still on screen, still refused, not retried, nothing queued.
    count = len(posts)
    page.wait_for_timeout(2000)
    expect(mark).to_have_value("21")
    expect(banner).to_contain_text("Refusé")
    assert (len(posts), _queue(page)) == (count, [])

    # Validation must not claim success over the refused value.
    page.click("#btn-validate")
    expect(page.locator("#action-status")).to_contain_text(
        "Rien n'est validé : corrigez d'abord la valeur refusée (« Note proposée »)")
    expect(page.locator("#validation-summary")).to_contain_text(
        "Attention : une valeur affichée a été refusée (« Note proposée »)")
    assert _stored(jury_server)[0]["mark"] == ("", 0) and _stored(jury_server)[1] == 0

    # Not on the step: refused the same way, with its own message.
    page.fill("#commune-mark", "14,25")
    expect(error).to_have_text("Valeur refusée : La note doit être un multiple de 0,5. "
                               "Elle n'est pas enregistrée.", timeout=5000)
    expect(banner).to_contain_text("Refusé : « Note proposée » — La note doit être un multiple")

    # The juror changes it: the message goes, the value is saved, the banner says so.
    page.fill("#commune-mark", "14,5")
    expect(banner).to_have_text(SAVED, timeout=5000)
    expect(error).to_be_hidden()
    assert mark.get_attribute("aria-invalid") is None
    assert mark.get_attribute("aria-describedby") is None
    assert _stored(jury_server)[0]["mark"] == ("14.5", 1)

    # The same on the personal grid.
    page.fill("#perso-mark", "21")
    expect(page.locator("#perso-mark-error")).to_contain_text("entre 0 et 20", timeout=5000)
    expect(page.locator("#perso-mark")).to_have_attribute("aria-invalid", "true")
    expect(banner).to_contain_text("Refusé : « Note proposée »")
    page.wait_for_timeout(1000)
    expect(page.locator("#perso-mark")).to_have_value("21")
    assert _stored(jury_server, "own")[0]["mark"] == ("", 0)
    page.fill("#perso-mark", "12")
    expect(banner).to_have_text(SAVED, timeout=5000)
    assert (_stored(jury_server, "own")[0]["mark"], page.errors) == (("12", 1), [])
    context.close()


def test_502_keeps_the_queue_and_retries_with_backoff(jury_server, chromium):
    from playwright.sync_api import expect

    context, page = _open(chromium, jury_server)
    attempts = []

    def proxy(route):
        attempts.append((time.monotonic() * 1000, route.request.post_data))
        if len(attempts) <= 3:  # a proxy during a restart: HTML, not the app's JSON
            route.fulfill(status=502 if len(attempts) < 3 else 503,
                          body="<html>Bad Gateway</html>", content_type="text/html")
        else:
            route.continue_()

    page.route(SAVES, proxy)
    page.fill("#commune-appreciation", "Bonne analyse du besoin.")
    expect(page.locator("#net-status")).to_have_text("Hors ligne / en attente — 1 modification",
                                                     timeout=5000)
    assert len(_queue(page)) == 1
    expect(page.locator("#net-status")).to_have_text(SAVED, timeout=15000)
    gaps = [later[0] - earlier[0] for earlier, later in zip(attempts, attempts[1:], strict=False)]
    # One op id, one value, sent four times; the waits grow (1 s, 2 s, 4 s).
    assert (len(attempts), _sent_ops(a[1] for a in attempts)) == (
        4, {json.loads(attempts[0][1])["ops"][0]["op"]: {"Bonne analyse du besoin."}})
    assert gaps[0] >= 900 and gaps[1] >= 1800 and gaps[2] >= 3600, gaps
    assert (_stored(jury_server)[0]["appreciation"], page.errors) == (
        ("Bonne analyse du besoin.", 1), [])
    context.close()


def test_lost_response_then_more_typing_is_a_new_operation(jury_server, chromium):
    from playwright.sync_api import expect

    context, page = _open(chromium, jury_server)
    sent, mode = [], {"phase": "lose"}

    def network(route):
        sent.append(route.request.post_data)
        if mode["phase"] == "lose":  # the server applies it, the answer never arrives
            route.fetch()
            route.abort()
            mode["phase"] = "down"
        elif mode["phase"] == "down":
            route.abort()
        else:
            route.continue_()

    page.route(SAVES, network)
    page.fill("#commune-appreciation", "Bon")
    expect(page.locator("#net-status")).to_have_text("Hors ligne / en attente — 1 modification",
                                                     timeout=5000)
    assert _stored(jury_server)[0]["appreciation"] == ("Bon", 1)  # applied, answer lost
    page.fill("#commune-appreciation", "Bon entretien, bien argumenté.")
    expect(page.locator("#net-status")).to_have_text("Hors ligne / en attente — 2 modifications",
                                                     timeout=5000)
    mode["phase"] = "up"
    expect(page.locator("#net-status")).to_have_text(SAVED, timeout=20000)
    ops = _sent_ops(sent)
    # Every op id carried one value only; the new text went under a new id.
    assert sorted(values.pop() for values in ops.values() if len(values) == 1) == [
        "Bon", "Bon entretien, bien argumenté."]
    assert len(ops) == 2
    assert _stored(jury_server)[0]["appreciation"] == ("Bon entretien, bien argumenté.", 2)
    expect(page.locator("#commune-appreciation")).to_have_value("Bon entretien, bien argumenté.")

    # A replay of the first id with another value: the server refuses it (409), clearly.
    first = json.loads(sent[0])["ops"][0]["op"]
    answer = page.evaluate("""async (op) => {
        const root = document.getElementById('jury').dataset;
        const r = await fetch(root.saveCommune, {method: 'POST', headers: {
            'Content-Type': 'application/json', 'X-CSRFToken': root.csrf,
            'Accept': 'application/json'},
            body: JSON.stringify({ops: [{op: op, field: 'appreciation', value: 'Autre', base: 0}]})});
        return [r.status, await r.json()];
    }""", first)
    assert (answer[0], answer[1]["error"], answer[1]["field"]) == (409, "op_reused",
                                                                   "appreciation")
    assert _stored(jury_server)[0]["appreciation"] == ("Bon entretien, bien argumenté.", 2)
    assert page.errors == []
    context.close()


def test_late_poll_never_reverts_only_newer_versions_apply(jury_server, chromium):
    from playwright.sync_api import expect

    context, page = _open(chromium, jury_server)
    late = {"body": None, "serve": False}

    def poll(route):
        if late["serve"]:
            route.fulfill(status=200, body=late["body"], content_type="application/json")
            return
        response = route.fetch()
        if late["body"] is None:
            late["body"] = response.text()  # a state from before the save
        route.fulfill(response=response)

    page.route("**/etat", poll)
    page.wait_for_timeout(600)
    page.fill("#commune-appreciation", "Texte enregistré")
    expect(page.locator("#net-status")).to_have_text(SAVED, timeout=5000)
    page.locator("#commune-appreciation").blur()
    late["serve"] = True  # every poll now answers the old state (version 0, empty)
    page.wait_for_timeout(2000)
    expect(page.locator("#commune-appreciation")).to_have_value("Texte enregistré")
    expect(page.locator("#net-status")).to_have_text(SAVED)

    # A newer version (the other juror's) does apply.
    late["serve"] = False
    ctx_b, other = _open(chromium, jury_server, "juryb")
    other.fill("#commune-appreciation", "Texte revu par Bruno")
    expect(other.locator("#net-status")).to_have_text(SAVED, timeout=5000)
    expect(page.locator("#commune-appreciation")).to_have_value("Texte revu par Bruno",
                                                                timeout=5000)
    assert (page.errors, other.errors) == ([], [])
    ctx_b.close()
    context.close()


def test_expired_session_says_so_and_keeps_the_queue_for_the_new_login(jury_server, chromium):
    from playwright.sync_api import expect

    context, page = _open(chromium, jury_server)
    context.clear_cookies()  # the login is gone (expired, or the server's key changed)
    page.fill("#commune-appreciation", "Saisi après l'expiration")
    banner = page.locator("#net-status")
    expect(banner).to_contain_text(
        "Session expirée — reconnectez-vous ; vos modifications sont gardées", timeout=5000)
    page.wait_for_timeout(2000)  # it stays so: not "hors ligne", not dropped
    expect(banner).to_contain_text("Session expirée")
    expect(banner).to_contain_text("1 modification en attente")
    assert [op["value"] for op in _queue(page)] == ["Saisi après l'expiration"]
    assert _stored(jury_server)[0]["appreciation"] == ("", 0)

    # The juror logs in again from the banner's link and comes back to the passage.
    page.click("#net-status a")
    page.fill("#username", "jurya")
    page.fill("#password", day.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{jury_server['url']}/jury/passages/{jury_server['passage_id']}")
    expect(page.locator("#net-status")).to_have_text(SAVED, timeout=8000)
    expect(page.locator("#commune-appreciation")).to_have_value("Saisi après l'expiration")
    assert (_stored(jury_server)[0]["appreciation"], _queue(page), page.errors) == (
        ("Saisi après l'expiration", 1), [], [])
    context.close()
