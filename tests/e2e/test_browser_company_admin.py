"""The company runs itself, in headless Chromium on the local stack (the issue's "Done when"):
- an Account manager invites a colleague (Korean), who joins; she demotes, then removes the colleague, whose next page load
  is refused in Korean, naming whom to ask; the last Account manager cannot remove herself;
- a pending colleague invitation is revoked from the users page and its link shows the revoked page;
- the primary contact removes the demo partner's admin rights: that partner can no longer invite company users (403) and
  its webhook inbox receives `relationship.adminRightsRemovedByCustomer`; ending a second partner's relationship makes
  its `GET /api/customers/{id}` answer 404; the emails reach both sides in MailDev.
axe-core checks each page on the way (zero violations). Screenshots go to test-artifacts/company-admin/."""

from __future__ import annotations

import os
import re
import time
import uuid

import requests
from playwright.sync_api import Page, expect

from devhost.identity import ensure_partner_key, mint_partner_token
from devhost.local_settings import ROOT
from devhost.seed import demo_tokens
from tests.e2e.journey import create_company, invitation_links, no_violations, phone_context, sign_in

ARTIFACTS = ROOT / "test-artifacts" / "company-admin"

def _shot(page: Page, step: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{step}.png"), full_page=True)


def _accept_by_link(page: Page, link: str, email: str) -> None:
    """An invitee opens an emailed link, signs in and confirms (joining the company / accepting the relationship)."""
    page.goto(link)
    page.locator("#sign-in").click()
    sign_in(page, email)
    page.wait_for_url(re.compile(r"/api/companies/accept\?"))
    page.locator("#accept").click()
    page.locator("#welcome").wait_for()


def _manage(page: Page, email: str):
    return page.locator(f"li[data-manage='{email}']")


def test_an_account_manager_demotes_and_removes_a_colleague_and_revokes_a_pending_invitation(local_stack, browser):
    tag = uuid.uuid4().hex[:8]
    hanna, ivy, ola = f"hanna.{tag}@contoso.example", f"ivy.{tag}@contoso.example", f"ola.{tag}@contoso.example"
    admin_context, colleague_context = phone_context(browser), phone_context(browser, "ko-KR")
    admin, colleague = admin_context.new_page(), colleague_context.new_page()
    try:
        company = create_company(local_stack, admin, hanna)
        for email, language in ((ivy, "ko"), (ola, "de")):
            admin.goto(f"{company}/invitations/new")
            admin.locator("#f-email").fill(email)
            admin.locator("#f-firstName").fill(email.split(".")[0].title())
            admin.locator("#f-lastName").fill("Muster")
            admin.locator("#f-language").select_option(language)
            admin.locator("#f-countryRegion").select_option("DE")
            admin.locator("#role-AccountAdministrator").check()
            admin.locator("#role-ReportViewer").check()
            admin.locator("#send-invitation").click()
            admin.wait_for_url(re.compile(r"/users$|/invitations$"))
        _accept_by_link(colleague, invitation_links(local_stack, ivy)[0], ivy)

        admin.goto(f"{company}/users")
        expect(admin.locator("#pending-invitations")).to_contain_text(ola)
        expect(admin.locator("#pending-invitations")).not_to_contain_text(ivy)
        no_violations(admin, "users (managed, one pending invitation)")
        _shot(admin, "01-users")

        # Demote: the Save button is grey until the roles differ from the current ones.
        card = _manage(admin, ivy)
        save = card.get_by_role("button", name="Save roles")
        expect(save).to_be_disabled()
        card.get_by_label("Account administrator").uncheck()
        expect(save).to_be_enabled()
        card.get_by_label("Account administrator").check()
        expect(save).to_be_disabled()
        card.get_by_label("Account administrator").uncheck()
        save.click()
        expect(admin.locator("#users-notice")).to_contain_text(f"The roles of {ivy} were changed.")
        expect(admin.locator(f"tr[data-user='{ivy}']")).to_contain_text("Report viewer")
        expect(admin.locator(f"tr[data-user='{ivy}']")).not_to_contain_text("Account administrator")
        _shot(admin, "02-demoted")

        colleague.reload()
        expect(colleague.locator("#welcome")).to_be_visible()  # still a user
        _manage(admin, ivy).get_by_role("button", name=f"Remove {ivy}").click()
        expect(admin.locator("#users-notice")).to_contain_text(f"{ivy} was removed from the company")
        expect(admin.locator("#users")).not_to_contain_text(ivy)
        _shot(admin, "03-removed")

        # Her next page load is refused, in her language (Korean), naming whom to ask.
        colleague.reload()
        expect(colleague.locator("#removed")).to_contain_text("더 이상 접근할 수 없습니다")
        expect(colleague.locator("main")).to_contain_text(hanna)
        expect(colleague.locator("html")).to_have_attribute("lang", "ko")
        no_violations(colleague, "removed (ko)")
        _shot(colleague, "04-colleague-refused")

        # The last Account manager cannot remove herself.
        _manage(admin, hanna).get_by_role("button", name=f"Remove {hanna}").click()
        expect(admin.locator("#users-notice[role=alert]")).to_contain_text("the company would have no Account manager left")
        expect(admin.locator("#users")).to_contain_text(hanna)
        no_violations(admin, "users (refused)")
        _shot(admin, "05-last-account-manager")

        # Revoke Ola's pending invitation: her link shows the revoked page.
        admin.get_by_role("button", name=f"Revoke the invitation of {ola}").click()
        expect(admin.locator("#users-notice")).to_contain_text(f"The invitation of {ola} was revoked")
        expect(admin.locator("#no-pending")).to_be_visible()
        other = phone_context(browser, "de-DE").new_page()
        other.goto(invitation_links(local_stack, ola)[0])
        expect(other.locator("h1")).to_contain_text("zurückgezogen")
        assert requests.get(other.url, timeout=10).status_code == 410
        _shot(other, "06-revoked-link")
        other.context.close()
    finally:
        admin_context.close()
        colleague_context.close()


def _second_partner(local_stack, tag: str) -> tuple[str, dict[str, str]]:
    """A second partner, registered by the platform admin with its contact address, and its AdminAgent's token."""
    partner_id = f"northwind-{tag}"
    admin = {"Authorization": f"Bearer {demo_tokens(local_stack)['admin']}"}
    resp = requests.post(f"{local_stack.app_url}/api/partners", json={"id": partner_id, "name": f"Northwind {tag}", "type": "Direct",
                                                                       "contactEmail": f"admins.{tag}@northwind.example"},
                         headers=admin, timeout=20)
    assert resp.status_code == 201, resp.text
    token = mint_partner_token(ensure_partner_key(), issuer=local_stack.partner_issuer,
                               audience=os.environ.get("PARTNER_AUTH_AUDIENCE", "api://invitation-service"), tenant_id=partner_id,
                               roles=["AdminAgent"], name="Nora North", email=f"nora.{tag}@northwind.example")
    return partner_id, {"Authorization": f"Bearer {token}"}


def _webhook(local_stack, type_: str, customer_id: str, timeout: float = 30) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        for d in requests.get(f"{local_stack.webhook_inbox_url}/deliveries.json", timeout=10).json():
            if d["type"] == type_ and d["event"].get("data", {}).get("customerId") == customer_id:
                return d
        time.sleep(0.3)
    raise AssertionError(f"no {type_} about {customer_id} in the webhook inbox within {timeout}s")


def _mail(local_stack, to: str, subject_part: str, timeout: float = 30) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        for mail in requests.get(f"{local_stack.mail_url}/email", timeout=10).json():
            if any(t["address"] == to for t in mail["to"]) and subject_part in mail["subject"]:
                return mail
        time.sleep(0.3)
    raise AssertionError(f"no email to {to} about {subject_part!r} within {timeout}s")


def test_the_primary_contact_takes_back_a_partners_admin_rights_and_ends_another_relationship(local_stack, browser):
    tag = uuid.uuid4().hex[:8]
    hanna = f"hanna.{tag}@contoso.example"
    context = phone_context(browser)
    page = context.new_page()
    try:
        company = create_company(local_stack, page, hanna)
        customer_id = company.rsplit("/", 1)[1]
        demo = {"Authorization": f"Bearer {demo_tokens(local_stack)['agent']}"}
        second, second_auth = _second_partner(local_stack, tag)
        ask = {"email": hanna, "firstName": "Hanna", "lastName": "Schmidt", "companyName": "Contoso Berlin GmbH", "countryRegion": "DE",
               "sendEmail": True}
        resp = requests.post(f"{local_stack.app_url}/api/customers/{customer_id}/relationship-requests", json=ask, headers=second_auth,
                             timeout=20)
        assert resp.status_code == 201, resp.text
        first = invitation_links(local_stack, hanna)[0]
        _accept_by_link(page, next(link for link in invitation_links(local_stack, hanna, count=2) if link != first), hanna)
        customer_url = f"{local_stack.app_url}/api/customers/{customer_id}"
        assert requests.get(customer_url, headers=second_auth, timeout=20).status_code == 200

        page.locator("#manage-partners").click()
        expect(page.locator("h1")).to_have_text("Partners")
        expect(page.locator("#partners")).to_contain_text(f"Northwind {tag}")
        expect(page.locator("li[data-partner='demo-partner'] dd.dap")).to_have_text("Yes")
        no_violations(page, "partners")
        _shot(page, "10-partners")

        page.get_by_role("button", name="Remove the admin rights of Contoso Field Services").click()
        expect(page.locator("#partners-notice")).to_contain_text("The admin rights (DAP) of Contoso Field Services were removed")
        expect(page.locator("li[data-partner='demo-partner'] dd.dap")).to_contain_text("No (removed on")
        no_violations(page, "partners (rights removed)")
        _shot(page, "11-admin-rights-removed")
        colleague = {"email": f"neu.{tag}@contoso.example", "firstName": "Neu", "lastName": "Nutzer", "language": "de",
                     "countryRegion": "DE", "roles": ["AccountViewer"]}
        invited = requests.post(f"{company}/invitations", json=colleague, headers=demo, timeout=20)
        assert invited.status_code == 403, invited.text
        hook = _webhook(local_stack, "relationship.adminRightsRemovedByCustomer", customer_id)
        assert hook["verdict"] == "verified" and hook["event"]["data"]["dapActive"] is False

        page.get_by_role("button", name=f"End the relationship with Northwind {tag}").click()
        expect(page.locator("#partners-notice")).to_contain_text(f"The relationship with Northwind {tag} ended")
        assert requests.get(customer_url, headers=second_auth, timeout=20).status_code == 404
        _shot(page, "12-relationship-ended")

        # Both sides hear it by email: the partners at their contact addresses, the primary contact a confirmation.
        _mail(local_stack, "partner-admins@contoso-fs.example", "removed the admin rights of Contoso Field Services")
        _mail(local_stack, f"admins.{tag}@northwind.example", f"ended its relationship with Northwind {tag}")
        _mail(local_stack, hanna, "You removed the admin rights of Contoso Field Services")
        _mail(local_stack, hanna, f"You ended the relationship with Northwind {tag}")
        assert second
    finally:
        context.close()
