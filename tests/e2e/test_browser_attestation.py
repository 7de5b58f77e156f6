"""The customer confirms the agreement itself, in headless Chromium on the local stack (issue 22's "Done when").

A partner creates an attestation, the contact's email arrives in MailDev, opening the link changes nothing, the contact
accepts in the browser (after a name that is not theirs is refused), the partner finalizes (201: Provided,
CustomerConfirmed) and a second finalize gets 409; the receipt arrives; an expired link shows its page and the pipeline
lists the customer under Expired; a replaced and an unknown link show theirs. axe-core checks every page in English and
Korean: zero violations. Screenshots go to test-artifacts/attestation/.
"""

from __future__ import annotations

import html
import os
import re
import uuid
from datetime import timedelta

import pytest
import requests
from playwright.sync_api import expect

from attest_agreement.repository import CustomerUnitOfWork
from devhost.local_settings import ROOT
from shared.settings import Settings
from shared.storage import Storage
from shared.uow import attempt
from tests.e2e.journey import Audit, mails_to, partner_headers, phone_context
from tests.support.expect import found

ARTIFACTS = ROOT / "test-artifacts" / "attestation"

@pytest.fixture(scope="module")
def partner(local_stack):
    return partner_headers(local_stack)


def _api(stack, method, path, headers, body=None):
    return requests.request(method, f"{stack.app_url}/api/{path}", json=body, headers=headers, timeout=20)


def _customer(stack, partner, name) -> str:
    resp = _api(stack, "POST", "customers", partner, {
        "name": name, "country": "DE", "language": "en",
        "primaryContact": {"firstName": "Greta", "lastName": "Maier", "email": f"greta.{uuid.uuid4().hex[:8]}@contoso.example"}})
    assert resp.status_code == 201, resp.text
    return resp.json()["customer"]["id"]


def _ask(stack, partner, cid, email, **over) -> dict:
    body = {"contact": {"firstName": "Greta", "lastName": "Maier", "email": email}, "companyName": "Contoso Berlin GmbH",
            "language": "en", **over}
    resp = _api(stack, "POST", f"customers/{cid}/agreement-attestations", partner, body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def _expire(stack, cid: str, aid: str) -> None:
    # The stack runs on the real clock: move the stored expiry into the past, as time would.
    storage = Storage(Settings.model_validate({**os.environ, **stack.app_env()}))

    def work(uow: CustomerUnitOfWork) -> None:
        att = found(uow.attestation(aid))
        att.expires_at = att.created_at - timedelta(days=1)
        uow.save(att)

    attempt(lambda: CustomerUnitOfWork(storage, cid), work)


def test_the_customer_confirms_and_the_partner_finalizes(local_stack, browser, partner):
    stack, audit = local_stack, Audit("en", ARTIFACTS)
    cid = _customer(stack, partner, "Contoso Berlin GmbH")
    email = f"greta.{uuid.uuid4().hex[:8]}@contoso.example"
    created = _ask(stack, partner, cid, email)
    [mail] = mails_to(stack, email, 1, timeout=60)
    link = html.unescape(found(re.search(r'href="([^"]*/api/agreements/attestation\?link=[^"]+)"', mail["html"])).group(1))
    assert link == created["acceptanceUrl"] and "Review and accept" in mail["html"]

    status = f"customers/{cid}/agreement-attestations/{created['id']}"
    before = _api(stack, "GET", status, partner).json()
    assert requests.head(link, timeout=20).status_code == 200 and requests.get(link, timeout=20).status_code == 200
    context = phone_context(browser)
    page = context.new_page()
    try:
        page.goto(link)
        expect(page.locator("h1")).to_contain_text("Contoso Berlin GmbH")
        audit.check(page, "01-form")
        assert _api(stack, "GET", status, partner).json() == before  # opening it (scanner or browser) changed nothing
        assert before["status"] == "Pending"

        page.locator("#f-name").fill("Somebody Else")
        page.locator("input[name=accept]").check()
        page.locator("#accept-attestation").click()
        expect(page.locator("#reason-name")).to_contain_text("not the name")
        audit.check(page, "02-form-wrong-name")
        assert _api(stack, "GET", status, partner).json()["status"] == "Pending"

        page.locator("#f-name").fill("Greta Maier")
        page.locator("input[name=accept]").check()
        page.locator("#accept-attestation").click()
        page.locator("#accepted").wait_for()
        audit.check(page, "03-accepted")
        assert _api(stack, "GET", status, partner).json()["status"] == "Accepted"

        first = _api(stack, "POST", f"customers/{cid}/agreements", partner,
                     {"type": "MicrosoftCustomerAgreement", "attestationId": created["id"]})
        assert first.status_code == 201, first.text
        agreement = _api(stack, "GET", f"customers/{cid}/agreements", partner).json()
        assert agreement["acceptance"] == "Provided" and agreement["how"] == "CustomerConfirmed"
        second = _api(stack, "POST", f"customers/{cid}/agreements", partner,
                      {"type": "MicrosoftCustomerAgreement", "attestationId": created["id"]})
        assert second.status_code == 409 and second.json()["type"].endswith("/agreement-accepted-already")
        receipt = [m for m in mails_to(stack, email, 2, timeout=60) if "Receipt" in m["subject"]]
        assert len(receipt) == 1 and "Greta Maier" in receipt[0]["text"]

        # Expired: its page, and the pipeline lists the customer under Expired.
        expiring_cid = _customer(stack, partner, "Fabrikam Expiring AG")
        expiring = _ask(stack, partner, expiring_cid, f"ex.{uuid.uuid4().hex[:8]}@contoso.example", sendEmail=False)
        _expire(stack, expiring_cid, expiring["id"])
        page.goto(expiring["acceptanceUrl"])
        expect(page.locator("h1")).to_have_text("This link has expired")
        audit.check(page, "04-expired")
        listed, token = [], None
        while True:
            resp = _api(stack, "GET", "agreement-attestations?status=Expired" + (f"&continuationToken={token}" if token else ""), partner)
            assert resp.status_code == 200, resp.text
            listed += [item["customerId"] for item in resp.json()["items"]]
            token = resp.json()["continuationToken"]
            if not token:
                break
        assert expiring_cid in listed and cid not in listed

        # Replaced and unknown links: their pages; the replacement's form in Korean.
        replaced_cid = _customer(stack, partner, "Tailspin GmbH")
        old = _ask(stack, partner, replaced_cid, f"old.{uuid.uuid4().hex[:8]}@contoso.example", sendEmail=False)
        new = _ask(stack, partner, replaced_cid, f"new.{uuid.uuid4().hex[:8]}@contoso.example", sendEmail=False, language="ko")
        page.goto(old["acceptanceUrl"])
        expect(page.locator("h1")).to_have_text("This link was replaced")
        audit.check(page, "05-replaced")
        page.goto(f"{stack.app_url}/api/agreements/attestation?link=nonsense")
        expect(page.locator("h1")).to_have_text("This link is not valid")
        audit.check(page, "06-unknown")
        page.goto(new["acceptanceUrl"])
        audit.check(page, "07-form", "ko")
        page.evaluate("document.getElementById('attestation-form').submit()")  # as a browser without the `required` check
        page.locator("[aria-invalid=true]").first.wait_for()
        audit.check(page, "08-form-no-name", "ko")
        page.goto(expiring["acceptanceUrl"] + "&lang=ko")
        audit.check(page, "09-expired", "ko")
    finally:
        context.close()
    assert not audit.reports, "\n".join(audit.reports)
