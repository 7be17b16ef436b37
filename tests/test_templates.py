"""Every page, as the role that may see it: French, landmarks, labelled fields, and no
inline CSS or JS (the Content-Security-Policy is default-src 'self')."""

from __future__ import annotations

import re

import pytest

from exam_app.accounts.models import Role
from tests.test_routes import ANONYMOUS, world  # noqa: F401 - world is a fixture

PAGES_BY_ROLE = {
    ANONYMOUS: ["/connexion", "/verifier/not-a-token"],
    Role.GESTIONNAIRE: ["/gestion/sessions/{code}/", "/gestion/sessions/{code}/candidats",
                        "/gestion/sessions/{code}/candidats/import", "/gestion/sessions/{code}/centres",
                        "/gestion/etablissements", "/gestion/utilisateurs",
                        "/nulle-part"],
    Role.CHEF_CENTRE: ["/centre/", "/gestion/etablissements"],
    Role.EXAMINATEUR: ["/jury/"],
    Role.CORRECTEUR: ["/correction/"],
    Role.CANDIDAT: ["/candidat/"],
}


def _check_page(url: str, page: str) -> list[str]:
    problems = []
    if '<html lang="fr">' not in page:
        problems.append("no lang=fr")
    if '<a class="skip-link" href="#contenu">' not in page or '<main id="contenu"' not in page:
        problems.append("no skip link to main")
    if re.search(r"\sstyle=", page):
        problems.append("inline style attribute")
    if re.search(r"<style", page):
        problems.append("inline <style>")
    if re.search(r"<script(?![^>]*\ssrc=)", page):
        problems.append("inline <script>")
    if re.search(r"\son[a-z]+=", page):
        problems.append("inline event handler")
    labels = set(re.findall(r'<label[^>]*\sfor="([^"]+)"', page))
    for tag, field_id in re.findall(r'<(input|select|textarea)\b(?![^>]*type="hidden")[^>]*\sid="([^"]+)"',
                                    page):
        if field_id not in labels:
            problems.append(f"{tag}#{field_id} without label")
    for tag in re.findall(r"<(input|select|textarea)\b(?![^>]*type=\"hidden\")(?![^>]*\sid=)[^>]*>", page):
        problems.append(f"{tag} without id (cannot be labelled)")
    return [f"{url}: {p}" for p in problems]


@pytest.mark.parametrize("role", list(PAGES_BY_ROLE), ids=str)
def test_pages_are_french_accessible_and_without_inline_code(client, world, login_as, role):  # noqa: F811
    if role != ANONYMOUS:
        login_as(world["users"][role])
    problems = []
    for pattern in PAGES_BY_ROLE[role]:
        url = pattern.format(**world["args"])
        response = client.get(url)
        assert response.status_code in (200, 403, 404), (url, response.status_code)
        problems += _check_page(url, response.get_data(as_text=True))
    assert problems == []


def test_every_page_route_is_checked():
    checked = {p.split("?")[0].rstrip("/").split("/")[1] for pages in PAGES_BY_ROLE.values()
               for p in pages}
    assert {"connexion", "verifier", "gestion", "centre", "jury", "correction", "candidat"} <= checked
