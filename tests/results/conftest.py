"""The juries fixtures (passages), for the results tests."""

from tests.juries.conftest import create_passage  # noqa: F401
