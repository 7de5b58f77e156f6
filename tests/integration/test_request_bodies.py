"""Issue 19 item 9: a body no route can use is 400 on EVERY route, anonymous ones included, before anything else.

`[` nested 100,000 deep made json.loads raise RecursionError and a form with more than 100 fields made parse_qs raise
ValueError: both answered 500, before any rate limit. The one body reader (`shared.bodies`) now runs first at both edges
(`shared.http.api`, `accept_invite.web.page`); every declared route is attacked here, with no token and no session.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from shared import bodies
from shared.endpoints import CONTRACTS
from tests.support.http import build_request

ROOT = Path(__file__).resolve().parents[2]
# Every module that declares routes (a new one is attacked without being named here).
MODULES = tuple(sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in ROOT.glob("*/*functions.py")
                       if "@endpoint(" in p.read_text(encoding="utf-8") and not p.parts[-2].startswith((".", "tests", "devhost"))))
DEEP_JSON = b"[" * 100_000
WIDE_FORM = "&".join(f"f{i}=x" for i in range(101)).encode()
ID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def _handler(name):
    for module in MODULES:
        found = getattr(importlib.import_module(module), name, None)
        if found is not None:
            return found
    raise AssertionError(f"no handler named {name}")


def _routes():
    for module in MODULES:
        importlib.import_module(module)  # registers its contracts
    return [c for c in CONTRACTS if c.method in ("POST", "PATCH", "PUT", "DELETE")]


def _call(contract, raw, content_type):
    params = {name: ID for name in re.findall(r"\{([A-Za-z_]+)", contract.path)}
    params.update({k: v[0] for k, v in contract.path_enums.items()})
    path = re.sub(r"\{([A-Za-z_]+)[^}]*\}", ID, contract.path)
    req = build_request(contract.method, path, raw=raw, route_params=params,
                        headers={"content-type": content_type, "x-forwarded-for": "192.0.2.44"})
    return _handler(contract.function)(req)


ROUTES = _routes()


def test_every_route_with_a_body_is_attacked():
    assert len(ROUTES) >= 25, [c.path for c in ROUTES]  # the write routes of the app, anonymous ones among them
    assert any(c.auth == "anonymous" for c in ROUTES)


@pytest.mark.parametrize("contract", ROUTES, ids=lambda c: f"{c.method} {c.path}")
def test_deep_json_is_400_on_every_route(storage, settings, contract):
    resp = _call(contract, DEEP_JSON, "application/json")
    assert resp.status_code == 400
    if contract.content == "text/html" or contract.form and not contract.body:
        assert resp.mimetype == "text/html"
    else:
        assert resp.mimetype == "application/problem+json"
        assert b"json-too-deep" in resp.get_body()


@pytest.mark.parametrize("contract", ROUTES, ids=lambda c: f"{c.method} {c.path}")
def test_a_form_of_more_than_100_fields_is_400_on_every_route(storage, settings, contract):
    resp = _call(contract, WIDE_FORM, "application/x-www-form-urlencoded")
    assert resp.status_code == 400
    if resp.mimetype == "text/html":
        assert "could not be read" in resp.get_body().decode()
    else:
        assert b"form-too-many-fields" in resp.get_body()


def test_the_limits_themselves():
    assert bodies.read_json(b"[" * 32 + b"]" * 32) is not None
    with pytest.raises(Exception, match="nested"):
        bodies.read_json(b"[" * 33 + b"]" * 33)
    # Brackets inside strings do not count.
    assert bodies.read_json(b'{"a": "' + b"[" * 500 + b'"}') == {"a": "[" * 500}
    assert len(bodies.read_form("&".join(f"f{i}=x" for i in range(100)).encode())) == 100
