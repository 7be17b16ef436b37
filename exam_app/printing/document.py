"""A printed document's HTML: the print templates' common header/footer values,
and the rendered document with the file name it is offered under."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import render_template

from exam_app.clock import utcnow, zone


@dataclass
class Printed:
    """A rendered document: its HTML, and the file name it is offered under."""

    kind: str
    filename: str
    html: str


def render(template: str, *, title: str, session, centre=None, now: datetime | None = None,
           provisional: bool = False, **context) -> str:
    """Render a print template with the common header/footer values; its dates and times
    are printed in the session's time zone."""
    with zone(getattr(session, "timezone", None)):
        return render_template(template, doc_title=title, doc_session=session,
                               doc_centre=centre, generated_at=now or utcnow(),
                               provisional=provisional, **context)
