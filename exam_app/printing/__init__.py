"""The printing core: every printed document goes through here.

``pdf`` renders HTML to PDF (fetching only the app's static files), ``qr``
draws QR codes, ``signing`` signs and reads the verification tokens,
``document`` renders a print template with the common header and footer, and
``verification`` holds the registry of checks behind ``/verifier/<token>``.
This package imports no feature: receipts (dossiers), E6 documents (e6) and
the centre's documents (documents) all build on it.
"""
