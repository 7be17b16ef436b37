from __future__ import annotations

import io
import re
import shutil
from dataclasses import dataclass
from datetime import timedelta

import pytest

from exam_app.accounts.models import Role
from exam_app.clock import utcnow
from exam_app.dossiers.models import DepositDeadline
from tests.conftest import csrf_token_from


@dataclass
class Depositor:
    """A logged-in candidate with a deposit deadline in the future, and upload helpers."""

    client: object
    candidate: object
    user: object
    session: object
    token: str

    def create(self, piece: str, size: int, name: str = "fichier.pdf", unit: str = "E4",
               replaces=None, candidate_id: int | None = None):
        return self.client.post(
            f"/candidat/{candidate_id or self.candidate.id}/dossiers/{unit}/envois",
            json={"piece": piece, "name": name, "size": size, "replaces": replaces},
            headers={"X-CSRFToken": self.token, "Accept": "application/json"})

    def patch(self, url: str, data: bytes, offset: int, **headers):
        return self.client.patch(url, data=data, headers={
            "X-CSRFToken": self.token, "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream", "Accept": "application/json",
            **headers})

    def upload(self, piece: str, data: bytes, name: str = "fichier.pdf", unit: str = "E4",
               chunk: int | None = None, replaces=None):
        """Announce then send ``data`` (in chunks of ``chunk`` bytes); the last response."""
        created = self.create(piece, len(data), name, unit, replaces)
        if created.status_code != 201:
            return created
        url = created.get_json()["url"]
        chunk = chunk or max(len(data), 1)
        offset = 0
        response = None
        while offset < len(data):
            response = self.patch(url, data[offset:offset + chunk], offset)
            if response.status_code != 200:
                return response
            offset = response.get_json()["offset"]
        return response


@pytest.fixture()
def depositor(app, client, login_as, create_session, create_centre, create_candidate,
              create_user, db):
    shutil.rmtree(app.config["STORAGE_DIR"], ignore_errors=True)
    session = create_session(e4_fiche_max_pages=2)
    centre = create_centre(session)
    candidate = create_candidate(session, centre=centre)
    user = create_user(Role.CANDIDAT, candidate=candidate)
    for unit in ("E4", "E5"):
        db.session.add(DepositDeadline(session_id=session.id, unit_code=unit,
                                       deadline_at=utcnow() + timedelta(days=10)))
    db.session.flush()
    login_as(user)
    page = client.get("/candidat/").get_data(as_text=True)
    return Depositor(client, candidate, user, session, csrf_token_from(page))


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)
