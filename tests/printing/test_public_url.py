"""The address printed in QR codes (issue 12, item 11): PUBLIC_URL, never the Host header;
nothing is signed without it outside debug."""

from __future__ import annotations

import pytest

from exam_app import create_app
from exam_app.printing import signing


def _app(**config):
    return create_app({"TESTING": True, "SECRET_KEY": "k", "SQLALCHEMY_DATABASE_URI": "sqlite://",
                       **config})


def test_verify_url_is_public_url_whatever_the_request_host():
    app = _app(PUBLIC_URL="https://examens.example.fr/bts/")
    with app.test_request_context("/x", base_url="http://evil.example/autre"):
        assert signing.verify_url("abc.def") == "https://examens.example.fr/bts/verifier/abc.def"
    with app.app_context():  # the CLI: no request at all
        assert signing.verify_url("abc.def") == "https://examens.example.fr/bts/verifier/abc.def"


def test_nothing_is_signed_without_public_url_outside_debug():
    app = _app(PUBLIC_URL="")
    with app.test_request_context("/", base_url="http://evil.example/"), \
            pytest.raises(signing.PublicUrlMissing) as error:
        signing.sign(kind="receipt", ids=[1], content=[])
    assert error.value.status == 503
    assert "l'adresse publique du site (PUBLIC_URL) n'est pas configurée" in error.value.message


@pytest.mark.parametrize("value", ["examens.example.fr", "ftp://examens.example.fr",
                                   "https://", "https://examens.example.fr/?a=1"])
def test_a_public_url_that_is_no_http_address_is_refused(value):
    with _app(PUBLIC_URL=value).app_context(), pytest.raises(signing.PublicUrlMissing) as error:
        signing.public_url()
    assert f"(PUBLIC_URL = « {value} ») n'est pas une adresse http:// ou https://" in \
        error.value.message


def test_debug_without_public_url_uses_the_dev_server_not_the_host():
    app = _app(PUBLIC_URL="", DEBUG=True)
    app.debug = True
    with app.test_request_context("/", base_url="http://evil.example/"):
        assert signing.verify_url("t") == "http://localhost:5000/verifier/t"
