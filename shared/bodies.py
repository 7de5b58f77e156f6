"""The one place request bodies are read: JSON and form bodies, bounded before anything else looks at them.

Every HTTP edge (`shared.http.api` for the partner API, `accept_invite.web.page` for the pages) calls `screen` first,
before authentication, rate limits or idempotency, so a body no parser may be given answers 400 on every route alike,
anonymous ones included: JSON nested deeper than `MAX_JSON_DEPTH` (the parser would recurse until RecursionError) or
a form with more than `MAX_FORM_FIELDS` fields (the standard library raises ValueError). A form is kept on the request
as read, so the route reads it for free (`form_of`); routes read JSON with `json_of`, under the same bound.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs

import azure.functions as func

from shared.problems import Problem

MAX_JSON_DEPTH = 32  # the deepest body of the contract is 4 levels; 32 leaves room and keeps the parser shallow
MAX_FORM_FIELDS = 100  # the largest form has 13 fields (the company form); a role list adds at most 9
MAX_FORM_BYTES = 64 * 1024

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_FORM = "application/x-www-form-urlencoded"


def too_deep(depth: int = MAX_JSON_DEPTH) -> Problem:
    return Problem(400, "json-too-deep", "The JSON body is nested too deeply",
                   f"Arrays and objects may be nested {depth} levels deep at most.")


def too_many_fields() -> Problem:
    return Problem(400, "form-too-many-fields", "The form has too many fields",
                   f"A form may carry {MAX_FORM_FIELDS} fields at most.")


def nesting(text: str) -> int:
    """How deeply the arrays and objects of a JSON text nest, counted without parsing it (no recursion at all)."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return 0  # cannot be deeper than the limit: skip the scan (almost every body)
    deepest = depth = 0
    for bracket in _NOT_BRACKETS.sub("", _STRINGS.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def read_json(raw: bytes) -> Any:
    """A JSON body as Python values; a 400 problem when it is no JSON or nests deeper than `MAX_JSON_DEPTH`."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(400, "malformed-json", "The body is not valid JSON", "The body is not UTF-8.") from exc
    if nesting(text) > MAX_JSON_DEPTH:
        raise too_deep()
    try:
        return json.loads(text)
    except RecursionError as exc:  # never reached below the limit; kept so no body can ever answer 500
        raise too_deep() from exc
    except ValueError as exc:
        raise Problem(400, "malformed-json", "The body is not valid JSON", str(exc)) from exc


def read_form(raw: bytes) -> dict[str, list[str]]:
    """An application/x-www-form-urlencoded body (each field's values); a 400 problem beyond `MAX_FORM_FIELDS`."""
    text = raw[:MAX_FORM_BYTES].decode("utf-8", "replace")
    try:
        return parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError as exc:
        raise too_many_fields() from exc


def _is_form(req: func.HttpRequest) -> bool:
    return (req.headers.get("content-type") or "").split(";")[0].strip().lower() == _FORM


def screen(req: func.HttpRequest) -> None:
    """Refuse (400) a body no parser may be given: JSON nested deeper than MAX_JSON_DEPTH, a form of more than
    MAX_FORM_FIELDS fields (a form is read here, once). Anything else passes: the route's own parser says what it
    expected (a malformed JSON body is its 400, after authentication).
    """
    raw = req.get_body() or b""
    if not raw.strip() or getattr(req, "_screened", False):
        return
    if _is_form(req):
        req._form = read_form(raw)  # type: ignore[attr-defined]
    elif raw.lstrip()[:1] in (b"{", b"["):
        # Only what no parser may be given is refused here; merely malformed JSON is the route's 400, after the caller
        # is authenticated (an anonymous caller learns nothing from it before that).
        if nesting(raw.decode("utf-8", "replace")) > MAX_JSON_DEPTH:
            raise too_deep()
    req._screened = True  # type: ignore[attr-defined]


def json_of(req: func.HttpRequest) -> Any:
    """The JSON body, bounded as `screen` bounds it."""
    return read_json(req.get_body() or b"")


def form_of(req: func.HttpRequest) -> dict[str, list[str]]:
    """The form body's fields (as `screen` read it, or read now), whatever the content type claims."""
    if hasattr(req, "_form"):
        return req._form  # type: ignore[attr-defined]
    return read_form(req.get_body() or b"")
