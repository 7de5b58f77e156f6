"""Rate limits that hold: the client is the address the front end adds, both resend paths count per email in the same
normalised form, and a refusal carries Retry-After with the RateLimit header fields.

Regressions (each failed before): the first, client-chosen X-Forwarded-For entry was the bucket; an IPv6 address kept
its port; the page had no per-email limit; the API keyed the email limit on casefold(), another form than the queue's.
"""

from __future__ import annotations

import pytest

from accept_invite import functions as pages
from accept_invite import sessions
from invite_user import functions as fn
from shared.http import client_ip
from tests.support.accept_invite import form_request
from tests.support.http import build_request

AGREEMENT = {"agreementNumber": "MPSA-1234", "purchasingAccountNumber": "PA-99"}


def _req(forwarded):
    return build_request("GET", "x", headers={"X-Forwarded-For": forwarded} if forwarded is not None else {})


@pytest.mark.parametrize(("forwarded", "ip"), [
    ("203.0.113.5:5123", "203.0.113.5"),
    ("1.1.1.1, 203.0.113.5:5123", "203.0.113.5"),  # whatever the client sent comes first; the front end's entry is last
    ("[2001:db8::7]:443", "2001:db8::7"),
    ("2001:db8::7", "2001:db8::7"),
    ("evil, [2001:DB8:0::7]:1", "2001:db8::7"),
    ("not-an-address", "unknown"),
    (None, "unknown"),
])
def test_the_client_is_the_last_hop_without_its_port(forwarded, ip):
    assert client_ip(_req(forwarded)) == ip


def _api(email, forwarded):
    return fn.request_invitation_resend(build_request("POST", "invitations/resend-request", body={"email": email, **AGREEMENT},
                                                      headers={"X-Forwarded-For": forwarded}))


def test_a_client_cannot_pick_a_fresh_bucket_with_x_forwarded_for(storage, settings):
    statuses = [_api(f"u{i}@contoso.com", f"10.0.0.{i}, 192.0.2.9:4000").status_code for i in range(21)]
    assert statuses == [202] * 20 + [429]


def test_ipv6_ports_do_not_make_new_buckets(storage, settings):
    statuses = [_api(f"v{i}@contoso.com", f"[2001:db8::9]:{40000 + i}").status_code for i in range(21)]
    assert statuses[-1] == 429


def test_a_refusal_carries_the_ratelimit_fields(storage, settings):
    for _ in range(5):
        _api("flood@contoso.com", "192.0.2.1")
    resp = _api("flood@contoso.com", "192.0.2.2")
    assert resp.status_code == 429 and resp.mimetype == "application/problem+json"
    assert int(resp.headers["Retry-After"]) > 0
    assert resp.headers["RateLimit-Policy"] == '"resend-per-email";q=5;w=3600'
    assert resp.headers["RateLimit"] == f'"resend-per-email";r=0;t={resp.headers["Retry-After"]}'
    assert "flood" not in resp.headers["RateLimit-Policy"]


def _page(email, forwarded):
    session = sessions.Session()
    cookie = f"{sessions.cookie_name()}={sessions.encode(session)}"
    form = {"csrf": session.csrf, "email": email, **AGREEMENT}
    return pages.request_resend_from_page(form_request("InviteUser/resend-request", form, {"cookie": cookie, "x-forwarded-for": forwarded}))


def test_both_paths_share_one_per_email_limit_in_the_normalised_form(storage, settings):
    # Three by the API (in two spellings of the same mailbox), two by the page, then the page is refused with a page.
    for spelling in ("Harry@Contoso.com", "harry@contoso.com", "HARRY@CONTOSO.COM"):
        assert _api(spelling, f"192.0.2.{len(spelling)}").status_code == 202
    assert [_page("harry@Contoso.COM", f"198.51.100.{i}").status_code for i in range(3)] == [200, 200, 429]
    assert _api("harry@contoso.com", "203.0.113.99").status_code == 429


def test_mailboxes_that_casefold_would_merge_are_counted_apart(storage, settings):
    assert [_api("anna@strasse.de", f"192.0.2.{i}").status_code for i in range(6)] == [202] * 5 + [429]
    assert _api("anna@straße.de", "192.0.2.50").status_code == 202


def test_full_width_spellings_of_one_mailbox_share_its_page_budget(storage, settings):
    # Issue 19 item 1: the page limited on the raw form value; each full-width spelling of the domain (which validation
    # folds into the same address, the same mailbox) got a fresh budget of 5 an hour.
    spellings = ["victim@bomb.example", "victim@ｂomb.example", "victim@bｏmb.example", "victim@boｍb.example",
                 "victim@bomｂ.example", "victim@ｂｏｍｂ.example", "victim@bomb.ｅxample"]
    statuses = [_page(spelling, f"198.51.100.{i}").status_code for i, spelling in enumerate(spellings)]
    assert statuses == [200] * 5 + [429, 429]
    assert _api("victim@ｂｏｍｂ.example", "203.0.113.70").status_code == 429


def test_an_ipv6_64_is_one_client(storage, settings):
    # The host picks any of its 2^64 addresses: every one of them is the same client, on both paths.
    statuses = [_api(f"w{i}@contoso.com", f"[2001:db8:0:7::{i:x}]:443").status_code for i in range(1, 21)]
    assert statuses == [202] * 20
    assert _api("w99@contoso.com", "2001:db8:0:7:ffff:1:2:3").status_code == 429
    assert _page("w100@contoso.com", "2001:db8:0:7:abcd::1").status_code == 429
    assert _api("w101@contoso.com", "2001:db8:0:8::1").status_code == 202  # the next /64 is another client


def test_what_a_per_client_limit_counts():
    from shared.rate_limit import client_of

    assert client_of("2001:db8:0:7::1") == client_of("2001:db8:0:7:ffff:ffff:ffff:ffff") == "2001:db8:0:7::/64"
    assert client_of("203.0.113.5") == client_of("::ffff:203.0.113.5") == "203.0.113.5"
    assert client_of("unknown") == "unknown"
