"""The enrolment blueprint (``enrolment``): routes in ``views.py`` (sessions list,
candidates, import, lists) and ``views_setup.py`` (creating and editing a session,
establishments and centres); ``views.py`` imports both."""

from __future__ import annotations

from flask import Blueprint

from exam_app.enrolment import services

bp = Blueprint("enrolment", __name__)
# Templates show a candidate's form as ``c.form_for(form_unit_code()).label``.
bp.add_app_template_global(services.form_unit_code, "form_unit_code")
