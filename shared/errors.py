"""Domain errors: what a service says went wrong, in the product's words; the HTTP edge maps them to problem+json.

Services raise these and nothing else that speaks HTTP. Each carries a stable `code` (the problem's type),
a human `detail`, and where it concerns one input, the `field`. The mapping to statuses lives in one
table, `shared.http.STATUS_OF`.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule of the product refused the request; nothing was changed."""

    code = "domain-error"
    title = "Request refused"

    def __init__(self, detail: str, *, code: str | None = None, title: str | None = None, field: str | None = None,
                 errors: list[dict[str, Any]] | None = None, extra: dict[str, Any] | None = None,
                 retry_after: int | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        if title:
            self.title = title
        self.field = field
        self.errors = errors
        self.extra = extra or {}
        self.retry_after = retry_after
        # Protocol headers the answer must carry beside Retry-After (e.g. the RateLimit fields of a 429).
        self.headers = headers or {}


class NotFound(DomainError):
    """No such thing, or not one the caller may know exists (one answer for both)."""

    code = "not-found"
    title = "Not found"


class Conflict(DomainError):
    """The current state does not allow this (accepted already, exists already, ...)."""

    code = "conflict"
    title = "Conflict"


class Forbidden(DomainError):
    """The caller is known but may not do this."""

    code = "forbidden"
    title = "Forbidden"


class Unauthenticated(DomainError):
    """Nobody (valid) is calling: no token, or one that does not verify."""

    code = "unauthorized"
    title = "Authentication required"


class RuleBroken(DomainError):
    """An input breaks a rule of the product (a date in the future, an unknown provider, ...)."""

    code = "validation"
    title = "The request is not valid"

    def __init__(self, detail: str, *, field: str | None = None, **kw: Any) -> None:
        errors = kw.pop("errors", None)
        code = kw.get("code") or self.code
        if errors is None and field is not None:
            errors = [{"field": field, "message": detail, "code": code}]
        super().__init__(detail, field=field, errors=errors, **kw)


class Invalid(RuleBroken):
    """The input does not have the right shape: one entry per bad field in `errors`."""

    def __init__(self, errors: list[dict[str, Any]], detail: str | None = None) -> None:
        super().__init__(detail or "One or more fields are not valid; see `errors`.", errors=errors)


class Busy(DomainError):
    """The thing kept changing while we worked on it; nothing inconsistent was written. Retry."""

    code = "busy"
    title = "Busy"

    def __init__(self, detail: str = "It is changing right now; retry.", **kw: Any) -> None:
        kw.setdefault("retry_after", 1)
        super().__init__(detail, **kw)


class TooManyRequests(DomainError):
    code = "rate-limited"
    title = "Too many requests"


class PreconditionFailed(DomainError):
    """If-Match named a version that is not the current one: someone changed it since the caller read it (412)."""

    code = "precondition-failed"
    title = "Changed since you read it"


class PreconditionRequired(DomainError):
    """A change that must name the version it was decided on (If-Match) came without one (428)."""

    code = "precondition-required"
    title = "If-Match required"


class Refused(RuleBroken):
    """A rule of a page's form refused the change: `reason` names which (the page says it in the person's language), `values`
    fill the page's sentence, and the problem's code is `<what>-<reason>`."""

    def __init__(self, what: str, reason: str, detail: str, *, field: str, **values: str) -> None:
        super().__init__(detail, field=field, code=f"{what}-{reason.replace('_', '-')}")
        self.reason = reason
        self.values = values
