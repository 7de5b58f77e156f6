"""Routes that declare their contract once: path, method, who may call, body, response, status, idempotency.

`endpoint(bp, ...)` registers an HTTP function on a blueprint and does, for every partner API route, what a
trigger would otherwise repeat: authenticate the caller, parse the body and query into their models, run the
work once per `Idempotency-Key`, serialise the answer and map domain errors to problem+json. It also records
the route's `Contract`, from which `operations.openapi` builds the OpenAPI document: the decorator is the only
place a route is described.

Customer pages pass `raw=True`: their handler takes the request and answers with a page (the feature maps its
own errors to pages in the visitor's language); only the contract is recorded. A route that serves a page's form and
JSON callers alike (`auth=SESSION_OR_PARTNER`, `forms=`) takes the pipeline for JSON and hands form posts to its page.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
from pydantic import BaseModel

from shared import conditional, telemetry
from shared.authorization import POLICY, Action, check, check_again, declare
from shared.context import Context, request_context
from shared.errors import PreconditionRequired
from shared.http import answer, api, dump, idempotency_fingerprint, json_response, parse_json, parse_query
from shared.idempotency import run_once
from shared.partner_auth import AGENT_ROLES, PLATFORM_ADMIN, Caller, authenticate, registered

PARTNER = "partner"  # a partner agent's bearer token (AdminAgent or SalesAgent)
ADMIN = "admin"  # a platform administrator's bearer token
ANONYMOUS = "anonymous"
SESSION = "session"  # the signed-in customer's session cookie (pages)
SESSION_OR_PARTNER = "session-or-partner"

_ROLES = {PARTNER: AGENT_ROLES, ADMIN: frozenset({PLATFORM_ADMIN})}

# A route's body, query or response model: the class, or where it lives ("package.module:Name"). A name is imported
# on the route's first call or when the OpenAPI document is built, never when the route is declared: declaring every
# route is part of each cold start, and a route's API models (and what they import) are its own (shared/lazy.py).
ModelRef = Any


def model_of(ref: ModelRef) -> Any:
    """The model a `ModelRef` names (the import system caches the module: every call after the first is a look-up)."""
    if not isinstance(ref, str):
        return ref
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def caller_of(req: func.HttpRequest, action: Action, auth: str = PARTNER) -> Caller:
    """Who calls, resolved once at the edge: the token (401), its roles against the action's row of the policy as it
    stands now (403), and for a partner route the tenant's partner registration (403 when it is not a registered
    partner) with its type against the row (403). Every partner route passes here, `invite_colleague` included."""
    caller = authenticate(req.headers.get("authorization"), any_of=POLICY[action].roles or _ROLES[auth])
    if auth == ADMIN:
        return caller
    caller = registered(caller)
    check(action, roles=caller.roles, partner_type=caller.partner_type)
    return caller


@dataclass(frozen=True)
class Contract:
    """What a route promises; the OpenAPI document is built from these records alone."""

    method: str
    path: str  # as registered, without /api
    summary: str
    tag: str
    auth: str = PARTNER
    description: str = ""
    body_ref: ModelRef = None  # request body model
    query_ref: ModelRef = None  # model whose fields are the query parameters
    response_ref: ModelRef = None  # response model, None for no JSON body
    status: int = 200
    problems: tuple[int, ...] = ()
    idempotent: bool = False
    content: str = "application/json"
    head: bool = False  # a GET that also answers HEAD (pages: link scanners)
    form: tuple[str, ...] = ()  # fields of an application/x-www-form-urlencoded body (pages)
    path_enums: dict[str, list[str]] = field(default_factory=dict)
    extra_responses: dict[str, Any] = field(default_factory=dict)
    function: str = ""
    action: str = ""
    if_match: bool = False  # the change needs If-Match (428 without it, 412 on a stale one); its answer carries ETag
    etag: bool = False  # the answer carries the resource's ETag header
    response_headers: dict[str, str] = field(default_factory=dict)  # other headers of the success answer -> what they say

    @property
    def body(self) -> Any:
        return model_of(self.body_ref)

    @property
    def query(self) -> Any:
        return model_of(self.query_ref)

    @property
    def response(self) -> Any:
        return model_of(self.response_ref)


CONTRACTS: list[Contract] = []


@dataclass
class Call:
    """One parsed call of a partner API route, as its handler sees it."""

    request: func.HttpRequest
    caller: Caller | None
    ctx: Context  # this invocation's units of work, clock and settings: what the handler hands its service
    body: Any = None
    query: Any = None
    resolved: Any = None  # what the route's `resolve` said of the caller (e.g. the company and the inviter)

    def param(self, name: str) -> str:
        return self.request.route_params[name]

    @property
    def partner(self) -> Caller:
        """The authenticated caller of a route declared for partners: `endpoint` never runs its handler without one."""
        if self.caller is None:
            raise RuntimeError("a partner route ran without an authenticated caller")
        return self.caller

    @property
    def idempotency_key(self) -> str | None:
        return self.request.headers.get("idempotency-key") or None

    @property
    def if_match(self) -> str:
        """The If-Match header (a route declared with `if_match=True` never runs without one)."""
        return (self.request.headers.get("if-match") or "").strip()


@dataclass
class Reply:
    """A handler's answer when it needs another status or headers than the route declares."""

    body: Any
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], Any]


def endpoint(
    bp: func.Blueprint, path: str, method: str = "GET", *, action: Action, summary: str, tag: str, auth: str = PARTNER,
    body: type[BaseModel] | str | None = None, optional_body: bool = False, query: type[BaseModel] | str | None = None,
    response: ModelRef = None, status: int = 200, idempotent: bool | None = None, idempotency_scope: str | Callable[[Call], str] | None = None,
    problems: Sequence[int] = (), description: str = "", guard: Callable[[Call], None] | None = None,
    raw: bool = False, head: bool = False, content: str = "application/json", form: Sequence[str] = (),
    path_enums: dict[str, list[str]] | None = None, extra_responses: dict[str, Any] | None = None,
    route: str | None = None, if_match: bool = False, etag: bool = False, response_headers: dict[str, str] | None = None,
    forms: Callable[[func.HttpRequest], func.HttpResponse] | None = None,
    resolve: Callable[[func.HttpRequest, Caller | None, Context], Any] | None = None,
) -> Callable[[Callable[..., Any]], Any]:
    """Register `handler` as the HTTP function for `method path` and record its contract.

    `route` is the template Functions matches (with constraints) when it differs from the documented `path`.
    `guard(call)` runs before the idempotent work (rate limits: a refusal is never replayed).
    `action` is what the route does in the authorization policy (`shared.authorization.POLICY`); a partner route's
    token must carry one of that action's roles.
    `idempotency_scope` may be a function of the call (e.g. a signed-in person's own scope).
    `forms`: the page handler that answers a form post (no bearer token, not JSON) of a SESSION_OR_PARTNER route;
    `resolve(request, caller, ctx)` says who the caller is for this route beyond the token (a session's person, a partner's
    standing), refusing before the body is read; its answer is `call.resolved`.
    `body`, `query` and `response` may name their model ("package.module:Name", `ModelRef`): it is imported on first use.
    `if_match=True`: a change decided on a version the caller read; without If-Match it is refused (428) before any
    work, so it is never stored as an idempotent answer. `etag=True` (implied by `if_match`) documents the ETag header.
    """
    if idempotent is None:
        idempotent = not raw and method in ("POST", "DELETE")

    def decorate(handler: Callable[..., Any]) -> Any:
        declare(handler.__name__, action)
        CONTRACTS.append(Contract(
            method=method, path=path, summary=summary, tag=tag, auth=auth, description=description, body_ref=body, query_ref=query,
            response_ref=response, status=status, problems=tuple(problems), idempotent=idempotent, content=content, head=head,
            form=tuple(form), path_enums=path_enums or {}, extra_responses=extra_responses or {}, function=handler.__name__, action=action.value,
            if_match=if_match, etag=etag or if_match, response_headers=response_headers or {},
        ))
        trigger: Callable[[func.HttpRequest], func.HttpResponse]
        if raw:
            trigger = telemetry.traced(handler)  # a span per invocation, as `api` gives the JSON routes
        else:
            def parse_and_run(req: func.HttpRequest) -> func.HttpResponse:
                caller = _caller(req, action, auth)
                ctx = request_context()
                resolved = resolve(req, caller, ctx) if resolve is not None else None
                parsed = _body(req, model_of(body), optional_body)
                call = Call(req, caller, ctx, parsed, parse_query(req, model_of(query)) if query is not None else None, resolved)
                if guard is not None:
                    guard(call)
                if if_match and not call.if_match:
                    raise PreconditionRequired("This change needs If-Match with the ETag you read (or * to replace whatever is "
                                               "there): without it, two agents would overwrite each other unseen.")
                if if_match:
                    conditional.check_syntax(call.if_match)

                def work() -> tuple[int, Any, dict[str, str]]:
                    result = handler(call)
                    if isinstance(result, Reply):
                        return result.status or status, dump(result.body), result.headers
                    return status, dump(result), {}

                if not idempotent:
                    code, data, headers = work()
                    return json_response(data, code, headers)
                scope = (idempotency_scope(call) if callable(idempotency_scope) else idempotency_scope) or (
                    caller.partner_id if caller else ANONYMOUS)
                (code, data, headers), replayed = run_once(
                    call.ctx, scope, call.idempotency_key, idempotency_fingerprint(req), work,
                    authorize_replay=_replay_check(caller))
                return answer(code, data, {**headers, **({"Idempotent-Replayed": "true"} if replayed else {})})

            # The function's name is the handler's (Functions and telemetry name it so); its signature stays
            # `req` (functools.wraps would point the binding inspection at the handler's `call`).
            parse_and_run.__name__, parse_and_run.__qualname__ = handler.__name__, handler.__qualname__
            parse_and_run.__doc__ = handler.__doc__
            trigger = api(parse_and_run)
            if forms is not None:
                trigger = _with_forms(trigger, forms)

        methods = [method, "HEAD"] if head else [method]
        return bp.route(route=route or path, methods=methods, auth_level=func.AuthLevel.ANONYMOUS)(trigger)

    return decorate


def _caller(req: func.HttpRequest, action: Action, auth: str) -> Caller | None:
    if auth in _ROLES:
        return caller_of(req, action, auth)
    if auth == SESSION_OR_PARTNER and req.headers.get("authorization"):
        return caller_of(req, action, PARTNER)  # a bearer token is a partner's, resolved like on every partner route
    return None  # a session: the handler knows the person (pages' sessions are the customer's journey's)


def _with_forms(json_trigger: Callable[[func.HttpRequest], func.HttpResponse],
                forms: Callable[[func.HttpRequest], func.HttpResponse]) -> Callable[[func.HttpRequest], func.HttpResponse]:
    def trigger(req: func.HttpRequest) -> func.HttpResponse:
        # A bearer token or a JSON body is an API call (problem+json); anything else is the page's form.
        is_json = (req.headers.get("content-type") or "").startswith("application/json")
        return json_trigger(req) if req.headers.get("authorization") or is_json else forms(req)

    trigger.__name__, trigger.__qualname__, trigger.__doc__ = json_trigger.__name__, json_trigger.__qualname__, json_trigger.__doc__
    return trigger


def _replay_check(caller: Caller | None) -> Callable[[list[str]], None] | None:
    """A replay answers only a caller who may do what the first request was checked for (its body's rows too)."""
    if caller is None:
        return None
    return lambda actions: check_again(actions, roles=caller.roles, partner_type=caller.partner_type)


def _body(req: func.HttpRequest, model: type[BaseModel] | None, optional: bool) -> Any:
    if model is None:
        return None
    if optional and not (req.get_body() or b"").strip():
        return model()
    return parse_json(req, model)
