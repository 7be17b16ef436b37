"""Response headers (issue 12, item 12): nothing a logged-in user sees is cached on a shared
PC, a Permissions-Policy, ``object-src 'none'`` (except for the PDF viewer's frame), and
HSTS documented for the TLS proxy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exam_app.accounts.models import Role
from tests.dossiers.helpers import deposit
from tests.test_routes import ACCESS, _routes, world  # noqa: F401 (world: a fixture)

ROOT = Path(__file__).resolve().parent.parent


def test_permissions_policy_and_object_src_none_on_every_page(client, db):
    for url in ("/connexion", "/nulle-part"):
        headers = client.get(url).headers
        policy = headers["Permissions-Policy"]
        for feature in ("camera", "microphone", "geolocation", "payment"):
            assert f"{feature}=()" in policy
        assert "object-src 'none'" in headers["Content-Security-Policy"]


def test_anonymous_login_page_is_not_forced_out_of_the_cache(client, db):
    assert "no-store" not in client.get("/connexion").headers.get("Cache-Control", "")


@pytest.mark.parametrize("url", ["/", "/gestion/etablissements", "/gestion/utilisateurs",
                                 "/nulle-part", "/candidat/"])
def test_every_response_to_a_logged_in_user_is_no_store(client, login_as, create_user, url):
    login_as(create_user(Role.GESTIONNAIRE))
    response = client.get(url)
    assert response.status_code in (200, 302, 403, 404)
    assert response.headers["Cache-Control"] == "no-store"


def test_json_answers_to_a_logged_in_user_are_no_store(client, login_as, create_user):
    login_as(create_user(Role.GESTIONNAIRE))
    response = client.get("/nulle-part", headers={"Accept": "application/json"})
    assert response.get_json()["error"] == "not_found"
    assert response.headers["Cache-Control"] == "no-store"


def test_static_assets_stay_cacheable_when_logged_in(app, client, login_as, create_user):
    login_as(create_user(Role.GESTIONNAIRE))
    name = next(p.name for p in (Path(app.static_folder) / "css").iterdir())
    response = client.get(f"/static/css/{name}")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    response.close()


def test_files_keep_their_stricter_value_and_the_viewer_frame_may_show_a_pdf(
        app, client, login_as, create_user, create_session, create_centre, create_candidate):
    session = create_session()
    candidate = create_candidate(session, centre=create_centre(session))
    file = deposit(app, candidate, "E4", "sommaire")
    login_as(create_user(Role.GESTIONNAIRE))
    inline = client.get(f"/dossiers/fichiers/{file.id}")
    assert inline.status_code == 200
    assert inline.headers["Cache-Control"] == "private, no-store"
    # Chromium's PDF viewer is an <embed> governed by the PDF response's own object-src.
    assert "object-src 'self'" in inline.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in inline.headers["Content-Security-Policy"]
    download = client.get(f"/dossiers/fichiers/{file.id}?telecharger=1")
    assert download.headers["Cache-Control"] == "private, no-store"
    assert "object-src 'none'" in download.headers["Content-Security-Policy"]
    page = client.get(f"/dossiers/{candidate.id}/E4")
    assert page.status_code == 200
    assert "object-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"


def test_generated_downloads_are_no_store(client, login_as, create_user, create_session):
    session = create_session()
    login_as(create_user(Role.GESTIONNAIRE))
    response = client.get(f"/gestion/sessions/{session.code}/dossiers/depots.csv")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_no_template_needs_object_or_embed():
    for path in (ROOT / "templates").rglob("*.html"):
        assert not re.search(r"<(object|embed)\b", path.read_text(encoding="utf-8"), re.I), path


def test_readme_production_section_documents_hsts():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "Strict-Transport-Security" in readme
    assert "max-age=" in readme


# Every GET route, as every role allowed on it, in the world of tests/test_routes.py.


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_every_page_and_file_a_role_opens_is_no_store(app, client, world, login_as,  # noqa: F811
                                                      role):
    login_as(world["users"][role])
    failures, opened = [], 0
    for rule in _routes(app):
        if "GET" not in rule.methods or role not in ACCESS[rule.endpoint]:
            continue
        url = rule.build(world["args"], append_unknown=False)[1]
        response = client.get(url)
        opened += 1
        if "no-store" not in response.headers.get("Cache-Control", ""):
            failures.append((url, response.status_code, response.headers.get("Cache-Control")))
    assert opened >= 2
    assert failures == []
