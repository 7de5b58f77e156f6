"""The API reference page in a real browser: Redoc, served by the app, renders every operation of the served document
under the page's Content-Security-Policy, loads nothing from outside the app, and passes axe."""

from __future__ import annotations

import requests
from axe_playwright_python.sync_playwright import Axe

# Redoc shows its vendor's badge from this CDN; the page's policy blocks it (operations/api_reference.py).
VENDOR_BADGE = "https://cdn.redoc.ly/redoc/logo-mini.svg"
# Redoc's own markup jumps heading levels (an operation's h2, then h5 for its request and response captions): axe's
# heading-order is a best practice, not a WCAG criterion, and the vendor's markup is not ours to change. Every other rule runs.
NOT_OURS = ["heading-order"]


def test_the_reference_renders_every_operation_of_the_served_document(local_stack, browser):
    document = requests.get(f"{local_stack.app_url}/api/openapi.json", timeout=10).json()
    operation_ids = {op["operationId"] for path in document["paths"].values() for op in path.values() if "operationId" in op}
    assert len(operation_ids) > 40
    page = browser.new_page()
    try:
        console, requested = [], []
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: console.append(str(e)))
        page.on("requestfinished", lambda r: requested.append(r.url))  # a load the policy blocked never finishes
        page.goto(f"{local_stack.app_url}/api/docs")
        page.locator("[data-section-id^='operation/']").first.wait_for(timeout=30_000)
        shown = {s.removeprefix("operation/") for s in
                 page.locator("[data-section-id^='operation/']").evaluate_all("els => els.map(e => e.dataset.sectionId)")}
        assert operation_ids <= shown, sorted(operation_ids - shown)

        violations = [m for m in console if "Content Security Policy" in m and VENDOR_BADGE not in m]
        assert not violations, violations
        assert not [m for m in console if "Content Security Policy" not in m], console
        outside = [u for u in requested if not u.startswith((local_stack.app_url, "data:", "blob:"))]
        assert not outside, f"loaded from outside the app: {outside}"

        results = Axe().run(page, options={"rules": {rule: {"enabled": False} for rule in NOT_OURS}})
        assert results.violations_count == 0, results.generate_report()
    finally:
        page.close()
