"""The HTTP edge shared by all trigger functions: JSON in, JSON or problem+json out, errors mapped once."""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import azure.functions as func
from pydantic import BaseModel, ValidationError

from shared import bodies, telemetry
from shared.errors import (
    Busy,
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    RuleBroken,
    TooManyRequests,
    Unauthenticated,
)
from shared.problems import Problem, pydantic_errors, storage_unavailable, validation_problem
from shared.storage import MalformedRow, StorageUnavailable

log = logging.getLogger(__name__)

B = TypeVar("B", bound=BaseModel)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json", by_alias=True, exclude_none=True)
    return func.HttpResponse(
        json.dumps(body, ensure_ascii=False),
        status_code=status,
        mimetype="application/json",
        charset="utf-8",
        headers={**SECURITY_HEADERS, **(headers or {})},
    )


def problem_response(problem: Problem, instance: str | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(problem.to_dict(instance), ensure_ascii=False),
        status_code=problem.status,
        mimetype="application/problem+json",
        charset="utf-8",
        headers={**SECURITY_HEADERS, **problem.headers},
    )


def parse_json(req: func.HttpRequest, model: type[B]) -> B:
    """The request body as `model`, or a 400 problem naming every bad field."""
    raw = req.get_body() or b""
    if not raw.strip():
        raise validation_problem([{"field": "(body)", "message": "A JSON body is required", "code": "missing"}])
    data = bodies.json_of(req)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(pydantic_errors(exc)) from exc


def parse_query(req: func.HttpRequest, model: type[B]) -> B:
    try:
        return model.model_validate(dict(req.params))
    except ValidationError as exc:
        raise validation_problem(pydantic_errors(exc)) from exc


# The one table from domain errors to HTTP: status, and the headers each kind of answer carries.
STATUS_OF: dict[type[DomainError], int] = {
    Invalid: 400,
    RuleBroken: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
    PreconditionRequired: 428,
    TooManyRequests: 429,
    Busy: 503,
}


def problem_of(error: DomainError) -> Problem:
    status = next((code for kind, code in STATUS_OF.items() if isinstance(error, kind)), 400)
    headers: dict[str, str] = dict(error.headers)
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return Problem(status, error.code, error.title, error.detail, errors=error.errors, headers=headers, extra=error.extra)


def api(handler: Callable[[func.HttpRequest], func.HttpResponse]) -> Callable[[func.HttpRequest], func.HttpResponse]:
    """Map the app's errors to problem+json once, so no trigger ever answers with a traceback."""

    @functools.wraps(handler)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        instance = _path(req)
        try:
            bodies.screen(req)  # before the caller is even authenticated: an unusable body is 400 on every route
            return handler(req)
        except DomainError as error:
            return problem_response(problem_of(error), instance)
        except Problem as problem:
            return problem_response(problem, instance)
        except StorageUnavailable as exc:
            log.warning("storage unavailable on %s: %s", instance, exc)
            return problem_response(storage_unavailable(), instance)
        except MalformedRow:
            log.exception("malformed stored row on %s", instance)
            return problem_response(_internal(), instance)
        except Exception:
            log.exception("unhandled error on %s", instance)
            return problem_response(_internal(), instance)

    return telemetry.traced(wrapper)


def _internal() -> Problem:
    return Problem(500, "internal", "Internal error", "Something went wrong on our side; nothing was half-written. Retry later.")


def _path(req: func.HttpRequest) -> str:
    url = req.url or ""
    idx = url.find("/api/")
    return url[idx:].split("?")[0] if idx >= 0 else url


def answer(status: int, body: Any, headers: dict[str, str] | None = None) -> func.HttpResponse:
    """A stored answer (idempotent replay) as a response: problem+json when it was an error."""
    if status >= 400:
        return func.HttpResponse(
            json.dumps(body, ensure_ascii=False), status_code=status, mimetype="application/problem+json", charset="utf-8",
            headers={**SECURITY_HEADERS, **(headers or {})},
        )
    return json_response(body, status, headers)


def client_ip(req: func.HttpRequest) -> str:
    """The client's address as the platform's front end saw it: the last X-Forwarded-For entry, without its port.

    Azure's front end appends the address it received the connection from after whatever the client sent, so only the
    last entry is not the client's to choose (the local host appends the peer address the same way). IPv4 comes as
    `a.b.c.d:port`, IPv6 as `[addr]:port` or bare; anything that is no address is "unknown" (one shared bucket).
    """
    last = (req.headers.get("x-forwarded-for") or "").split(",")[-1].strip()
    if last.startswith("["):
        last = last[1:].partition("]")[0]
    elif last.count(":") == 1:
        last = last.partition(":")[0]
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return "unknown"


def idempotency_fingerprint(req: func.HttpRequest) -> list[str]:
    """What makes two requests "the same request" for an Idempotency-Key: method, path and body."""
    return [req.method, req.url.split("?")[0], (req.get_body() or b"").decode("utf-8", "replace")]


def dump(body: Any) -> Any:
    """A handler's answer as JSON-ready data (models in their camelCase wire form)."""
    if isinstance(body, BaseModel):
        return body.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(body, list):
        return [dump(item) for item in body]
    if isinstance(body, dict):
        return {key: dump(value) for key, value in body.items()}
    return body
