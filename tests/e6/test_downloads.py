"""Every E6 download is sent as an attachment (send_file) with its name and type."""

from __future__ import annotations

from werkzeug.http import parse_options_header

from tests.e6.conftest import lift

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_every_e6_download_has_its_filename_and_content_type(client, login_as, e6_world):
    lift(e6_world)
    session, centre, room = e6_world["session"], e6_world["centre"], e6_world["room"]
    login_as(e6_world["gestionnaire"])
    gestion = f"/gestion/sessions/{session.code}/e6"
    downloads = {
        f"/centre/{centre.id}/e6/etiquettes.pdf":
            ("application/pdf", f"etiquettes-e6-{centre.code}.pdf", b"%PDF"),
        f"/centre/e6/salles/{room.id}/emargement.pdf":
            ("application/pdf", f"emargement-e6-{centre.code}-{room.id}.pdf", b"%PDF"),
        f"{gestion}/bordereau.pdf":
            ("application/pdf", f"bordereau-e6-{session.code}.pdf", b"%PDF"),
        f"{gestion}/resultats.csv":
            ("text/csv; charset=utf-8", f"resultats-{session.code}.csv",
             "\ufeffN° candidat;Nom;Prénom;E4;E5;E6\r\n".encode()),
        f"{gestion}/resultats.xlsx": (XLSX, f"resultats-{session.code}.xlsx", b"PK"),
    }
    for url, (content_type, filename, start) in downloads.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.content_type == content_type, url
        disposition, params = parse_options_header(response.headers["Content-Disposition"])
        assert (disposition, params) == ("attachment", {"filename": filename}), url
        assert response.headers["Cache-Control"] == "no-store", url
        assert response.data.startswith(start), url
