"""The session cookie: signed, short-lived, HttpOnly, SameSite=Lax, Secure off localhost, and no tokens in it."""

from __future__ import annotations

import pytest

from accept_invite import sessions, signin
from shared.settings import Settings
from tests.support.expect import found

LOCAL = Settings.model_validate({"SESSION_SECRET": "s3cret", "PUBLIC_BASE_URL": "http://localhost:7071"})
CLOUD = Settings.model_validate({"SESSION_SECRET": "s3cret", "PUBLIC_BASE_URL": "https://invitations.example.com"})


def test_round_trip_and_tampering():
    value = sessions.encode(sessions.Session(email="a@contoso.example", name="A"), LOCAL)
    assert found(sessions.decode(value, LOCAL), "the session").email == "a@contoso.example"
    assert sessions.decode(value[:-2] + "xx", LOCAL) is None
    assert sessions.decode(value, Settings.model_validate({"SESSION_SECRET": "other"})) is None
    assert sessions.decode("garbage", LOCAL) is None and sessions.decode(None, LOCAL) is None


def test_the_cookie_carries_no_token():
    value = sessions.encode(sessions.Session(email="a@contoso.example", subject="sub"), LOCAL)
    assert set(sessions._serializer(LOCAL).loads(value)) == {"csrf", "email", "name", "subject", "epoch"}  # epoch: shared.session_epochs
    assert len(value) < 300


def test_sessions_expire(monkeypatch):
    import time  # itsdangerous's timed serializer reads time.time()

    value = sessions.encode(sessions.Session(email="a@contoso.example"), LOCAL)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + sessions.SESSION_SECONDS + 5)
    assert sessions.decode(value, LOCAL) is None


def test_cookie_attributes_local_and_cloud():
    local = sessions.set_cookie(sessions.Session(), LOCAL)
    assert local.startswith("accept_session=") and "HttpOnly" in local and "SameSite=Lax" in local and "Secure" not in local
    cloud = sessions.set_cookie(sessions.Session(), CLOUD)
    assert cloud.startswith("__Host-accept_session=") and "; Secure" in cloud and "Path=/" in cloud
    assert "Max-Age=0" in sessions.clear_cookie(CLOUD)


def test_csrf_compare():
    s = sessions.Session()
    assert s.check_csrf(s.csrf) and not s.check_csrf("x") and not s.check_csrf(None)


def test_missing_secret_is_a_configuration_error(monkeypatch):
    monkeypatch.delenv("SESSION_SECRET", raising=False)  # settings read the environment too; another test may have set it
    with pytest.raises(RuntimeError):
        sessions.encode(sessions.Session(), Settings.model_validate({}))


def test_read_cookies_tolerates_junk():
    assert sessions.read_cookies('a=1; b="2"; ===;').get("a") in ("1", None)
    assert sessions.read_cookies(None) == {}


@pytest.mark.parametrize(("authority", "microsoft"), [
    ("https://login.microsoftonline.com/contoso.onmicrosoft.com", True),
    ("https://contoso.ciamlogin.com/contoso.onmicrosoft.com", True),
    ("https://localhost:9443/local-tenant", False),
])
def test_microsoft_hosts_use_authority_others_oidc_authority(authority, microsoft):
    assert signin._is_microsoft(authority) is microsoft
