"""The domain pages in headless Chromium on the local stack: a company's Account manager adds a domain, sees the TXT
record, is told no record is there yet, puts it in the stack's DNS server, verifies and sees it verified; then a person
at the company's own (verified at once) domain signs in without an invitation, asks to join, the admin approves, and
the person is a user. axe-core checks the pages on the way (zero violations). Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from devhost.dns_server import add_record
from devhost.local_settings import ROOT
from tests.e2e.journey import create_company, no_violations, phone_context, sign_in

ARTIFACTS = ROOT / "test-artifacts" / "domains"

def _shot(page: Page, step: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{step}.png"), full_page=True)


def _admin_with_company(local_stack, page: Page, email: str) -> str:
    """The invitee creates the company (first user: Account manager) and opens its domains page; returns that page's URL."""
    create_company(local_stack, page, email)
    page.get_by_role("link", name=re.compile("Users")).click()
    page.locator("#domains-link").click()
    expect(page.locator("h1")).to_have_text("Domains")
    return page.url


def test_an_admin_adds_a_domain_puts_its_txt_record_in_the_local_dns_and_verifies_it(local_stack, browser):
    tag = uuid.uuid4().hex[:8]
    own, other = f"d{tag}.example", f"group-{tag}.example"
    context = phone_context(browser)
    page = context.new_page()
    try:
        _admin_with_company(local_stack, page, f"hanna@{own}")
        no_violations(page, "domains (empty)")
        page.locator("#f-domain").fill(other.upper())
        page.locator("#add-domain").click()
        expect(page.locator("#domain-notice")).to_contain_text(f"{other} was added")
        card = page.locator(f"li[data-domain='{other}']")
        expect(card.locator(".status")).to_have_text("Not verified yet")
        record = card.locator("code.record").inner_text().strip()
        assert re.fullmatch(r"partner-platform-verification=[A-Za-z0-9_-]{30,}", record), record
        _shot(page, "01-added-with-its-txt-record")
        no_violations(page, "domains (pending)")

        card.get_by_role("button", name=f"Verify {other}").click()
        expect(page.locator("#domain-notice")).to_contain_text(f"No TXT record was found at {other}")
        _shot(page, "02-no-record-yet")
        no_violations(page, "domains (refused)")

        add_record(local_stack.dns_records, other, record)  # what the README tells a developer to run
        page.locator(f"li[data-domain='{other}']").get_by_role("button", name=f"Verify {other}").click()
        expect(page.locator("#domain-notice")).to_contain_text(f"{other} is verified")
        expect(page.locator(f"li[data-domain='{other}'] .status")).to_contain_text("Verified")
        expect(page.locator(f"li[data-domain='{other}'] code.record")).to_have_count(0)
        _shot(page, "03-verified")
    finally:
        context.close()


def test_a_person_at_the_verified_domain_asks_to_join_and_the_admin_approves(local_stack, browser):
    tag = uuid.uuid4().hex[:8]
    own = f"d{tag}.example"
    admin_context, person_context = phone_context(browser), phone_context(browser)
    admin, person = admin_context.new_page(), person_context.new_page()
    try:
        domains_url = _admin_with_company(local_stack, admin, f"hanna@{own}")
        admin.locator("#f-domain").fill(own)
        admin.locator("#add-domain").click()
        expect(admin.locator("#domain-notice")).to_contain_text(f"{own} was added")  # her own address proves nothing
        add_record(local_stack.dns_records, own, admin.locator(f"li[data-domain='{own}'] code.record").inner_text().strip())
        admin.locator(f"li[data-domain='{own}']").get_by_role("button", name=f"Verify {own}").click()
        expect(admin.locator("#domain-notice")).to_contain_text(f"{own} is verified")  # by its TXT record only

        person.goto(f"{local_stack.app_url}/api/companies/join")
        no_violations(person, "join (signed out)")
        person.locator("#join-signin").click()
        sign_in(person, f"ivy@{own}")
        person.wait_for_url(re.compile(r"/api/companies/join$"))
        expect(person.locator("main")).to_contain_text(f"has verified {own}")
        no_violations(person, "join (joinable)")
        person.locator("#ask-to-join").click()
        expect(person.locator("#join-waiting")).to_be_visible()
        _shot(person, "04-request-waiting")

        admin.goto(domains_url)
        expect(admin.locator("#join-requests")).to_contain_text(f"ivy@{own}")
        no_violations(admin, "domains (a request waiting)")
        _shot(admin, "05-request-listed")
        admin.get_by_role("button", name=f"Approve ivy@{own}").click()
        expect(admin.locator("#domain-notice")).to_contain_text(f"ivy@{own} joined the company as Account viewer")
        expect(admin.locator("#no-requests")).to_be_visible()

        person.goto(f"{local_stack.app_url}/api/companies/join")
        person.locator("#open-company").click()
        person.locator("#welcome").wait_for()
        _shot(person, "06-member")
    finally:
        admin_context.close()
        person_context.close()
