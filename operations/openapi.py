"""The OpenAPI 3.1 document of the app: every HTTP route, with schemas generated from the pydantic models.

Served at GET /api/openapi.json. Every route declares its contract where it is registered
(`shared.endpoints.endpoint`); the document is built from those records alone, and a test compares them with
the functions registered in `function_app.app`.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from typing import Any

from pydantic import ConfigDict, Field
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from shared import conditional
from shared.authorization import Action, who_may
from shared.endpoints import CONTRACTS, Contract
from shared.models import Model
from shared.settings import get_settings
from webhooks.catalog import EVENT_FIELDS, EVENT_TYPES, Event

DESCRIPTION = """\
The invitation and onboarding service of a B2B partner platform: sellers (partners) invite business customers,
customers accept invitations and create their company, partners manage their reseller relationships and the
customers' acceptance of the Microsoft Customer Agreement.

**Authentication.** Partner endpoints take `Authorization: Bearer <JWT>` from the partners' identity provider
(RS256; `tid` is the partner id, `roles` holds `AdminAgent` or `SalesAgent`; partner registration needs
`PlatformAdmin`). The token alone authenticates: no Functions key is needed on any route.

**Errors** are `application/problem+json` (RFC 9457) with a stable `type` URI, a human `detail` and, for
validation failures, `errors`: one entry per field (`field`, `message`, `code`).

**Idempotency.** Every POST (and the relationship DELETE, the primary-contact PATCH and the invitation PATCH) honours
an `Idempotency-Key` header: a retry with the same key and body gets the first answer (with `Idempotent-Replayed: true`)
and changes nothing twice; the same key with a different body is refused (422).

**Concurrency.** An invitation and a customer carry an `ETag` (GET); changing an invitation's invitee or a customer's
primary contact needs `If-Match` with it, so two agents cannot overwrite each other: 428 without, 412 when it changed
since it was read (`*` deliberately replaces whatever is there).

**Reseller relationships, DAP and GDAP.** A partner needs an active reseller relationship with a customer to
work for it. On the relationship, *DAP* (delegated admin privileges) are the partner's broad administrator
rights on the customer's tenant, granted with the relationship; *GDAP* (granular delegated admin privileges)
are narrower rights limited to listed roles and to an end date, granted separately. Removing a relationship
takes the customer off the partner's list and removes DAP; GDAP stays until its end date or until it is
removed on its own. No email is sent on removal.

**Concurrency.** `GET /api/customers/{customerId}` serves the customer's `ETag`; a change to it (the primary contact)
needs `If-Match` with that tag (428 without, 412 when the customer changed since you read it; a change that is there
already answers 200).

**Customer agreement.** Acceptance of the Microsoft Customer Agreement is *Provided* once a partner attested it
(`PartnerAttestation`; Admin or Sales agents; not indirect resellers, who work with their indirect provider) or
the customer accepted it after signing in (`DirectAcceptance`). After an attestation the customer's primary
contact gets a confirmation email within 30 minutes, except for customers asked to accept directly. New
purchases wait for acceptance; auto-renewals do not.
"""


# -- shapes of the document itself ------------------------------------------------------------------


class ProblemDetails(Model):
    """RFC 9457 problem details."""

    model_config = ConfigDict(populate_by_name=True)
    type: str = Field(description="Stable URI of the kind of problem.")
    title: str
    status: int
    detail: str = Field(description="What happened and what to do, for people.")
    instance: str | None = Field(default=None, description="The request path.")
    errors: list[dict[str, str]] | None = Field(default=None, description="Validation: one entry per field (field, message, code).")
    trace_id: str | None = Field(default=None, validation_alias="traceId", serialization_alias="traceId",
                                 description="W3C trace id of the request (the operation id in Application Insights); quote it to support.")


# -- building the document ---------------------------------------------------------------------------


def _security(auth: str) -> list[dict[str, list[str]]]:
    if auth == "anonymous":
        return []
    if auth == "session":
        return [{"session": []}]
    if auth == "session-or-partner":
        return [{"session": []}, {"partnerToken": []}]
    return [{"partnerToken": []}]


def _parameters(route: Contract, schemas: dict[Any, dict[str, Any]], defs: dict[str, Any]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name in re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", route.path):
        schema: dict[str, Any] = {"type": "string"}
        if name in route.path_enums:
            schema["enum"] = route.path_enums[name]
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    if route.query is not None:
        ref = schemas[(route.query, "validation")]["$ref"].rsplit("/", 1)[1]
        spec = defs[ref]
        required = set(spec.get("required", []))
        for prop, schema in spec.get("properties", {}).items():
            entry = {"name": prop, "in": "query", "required": prop in required, "schema": schema}
            if "description" in schema:
                entry["description"] = schema["description"]
            params.append(entry)
    if route.idempotent:
        params.append({"$ref": "#/components/parameters/IdempotencyKey"})
    if route.if_match:
        params.append({"$ref": "#/components/parameters/IfMatch"})
    return params


def _request_body(route: Contract, schemas: dict[Any, dict[str, Any]]) -> dict[str, Any] | None:
    content: dict[str, Any] = {}
    if route.body is not None:
        content["application/json"] = {"schema": schemas[(route.body, "validation")]}
    if route.form:
        props = {name: ({"type": "array", "items": {"type": "string"}} if name == "roles" else {"type": "string"}) for name in route.form}
        content["application/x-www-form-urlencoded"] = {"schema": {"type": "object", "properties": props}}
    return {"required": True, "content": content} if content else None


def _page_responses(route: Contract) -> dict[str, Any]:
    page = {"text/html": {"schema": {"type": "string"}}}
    ok: dict[str, Any] = {"description": "The page, in the visitor's language."}
    if route.content != "application/json":
        ok["content"] = {kind.strip(): {"schema": {"type": "string"}} for kind in route.content.split(",")}
    if route.status == 204:  # a page's beacon (the link's page says the invitee pressed a button): nothing to show
        ok = {"description": "Taken; nothing to show."}
    return {
        str(route.status): ok,
        "303": {"description": "On to the next step (sign-in, the company, the page of the invitation's state)."},
        "4XX": {"description": "A page in the visitor's language saying what happened and what to do next.", "content": page},
        "5XX": {"description": "A page saying the service is unavailable and nothing was changed (Retry-After).", "content": page},
    }


def _json_responses(route: Contract, schemas: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": {201: "Created", 202: "Accepted"}.get(route.status, "OK")}
    if route.response is not None:
        ok["content"] = {route.content: {"schema": schemas[(route.response, "serialization")]}}
    if route.response_headers:
        ok["headers"] = {name: {"description": text, "schema": {"type": "string"}} for name, text in route.response_headers.items()}
    if route.response is None and route.path == "openapi.json":
        ok["content"] = {"application/json": {"schema": {"type": "object"}}}
    if route.etag:
        ok.setdefault("headers", {})["ETag"] = {"description": "The resource's version: send it as If-Match with a change.",
                                                "schema": {"type": "string"}}
    responses: dict[str, Any] = {str(route.status): ok}
    needs_token = route.auth in ("partner", "admin", "session-or-partner")
    answers = set(route.problems) | ({401, 403} if needs_token else set()) | {500}
    if route.body is not None or route.query is not None:
        answers.add(400)  # the body or a query parameter refused, one entry per field
    if route.idempotent:
        answers |= {400, 409, 422}  # idempotency-key-invalid, idempotency-in-progress, idempotency-key-reused
    if route.if_match:
        answers |= {412, 428}  # a stale If-Match, none at all
    for status in sorted(answers):
        responses[str(status)] = {"$ref": f"#/components/responses/Problem{status}"}
    if route.auth != "anonymous" or route.body is not None:
        responses.setdefault("503", {"$ref": "#/components/responses/Problem503"})
    responses.update(route.extra_responses)
    return dict(sorted(responses.items()))


def _operation(route: Contract, schemas: dict[Any, dict[str, Any]], defs: dict[str, Any], method: str | None = None) -> dict[str, Any]:
    method = method or route.method
    op: dict[str, Any] = {
        "operationId": re.sub(r"[^A-Za-z0-9]+", "_", f"{method.lower()}_{route.path}").strip("_"),
        "summary": route.summary,
        "tags": [route.tag],
        "security": _security(route.auth),
    }
    if route.description:
        op["description"] = route.description
    if route.action:
        # Who may call it, in the words of the one policy table (shared.authorization.POLICY): never written by hand.
        op["description"] = (op.get("description", "") + f"\n\n{who_may(Action(route.action))}").strip()
    params = _parameters(route, schemas, defs)
    if params:
        op["parameters"] = params
    body = _request_body(route, schemas)
    if body is not None:
        op["requestBody"] = body
    page = route.content != "application/json" and route.response is None and route.path != "openapi.json"
    op["responses"] = _page_responses(route) if page else _json_responses(route, schemas)
    if method == "HEAD":
        op["summary"] = f"{route.summary} (headers only)"
        op["responses"] = {status: {"description": r.get("description", "See GET.")} if "$ref" not in r else r
                           for status, r in op["responses"].items()}
    return op


_PROBLEM_TEXT = {
    400: "The request is not valid (validation: one entry per field in `errors`).",
    401: "No valid bearer token.",
    403: "The token lacks the role, or a rule forbids this caller (e.g. indirect resellers cannot attest).",
    404: "Not found (for customers: no active relationship with the calling partner).",
    409: "Conflict with the current state (e.g. attested already, relationship exists), or `idempotency-in-progress`: a "
         "request with this Idempotency-Key is still running (Retry-After).",
    412: "`precondition-failed`: If-Match does not name the current version (it changed since it was read); read it again.",
    422: "`idempotency-key-reused`: this Idempotency-Key was used for a different request.",
    428: "`precondition-required`: this change needs If-Match with the ETag you read (or `*`).",
    429: "Too many requests (Retry-After).",
    500: "Internal error; nothing was half-written.",
    503: "Storage unavailable or busy; nothing was changed (Retry-After).",
}


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    """The document of every route registered with `shared.endpoints.endpoint` (built once per process)."""
    all_routes = routes()
    wanted: list[tuple[Any, JsonSchemaMode]] = [(ProblemDetails, "serialization"), (Event, "serialization")]
    for route in all_routes:
        modes: tuple[tuple[Any, JsonSchemaMode], ...] = (
            (route.body, "validation"), (route.query, "validation"), (route.response, "serialization"))
        for model, mode in modes:
            if model is not None and (model, mode) not in wanted:
                wanted.append((model, mode))
    schemas, top = models_json_schema(wanted, ref_template="#/components/schemas/{model}")
    defs = top.get("$defs", {})
    for spec in defs.values():
        spec.get("properties", {}).pop("etag", None)  # storage metadata, never on the wire
    paths: dict[str, dict[str, Any]] = {}
    for route in all_routes:
        item = paths.setdefault(f"/api/{route.path}", {})
        item[route.method.lower()] = _operation(route, schemas, defs)
        if route.head:
            item["head"] = _operation(route, schemas, defs, "HEAD")
    settings = get_settings()
    problem_ref = {"$ref": "#/components/schemas/ProblemDetails"}
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {"title": f"{settings.platform_name} invitations and onboarding API", "version": settings.app_version,
                 "description": DESCRIPTION},
        "servers": [{"url": settings.public_base_url.rstrip("/")}],
        "tags": [{"name": t} for t in dict.fromkeys(r.tag for r in all_routes)],
        "paths": paths,
        "webhooks": webhooks(),
        "components": {
            "schemas": copy.deepcopy(defs),
            "securitySchemes": {
                "partnerToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                 "description": "RS256 token of the partners' identity provider: tid = partner id, roles."},
                "session": {"type": "apiKey", "in": "cookie", "name": "__Host-accept_session",
                            "description": "The signed-in customer's session cookie, set after Microsoft sign-in (locally: "
                                           "accept_session). Forms also carry the session's CSRF token."},
            },
            "parameters": {
                "IdempotencyKey": {"name": "Idempotency-Key", "in": "header", "required": False,
                                   "schema": {"type": "string", "maxLength": 200},
                                   "description": "Makes a retry safe: the same key and body get the first answer."},
                "IfMatch": {"name": "If-Match", "in": "header", "required": True,
                            "schema": {"type": "string", "maxLength": conditional.MAX_LENGTH, "pattern": conditional.IF_MATCH},
                            "description": "The ETag you read (strong comparison), or `*` to replace whatever is there. A "
                                           "stale one is refused (412) unless the change is there already."},
            },
            "responses": {f"Problem{status}": {"description": text, "content": {"application/problem+json": {"schema": problem_ref}}}
                          for status, text in _PROBLEM_TEXT.items()},
        },
    }


_SIGNATURE_HEADERS = {
    "webhook-id": "The event id: the same on every retry; deduplicate on it.",
    "webhook-timestamp": "Unix seconds of this attempt; refuse one more than 5 minutes old.",
    "webhook-signature": "`v1,<base64 HMAC-SHA256 of id.timestamp.body>`, space-separated (two while a rotated secret lasts).",
}


def webhooks() -> dict[str, Any]:
    """OpenAPI 3.1 `webhooks`: every event a subscription may receive (the feed lists the same payloads)."""
    out: dict[str, Any] = {}
    for name, text in EVENT_TYPES.items():
        fields = EVENT_FIELDS[name]
        data = {"type": "object", "required": [f for f in fields if f in ("reference", "customerId", "subscriptionId")],
                "properties": {f: {"$ref": f"#/components/schemas/EventData/properties/{f}"} for f in fields}}
        payload = {"allOf": [{"$ref": "#/components/schemas/Event"}], "properties": {"type": {"const": name}, "data": data}}
        out[name] = {"post": {
            "summary": name, "description": text + " Signed as Standard Webhooks; answer 2xx within 5 s, else it is retried.",
            "operationId": "webhook_" + name.replace(".", "_").replace("-", "_"), "tags": ["Webhooks"],
            "parameters": [{"name": h, "in": "header", "required": True, "schema": {"type": "string"}, "description": d}
                           for h, d in _SIGNATURE_HEADERS.items()],
            "requestBody": {"required": True, "content": {"application/json": {"schema": payload}}},
            "responses": {"200": {"description": "Received (any 2xx)."}, "default": {"description": "Retried with backoff."}}}}
    return out


def routes() -> tuple[Contract, ...]:
    """Every route's contract, in the order the features registered them."""
    return tuple(CONTRACTS)


def documented_operations() -> set[tuple[str, str]]:
    """(METHOD, route) pairs in the document, for the coverage test."""
    out = {(r.method.upper(), r.path) for r in routes()}
    return out | {("HEAD", r.path) for r in routes() if r.head}

