"""The one error format of the API: RFC 9457 problem details with stable type URIs."""

from __future__ import annotations

from typing import Any

from shared.telemetry import current_trace_id

PROBLEM_BASE = "https://errors.invitations.example/"


class Problem(Exception):
    """A failure the caller should hear about, as application/problem+json."""

    def __init__(
        self,
        status: int,
        type_: str,
        title: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.type = type_ if type_.startswith("http") or type_ == "about:blank" else PROBLEM_BASE + type_
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "traceId": current_trace_id(),  # telemetry
        }
        if instance:
            body["instance"] = instance
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


def validation_problem(errors: list[dict[str, Any]], detail: str | None = None) -> Problem:
    return Problem(
        400,
        "validation",
        "The request is not valid",
        detail or "One or more fields are not valid; see `errors`.",
        errors=errors,
    )


def not_found(what: str = "resource") -> Problem:
    return Problem(404, "not-found", "Not found", f"No such {what}.")


def unauthorized(detail: str) -> Problem:
    return Problem(
        401, "unauthorized", "Authentication required", detail,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def forbidden(detail: str, type_: str = "forbidden") -> Problem:
    return Problem(403, type_, "Forbidden", detail)


def conflict(type_: str, detail: str) -> Problem:
    return Problem(409, type_, "Conflict", detail)


def storage_unavailable() -> Problem:
    return Problem(
        503, "storage-unavailable", "Service temporarily unavailable",
        "Storage cannot be reached right now; nothing was changed. Retry later.",
        headers={"Retry-After": "5"},
    )


def pydantic_errors(exc: Any) -> list[dict[str, Any]]:
    """One entry per field of a pydantic ValidationError, with a JSON-pointer-ish field path."""
    out = []
    for err in exc.errors(include_url=False, include_context=False):
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        msg = err.get("msg", "invalid")
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        out.append({"field": ".".join(loc) or "(body)", "message": msg, "code": err.get("type", "invalid")})
    return out
