"""Every customer page, in English and in Korean, checked by axe-core in headless Chromium on the local stack: zero violations.

The pages are reached as a customer reaches them (email link, sign-in at the local identity provider, the
company form with its reasons and its server-side summary, the company's pages, the agreement page), plus an
expired, a revoked and a replaced link. axe-core's script comes with axe-playwright-python, so nothing is fetched.
Screenshots go to test-artifacts/accessibility/.
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import timedelta

import pytest
import requests
from playwright.sync_api import expect

from devhost.local_settings import ROOT
from invite_user.invitations import link_hash
from invite_user.repository import InvitationUnitOfWork
from shared.settings import Settings
from shared.storage import Storage
from shared.uow import attempt
from tests.e2e.journey import Audit, invitation_links, invite, partner_headers, phone_context, sign_in
from tests.support.expect import found

ARTIFACTS = ROOT / "test-artifacts" / "accessibility"
BROWSER_LOCALES = {"en": "en-US", "ko": "ko-KR"}


def _expire(stack, invitation_id: str) -> None:
    # The stack runs on the real clock: move the stored expiry into the past, as time would. The email queue
    # may be updating the same invitation (its email status): the unit of work reads it again on a conflict.
    storage = Storage(Settings.model_validate({**os.environ, **stack.app_env()}))

    def work(uow: InvitationUnitOfWork) -> None:
        inv = found(uow.by_link(link_hash(invitation_id)))
        inv.expires_at = inv.created_at - timedelta(days=1)
        uow.save(inv)

    attempt(lambda: InvitationUnitOfWork(storage), work, attempts=20)


@pytest.mark.parametrize("language", ["en", "ko"])
def test_every_customer_page_has_no_accessibility_violations(local_stack, browser, language):
    audit = Audit(language, ARTIFACTS)
    context = phone_context(browser, BROWSER_LOCALES[language])
    page = context.new_page()
    try:
        email = f"a11y.{language}.{uuid.uuid4().hex[:8]}@contoso.example"
        invite(local_stack, email, language)
        onboarding_link = invitation_links(local_stack, email)[0]
        page.goto(onboarding_link)
        audit.check(page, "01-landing")

        page.locator("#sign-in").click()
        sign_in(page, "somebody.else@contoso.example")
        page.locator("#sign-in-another").wait_for()
        audit.check(page, "02-wrong-account")

        page.locator("#sign-in-another").click()
        sign_in(page, email)
        page.wait_for_url(re.compile(r"/api/companies/new\?invitationId="))
        expect(page.locator("#reason-postalCode")).not_to_have_text("")
        page.locator("#f-website").fill("not a website")
        expect(page.locator("#reason-website")).not_to_have_text("")
        audit.check(page, "03-company-form-reasons")
        # The server's answer to a form sent with mistakes (what a browser without JavaScript gets).
        page.evaluate("document.getElementById('company-form').submit()")
        page.locator("#summary").wait_for()
        audit.check(page, "04-company-form-summary")

        page.locator("#f-website").fill("")
        page.locator("#f-postalCode").fill("10115")
        page.locator("#create-company").click()
        page.locator("#welcome").wait_for()
        audit.check(page, "05-welcome")
        company_url = page.url.rsplit("/", 1)[0]
        customer_id = company_url.rsplit("/", 1)[1].split("?")[0]
        for name in ("profile", "users", "agreements"):
            page.goto(f"{company_url}/{name}")
            audit.check(page, f"06-{name}")
        page.goto(f"{company_url}/invitations/new")
        audit.check(page, "07-invite-colleague")
        page.locator("form button[type=submit]").last.click()
        page.locator("[aria-invalid=true]").first.wait_for()
        audit.check(page, "08-invite-colleague-reasons")
        page.goto(f"{company_url}/domains")
        domain = f"a11y-{language}-{uuid.uuid4().hex[:8]}.example"
        page.locator("#f-domain").fill(domain)
        page.locator("#add-domain").click()
        page.locator("code.record").wait_for()
        audit.check(page, "08a-domains-pending")
        page.locator(f"li[data-domain='{domain}'] form[action$='/domains/verify'] button").click()
        page.locator("#domain-notice[role=alert]").wait_for()
        audit.check(page, "08b-domains-no-record")
        page.goto(f"{local_stack.app_url}/api/companies/join")
        audit.check(page, "08c-join")
        # The users page as an administrator sees it: the forms, a pending colleague invitation, a refusal with its reason.
        colleague = {"email": f"kim.{language}.{uuid.uuid4().hex[:8]}@contoso.example", "firstName": "Kim", "lastName": "Lee",
                     "language": language, "countryRegion": "DE", "roles": ["ReportViewer"]}
        resp = requests.post(f"{company_url}/invitations", json=colleague, headers=partner_headers(local_stack), timeout=20)
        assert resp.status_code == 201, resp.text
        page.goto(f"{company_url}/users")
        page.locator("#pending-invitations").wait_for()
        audit.check(page, "08d-users-managed")
        page.locator(f"li[data-manage='{email}'] form[action$='/users/remove'] button").click()
        page.locator("#users-notice[role=alert]").wait_for()
        audit.check(page, "08e-users-refused")
        page.goto(f"{company_url}/partners")
        audit.check(page, "08f-partners")

        resp = requests.post(f"{local_stack.app_url}/api/customers/{customer_id}/agreement-invitations", json={},
                             headers=partner_headers(local_stack), timeout=20)
        assert resp.status_code in (200, 201), resp.text
        page.goto(next(link for link in invitation_links(local_stack, email, count=2) if link != onboarding_link))
        page.locator("#sign-in").click()
        sign_in(page, email)
        page.wait_for_url(re.compile(r"/api/agreements/accept\?"))
        audit.check(page, "09-agreement-acceptance")
        # The box is `required`: only the server's answer shows its error state, so the form is sent as a script-less browser would.
        page.evaluate("document.getElementById('accept-agreement').form.submit()")
        page.locator("#accept-error").wait_for()
        audit.check(page, "10-agreement-acceptance-reason")
        page.locator("input[name=accept]").check()
        page.locator("#accept-agreement").click()
        page.locator("#accepted").wait_for()
        audit.check(page, "11-agreement-accepted")

        page.goto(onboarding_link)
        audit.check(page, "12-invitation-accepted")
        page.goto(f"{local_stack.app_url}/api/InviteUser?invitationId={uuid.uuid4()}")
        audit.check(page, "13-link-not-found")

        revoked_email = f"revoked.{language}.{uuid.uuid4().hex[:8]}@contoso.example"
        revoked = invite(local_stack, revoked_email, language)
        resp = requests.post(f"{local_stack.app_url}/api/invitations/{revoked['id']}/revoke", json={},
                             headers=partner_headers(local_stack), timeout=20)
        assert resp.status_code == 200, resp.text
        page.goto(revoked["inviteRedeemUrl"])
        audit.check(page, "14-revoked")

        replaced = invite(local_stack, f"replaced.{language}.{uuid.uuid4().hex[:8]}@contoso.example", language)
        url = f"{local_stack.app_url}/api/invitations/{replaced['id']}"
        tag = requests.get(url, headers=partner_headers(local_stack), timeout=20).headers["ETag"]
        resp = requests.patch(url, json={"firstName": "Hannah"}, headers={**partner_headers(local_stack), "If-Match": tag}, timeout=20)
        assert resp.status_code == 200, resp.text
        page.goto(replaced["inviteRedeemUrl"])
        audit.check(page, "14-replaced")

        expired = invite(local_stack, f"expired.{language}.{uuid.uuid4().hex[:8]}@contoso.example", language)
        _expire(local_stack, expired["id"])
        page.goto(expired["inviteRedeemUrl"])
        audit.check(page, "15-expired")
        page.goto(f"{company_url}/partners")
        page.locator("form[action$='/partners/remove-admin-rights'] button").first.click()
        page.locator("#partners-notice").wait_for()
        audit.check(page, "15a-partners-rights-removed")
        page.goto(f"{company_url}/welcome")
        page.locator("form[action='/api/auth/signout'] button").click()
        page.wait_for_load_state()
        audit.check(page, "16-signed-out")
    finally:
        context.close()
    assert len(audit.checked) == 26
    assert not audit.reports, "\n".join(audit.reports)
