"""What the browser tests do on the way: invite through the partner API, read the emails MailDev received, sign in at
the local identity provider, open a phone-sized browser context, and check a page with axe-core."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect

from devhost.seed import demo_tokens, seed_demo

INVITATION_LINK = re.compile(r'href="([^"]*/api/InviteUser\?invitationId=[^"]+)"')


def partner_headers(stack) -> dict[str, str]:
    seed_demo(stack)
    return {"Authorization": f"Bearer {demo_tokens(stack)['agent']}"}


def invite(stack, email: str, language: str = "en", **company_changes: Any) -> dict:
    """A CustomerOnboarding invitation from the demo partner, its company's postal code the one bad field."""
    company: dict[str, Any] = {"name": "Contoso Berlin GmbH", "country": "DE", "phone": "+49 30 1234567",
                               "address": {"line1": "Hauptstraße 1", "city": "Berlin", "postalCode": "1011", "country": "DE"}}
    company.update(company_changes)
    body = {"email": email, "firstName": "Hanna", "lastName": "Schmidt", "language": language, "countryRegion": "DE",
            "kind": "CustomerOnboarding", "roles": ["ReportViewer"], "company": company}
    resp = requests.post(f"{stack.app_url}/api/invitations", json=body, headers=partner_headers(stack), timeout=20)
    assert resp.status_code == 201, resp.text
    return resp.json()


def mails_to(stack, to: str, count: int = 1, timeout: float = 30, having: Callable[[dict], object] = bool) -> list[dict]:
    """The emails to `to` (those `having` what is asked), once `count` of them have arrived."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        mails = [m for m in requests.get(f"{stack.mail_url}/email", timeout=10).json()
                 if any(t["address"] == to for t in m["to"]) and having(m)]
        if len(mails) >= count:
            return mails
        time.sleep(0.3)
    raise AssertionError(f"fewer than {count} emails to {to} within {timeout}s")


def invitation_links(stack, to: str, count: int = 1, timeout: float = 30) -> list[str]:
    """The invitation links of the emails to `to`, once `count` of them have arrived."""
    mails = mails_to(stack, to, count, timeout, having=lambda m: INVITATION_LINK.search(m["html"]))
    return [html.unescape(found.group(1)) for m in mails if (found := INVITATION_LINK.search(m["html"]))]


def phone_context(browser: Browser, locale: str = "en-US", **options: Any) -> BrowserContext:
    # The local identity provider's certificate is signed by the stack's own CA, which Chromium does not know.
    return browser.new_context(ignore_https_errors=True, locale=locale, viewport={"width": 390, "height": 844}, **options)


def sign_in(page: Page, email: str) -> None:
    """At the local identity provider: the `sub` field takes the invited address."""
    page.locator("input[name=sub][type=text]").fill(email)
    page.get_by_role("button", name="Authorize").click()


def create_company(stack, page: Page, email: str) -> str:
    """The invitee fixes the form's one bad field and creates the company (first user: Account manager); returns the
    company's base URL."""
    invite(stack, email)
    page.goto(invitation_links(stack, email)[0])
    page.locator("#sign-in").click()
    sign_in(page, email)
    page.wait_for_url(re.compile(r"/api/companies/new\?invitationId="))
    page.locator("#f-postalCode").fill("10115")
    page.locator("#create-company").click()
    page.locator("#welcome").wait_for()
    return page.url.rsplit("/", 1)[0]


class Audit:
    """Runs axe on pages and keeps every violation, so one run reports all of them; a screenshot of each page goes to
    `artifacts`."""

    def __init__(self, language: str, artifacts: Path) -> None:
        self.language, self.artifacts = language, artifacts
        self.axe = Axe()
        self.checked: list[str] = []
        self.reports: list[str] = []

    def check(self, page: Page, name: str, language: str | None = None) -> None:
        language = language or self.language
        expect(page.locator("html")).to_have_attribute("lang", language)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(self.artifacts / f"{language}-{name}.png"), full_page=True)
        results = self.axe.run(page)
        self.checked.append(name)
        if results.violations_count:
            self.reports.append(f"--- {name} ({page.url})\n{results.generate_report()}")


def no_violations(page: Page, name: str) -> None:
    results = Axe().run(page)
    assert results.violations_count == 0, f"{name}:\n{results.generate_report()}"
