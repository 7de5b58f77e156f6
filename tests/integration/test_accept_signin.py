"""Sign-in on real storage with a stand-in MSAL client: the flow waits server-side under its state, is used
once, the right account gets a session cookie (no tokens in it), a wrong account gets a page and no session."""

from __future__ import annotations

from datetime import timedelta

import pytest
from azure.functions.timer import TimerRequest

from accept_invite import functions, sessions, signin
from accept_invite.signin import FLOW_LIFETIME, FlowStore, delete_stale_flows
from invite_user.invitations import InvitationStatus
from shared.clock import utc_now
from tests.support.accept_invite import (
    cookies_set,
    create_company,
    get_request,
    invite,
    reload,
    state_of,
    text_of,
)
from tests.support.context import ctx_of
from tests.support.expect import found

_BINDINGS: dict[str, str] = {}  # state -> the browser's sign-in binding cookie, as the browser keeps it


def _start(raw, mode="signin"):
    resp = functions.start_sign_in(get_request("auth/signin", {"invitationId": raw, "mode": mode}))
    assert resp.status_code == 302, resp.get_body()
    [binding] = [c.split(";")[0] for c in cookies_set(resp) if c.startswith(sessions.binding_cookie_name() + "=")]
    _BINDINGS[state_of(resp.headers["Location"])] = binding
    return resp.headers["Location"]


def _callback(state, *, cookie=None, **extra):
    headers = {"cookie": cookie if cookie is not None else _BINDINGS.get(state, "")}
    return functions.finish_sign_in(get_request("auth/callback", {"code": "abc", "state": state, **extra}, headers=headers))


def test_start_keeps_the_flow_server_side_and_sends_only_the_state(storage, idp):
    inv, raw = invite(storage)
    location = _start(raw)
    state = state_of(location)
    assert len(state) >= 40
    row = FlowStore(storage).get(f"f|{state[:2]}", state)
    assert row is not None and row.flow["code_verifier"] and row.link_hash == inv.link_key
    assert idp.started[-1]["login_hint"] == "hanna@contoso.example"
    assert idp.started[-1]["scopes"] == ["email"]
    assert idp.started[-1]["redirect_uri"] == "http://localhost:7071/api/auth/callback"
    assert "prompt" not in idp.started[-1]


def test_get_started_asks_the_provider_to_create_an_account(storage, idp):
    _, raw = invite(storage)
    _start(raw, "create")
    assert idp.started[-1]["prompt"] == "create" and idp.started[-1]["login_hint"] == "hanna@contoso.example"
    _start(raw, "another")
    assert idp.started[-1]["prompt"] == "select_account"


def test_the_right_account_gets_a_session_and_the_company_form(storage, idp):
    inv, raw = invite(storage)
    resp = _callback(state_of(_start(raw)))
    assert resp.status_code == 303
    assert resp.headers["Location"] == f"/api/companies/new?invitationId={inv.link_key}"
    cookie = next(c for c in resp.headers.get_all("Set-Cookie") if c.startswith("accept_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=1800" in cookie
    assert "Secure" not in cookie  # http://localhost only
    assert "secret-token" not in cookie
    session = sessions.decode(cookie.split(";")[0].split("=", 1)[1])
    assert session is not None and session.email == "hanna@contoso.example"
    assert reload(storage, inv).status == InvitationStatus.PENDING  # signing in consumes nothing


def test_email_matching_ignores_ascii_case(storage, idp):
    inv, raw = invite(storage)
    idp.email = "HANNA@Contoso.Example"
    assert _callback(state_of(_start(raw))).status_code == 303


def test_a_wrong_account_gets_a_page_no_session_and_the_invitation_waits(storage, idp):
    inv, raw = invite(storage, language="en")
    idp.email = "someone.else@contoso.example"
    resp = _callback(state_of(_start(raw)))
    assert resp.status_code == 403
    text = text_of(resp)
    assert "You signed in as someone.else@contoso.example, but this invitation is for hanna@contoso.example." in text
    assert f"invitationId={inv.link_key}&amp;mode=another" in resp.get_body().decode()
    assert not [c for c in resp.headers.get_all("Set-Cookie") if c.startswith("accept_session=")]
    assert reload(storage, inv).status == InvitationStatus.PENDING
    # then the right account, from the page's button, still works
    idp.email = "hanna@contoso.example"
    assert _callback(state_of(_start(inv.link_hash, "another"))).status_code == 303


def test_a_state_is_used_once(storage, idp):
    _, raw = invite(storage, language="en")
    state = state_of(_start(raw))
    assert _callback(state).status_code == 303
    replay = _callback(state)
    assert replay.status_code == 400 and "Your sign-in took too long" in text_of(replay)


def test_unknown_state_and_cancelled_sign_in_have_their_pages(storage, idp):
    _, raw = invite(storage, language="en")
    assert "Your sign-in took too long" in text_of(_callback("x" * 43))
    cancelled = _callback(state_of(_start(raw)), error="access_denied", error_description="user cancelled")
    assert cancelled.status_code == 200 and "Sign-in was cancelled" in text_of(cancelled)
    assert "/api/auth/signin?invitationId=" in cancelled.get_body().decode()


def test_a_flow_older_than_ten_minutes_is_refused_and_swept(storage, idp, fixed_clock):
    _, raw = invite(storage, language="en")
    old = state_of(_start(raw))
    fixed_clock.advance(minutes=5)
    fresh = state_of(_start(raw))
    fixed_clock.advance(minutes=6)
    assert "Your sign-in took too long" in text_of(_callback(old))  # read, found stale, and deleted
    state_of(_start(raw))
    fixed_clock.advance(minutes=5)
    assert delete_stale_flows(ctx_of(storage), utc_now()) == 1  # `fresh` is past its ten minutes; the newest is not
    assert FlowStore(storage).get(f"f|{fresh[:2]}", fresh) is None
    assert len(FlowStore(storage).query_all("expires gt @now", {"now": int((utc_now() - timedelta(seconds=1)).timestamp())})) == 1
    assert FLOW_LIFETIME == timedelta(minutes=10)


def test_the_hourly_timer_deletes_stale_flows(storage, idp, fixed_clock):
    _, raw = invite(storage, language="en")
    stale = state_of(_start(raw))
    fixed_clock.advance(minutes=11)
    fresh = state_of(_start(raw))
    functions.delete_stale_sign_in_flows(TimerRequest(past_due=True))
    assert FlowStore(storage).get(f"f|{stale[:2]}", stale) is None
    assert FlowStore(storage).get(f"f|{fresh[:2]}", fresh) is not None


def test_an_accepted_invitation_signs_in_to_the_welcome_page(storage, idp):
    from accept_invite import companies

    inv, raw = invite(storage)
    customer_id = create_company(storage, inv, companies.Person("hanna@contoso.example"))
    resp = _callback(state_of(_start(raw)))
    assert resp.headers["Location"] == f"/api/companies/{customer_id}/welcome"


def test_secure_cookie_outside_localhost(settings, monkeypatch):
    from shared.settings import reset_settings

    monkeypatch.setenv("PUBLIC_BASE_URL", "https://invitations.example.com")
    reset_settings()
    cookie = sessions.set_cookie(sessions.Session(email="a@b.c"))
    assert cookie.startswith("__Host-accept_session=") and "; Secure" in cookie and "Path=/" in cookie


def test_provider_down_is_a_page_and_nothing_changes(storage, idp, monkeypatch):
    import requests

    inv, raw = invite(storage, language="en")

    def down(*a, **k):
        raise requests.ConnectionError("connection refused")

    monkeypatch.setattr(idp, "initiate_auth_code_flow", down)
    resp = functions.start_sign_in(get_request("auth/signin", {"invitationId": raw}))
    assert resp.status_code == 503 and "We can't continue right now" in text_of(resp)
    assert FlowStore(storage).query_all("PartitionKey ge 'f|'") == []
    monkeypatch.undo()
    monkeypatch.setattr(signin, "auth_client", lambda settings=None: idp)
    state = state_of(_start(raw))
    monkeypatch.setattr(idp, "acquire_token_by_auth_code_flow", down)
    assert _callback(state).status_code == 503
    assert reload(storage, inv).status == InvitationStatus.PENDING


# -- login CSRF: the callback signs in only the browser that started the sign-in ------------------------------------


def test_the_signin_sets_a_short_lived_binding_cookie_whose_hash_the_flow_keeps(storage, idp):
    import hashlib

    _, raw = invite(storage)
    resp = functions.start_sign_in(get_request("auth/signin", {"invitationId": raw}))
    [cookie] = [c for c in cookies_set(resp) if c.startswith(sessions.binding_cookie_name() + "=")]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=600" in cookie and "Path=/" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    state = state_of(resp.headers["Location"])
    row = found(FlowStore(storage).get(f"f|{state[:2]}", state))
    assert row.binding_hash == hashlib.sha256(value.encode()).hexdigest() and value not in str(row.model_dump())


def test_a_callback_opened_in_another_browser_signs_nobody_in(storage, idp):
    # Regression: the callback URL alone gave a session, so an attacker could sign a victim into the attacker's account.
    inv, raw = invite(storage, language="de")
    state = state_of(_start(raw))
    for cookie in ("", f"{sessions.binding_cookie_name()}=forged-value"):
        resp = _callback(state, cookie=cookie)
        assert resp.status_code == 400
        assert not [c for c in cookies_set(resp) if c.startswith(sessions.cookie_name() + "=")]
        text = text_of(resp)
        assert "Die Anmeldung wurde in einem anderen Browser begonnen" in text  # the invitation's language
        assert f"invitationId={inv.link_key}" in resp.get_body().decode()  # a way to start again
    # the browser that started it still finishes it
    assert _callback(state).status_code == 303


def test_the_secure_binding_cookie_is_a_host_cookie(monkeypatch, settings):
    from shared.settings import reset_settings

    monkeypatch.setenv("PUBLIC_BASE_URL", "https://invitations.example")
    reset_settings()
    cookie = sessions.binding_cookie("v", 600)
    assert cookie.startswith("__Host-signin_binding=v;") and "; Secure" in cookie and "Path=/" in cookie and "Domain" not in cookie


# -- identity: only a verified email signs in, and the subject comes along -----------------------------------------


def test_an_unverified_email_does_not_sign_in(storage, idp):
    # Regression: the email claim (or preferred_username) was trusted as it came.
    inv, raw = invite(storage)
    idp.claims = {"email_verified": False}
    resp = _callback(state_of(_start(raw)))
    assert resp.status_code == 400 and not [c for c in cookies_set(resp) if c.startswith(sessions.cookie_name() + "=")]
    idp.claims = {"tid": "t-1", "oid": "o-1"}  # Entra without xms_edov
    assert _callback(state_of(_start(raw))).status_code == 400
    idp.claims = {"tid": "t-1", "oid": "o-1", "xms_edov": True}
    resp = _callback(state_of(_start(raw)))
    assert resp.status_code == 303
    [cookie] = [c for c in cookies_set(resp) if c.startswith(sessions.cookie_name() + "=")]
    session = found(sessions.decode(cookie.split(";")[0].split("=", 1)[1]))
    assert session.subject == "t-1|o-1" and session.email == "hanna@contoso.example"
    assert reload(storage, inv).status == InvitationStatus.PENDING


@pytest.mark.parametrize("handle", ["reference", "link_key"])
def test_the_public_reference_starts_no_sign_in_that_names_the_invitee(storage, idp, handle):
    # Issue 19 item 11: the reference (which webhooks and the feed carry: "never names or addresses") started a
    # sign-in whose redirect carried login_hint=<the invitee's email>; the link key is the partner's tag before it.
    inv, raw = invite(storage)
    value = getattr(inv, handle)
    resp = functions.start_sign_in(get_request("auth/signin", {"invitationId": value, "mode": "create"}))
    assert resp.status_code == 302
    assert "hanna" not in resp.headers["Location"] and "login_hint" not in idp.started[-1]
    # The emailed link id itself still fills in the address (whoever holds it was sent it).
    _start(raw)
    assert idp.started[-1]["login_hint"] == "hanna@contoso.example"


def test_anonymous_sign_ins_store_a_bounded_number_of_flows_per_client(storage, idp):
    # Issue 19 item 12: each anonymous GET stored a sign-in flow row, without limit. Every sign-in starts in
    # signin.start, which counts the client (an IPv6 /64 is one) before it stores anything.
    from accept_invite import domain_functions

    def join(address):
        return domain_functions.join_sign_in(get_request("companies/join/signin", headers={"x-forwarded-for": address}))

    statuses = [join(f"2001:db8:5:6::{i:x}").status_code for i in range(1, signin.FLOWS_PER_CLIENT + 3)]
    assert statuses == [303] * signin.FLOWS_PER_CLIENT + [429, 429]
    assert len(list(storage.table("SignInFlows").list_entities())) == signin.FLOWS_PER_CLIENT
    _, raw = invite(storage)
    refused = functions.start_sign_in(get_request("auth/signin", {"invitationId": raw}, headers={"x-forwarded-for": "2001:db8:5:6::99"}))
    assert refused.status_code == 429 and "Too many requests" in text_of(refused)
    assert join("2001:db8:5:7::1").status_code == 303  # another client


def test_sign_out_ends_every_session_of_the_person_at_once(storage, idp):
    # Issue 19 item 13: sign-out only cleared this browser's cookie; a copied cookie kept reading and changing the
    # company for the rest of its 30 minutes. Now the person's session epoch moves on and every copy stops.
    from accept_invite import companies
    from shared import session_epochs
    from tests.support.accept_invite import form_request, session_header, subject_for

    hanna = "hanna@contoso.example"
    inv, _ = invite(storage)
    company = create_company(storage, inv, companies.Person(hanna, "", subject_for(hanna)))

    def users_page(headers):
        return functions.company_page(get_request(f"companies/{company}/users", headers=headers,
                                                  route_params={"companyId": company, "page": "users"}))

    browser, copied_elsewhere = session_header(hanna), session_header(hanna, csrf="another-browsers-token")
    assert users_page(browser).status_code == 200 and users_page(copied_elsewhere).status_code == 200
    out = functions.sign_out(form_request("auth/signout", {"csrf": "csrf-token-for-tests"}, browser))
    assert out.status_code == 200
    for cookie in (browser, copied_elsewhere):
        resp = users_page(cookie)
        assert resp.status_code != 200 and "Hanna" not in text_of(resp)
    # Someone else's sessions are not touched; a new sign-in of Hanna's works again.
    assert session_epochs.current(ctx_of(storage), subject_for("bob@fabrikam.example")) == 0
    _, raw = invite(storage)
    state = state_of(_start(raw))
    fresh = _callback(state)
    [cookie] = [c.split(";")[0] for c in cookies_set(fresh) if c.startswith(sessions.cookie_name() + "=")]
    assert found(sessions.decode(cookie.split("=", 1)[1])).epoch == 1
    assert users_page({"cookie": cookie}).status_code == 200
