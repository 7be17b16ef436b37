"""WSGI entry point: ``gunicorn wsgi:app``."""

from exam_app import create_app

app = create_app()
