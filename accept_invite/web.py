"""The HTTP edge of the customer's pages: who is visiting, form bodies, and turning a `Reply` into a response.

`page` maps every failure to a localized error page, so a person never sees a traceback or problem+json.
The query models here document the pages' query parameters in the OpenAPI document.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

import azure.functions as func
from pydantic import ConfigDict, Field

from accept_invite import pages, sessions
from accept_invite.views import Reply, Visitor, error
from shared import bodies, i18n, session_epochs
from shared.context import request_context
from shared.errors import DomainError
from shared.http import client_ip, problem_of
from shared.models import Model
from shared.problems import Problem
from shared.settings import get_settings
from shared.storage import MalformedRow, StorageUnavailable

log = logging.getLogger(__name__)

MULTI_VALUED = frozenset({"roles"})
BODY_REFUSED = ("/json-too-deep", "/form-too-many-fields", "/malformed-json")  # a body no page can use: 400


class PagesQuery(Model):
    model_config = ConfigDict(populate_by_name=True)
    invitation_id: str | None = Field(default=None, validation_alias="invitationId", serialization_alias="invitationId",
                                      description="The personal link id from the email, or (after sign-in) the invitation's reference.")
    lang: str | None = Field(default=None, description="The language switcher's choice (BCP 47).")


class SignInQuery(PagesQuery):
    mode: str | None = Field(default=None, description="signin (default), create (new Microsoft account) or another (other account).")


def visitor_of(req: func.HttpRequest) -> Visitor:
    cookies = sessions.read_cookies(req.headers.get("cookie"))
    try:
        settings = get_settings()
        session = sessions.decode(cookies.get(sessions.cookie_name(settings)), settings)
    except RuntimeError:
        log.error("SESSION_SECRET is not set: every visitor is treated as signed out")
        session = None
    if session is not None and session.subject and not session_epochs.is_current(request_context(), session.subject, session.epoch):
        session = None  # the person signed out (or was removed) since: every copy of this cookie stops here
    return Visitor(
        session=session, lang_query=req.params.get("lang"), lang_cookie=cookies.get(sessions.LANGUAGE_COOKIE),
        accept=i18n.parse_accept_language(req.headers.get("accept-language")),
        signin_binding=cookies.get(sessions.binding_cookie_name()), client=client_ip(req),
    )


def form_of(req: func.HttpRequest) -> dict[str, Any]:
    """An application/x-www-form-urlencoded body (one value per field, a list for multi-valued ones), read by the one
    body reader (`shared.bodies`), which `page` ran before anything else."""
    return {k: (v if k in MULTI_VALUED else v[0]) for k, v in bodies.form_of(req).items()}


def respond(reply: Reply, visitor: Visitor) -> func.HttpResponse:
    headers = dict(pages.PAGE_HEADERS)
    body: bytes | str = b""
    mimetype = "text/html"
    if reply.location:
        headers["Location"] = reply.location
    elif reply.data is not None:
        body, mimetype = json.dumps(reply.data, ensure_ascii=False), "application/json"
    elif reply.template:
        body = pages.render(reply.template, reply.language, path=reply.path, params=reply.params, person=reply.session, **reply.context)
    resp = func.HttpResponse(body, status_code=reply.status, headers=headers, mimetype=mimetype, charset="utf-8")
    for cookie in reply.cookies:
        resp.headers.add("Set-Cookie", cookie)
    chosen = _switcher_choice(visitor.lang_query)
    if chosen and chosen != visitor.lang_cookie:
        resp.headers.add("Set-Cookie", sessions.language_cookie(chosen))
    return resp


def company_route(req: func.HttpRequest, view: Callable[..., Reply], *args: Any) -> func.HttpResponse:
    """A company's page or form: `view(ctx, visitor, company id, *args)` for the company the route names, answered as a page."""
    visitor = visitor_of(req)
    return respond(view(request_context(), visitor, req.route_params["companyId"], *args), visitor)


def _switcher_choice(value: str | None) -> str | None:
    if not value:
        return None
    return next((tag for tag in i18n.SUPPORTED_LANGUAGES if tag.lower() == value.strip().lower()), None)


def page(handler: Callable[[func.HttpRequest], func.HttpResponse]) -> Callable[[func.HttpRequest], func.HttpResponse]:
    """Errors become a page in the visitor's language: 503 when storage is down, 429 when throttled, else 500."""

    @functools.wraps(handler)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            bodies.screen(req)  # before anything else (sessions, rate limits, storage): an unusable body is a 400 page
            return handler(req)
        except StorageUnavailable as exc:
            log.warning("storage unavailable on %s: %s", req.url, exc)
            return _error_page(req, "unavailable", 503, {"Retry-After": "5"})
        except (Problem, DomainError) as failure:
            problem = problem_of(failure) if isinstance(failure, DomainError) else failure
            if problem.status == 429:
                return _error_page(req, "too_many", 429, problem.headers)
            if problem.type.endswith(BODY_REFUSED):
                return _error_page(req, "bad_request", 400)
            log.error("problem on a page %s: %s", req.url, problem.detail)
            return _error_page(req, "internal", problem.status if problem.status >= 400 else 500)
        except MalformedRow:
            log.exception("malformed stored row on %s", req.url)
            return _error_page(req, "internal", 500)
        except Exception:
            log.exception("unhandled error on %s", req.url)
            return _error_page(req, "internal", 500)

    return wrapper


def _error_page(req: func.HttpRequest, kind: str, status: int, headers: dict[str, str] | None = None) -> func.HttpResponse:
    try:
        visitor = visitor_of(req)
    except Exception:
        visitor = Visitor()
    try:
        resp = respond(error(kind, visitor, status=status), visitor)
    except Exception:
        log.exception("the error page itself failed")
        resp = func.HttpResponse("Service temporarily unavailable. Please try again later.", status_code=status,
                                 headers=dict(pages.PAGE_HEADERS), mimetype="text/plain")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp
