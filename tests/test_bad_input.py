"""Bad input answers 404/400 in French, never 500 (issue 12, item 10): ids beyond the
database's integer range in the path and the query string, deeply nested JSON, and a
``next=`` holding control characters after a successful login."""

from __future__ import annotations

import html
import json
import re

import pytest
from werkzeug.routing import IntegerConverter

from exam_app.accounts.models import Role
from tests.conftest import PASSWORD, csrf_token_from

HUGE = [2**31, 2**63]
NOT_FOUND = "Cette page n'existe pas ou a été déplacée."


def _int_rules(app):
    """Every rule with an ``int`` argument, with the method to send it."""
    rules = []
    for rule in app.url_map.iter_rules():
        if any(isinstance(c, IntegerConverter) for c in rule._converters.values()):
            method = "GET" if "GET" in rule.methods else sorted(rule.methods - {"OPTIONS"})[0]
            rules.append((rule, method))
    return rules


def _url(rule, number: int) -> str:
    def value(match):
        converter = rule._converters[match.group(1)]
        return str(number) if isinstance(converter, IntegerConverter) else "E4"

    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", value, rule.rule)


def _everyone(create_user, create_centre, create_candidate):
    return create_user(*Role, centre=create_centre(), candidate=create_candidate())


def test_there_are_int_routes(app):
    assert len(_int_rules(app)) >= 10


@pytest.mark.parametrize("number", HUGE, ids=["2^31", "2^63"])
def test_ids_beyond_the_integer_range_are_a_french_404(app, client, login_as, create_user,
                                                       create_centre, create_candidate, number):
    login_as(_everyone(create_user, create_centre, create_candidate))
    token = csrf_token_from(client.get("/connexion", follow_redirects=True).get_data(as_text=True))
    failures = []
    for rule, method in _int_rules(app):
        url = _url(rule, number)
        response = client.open(url, method=method, headers={"X-CSRFToken": token})
        if response.status_code != 404 or NOT_FOUND not in html.unescape(
                response.get_data(as_text=True)):
            failures.append((method, url, response.status_code))
        json_response = client.open(url, method=method, headers={
            "X-CSRFToken": token, "Accept": "application/json"})
        if json_response.status_code != 404 or json_response.get_json()["error"] != "not_found":
            failures.append((method, url, "json", json_response.status_code))
    assert failures == []


def test_ids_within_the_range_still_match(app, client, login_as, create_user, create_centre,
                                          create_candidate):
    login_as(_everyone(create_user, create_centre, create_candidate))
    adapter = app.url_map.bind("localhost")
    rule, method = next((r, m) for r, m in _int_rules(app) if m == "GET")
    endpoint, values = adapter.match(_url(rule, 2**31 - 1), method=method)
    assert endpoint == rule.endpoint
    assert 2**31 - 1 in values.values()


@pytest.mark.parametrize("number", HUGE, ids=["2^31", "2^63"])
def test_establishment_filter_beyond_the_range_is_ignored(client, login_as, create_user,
                                                         create_session, number):
    session = create_session()
    login_as(create_user(Role.GESTIONNAIRE))
    response = client.get(f"/gestion/sessions/{session.code}/dossiers/?etablissement={number}")
    assert response.status_code == 200


def test_nested_json_is_refused_by_the_decoder():
    with pytest.raises(RecursionError):
        json.loads("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize("body", ["[" * 20_000 + "]" * 20_000,
                                  '{"a":' * 20_000 + "1" + "}" * 20_000], ids=["list", "dict"])
def test_deeply_nested_json_is_a_french_400_on_every_write_endpoint(
        app, client, login_as, create_user, create_centre, create_candidate, body):
    login_as(_everyone(create_user, create_centre, create_candidate))
    token = csrf_token_from(client.get("/connexion", follow_redirects=True).get_data(as_text=True))
    failures = []
    writes = [r for r in app.url_map.iter_rules() if r.methods & {"POST", "PATCH", "PUT"}]
    assert len(writes) > 20
    for rule in writes:
        url = _url(rule, 1)
        for method in sorted(rule.methods & {"POST", "PATCH", "PUT"}):
            response = client.open(url, method=method, data=body,
                                   content_type="application/json",
                                   headers={"X-CSRFToken": token})
            payload = response.get_json(silent=True) or {}
            if response.status_code != 400 or "trop imbriqué" not in payload.get("message", ""):
                failures.append((method, url, response.status_code))
    assert failures == []


DEEP_AND_LARGE = "[" * 200_000 + "]" * 200_000  # beyond the guard's 256 KiB


def test_deeply_nested_json_beyond_the_guard_is_never_a_500(
        app, client, login_as, create_user, create_centre, create_candidate):
    from exam_app import JSON_GUARD_BYTES

    assert len(DEEP_AND_LARGE) > JSON_GUARD_BYTES
    login_as(_everyone(create_user, create_centre, create_candidate))
    token = csrf_token_from(client.get("/connexion", follow_redirects=True).get_data(as_text=True))
    failures = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods & {"POST", "PATCH", "PUT"}):
            response = client.open(_url(rule, 1), method=method, data=DEEP_AND_LARGE,
                                   content_type="application/json",
                                   headers={"X-CSRFToken": token})
            if response.status_code >= 500:
                failures.append((method, rule.rule, response.status_code))
    assert failures == []


def test_a_view_that_parses_a_large_nested_body_refuses_it_itself(
        client, login_as, create_user, create_candidate):
    candidate = create_candidate()
    login_as(create_user(Role.CANDIDAT, candidate=candidate))
    token = csrf_token_from(client.get("/candidat/").get_data(as_text=True))
    response = client.post(f"/candidat/{candidate.id}/dossiers/E4/envois", data=DEEP_AND_LARGE,
                           content_type="application/json", headers={"X-CSRFToken": token})
    assert response.status_code == 400
    assert response.get_json()["message"].startswith("Requête invalide : JSON attendu")


def test_json_that_parses_still_reaches_the_view(client, login_as, create_user, create_centre,
                                                 create_candidate):
    login_as(_everyone(create_user, create_centre, create_candidate))
    token = csrf_token_from(client.get("/connexion", follow_redirects=True).get_data(as_text=True))
    response = client.post("/candidat/1/dossiers/E4/envois", json=[[[1]]],
                           headers={"X-CSRFToken": token})
    assert "trop imbriqué" not in response.get_data(as_text=True)


@pytest.mark.parametrize("target", ["/\r\n//evil.example", "/%0D%0A//evil.example",
                                    "/\t/evil.example", "/ /evil.example", "/\x7f"])
def test_login_with_a_control_character_in_next_goes_home(client, create_user, target):
    user = create_user(Role.GESTIONNAIRE)
    page = client.get("/connexion", query_string={"next": target})
    assert page.status_code == 200
    response = client.post("/connexion", data={
        "username": user.username, "password": PASSWORD, "next": target,
        "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert response.status_code == 302
    if "%" in target:  # still escaped: a same-site path, harmless
        assert response.headers["Location"] == target
    else:
        assert response.headers["Location"] == "/"
    assert client.get("/gestion/etablissements").status_code == 200  # the login held
