"""The API reference page: the served OpenAPI document rendered in the browser by Redoc, shipped with the app.

Redoc's standalone bundle comes from npm (`redoc` in package.json) and is copied into `operations/static/` (Azure runs
no build step and `node_modules` is never deployed; `tests/unit/test_api_reference.py` holds the copy equal to the
installed package's). Nothing is fetched from a CDN at run time: the page, its script and the document are this app's.

The page keeps the customer pages' Content-Security-Policy and allows only what Redoc needs beyond it, each checked in a
browser (`tests/e2e/test_api_reference.py` fails on any CSP violation):
- `style-src 'unsafe-inline'`: Redoc styles itself with styled-components, which writes <style> elements at run time.
  Styles cannot run code; scripts stay 'self' only.
- `worker-src blob:`: Redoc's search runs in a web worker that its own bundle creates from a Blob.
- `img-src data:`: Redoc's icons are inline SVG data URLs.
Redoc also shows its vendor's badge from cdn.redoc.ly: the policy blocks it (img-src allows no other host), so the page
loads nothing from outside the app; that one blocked image is the only violation the browser test accepts.
"""

from __future__ import annotations

from pathlib import Path

from accept_invite.pages import CONTENT_SECURITY_POLICY, PAGE_HEADERS

STATIC_DIR = Path(__file__).parent / "static"
ASSETS = {"redoc.standalone.js": "text/javascript", "redoc.standalone.js.LICENSE.txt": "text/plain"}


def _policy() -> str:
    directives: dict[str, str] = {}
    for directive in CONTENT_SECURITY_POLICY.split(";"):
        name, _, sources = directive.strip().partition(" ")
        directives[name] = sources
    directives["style-src"] += " 'unsafe-inline'"
    directives["img-src"] += " data:"
    directives["worker-src"] = "blob:"
    return "; ".join(f"{k} {v}" for k, v in directives.items())


CONTENT_SECURITY_POLICY_OF_THE_REFERENCE = _policy()
HEADERS = {**PAGE_HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY_OF_THE_REFERENCE,
           "Cache-Control": "public, max-age=300"}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Partner API reference</title>
<link rel="icon" href="data:,">
</head>
<body>
<noscript><p>The API reference needs JavaScript. The contract itself is <a href="/api/openapi.json">openapi.json</a>.</p></noscript>
<main><redoc spec-url="/api/openapi.json" native-scrollbars="true"></redoc></main>
<script src="/api/docs/redoc.standalone.js"></script>
</body>
</html>
"""


def page() -> bytes:
    return PAGE.encode()


def asset(name: str) -> tuple[bytes, str] | None:
    """Redoc's bundle or its licence notice (only the listed files), with its content type."""
    if name not in ASSETS:
        return None
    return (STATIC_DIR / name).read_bytes(), ASSETS[name]
