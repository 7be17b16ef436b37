"""WSGI entry point: ``gunicorn wsgi:app``."""

import gc

from exam_app import create_app

app = create_app()

# Everything imported and built so far lives as long as the process: move it out of
# the collector's generations, so that no collection walks it again (each full one
# walked every module, class and compiled template of the app), and, under
# ``--preload``, so that workers forked from the master do not copy the pages that
# the collector would write to while walking it (Python's documentation of gc.freeze).
gc.freeze()
