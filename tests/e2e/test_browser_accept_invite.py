"""The customer's whole path in headless Chromium on the local stack: a partner invites, the email arrives in
MailDev, the link opens the landing page, the customer signs in at the local identity provider (case 1) or
creates an account there (case 2), fixes the one bad field on the company form (grey button, reason shown),
creates the company and lands on the welcome page. Screenshots of every step go to test-artifacts/."""

from __future__ import annotations

import re
import time
import uuid

import pytest
import requests
from playwright.sync_api import Page, expect

from devhost.local_settings import ROOT
from devhost.seed import demo_tokens
from tests.e2e.journey import invitation_links, invite, phone_context, sign_in

ARTIFACTS = ROOT / "test-artifacts" / "accept-invite"


@pytest.fixture
def problems() -> list[str]:
    """What went wrong on our pages while a test ran: console errors, error statuses, script errors."""
    return []


@pytest.fixture
def page(browser, problems):
    context = phone_context(browser)
    pg = context.new_page()

    def on_console(msg) -> None:  # noqa: ANN001
        # Our pages only: the stand-in identity provider loads its stylesheet from a CDN that is unreachable here.
        if msg.type == "error" and "/api/" in (msg.location or {}).get("url", "") and "favicon" not in msg.text:
            problems.append(f"{msg.text} at {msg.location}")

    def on_response(resp) -> None:  # noqa: ANN001
        if resp.status >= 400 and "/api/" in resp.url:
            problems.append(f"{resp.status} {resp.url}")

    pg.on("console", on_console)
    pg.on("response", on_response)
    pg.on("pageerror", lambda exc: problems.append(str(exc)))
    yield pg
    context.close()


def _shot(page: Page, case: str, step: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{case}-{step}.png"), full_page=True)


def _fix_the_form_and_create(page: Page, case: str) -> None:
    button = page.locator("#create-company")
    expect(page.locator("h1")).to_have_text("Create your company")
    expect(page.locator("#f-name")).to_have_value("Contoso Berlin GmbH")
    expect(button).to_be_disabled()
    expect(page.locator("#reason-postalCode")).to_have_text("A postal code in Germany looks like 10115.")
    assert page.eval_on_selector("#create-company", "b => getComputedStyle(b).backgroundColor") == "rgb(117, 117, 117)"  # grey
    _shot(page, case, "04-form-bad-field")
    page.locator("#f-postalCode").fill("10115")
    expect(button).to_be_enabled()
    expect(page.locator("#reason-postalCode")).to_have_text("")
    assert page.eval_on_selector("#create-company", "b => getComputedStyle(b).backgroundColor") == "rgb(179, 71, 0)"  # orange
    _shot(page, case, "05-form-fixed")
    # a new bad value greys it again: the browser asks the server's rules each time
    page.locator("#f-website").fill("not a website")
    expect(button).to_be_disabled()
    expect(page.locator("#reason-website")).to_have_text("Enter a web address such as https://www.example.com.")
    page.locator("#f-website").fill("")
    expect(button).to_be_enabled()
    button.click()
    expect(page.locator("#welcome")).to_have_text("Welcome, Hanna Schmidt!")
    expect(page.get_by_role("link", name=re.compile("Company profile"))).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Users"))).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Agreements"))).to_be_visible()
    _shot(page, case, "06-welcome")


def test_case_1_known_account_signs_in_and_creates_the_company(local_stack, page, problems):
    email = f"hanna.{uuid.uuid4().hex[:8]}@contoso.example"
    created = invite(local_stack, email)
    link = invitation_links(local_stack, email)[0]
    assert link == created["inviteRedeemUrl"]
    page.goto(link)
    expect(page.locator("h1")).to_have_text("Welcome, Hanna Schmidt!")
    expect(page.get_by_text("Fiona Field from Contoso Field Services has invited you")).to_be_visible()
    _shot(page, "case1", "01-landing")
    page.locator("#sign-in").click()
    page.locator("input[name=sub][type=text]").wait_for()
    expect(page.locator("#local-sub-hint")).to_contain_text("invited email address")
    _shot(page, "case1", "02-identity-provider")
    sign_in(page, email)
    page.wait_for_url(re.compile(r"/api/companies/new\?invitationId="))
    _shot(page, "case1", "03-signed-in")
    _fix_the_form_and_create(page, "case1")
    assert not problems, problems  # no CSP violations, no script errors
    status = requests.get(f"{local_stack.app_url}/api/invitations/{created['id']}",
                          headers={"Authorization": f"Bearer {demo_tokens(local_stack)['agent']}"}, timeout=10).json()["status"]
    assert status == "Accepted"
    # the demo partner's subscription: the stack's webhook inbox got invitation.accepted, company.created, ... signed
    arrived = _webhooks_about(local_stack, created["reference"], {"invitation.created", "invitation.accepted"})
    assert arrived["invitation.accepted"]["verdict"] == "verified"
    assert arrived["invitation.accepted"]["event"]["data"]["status"] == "Accepted"
    _the_trail_reads_the_whole_journey(local_stack, created, email)


def _the_trail_reads_the_whole_journey(stack, created: dict, email: str) -> None:
    """The issue's "done when": the accepted invitation's trail, over HTTP, on the stack whose MailDev reported delivery;
    then the partner attests the agreement and the trail ends with it."""
    auth = {"Authorization": f"Bearer {demo_tokens(stack)['agent']}"}
    url = f"{stack.app_url}/api/invitations/{created['id']}/trail"
    deadline, steps = time.time() + 30, []
    while time.time() < deadline:  # the delivery report travels MailDev -> the relay -> Event Grid webhook on its own
        steps = [s["step"] for s in requests.get(url, headers=auth, timeout=10).json()["steps"]]
        if "delivered" in steps:
            break
        time.sleep(0.3)
    assert steps == ["created", "emailed", "delivered", "opened", "signedIn", "accepted", "relationshipConsented"], steps
    customer_id = requests.get(f"{stack.app_url}/api/invitations/{created['id']}", headers=auth, timeout=10).json()["customerId"]
    body = {"type": "MicrosoftCustomerAgreement", "dateAgreed": time.strftime("%Y-%m-%d", time.gmtime()),
            "primaryContact": {"firstName": "Hanna", "lastName": "Schmidt", "email": email}}
    attested = requests.post(f"{stack.app_url}/api/customers/{customer_id}/agreements", json=body, headers=auth, timeout=20)
    assert attested.status_code == 201, attested.text
    last = requests.get(url, headers=auth, timeout=10).json()["steps"][-1]
    assert last["step"] == "agreementAccepted" and last["how"] == "PartnerAttestation"


def _webhooks_about(stack, reference: str, wanted: set[str], timeout: float = 30) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = {d["type"]: d for d in requests.get(f"{stack.webhook_inbox_url}/deliveries.json", timeout=10).json()
               if d["event"].get("data", {}).get("reference") == reference}
        if wanted <= set(got):
            return got
        time.sleep(0.2)
    raise AssertionError(f"webhooks {wanted} about {reference} did not arrive within {timeout}s")


def test_case_2_new_account_gets_started_and_creates_the_company(local_stack, page, problems):
    email = f"harry.{uuid.uuid4().hex[:8]}@contoso.example"
    invite(local_stack, email)
    page.goto(invitation_links(local_stack, email)[0])
    _shot(page, "case2", "01-landing")
    page.locator("#get-started").click()
    expect(page.locator("#email")).to_have_value(email)  # login_hint reached the account creation form
    page.locator("#password").fill("A-new-password-2026")
    page.locator("#code").fill("123456")
    page.locator("input[name=consent]").check()
    _shot(page, "case2", "02-create-account")
    page.locator("#create-account").click()
    page.wait_for_url(re.compile(r"/api/companies/new\?invitationId="))
    _shot(page, "case2", "03-signed-in")
    _fix_the_form_and_create(page, "case2")
    assert not problems, problems


def test_wrong_account_sees_whom_the_invitation_is_for(local_stack, page):
    email = f"ines.{uuid.uuid4().hex[:8]}@contoso.example"
    invite(local_stack, email)
    link = invitation_links(local_stack, email)[0]
    page.goto(link)
    page.locator("#sign-in").click()
    sign_in(page, "somebody.else@contoso.example")
    expect(page.locator("h1")).to_have_text("This invitation is for another account")
    expect(page.get_by_text(f"You signed in as somebody.else@contoso.example, but this invitation is for {email}.")).to_be_visible()
    _shot(page, "wrong-account", "01-page")
    page.locator("#sign-in-another").click()
    sign_in(page, email)
    page.wait_for_url(re.compile(r"/api/companies/new\?invitationId="))
    _shot(page, "wrong-account", "02-right-account")


def test_a_changed_invitee_signs_in_with_the_new_link_and_the_old_link_says_it_was_replaced(local_stack, page, problems):
    old_email, new_email = (f"{who}.{uuid.uuid4().hex[:8]}@contoso.example" for who in ("otto", "nina"))
    created = invite(local_stack, old_email)
    old_link = invitation_links(local_stack, old_email)[0]
    auth = {"Authorization": f"Bearer {demo_tokens(local_stack)['agent']}"}
    url = f"{local_stack.app_url}/api/invitations/{created['id']}"
    tag = requests.get(url, headers=auth, timeout=10).headers["ETag"]
    resp = requests.patch(url, json={"email": new_email, "firstName": "Nina"}, headers={**auth, "If-Match": tag}, timeout=20)
    assert resp.status_code == 200, resp.text
    page.goto(old_link)
    expect(page.locator("h1")).to_have_text("This invitation was replaced")
    _shot(page, "replaced", "01-old-link")
    page.goto(invitation_links(local_stack, new_email)[0])
    expect(page.locator("h1")).to_have_text("Welcome, Nina Schmidt!")
    page.locator("#sign-in").click()
    sign_in(page, new_email)
    page.wait_for_url(re.compile(r"/api/companies/new\?invitationId="))
    expect(page.locator("h1")).to_have_text("Create your company")
    expect(page.locator("#f-name")).to_have_value("Contoso Berlin GmbH")
    _shot(page, "replaced", "02-new-link-company-form")
    # the old link's page answers 410 Gone (as a revoked one does): that, and nothing else, is the only error status
    unexpected = [p for p in problems if created["id"] not in p]
    assert unexpected == [] and any(p.startswith("410 ") for p in problems), problems


def test_landing_page_in_korean_from_the_switcher(local_stack, page):
    email = f"minji.{uuid.uuid4().hex[:8]}@contoso.example"
    invite(local_stack, email)
    page.goto(invitation_links(local_stack, email)[0])
    page.locator("details.languages summary").click()
    page.get_by_role("link", name="한국어").click()
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    _shot(page, "language", "01-korean")
    response = page.request.get(page.url)
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["x-frame-options"] == "DENY" and response.headers["referrer-policy"] == "no-referrer"


def test_without_javascript_the_server_checks_the_form(local_stack, browser):
    context = phone_context(browser, java_script_enabled=False)
    page = context.new_page()
    try:
        email = f"nojs.{uuid.uuid4().hex[:8]}@contoso.example"
        invite(local_stack, email)
        page.goto(invitation_links(local_stack, email)[0])
        page.locator("#sign-in").click()
        sign_in(page, email)
        page.wait_for_url(re.compile(r"/api/companies/new\?invitationId="))
        expect(page.locator("#create-company")).to_be_disabled()
        check = page.get_by_role("button", name="Check and create company")
        page.locator("#f-website").fill("not a website")
        check.click()
        expect(page.locator("#summary")).to_be_visible()
        expect(page.locator("#reason-website")).to_have_text("Enter a web address such as https://www.example.com.")
        expect(page.locator("#reason-postalCode")).to_have_text("A postal code in Germany looks like 10115.")
        _shot(page, "no-js", "01-server-reasons")
        page.locator("#f-website").fill("")
        page.locator("#f-postalCode").fill("10115")
        page.get_by_role("button", name="Check and create company").click()
        expect(page.locator("#welcome")).to_have_text("Welcome, Hanna Schmidt!")
        _shot(page, "no-js", "02-welcome")
    finally:
        context.close()
