"""Telemetry: a span per trigger invocation, business counters and log fields; exported only to Application Insights.

Nothing leaves the process unless APPLICATIONINSIGHTS_CONNECTION_STRING is set: without it the OpenTelemetry API's
no-op tracer and meter are used, and only the local log fields (invocation id, trace id) remain.

Personal data never reaches a span or a metric: attributes are keyword parameters of the functions below (an
unknown name is a TypeError), and each value must look like what its name promises (an id, a SHA-256 reference,
an enum word); anything else is dropped. Exception messages are not recorded either: they can quote input.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import re
import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger(__name__)

INSTRUMENTATION = "invitation-service"

COUNTERS = {
    "invitations.created": "Invitations stored: single, bulk, colleague and agreement invitations.",
    "invitations.emailed": "Invitation emails handed to the email service.",
    "invitations.email_failed": "Invitation emails given up on (reason: rejected, throttled, poisoned, not_queued).",
    "invitations.redeemed": "Invitations marked Accepted.",
    "invitations.expired": "Pending invitations the expiry sweep marked Expired.",
    "invitations.reminded": "Reminders the reminder timer claimed and queued (first claims and re-queued ones).",
    "notices.sent": "Attestation confirmations sent to the primary contact.",
    "emails.failed": "Queue messages given up on for good (kind: the message type), each also kept in FailedEmails.",
    "emails.reports": "Delivery reports received (reason: applied, unchanged, unknown, malformed).",
    "invitations.opened": "Invitations whose invitee first pressed sign-in or create-account on the link's page.",
    "invitations.delivered": "Invitation emails the mail service reported Delivered.",
    "invitations.delivery_failed": "Invitation emails that did not arrive (reason: Bounced, Quarantined, FilteredSpam, Suppressed, Failed).",
}

# What a value must look like to be attached; a name, an email or a token never does.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:|-]{0,127}")
_REFERENCE = re.compile(r"[0-9a-f]{64}")
_WORD = re.compile(r"[A-Za-z][A-Za-z_]{0,63}")
_SHAPES = {"partner.id": _ID, "customer.id": _ID, "invitation.reference": _REFERENCE, "invitation.kind": _WORD, "reason": _WORD}

_TRACER_PROVIDER: Any = None
_METER_PROVIDER: Any = None
_counters: dict[str, Any] = {}
_configured = False
_exporting = False

_invocation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("invocation_id", default=None)
_trace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)

F = TypeVar("F", bound=Callable[..., Any])


def configure(settings: Any) -> None:
    """Call once at start-up (function_app.py); a second call changes nothing."""
    global _configured, _exporting
    if _configured:
        return
    _configured = True
    _install_log_fields()
    if not settings.applicationinsights_connection_string:
        return
    # Imported here only: the distro is heavy, and a cold start without Application Insights should not pay for it.
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(
        connection_string=settings.applicationinsights_connection_string,
        # Every invocation, not the distro's rate-limited sample: traffic is low, and a traceId a partner quotes
        # from an error answer must lead to its trace.
        sampling_ratio=1.0,
        # Outgoing-call spans would carry request URLs, and table keys hold normalised emails
        # (company users, rate limits): the app's own spans say enough.
        instrumentation_options={name: {"enabled": False} for name in (
            "azure_sdk", "requests", "urllib", "urllib3", "httpx", "django", "fastapi", "flask", "psycopg2")},
    )
    _exporting = True


def use_providers(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Tests: record into these SDK providers (in-memory exporter and reader); None goes back to the global ones.

    They never become the process-wide providers, which OpenTelemetry lets a process set only once.
    """
    global _TRACER_PROVIDER, _METER_PROVIDER
    _TRACER_PROVIDER, _METER_PROVIDER = tracer_provider, meter_provider
    _counters.clear()
    _install_log_fields()


def is_exporting() -> bool:
    return _exporting


def _tracer() -> trace.Tracer:
    provider = _TRACER_PROVIDER or trace.get_tracer_provider()
    return provider.get_tracer(INSTRUMENTATION)


def _counter(name: str) -> Any:
    if name not in COUNTERS:
        raise ValueError(f"unknown counter {name!r}; the counters are {', '.join(COUNTERS)}")
    if name not in _counters:
        meter = (_METER_PROVIDER or metrics.get_meter_provider()).get_meter(INSTRUMENTATION)
        _counters[name] = meter.create_counter(name, unit="1", description=COUNTERS[name])
    return _counters[name]


def _clean(attrs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if value is None:
            continue
        value = str(value)
        if _SHAPES[key].fullmatch(value):
            out[key] = value
        else:
            # The key, never the value: the value may be exactly what must not be logged.
            log.warning("telemetry: a %s value that is not shaped like one was dropped", key)
    return out


# -- invocations ---------------------------------------------------------------------------------


@dataclass
class Invocation:
    """The running invocation: its span, ids, and the outcome the trigger reports."""

    span: Any
    invocation_id: str
    trace_id: str
    outcome: str = "ok"

    def http_status(self, status: int) -> None:
        self.span.set_attribute("http.response.status_code", status)
        self.outcome = "ok" if status < 400 else "rejected" if status < 500 else "error"
        if status >= 500:
            self.span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))


_TRIGGERS = {"http": SpanKind.SERVER, "pubsub": SpanKind.CONSUMER, "timer": SpanKind.INTERNAL}


@contextmanager
def invocation(name: str, *, trigger: str, invocation_id: str | None = None, traceparent: str | None = None,
               method: str | None = None, route: str | None = None) -> Iterator[Invocation]:
    """A span for one trigger invocation, current for its duration; logs inside carry its ids.

    `traceparent` (W3C) continues the caller's or the Functions host's trace. An exception is marked on the
    span as its type only, then re-raised.
    """
    parent = TraceContextTextMapPropagator().extract({"traceparent": traceparent}) if traceparent else None
    invocation_id = invocation_id or str(uuid.uuid4())
    attributes: dict[str, Any] = {"faas.trigger": trigger, "faas.invocation_id": invocation_id}
    if method:
        attributes["http.request.method"] = method
    if route:
        attributes["http.route"] = route
    # Exceptions are marked by hand below: the SDK's own recording would copy their messages.
    with _tracer().start_as_current_span(name, context=parent, kind=_TRIGGERS[trigger], attributes=attributes,
                                         record_exception=False, set_status_on_exception=False) as span:
        ctx = span.get_span_context()
        # A no-op tracer (nothing exported) has no trace of its own: one is made up so answers and logs still agree.
        trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else secrets.token_hex(16)
        current = Invocation(span, invocation_id, trace_id)
        tokens = (_invocation_id.set(invocation_id), _trace_id.set(trace_id))
        try:
            yield current
        except BaseException as exc:
            current.outcome = "error"
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.set_attribute("error.type", type(exc).__name__)
            raise
        finally:
            span.set_attribute("outcome", current.outcome)
            _invocation_id.reset(tokens[0])
            _trace_id.reset(tokens[1])


def traced(function: F) -> F:
    """Run a trigger function (HTTP, queue or timer) inside `invocation`, named after the function.

    The wrapper declares `context`, so the Functions worker passes its invocation id and the host's trace
    parent (the local host does the same); called directly, as in tests, it makes up an invocation id.
    """

    params = list(inspect.signature(function).parameters.values())
    passes_context = "context" in {p.name for p in params}

    @functools.wraps(function)
    def wrapper(*args: Any, context: Any = None, **kwargs: Any) -> Any:
        trigger_arg = args[0] if args else next(iter(kwargs.values()), None)
        trigger, method, route = _trigger_of(trigger_arg)
        trace_context = getattr(context, "trace_context", None)
        traceparent = getattr(trace_context, "Traceparent", None) or (
            getattr(trigger_arg, "headers", {}).get("traceparent") if trigger == "http" else None)
        with invocation(function.__name__.lstrip("_"), trigger=trigger, invocation_id=getattr(context, "invocation_id", None),
                        traceparent=traceparent, method=method, route=route) as current:
            result = function(*args, **kwargs, **({"context": context} if passes_context else {}))
            if trigger == "http" and hasattr(result, "status_code"):
                current.http_status(result.status_code)
            return result

    if not passes_context:
        import azure.functions as func

        params.append(inspect.Parameter("context", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=func.Context))
    # The worker reads the signature to decide what to pass: this one names `context` next to the trigger's own.
    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def _trigger_of(arg: Any) -> tuple[str, str | None, str | None]:
    if hasattr(arg, "method") and hasattr(arg, "url"):
        return "http", arg.method, _route(arg)
    if hasattr(arg, "dequeue_count") or hasattr(arg, "event_type"):  # a queue message, an Event Grid event
        return "pubsub", None, None
    return "timer", None, None


def _route(req: Any) -> str:
    """The route template (invitations/{id}), never the path: paths can hold a raw invitation id."""
    path = (req.url or "").split("?")[0]
    idx = path.find("/api/")
    segments = path[idx + 5:].split("/") if idx >= 0 else []
    by_value = {str(v): k for k, v in (req.route_params or {}).items()}
    return "/".join("{" + by_value[s] + "}" if s in by_value else s for s in segments)


# -- attributes and counters ---------------------------------------------------------------------


def annotate(*, partner_id: str | None = None, reference: str | None = None, customer_id: str | None = None,
             kind: str | None = None) -> None:
    """Attach what the invocation turned out to be about to its span (nothing happens outside one)."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attributes(_clean({"partner.id": partner_id, "invitation.reference": reference,
                                "customer.id": customer_id, "invitation.kind": kind}))


def count(name: str, n: int = 1, *, partner_id: str | None = None, kind: str | None = None, reason: str | None = None,
          reference: str | None = None, customer_id: str | None = None) -> None:
    """Add `n` to a counter of COUNTERS, by partner, kind and reason.

    `reference` and `customer_id` are too fine-grained for a metric: they go onto the current span instead.
    """
    if n <= 0:
        return
    _counter(name).add(n, _clean({"partner.id": partner_id, "invitation.kind": kind, "reason": reason}))
    annotate(partner_id=partner_id, reference=reference, customer_id=customer_id)


# -- ids for answers and logs --------------------------------------------------------------------


def current_trace_id() -> str:
    """The W3C trace id (32 hex) of the running invocation, or a fresh one outside any."""
    return _trace_id.get() or secrets.token_hex(16)


def current_invocation_id() -> str | None:
    return _invocation_id.get()


_factory_installed = False


def _install_log_fields() -> None:
    """Every log record inside an invocation carries `invocation_id` and `trace_id` as fields.

    A record factory rather than a handler filter: Azure Monitor adds its handler later, and fields of the
    record itself reach every handler (Azure Monitor maps them to customDimensions).
    """
    global _factory_installed
    if _factory_installed:
        return
    _factory_installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        invocation_id = _invocation_id.get()
        if invocation_id is not None:
            record.invocation_id = invocation_id
            record.trace_id = _trace_id.get()
        return record

    logging.setLogRecordFactory(factory)
