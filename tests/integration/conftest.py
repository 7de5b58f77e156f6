"""Fixtures the integration tests of several features share."""

from __future__ import annotations

import pytest

from accept_invite import signin
from shared.storage import Storage
from tests.support.accept_invite import FakeAuthClient
from tests.support.partners import register_partners


@pytest.fixture
def idp(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> FakeAuthClient:
    """The identity provider the customer signs in at: a stand-in for MSAL's client (the browser tests use the real one),
    with the partners registered whose invitations the customer follows."""
    register_partners(storage)
    client = FakeAuthClient()
    monkeypatch.setattr(signin, "auth_client", lambda settings=None: client)
    return client
