"""The emailed link on real storage: a page for every state, the same 404 for unknown and malformed ids,
and nothing a mail scanner does (GET, HEAD, following the page's links) uses up an invitation."""

from __future__ import annotations

import uuid

import pytest

from accept_invite import functions
from accept_invite.signin import FlowStore
from invite_user import service
from invite_user.invitations import InvitationStatus
from tests.support.accept_invite import AGENT, create_company, etag_of, get_request, invite, reload, text_of
from tests.support.context import ctx_of
from tests.support.expect import found
from tests.support.partners import register_partners


@pytest.fixture
def partners(storage):
    register_partners(storage)
    return storage


def _landing(raw, headers=None, method="GET"):
    return functions.redeem_invitation_link(get_request("InviteUser", {"invitationId": raw}, headers=headers, method=method))


def test_valid_link_shows_who_invited_and_both_ways_in(partners):
    inv, raw = invite(partners, language="en")
    resp = _landing(raw)
    assert resp.status_code == 200
    text = text_of(resp)
    assert "Anna Agent from Contoso Partner has invited you to use My rConnect" in text
    assert "This invitation is for hanna@contoso.example" in text
    body = resp.get_body().decode()
    assert f"/api/auth/signin?invitationId={raw}&amp;mode=signin" in body
    assert f"/api/auth/signin?invitationId={raw}&amp;mode=create" in body
    assert "Get started now" in text and "Sign in" in text


def test_pages_send_the_security_headers(partners):
    _, raw = invite(partners)
    resp = _landing(raw)
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in resp.get_body().decode() and " style=" not in resp.get_body().decode()


@pytest.mark.parametrize("raw", [str(uuid.uuid4()), "not-a-guid", "", "'; drop table", "0" * 64])
def test_unknown_and_malformed_links_get_the_same_404_page(partners, raw):
    resp = _landing(raw)
    assert resp.status_code == 404
    assert "This link is not valid" in text_of(resp)


def test_unknown_and_malformed_pages_read_the_same(partners):
    assert text_of(_landing("garbage")) == text_of(_landing(str(uuid.uuid4())))


def test_expired_link_is_410_and_offers_the_resend_request(partners, fixed_clock):
    inv, raw = invite(partners, language="en", expiresInDays=1,
                      agreement={"agreementNumber": "MPSA-1", "purchasingAccountNumber": "PA-9"})
    fixed_clock.advance(days=2)
    resp = _landing(raw)
    assert resp.status_code == 410
    text = text_of(resp)
    assert "This invitation has expired" in text
    assert 'action="/api/InviteUser/resend-request"' in resp.get_body().decode()
    assert any("accept_session=" in c for c in resp.headers.get_all("Set-Cookie"))  # the anonymous CSRF session


def test_expired_link_without_agreement_says_whom_to_ask(partners, fixed_clock):
    _, raw = invite(partners, language="en", expiresInDays=1)
    fixed_clock.advance(days=2)
    text = text_of(_landing(raw))
    assert "Ask Anna Agent at Contoso Partner to send you a new invitation." in text
    assert "mailto:anna@partner.example" in _landing(raw).get_body().decode()


def test_resend_request_form_queues_the_check_and_answers_the_same(partners, fixed_clock):
    from accept_invite import sessions
    from tests.support.accept_invite import form_request

    _, raw = invite(partners, language="en", expiresInDays=1, agreement={"agreementNumber": "MPSA-1", "purchasingAccountNumber": "PA-9"})
    fixed_clock.advance(days=2)
    page = _landing(raw)
    cookie = next(c for c in page.headers.get_all("Set-Cookie") if c.startswith("accept_session=")).split(";")[0]
    csrf = found(sessions.decode(cookie.split("=", 1)[1])).csrf
    form = {"csrf": csrf, "email": "hanna@contoso.example", "agreementNumber": "MPSA-1", "purchasingAccountNumber": "PA-9"}
    resp = functions.request_resend_from_page(form_request("InviteUser/resend-request", form, {"cookie": cookie}))
    assert resp.status_code == 200 and "Request received" in text_of(resp)
    without_csrf = functions.request_resend_from_page(form_request("InviteUser/resend-request", {**form, "csrf": "x"}, {"cookie": cookie}))
    assert without_csrf.status_code == 403


def test_revoked_link_names_whom_to_contact(partners):
    inv, raw = invite(partners, language="en")
    service.revoke(ctx_of(partners), AGENT, raw)
    resp = _landing(raw)
    assert resp.status_code == 410
    text = text_of(resp)
    assert "This invitation was withdrawn" in text
    assert "contact Anna Agent at Contoso Partner" in text


def test_used_link_offers_sign_in_to_the_platform(partners):
    from accept_invite import companies

    inv, raw = invite(partners, language="en")
    create_company(partners, inv, companies.Person("hanna@contoso.example"))
    resp = _landing(raw)
    assert resp.status_code == 200
    text = text_of(resp)
    assert "This invitation has already been used" in text
    assert f"/api/auth/signin?invitationId={raw}" in resp.get_body().decode()


def test_language_invitation_then_accept_language_then_english(partners):
    _, raw_de = invite(partners, language="de")
    assert 'lang="de"' in _landing(raw_de, {"Accept-Language": "fr"}).get_body().decode()
    _, raw_sv = invite(partners, language="sv", email="sven@contoso.example")  # no Swedish catalog: the browser's choice
    assert '<html lang="fr"' in _landing(raw_sv, {"Accept-Language": "fr-CH, en;q=0.5"}).get_body().decode()
    assert '<html lang="en"' in _landing(raw_sv).get_body().decode()
    # the switcher wins and is remembered
    chosen = functions.redeem_invitation_link(get_request("InviteUser", {"invitationId": raw_de, "lang": "ko"}))
    assert '<html lang="ko"' in chosen.get_body().decode()
    assert any(c.startswith("lang=ko;") for c in chosen.headers.get_all("Set-Cookie"))
    remembered = _landing(raw_de, {"cookie": "lang=ko"})
    assert '<html lang="ko"' in remembered.get_body().decode()


def test_scanners_get_and_head_everything_and_change_nothing(partners, monkeypatch):
    from accept_invite import signin
    from tests.support.accept_invite import FakeAuthClient

    monkeypatch.setattr(signin, "auth_client", lambda settings=None: FakeAuthClient())
    inv, raw = invite(partners)
    before, etag_before = reload(partners, inv), etag_of(partners, inv)
    for method in ("GET", "HEAD"):
        for _ in range(3):
            assert _landing(raw, method=method).status_code == 200
        # following the page's links without signing in: HEAD starts nothing, GET only leaves a sign-in flow waiting
        resp = functions.start_sign_in(get_request("auth/signin", {"invitationId": raw, "mode": "signin"}, method=method))
        assert resp.status_code == (302 if method == "GET" else 200)
        for path, fn in (("companies/new", functions.new_company_form), ("companies/accept", functions.confirm_invitation)):
            assert fn(get_request(path, {"invitationId": raw}, method=method)).status_code == 303
    after = reload(partners, inv)
    assert after.status == InvitationStatus.PENDING
    assert etag_of(partners, inv) == etag_before
    assert after.updated_at == before.updated_at


def test_head_on_sign_in_writes_no_flow(partners):
    _, raw = invite(partners)
    functions.start_sign_in(get_request("auth/signin", {"invitationId": raw}, method="HEAD"))
    assert FlowStore(partners).query_all("PartitionKey ge 'f|'") == []


def test_assets_are_served_with_their_types():
    css = functions.page_asset(get_request("assets/pages.css", route_params={"name": "pages.css"}))
    js = functions.page_asset(get_request("assets/pages.js", route_params={"name": "pages.js"}))
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert js.status_code == 200 and js.mimetype == "text/javascript"
    assert functions.page_asset(get_request("assets/x", route_params={"name": "../function_app.py"})).status_code == 404


def test_storage_outage_is_a_localized_page_not_a_traceback(partners, monkeypatch):
    from invite_user.repository import InvitationStore
    from shared.storage import StorageUnavailable

    _, raw = invite(partners, language="de")

    def down(*a, **k):
        raise StorageUnavailable("boom")

    monkeypatch.setattr(InvitationStore, "find_by_link", down)
    resp = _landing(raw, {"Accept-Language": "de"})
    assert resp.status_code == 503
    assert "Traceback" not in resp.get_body().decode() and '<html lang="de"' in resp.get_body().decode()
