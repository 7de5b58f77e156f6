"""Refusals of partner tokens say what kind of failure it was, never the library's or the network's own text."""

from __future__ import annotations

import pytest

from shared import partner_auth
from shared.errors import Unauthenticated


class _Down:
    def get_signing_key_from_jwt(self, token):
        import jwt

        raise jwt.PyJWKClientConnectionError("Fail to fetch data from the url, err: <urlopen error [Errno 111] Connection refused> "
                                             "http://10.1.2.3:8080/secret-path/jwks.json")


def test_jwks_errors_do_not_echo_internal_text(monkeypatch):
    from shared.settings import reset_settings

    monkeypatch.setenv("PARTNER_AUTH_ISSUER", "https://issuer.test/")
    monkeypatch.setenv("PARTNER_AUTH_AUDIENCE", "api://test")
    reset_settings()
    monkeypatch.setattr(partner_auth, "_jwks_client", lambda settings: _Down())
    with pytest.raises(Unauthenticated) as raised:
        partner_auth.authenticate("Bearer a.b.c")
    assert "10.1.2.3" not in raised.value.detail and "secret-path" not in raised.value.detail and "Errno" not in raised.value.detail
    reset_settings()
