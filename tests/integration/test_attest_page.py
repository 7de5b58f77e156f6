"""The customer's agreement page after sign-in (session, CSRF, the ticked box) on Azurite."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import azure.functions as func
import pytest

from accept_invite import functions as fn
from accept_invite import sessions
from attest_agreement.repository import CustomerStore
from invite_user.invitations import InvitationStatus, link_hash
from invite_user.repository import InvitationStore
from tests.integration.test_attest_customers import create, queued
from tests.integration.test_attest_direct import invite
from tests.support.expect import found
from tests.support.http import json_of
from tests.support.invitations import save_changed

CSRF = "csrf-for-agreement-tests"


def cookie(email="greta@contoso.de"):
    session = sessions.Session(csrf=CSRF, email=email, name="Greta Maier", subject="sub-" + email)
    return {"cookie": f"{sessions.cookie_name()}={sessions.encode(session)}"}


def get(params, headers=None):
    return fn.agreement_page(func.HttpRequest(method="GET", url="http://localhost:7071/api/agreements/accept?" + urlencode(params),
                                              headers=headers or {}, params=params, route_params={}, body=b""))


def post(form, headers=None):
    return fn.accept_agreement(func.HttpRequest(method="POST", url="http://localhost:7071/api/agreements/accept",
                                                headers={"content-type": "application/x-www-form-urlencoded", **(headers or {})},
                                                params={}, route_params={}, body=urlencode(form).encode()))


def text(resp):
    return " ".join(re.sub(r"<[^>]+>", " ", resp.get_body().decode()).split())


@pytest.fixture
def invited(storage, partner_tokens, fixed_clock):
    cid = create(partner_tokens())["customer"]["id"]
    created = json_of(invite(partner_tokens(), cid))
    return cid, link_hash(created["id"])


def test_signed_in_invitee_ticks_the_box_and_the_agreement_is_accepted(storage, settings, partner_tokens, invited):
    cid, h = invited
    page = get({"invitationId": h}, cookie())
    assert page.status_code == 200 and page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    html = page.get_body().decode()
    assert f'value="{CSRF}"' in html and 'name="accept"' in html and "Contoso Berlin GmbH" in text(page)
    assert '<html lang="de"' in html  # the invitation's language
    # without the box: the form again, saying what is missing, and nothing accepted
    missing = post({"csrf": CSRF, "invitationId": h}, cookie())
    assert missing.status_code == 400 and 'aria-invalid="true"' in missing.get_body().decode()
    assert CustomerStore(storage).acceptance(cid) is None
    done = post({"csrf": CSRF, "invitationId": h, "accept": "yes"}, cookie())
    assert done.status_code == 303 and done.headers["Location"] == f"/api/agreements/accept?invitationId={h}"
    acceptance = found(CustomerStore(storage).acceptance(cid))
    assert acceptance.how.value == "DirectAcceptance" and acceptance.by["email"] == "greta@contoso.de"
    assert acceptance.contact.first_name == "Greta" and acceptance.contact.last_name == "Maier"
    assert found(InvitationStore(storage).find_by_link(h)).status == InvitationStatus.ACCEPTED
    shown = get({"invitationId": h}, cookie())
    assert shown.status_code == 200 and 'id="accepted"' in shown.get_body().decode() and "greta@contoso.de" in text(shown)
    # a double submit changes nothing, and no confirmation email goes out for a direct acceptance
    assert post({"csrf": CSRF, "invitationId": h, "accept": "yes"}, cookie()).status_code == 303
    assert queued(storage, settings, "email") == []


def test_no_session_no_csrf_or_another_account_changes_nothing(storage, partner_tokens, invited):
    cid, h = invited
    assert get({"invitationId": h}).status_code == 303  # to sign-in
    assert get({"invitationId": h}).headers["Location"].startswith("/api/auth/signin?")
    assert post({"csrf": "wrong", "invitationId": h, "accept": "yes"}, cookie()).status_code == 403
    assert post({"invitationId": h, "accept": "yes"}).status_code == 403
    assert get({"invitationId": h}, cookie("mallory@evil.example")).status_code == 403
    assert post({"csrf": CSRF, "invitationId": h, "accept": "yes"}, cookie("mallory@evil.example")).status_code == 403
    assert get({"invitationId": "garbage"}, cookie()).status_code == 404
    assert CustomerStore(storage).acceptance(cid) is None


def test_a_revoked_invitation_leads_to_its_status_page(storage, partner_tokens, invited, fixed_clock):
    cid, h = invited
    store = InvitationStore(storage)
    inv = found(store.find_by_link(h))
    inv.revoke(fixed_clock.now(), {"name": "x"})
    save_changed(storage, inv)
    resp = post({"csrf": CSRF, "invitationId": h, "accept": "yes"}, cookie())
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/api/companies/new?")
    assert CustomerStore(storage).acceptance(cid) is None



def test_the_language_chosen_on_the_agreement_page_is_kept_after_submitting(storage, settings, partner_tokens, invited):
    """The switcher's choice is a cookie set by the one page renderer: the page after the submit is in that language too."""
    cid, h = invited
    chosen = get({"invitationId": h, "lang": "fr"}, cookie())
    assert '<html lang="fr"' in chosen.get_body().decode()
    set_cookies = chosen.headers.get_all("Set-Cookie") if hasattr(chosen.headers, "get_all") else [chosen.headers.get("Set-Cookie")]
    language_cookie = next(c.split(";")[0] for c in set_cookies if c and c.startswith(f"{sessions.LANGUAGE_COOKIE}="))
    assert language_cookie == f"{sessions.LANGUAGE_COOKIE}=fr"
    browser = {"cookie": cookie()["cookie"] + "; " + language_cookie}  # what the browser sends from now on
    submitted = post({"csrf": CSRF, "invitationId": h, "accept": "yes"}, browser)
    assert submitted.status_code == 303
    after = fn.agreement_page(func.HttpRequest(method="GET", url="http://localhost:7071" + submitted.headers["Location"],
                                               headers=browser, params={"invitationId": h}, route_params={}, body=b""))
    assert after.status_code == 200 and '<html lang="fr"' in after.get_body().decode()
    assert CustomerStore(storage).acceptance(cid) is not None
