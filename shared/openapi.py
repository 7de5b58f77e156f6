"""The OpenAPI 3.1 document of the app: every HTTP route, with schemas generated from the pydantic models.

Served at GET /api/openapi.json. A test compares the routes registered in `function_app.app` with
`ROUTES` below, so a new endpoint without documentation fails the build.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

DESCRIPTION = """\
The invitation and onboarding service of a B2B partner platform: sellers (partners) invite business customers,
customers accept invitations and create their company, partners manage their reseller relationships and the
customers' acceptance of the Microsoft Customer Agreement.

**Authentication.** Partner endpoints take `Authorization: Bearer <JWT>` from the partners' identity provider
(RS256; `tid` is the partner id, `roles` holds `AdminAgent` or `SalesAgent`; partner registration needs
`PlatformAdmin`). In Azure every non-anonymous route also needs a function key (`x-functions-key` header or
`code` query parameter).

**Errors** are `application/problem+json` (RFC 9457) with a stable `type` URI, a human `detail` and, for
validation failures, `errors`: one entry per field (`field`, `message`, `code`).

**Idempotency.** Every POST (and the relationship DELETE) honours an `Idempotency-Key` header: a retry with the
same key and body gets the first answer (with `Idempotent-Replayed: true`) and changes nothing twice; the same
key with a different body is refused (422).

**Reseller relationships, DAP and GDAP.** A partner needs an active reseller relationship with a customer to
work for it. On the relationship, *DAP* (delegated admin privileges) are the partner's broad administrator
rights on the customer's tenant, granted with the relationship; *GDAP* (granular delegated admin privileges)
are narrower rights limited to listed roles and to an end date, granted separately. Removing a relationship
takes the customer off the partner's list and removes DAP; GDAP stays until its end date or until it is
removed on its own. No email is sent on removal.

**Customer agreement.** Acceptance of the Microsoft Customer Agreement is *Provided* once a partner attested it
(`PartnerAttestation`; Admin or Sales agents; not indirect resellers, who work with their indirect provider) or
the customer accepted it after signing in (`DirectAcceptance`). After an attestation the customer's primary
contact gets a confirmation email within 30 minutes, except for customers asked to accept directly. New
purchases wait for acceptance; auto-renewals do not.
"""

PARTNER_ROLES = "AdminAgent or SalesAgent"


# -- shapes the features return as plain dicts ------------------------------------------------------


class _Doc(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class ProblemDetails(_Doc):
    """RFC 9457 problem details."""

    type: str = Field(description="Stable URI of the kind of problem.")
    title: str
    status: int
    detail: str = Field(description="What happened and what to do, for people.")
    instance: str | None = Field(default=None, description="The request path.")
    trace_id: str | None = Field(default=None, alias="traceId", description="W3C trace id of the request, for support.")
    errors: list[dict[str, str]] | None = Field(default=None, description="Validation: one entry per field (field, message, code).")


class HealthStatus(_Doc):
    status: str = Field(description="healthy or unhealthy")
    version: str
    storage: dict[str, Any]


class InvitationPage(_Doc):
    items: list[dict[str, Any]] = Field(description="InvitationOut items, newest first (without the link id).")
    continuation_token: str | None = Field(default=None, alias="continuationToken")


class BulkResult(_Doc):
    summary: dict[str, int] = Field(description="Counts of created, invalid and failed rows.")
    results: list[dict[str, Any]] = Field(description="One entry per row: index, status, invitation or errors.")


class BulkInvitations(_Doc):
    invitations: list[dict[str, Any]] = Field(min_length=1, max_length=1000, description="Up to 1000 NewInvitation objects.")


class InvitationDraftEmail(_Doc):
    to: str
    subject: str
    text: str
    html: str
    language: str
    invite_redeem_url: str = Field(alias="inviteRedeemUrl")


class ResendRequestAnswer(_Doc):
    status: str
    detail: str


class PartnerPage(_Doc):
    items: list[dict[str, Any]] = Field(description="Partner objects.")
    continuation_token: str | None = Field(default=None, alias="continuationToken")


class DraftQuery(_Doc):
    language: str | None = Field(default=None, description="BCP 47 tag; default: the invitation's language.")


class PagesQuery(_Doc):
    invitation_id: str | None = Field(default=None, alias="invitationId",
                                      description="The personal link id from the email, or (after sign-in) the invitation's reference.")
    lang: str | None = Field(default=None, description="The language switcher's choice (BCP 47).")


class SignInQuery(PagesQuery):
    mode: str | None = Field(default=None, description="signin (default), create (new Microsoft account) or another (other account).")


# -- the routes -------------------------------------------------------------------------------------


@dataclass
class Route:
    method: str
    path: str  # as registered, without /api
    summary: str
    tag: str
    auth: str = "partner"  # partner | admin | anonymous | session
    description: str = ""
    body: Any = None  # a pydantic model (request body)
    query: Any = None  # a pydantic model whose fields are query parameters
    response: Any = None  # a pydantic model, or None for no JSON body
    status: int = 200
    problems: tuple[int, ...] = ()
    idempotent: bool = False
    content: str = "application/json"  # response media type; text/html for pages
    extra_responses: dict[str, Any] = field(default_factory=dict)
    head: bool = False  # a GET that also answers HEAD (pages: link scanners)
    form: tuple[str, ...] = ()  # fields of an application/x-www-form-urlencoded body (pages)
    path_enums: dict[str, list[str]] = field(default_factory=dict)


def _routes() -> list[Route]:
    from attest_agreement import api_models as a
    from invite_user import api_models as i
    from shared.customers import ResellerRelationship
    from shared.partners import Partner

    read = (401, 403, 404)
    write = (400, 401, 403, 404, 409, 422)
    return [
        Route("GET", "health", "Health of the app and its storage", "Operations", auth="anonymous", response=HealthStatus,
              extra_responses={"503": {"description": "Storage unreachable (Retry-After).",
                                       "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HealthStatus"}}}}}),
        Route("GET", "openapi.json", "This document", "Operations", auth="anonymous",
              description="The OpenAPI 3.1 description of every HTTP endpoint of the app."),
        # -- invitations (invite_user) --
        Route("POST", "invitations", "Invite someone", "Invitations", body=i.NewInvitation, response=i.InvitationOut, status=201,
              problems=write, idempotent=True,
              description="Creates an invitation (CustomerOnboarding, ResellerRelationship, CompanyUser or AgreementAcceptance) and, "
                          "unless sendEmail is false, queues its email. The answer carries the link id (`id`) once."),
        Route("POST", "invitations/bulk", "Invite many", "Invitations", body=BulkInvitations, response=BulkResult, problems=write,
              idempotent=True, description="Up to 1000 invitations; a bad row never sinks the others."),
        Route("GET", "invitations", "List the partner's invitations", "Invitations", query=i.ListQuery, response=InvitationPage,
              problems=(400, 401, 403)),
        Route("GET", "invitations/{id}", "Read an invitation", "Invitations", response=i.InvitationOut, problems=read,
              description="`{id}` is the link id from create, or the invitation's `reference`."),
        Route("GET", "invitations/{id}/draft-email", "The invitation's email as a draft", "Invitations", query=DraftQuery,
              response=InvitationDraftEmail, problems=(400, 401, 403, 404),
              description="Seed 002: the partner reviews, edits or copies the email; it keeps the personalised URL. Needs the link id."),
        Route("POST", "invitations/{id}/resend", "Resend an invitation", "Invitations", response=i.InvitationOut, problems=write,
              idempotent=True, description="Same link, new expiry (60 days at most)."),
        Route("POST", "invitations/{id}/revoke", "Revoke an invitation", "Invitations", response=i.InvitationOut, problems=write,
              idempotent=True),
        Route("POST", "invitations/resend-request", "Ask for the invitation again (purchasing account manager)", "Invitations",
              auth="anonymous", body=i.ResendRequest, response=ResendRequestAnswer, status=202, problems=(400, 409, 422, 429),
              idempotent=True,
              description="Seed 003: resent only when the email is the designated purchasing account manager of that agreement; "
                          "the answer is the same either way."),
        Route("POST", "partners", "Register a partner", "Partners", auth="admin", body=Partner, response=Partner, status=201,
              problems=write, idempotent=True),
        Route("GET", "partners", "List partners", "Partners", auth="admin", query=a.PageQuery, response=PartnerPage, problems=(401, 403)),
        # -- customers, agreements, relationships (attest_agreement) --
        Route("POST", "customers", "Create a customer", "Customers", body=a.NewCustomer, response=a.CustomerCreated, status=201,
              problems=write, idempotent=True,
              description="A new customer with an active relationship (DAP, optional GDAP) to the calling partner, and to the "
                          "reseller's indirect provider. With `agreement`, the partner attests acceptance of the Microsoft Customer "
                          "Agreement in the same transaction (indirect resellers: 403); with `askToAcceptDirectly`, an "
                          "AgreementAcceptance invitation goes to the primary contact instead."),
        Route("GET", "customers", "The partner's customers", "Customers", query=a.PageQuery, response=a.CustomerPage,
              problems=(400, 401, 403), description="Customers with an active relationship to the calling partner, paged."),
        Route("GET", "customers/{customerId}", "Read a customer", "Customers", response=a.CustomerDetail, problems=read),
        Route("POST", "customers/{customerId}/agreements", "Attest that the customer accepted the agreement", "Agreements",
              body=a.AttestationIn, response=a.AgreementView, status=201, problems=write, idempotent=True,
              description=f"Roles {PARTNER_ROLES} (403); an active relationship (404); not an indirect reseller (403, "
                          "type indirect-reseller-cannot-attest); dateAgreed not in the future (400, type date-agreed-in-future); "
                          "once only (409, type agreement-accepted-already). A different primaryContact replaces the customer's "
                          "(audited). The primary contact is emailed a confirmation within 30 minutes unless the customer was "
                          "asked to accept directly."),
        Route("GET", "customers/{customerId}/agreements", "Verify acceptance of the agreement", "Agreements", response=a.AgreementView,
              problems=read, description="acceptance Provided or NotProvided; how, when, by whom, and the contact who accepted."),
        Route("POST", "customers/{customerId}/agreement-invitations", "Invite the customer to accept the agreement directly",
              "Agreements", body=a.AgreementInvitationIn, response=i.InvitationOut, status=201, problems=write, idempotent=True,
              description="An AgreementAcceptance invitation (to the primary contact unless another person is given). The "
                          "customer then counts as asked to accept directly: no attestation confirmation email is sent to it."),
        Route("GET", "customers/{customerId}/direct-signing-status", "Direct signing status", "Agreements",
              response=a.DirectSigningStatus, problems=read),
        Route("GET", "customers/{customerId}/purchase-eligibility", "May the customer buy now?", "Agreements",
              query=a.EligibilityQuery, response=a.PurchaseEligibility, problems=(400, 401, 403, 404),
              description="New purchases need an accepted agreement; otherwise the answer carries the customer-facing message and "
                          "the partner's action (attest). Auto-renewals are never blocked."),
        Route("POST", "customers/{customerId}/relationship-requests", "Request a reseller relationship", "Relationships",
              body=a.RelationshipRequestIn, response=a.RelationshipRequestOut, status=201, problems=write, idempotent=True,
              description="Seed 002: a ResellerRelationship invitation for an existing customer (optionally with an indirect "
                          "provider, optionally asking to accept the agreement too) and its draft email with the personalised URL, "
                          "for the partner to review and send."),
        Route("GET", "customers/{customerId}/relationship", "The partner's relationship with the customer", "Relationships",
              response=ResellerRelationship, problems=read,
              description="Also after removal: status Removed, `dap.active` false, `gdap` as it was."),
        Route("DELETE", "customers/{customerId}/relationship", "Remove the reseller relationship", "Relationships",
              body=a.RemoveRelationshipIn, response=ResellerRelationship, problems=(400, 401, 403, 404, 422), idempotent=True,
              description="Needs goodFaithDeclaration: true (400 otherwise). The customer leaves the partner's list; DAP is removed, "
                          "GDAP stays; nobody is notified; the removal is audited."),
        Route("GET", "customers/{customerId}/audit", "The customer's audit trail", "Audit", query=a.PageQuery, response=a.AuditPage,
              problems=(400, 401, 403, 404),
              description="Who changed what and when, before and after: the customer's records merged with the calling partner's "
                          "invitation records about the customer, newest first."),
        *_page_routes(),
    ]


def _page_routes() -> list[Route]:
    """The customer's browser path (accept_invite, and the agreement page): HTML pages with their own sign-in and session."""
    from accept_invite.colleagues import ColleagueInvitation
    from accept_invite.company_form import FIELD_NAMES
    from invite_user.api_models import InvitationOut

    html = {"content": "text/html", "auth": "anonymous"}
    session = {"content": "text/html", "auth": "session"}
    company = ("csrf", "invitationId", *FIELD_NAMES)
    return [
        Route("GET", "InviteUser", "The personal link from the invitation email", "Customer pages", query=PagesQuery, head=True, **html,
              description="Seed 000/001: a page for every state of the invitation; opening it changes nothing (mail scanners open it)."),
        Route("POST", "InviteUser/resend-request", "Ask for the invitation again (page form)", "Customer pages",
              form=("csrf", "email", "agreementNumber", "purchasingAccountNumber"), **html,
              description="Seed 003: the sign-in page's \"Haven't received an invitation email yet?\" form."),
        Route("GET", "auth/signin", "Start Microsoft sign-in", "Customer pages", query=SignInQuery, head=True, **html,
              description="Redirects to the identity provider (mode=create: create a Microsoft account first, seed 001 case 2)."),
        Route("GET", "auth/callback", "Finish sign-in", "Customer pages", **html,
              description="The identity provider's answer (code, state); the invited account gets a session cookie and the next step."),
        Route("POST", "auth/signout", "Sign out", "Customer pages", form=("csrf",), **session),
        Route("GET", "companies/new", "The company data the seller registered (CREATE COMPANY)", "Customer pages", query=PagesQuery,
              head=True, **session),
        Route("POST", "companies/validate", "Check the company form", "Customer pages", form=company, auth="session",
              description="Answers {valid, errors} per field in the page's language: the button turns active when valid."),
        Route("POST", "companies", "Create the company", "Customer pages", form=company, **session,
              description="Seed 001 step 3: creates the company once (profile, first user, relationships), then its welcome page."),
        Route("GET", "companies/accept", "Confirm joining a company or accepting a relationship", "Customer pages", query=PagesQuery,
              head=True, **session),
        Route("POST", "companies/accept", "Join the company / accept the reseller relationship", "Customer pages",
              form=("csrf", "invitationId"), **session),
        Route("GET", "companies/{companyId}/{page}", "The company's pages: welcome, profile, users, agreements", "Customer pages",
              head=True, path_enums={"page": ["welcome", "profile", "users", "agreements"]}, **session,
              description="For the company's own users; `agreements` shows the customer agreement as Provided or Not provided."),
        Route("GET", "companies/{companyId}/invitations/new", "Invite a colleague (form)", "Customer pages", head=True, **session),
        Route("POST", "companies/{companyId}/invitations", "Invite a colleague", "Customer pages", auth="session-or-partner",
              body=ColleagueInvitation, form=("csrf", "submissionId", "email", "firstName", "lastName", "language", "countryRegion",
                                                   "roles"), response=InvitationOut, status=201, content="application/json",
              problems=(400, 401, 403, 404, 409, 422),
              description="Seed 003: a user with role User administrator, Account manager or Agreement manager, or a partner agent, "
                          "invites a colleague. JSON (partner token, or session with X-CSRF-Token) answers problem+json; the "
                          "page's form answers pages."),
        Route("GET", "assets/{name}", "The pages' stylesheet and script", "Customer pages", head=True, auth="anonymous",
              content="text/css", path_enums={"name": ["pages.css", "pages.js"]}),
        Route("GET", "agreements/accept", "Accept the customer agreement (page)", "Customer pages", query=PagesQuery, head=True, **session,
              description="Seed 004, direct acceptance: after sign-in the invitee reads the agreement and ticks the box; once "
                          "accepted, the page shows who accepted and when."),
        Route("POST", "agreements/accept", "Accept the customer agreement", "Customer pages", form=("csrf", "invitationId", "accept"),
              **session, description="accept=yes with the session's CSRF token: recorded once as DirectAcceptance, no email sent."),
    ]


@lru_cache(maxsize=1)
def routes() -> tuple[Route, ...]:
    return tuple(_routes())


# -- building the document ---------------------------------------------------------------------------


def _security(auth: str) -> list[dict[str, list[str]]]:
    if auth == "anonymous":
        return []
    if auth == "session":
        return [{"session": []}]
    if auth == "session-or-partner":
        return [{"session": []}, {"partnerToken": []}]
    return [{"partnerToken": [], "functionKey": []}]


def _parameters(route: Route, schemas: dict[Any, dict[str, Any]], defs: dict[str, Any]) -> list[dict[str, Any]]:
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
    return params


def _request_body(route: Route, schemas: dict[Any, dict[str, Any]]) -> dict[str, Any] | None:
    content: dict[str, Any] = {}
    if route.body is not None:
        content["application/json"] = {"schema": schemas[(route.body, "validation")]}
    if route.form:
        props = {name: ({"type": "array", "items": {"type": "string"}} if name == "roles" else {"type": "string"}) for name in route.form}
        content["application/x-www-form-urlencoded"] = {"schema": {"type": "object", "properties": props}}
    return {"required": True, "content": content} if content else None


def _page_responses(route: Route) -> dict[str, Any]:
    page = {"text/html": {"schema": {"type": "string"}}}
    ok: dict[str, Any] = {"description": "The page, in the visitor's language."}
    if route.content != "application/json":
        ok["content"] = {route.content: {"schema": {"type": "string"}}}
    return {
        "200": ok,
        "303": {"description": "On to the next step (sign-in, the company, the page of the invitation's state)."},
        "4XX": {"description": "A page in the visitor's language saying what happened and what to do next.", "content": page},
        "5XX": {"description": "A page saying the service is unavailable and nothing was changed (Retry-After).", "content": page},
    }


def _json_responses(route: Route, schemas: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "OK" if route.status == 200 else {201: "Created", 202: "Accepted"}.get(route.status, "OK")}
    if route.response is not None:
        ok["content"] = {route.content: {"schema": schemas[(route.response, "serialization")]}}
    elif route.path == "openapi.json":
        ok["content"] = {"application/json": {"schema": {"type": "object"}}}
    responses: dict[str, Any] = {str(route.status): ok}
    needs_token = route.auth in ("partner", "admin", "session-or-partner")
    for status in sorted(set(route.problems) | ({401, 403} if needs_token else set()) | {500}):
        responses[str(status)] = {"$ref": f"#/components/responses/Problem{status}"}
    if route.auth != "anonymous" or route.body is not None:
        responses.setdefault("503", {"$ref": "#/components/responses/Problem503"})
    responses.update(route.extra_responses)
    return dict(sorted(responses.items()))


def _operation(route: Route, schemas: dict[Any, dict[str, Any]], defs: dict[str, Any], method: str | None = None) -> dict[str, Any]:
    method = method or route.method
    op: dict[str, Any] = {
        "operationId": re.sub(r"[^A-Za-z0-9]+", "_", f"{method.lower()}_{route.path}").strip("_"),
        "summary": route.summary,
        "tags": [route.tag],
        "security": _security(route.auth),
    }
    if route.description:
        op["description"] = route.description
    if route.auth == "partner":
        op["description"] = (op.get("description", "") + f"\n\nRoles: {PARTNER_ROLES}.").strip()
    elif route.auth == "admin":
        op["description"] = (op.get("description", "") + "\n\nRole: PlatformAdmin.").strip()
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
    409: "Conflict with the current state (e.g. attested already, relationship exists, request with this key in progress).",
    422: "This Idempotency-Key was used for a different request.",
    429: "Too many requests (Retry-After).",
    500: "Internal error; nothing was half-written.",
    503: "Storage unavailable or busy; nothing was changed (Retry-After).",
}


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    from shared.settings import get_settings

    all_routes = routes()
    wanted: list[tuple[Any, str]] = [(ProblemDetails, "serialization"), (HealthStatus, "serialization")]
    for route in all_routes:
        for model, mode in ((route.body, "validation"), (route.query, "validation"), (route.response, "serialization")):
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
        "components": {
            "schemas": copy.deepcopy(defs),
            "securitySchemes": {
                "partnerToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                 "description": "RS256 token of the partners' identity provider: tid = partner id, roles."},
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key",
                                "description": "Azure Functions key (or the `code` query parameter); not needed locally."},
                "session": {"type": "apiKey", "in": "cookie", "name": "__Host-accept_session",
                            "description": "The signed-in customer's session cookie, set after Microsoft sign-in (locally: "
                                           "accept_session). Forms also carry the session's CSRF token."},
            },
            "parameters": {
                "IdempotencyKey": {"name": "Idempotency-Key", "in": "header", "required": False,
                                   "schema": {"type": "string", "maxLength": 200},
                                   "description": "Makes a retry safe: the same key and body get the first answer."},
            },
            "responses": {f"Problem{status}": {"description": text, "content": {"application/problem+json": {"schema": problem_ref}}}
                          for status, text in _PROBLEM_TEXT.items()},
        },
    }


def documented_operations() -> set[tuple[str, str]]:
    """(METHOD, route) pairs in the document, for the coverage test."""
    out = {(r.method.upper(), r.path) for r in routes()}
    return out | {("HEAD", r.path) for r in routes() if r.head}

