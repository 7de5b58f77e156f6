"""The one email queue and the one delivery mechanism: every email the app sends passes through it.

A message is JSON with a `type`. Each kind of email registers an `EmailKind` here (`register`), supplying only what is
its own: what to claim before a send (and the message to send) and where to record what became of it. Everything else
is this mechanism's, the same for every kind: sending, throttling (the message goes back on the queue behind the
service's `Retry-After`, never slept on), counting attempts, giving up after EMAIL_MAX_ATTEMPTS, poison, and the
visible failure record. Ready-made emails (`type: email`) are a kind like the others, with nothing to claim or record.
Other message types (jobs that are not emails, like the resend request) register a plain handler (`handles`).
A kind whose module loads on first use (not at a cold start) is named at start with `shared.lazy.provided_by(register,
...)`: the mechanism imports it before it first needs every kind, so a fresh instance misses none.

Attempts are counted in the message, per item (a requeued message carries each item's count); a kind whose record
counts its claims (an invitation, whose redelivered message claims again) reports that count and the larger decides.

Nothing fails quietly: a message that fails for good (poisoned after five attempts, throttled too often, rejected, of
an unknown type) is recorded by its kind where partners read it, and always in the `FailedEmails` table (type,
operation id, reason; no addresses or content) and the logs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import Field

from notifications import reports
from notifications.sender import EmailBounced, EmailMessage, EmailRejected, EmailSender, EmailThrottled
from shared import telemetry
from shared.audit import reverse_ticks
from shared.context import Context
from shared.lazy import providers_of
from shared.storage import Repository, Row, StorageUnavailable

log = logging.getLogger(__name__)

Handler = Callable[[Context, EmailSender, dict[str, Any]], dict[str, int]]
PoisonHandler = Callable[[Context, dict[str, Any]], int]


class FailedEmail(Row):
    """A message that failed for good: enough to find it in the logs and traces, nothing personal."""

    kind: str
    operation_id: str = Field(default="", validation_alias="operationId", serialization_alias="operationId")
    reason: str
    failed_at: datetime = Field(validation_alias="failedAt", serialization_alias="failedAt")
    row: str = Field(default_factory=lambda: uuid.uuid4().hex)


class _FailedEmails(Repository[FailedEmail]):
    table = "FailedEmails"
    model = FailedEmail

    def keys(self, row: FailedEmail) -> tuple[str, str]:
        return row.failed_at.strftime("%Y-%m"), f"{reverse_ticks(row.failed_at)}|{row.row}"


def record_failure(ctx: Context, payload: dict[str, Any], reason: str) -> None:
    """Keep a trace of a message that failed for good (its kind records it where partners read it, too)."""
    kind = str(payload.get("type"))
    log.error("email message of type %s (operation %s) failed for good: %s", kind, payload.get("operationId"), reason)
    known = kind in _handlers or kind in _kinds
    telemetry.count("emails.failed", kind=(kind if known else "unknown").replace("-", "_"))
    try:
        ctx.store(_FailedEmails).insert(FailedEmail(kind=kind[:64], operation_id=str(payload.get("operationId") or "")[:64],
                                                  reason=reason[:500], failed_at=ctx.now()))
    except StorageUnavailable:
        log.error("could not record the failed message either; the log line above is its trace")


# -- what a kind of email supplies ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Claimed:
    """An email a kind took for sending: the message, and how many sends its own record has counted (0: none kept)."""

    message: EmailMessage
    recorded_attempts: int = 0
    subject: Any = None  # whatever the kind wants back in `record` (the claimed entity), untouched here


# What became of one claimed send. `Requeued`: throttled, back on the queue; `Sent`; `Failed` for good.
REQUEUED, SENT, FAILED = "Requeued", "Sent", "Failed"


@dataclass(frozen=True)
class Outcome:
    """What became of one email message."""

    state: str  # REQUEUED, SENT or FAILED
    at: datetime
    reason: str | None = None  # why it failed, in words partners read
    cause: str | None = None  # "throttled", "rejected", "unsendable", "poisoned": for counters
    operation_id: str = ""
    subject: Any = None  # the kind's claimed entity (None when poisoned: nothing was claimed)


class EmailKind:
    """One kind of email: what to claim and what to record. The defaults suit a ready-made email (nothing of either)."""

    kind: str = ""

    def claim(self, ctx: Context, item: dict[str, Any]) -> Claimed | str | None:
        """Take this item's send. None: not this message's to send (sent already, superseded): skipped.
        A string: it cannot be sent, for that reason (recorded as failed)."""
        return Claimed(EmailMessage(**item["message"]))

    def record(self, ctx: Context, item: dict[str, Any], outcome: Outcome) -> bool:
        """Record what became of the send where partners read it; True when a record changed."""
        return False

    def where(self, item: dict[str, Any]) -> dict[str, str]:
        """The keys of the kind's record of this email, kept with the send so that its delivery report finds it."""
        return {}

    def report(self, ctx: Context, where: dict[str, str], operation_id: str, detail: reports.StatusDetail) -> bool:
        """Record a delivery report (newer than what the record holds: `reports.supersedes`); True when it changed."""
        return False


_handlers: dict[str, Handler] = {}
_poison_handlers: dict[str, PoisonHandler] = {}
_kinds: dict[str, EmailKind] = {}


def register(kind: EmailKind) -> EmailKind:
    """Register a kind of email: its messages are delivered by this mechanism."""
    _kinds[kind.kind] = kind
    return kind


def handles(kind: str, on_poison: PoisonHandler | None = None) -> Callable[[Handler], Handler]:
    """Register the handler of a message type that is not an email (and what to record when it is poisoned)."""

    def register_handler(handler: Handler) -> Handler:
        _handlers[kind] = handler
        if on_poison is not None:
            _poison_handlers[kind] = on_poison
        return handler

    return register_handler


def _every_kind() -> dict[str, EmailKind]:
    """Every kind and handler, the modules named for `register` loaded first (shared.lazy.provided_by)."""
    providers_of(register)
    return _kinds


def send(ctx: Context, payload: dict[str, Any], *, delay_seconds: int = 0) -> None:
    ctx.send_message(ctx.settings.email_queue, payload, delay_seconds=delay_seconds)


def queue_plain_email(ctx: Context, message: EmailMessage, operation: str) -> None:
    """Queue a rendered email; `operation` identifies it, so a repeated send is recognised as the same one."""
    send(ctx, {"type": "email", "operationId": operation, "message": message.__dict__})


def deliver(ctx: Context, sender: EmailSender, payload: dict[str, Any]) -> dict[str, int]:
    """Handle one queue message. Returns counts by outcome (logged by the trigger)."""
    kind = str(payload.get("type"))
    _every_kind()
    if payload.get("outbox"):
        # New events announced with this email (their change saved a request by not queueing its own message):
        # forwarded first and once; a throttled email is re-queued without them.
        ctx.announce([tuple(p) for p in payload.pop("outbox")])  # type: ignore[misc]
    if kind in _kinds:
        return _deliver(ctx, sender, _kinds[kind], payload)
    handler = _handlers.get(kind)
    if handler is None:
        record_failure(ctx, payload, "unknown message type; dropped")
        return {"dropped": 1}
    return handler(ctx, sender, payload)


def poisoned(ctx: Context, payload: dict[str, Any]) -> int:
    """A message that failed five times: let its kind record it, and keep its trace. Returns how many records say so."""
    kind = str(payload.get("type"))
    _every_kind()
    marked = 0
    if kind in _kinds:
        outcome = Outcome(FAILED, ctx.now(), "Delivery failed repeatedly; see the service logs, then resend.", "poisoned")
        for item in _items(payload):
            marked += _kinds[kind].record(ctx, item, _with_operation(outcome, item))
    elif kind in _poison_handlers:
        marked = _poison_handlers[kind](ctx, payload)
    record_failure(ctx, payload, "delivery failed five times (poisoned)")
    return marked


# -- the mechanism ----------------------------------------------------------------------------------------------
def _items(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """A message carries several emails (`items`) or is one itself."""
    return payload["items"] if "items" in payload else [payload]


def _with_operation(outcome: Outcome, item: dict[str, Any], subject: Any = None) -> Outcome:
    return Outcome(outcome.state, outcome.at, outcome.reason, outcome.cause, str(item.get("operationId") or ""), subject)


def _deliver(ctx: Context, sender: EmailSender, kind: EmailKind, payload: dict[str, Any]) -> dict[str, int]:
    """Send each item once; throttling puts the rest back on the queue behind the service's Retry-After."""
    several = "items" in payload
    items = _items(payload)
    counts = {"sent": 0, "skipped": 0, "failed": 0, "requeued": 0}
    max_attempts = ctx.settings.email_max_attempts
    for index, item in enumerate(items):
        tried = int(item.get("attempt", payload.get("attempt", 1)))
        claimed = kind.claim(ctx, item)
        if claimed is None:
            counts["skipped"] += 1
            continue
        if isinstance(claimed, str):
            _fail(ctx, kind, payload, item, claimed, "unsendable", None)
            counts["failed"] += 1
            continue
        operation = str(item["operationId"])
        # Tracked before the send: a report can come back faster than this function records the send.
        reports.track(ctx, kind.kind, operation, kind.where(item))
        # Sent "at" the moment it was handed over: its delivery report's time (the mail service's) is always later, so
        # a trail never shows an email delivered before it was emailed (the send itself returns after the report's time).
        handed_at = ctx.now()
        try:
            sender.send(claimed.message, operation)
        except EmailThrottled as throttled:
            attempts = max(tried, claimed.recorded_attempts)
            if attempts >= max_attempts:
                _fail(ctx, kind, payload, item, f"Throttled by the email service {attempts} times; resend later.",
                      "throttled", claimed.subject)
                counts["failed"] += 1
                continue
            kind.record(ctx, item, Outcome(REQUEUED, ctx.now(), operation_id=operation, subject=claimed.subject))
            rest = [{**item, "attempt": tried + 1}] + [{**later, "attempt": int(later.get("attempt", payload.get("attempt", 1)))}
                                                        for later in items[index + 1:]]
            again = {**{k: v for k, v in payload.items() if k not in ("items", "outbox")}, "items": rest} if several else rest[0]
            send(ctx, again, delay_seconds=max(1, min(throttled.retry_after_seconds, 3600)))
            counts["requeued"] += len(rest)
            break
        except EmailBounced as bounced:
            # Refused at send time (an SMTP 5xx for the recipient): a bounce, reported as the service would.
            _fail(ctx, kind, payload, item, f"Bounced: {bounced}", "bounced", claimed.subject)
            counts["failed"] += 1
            continue
        except EmailRejected as rejected:
            _fail(ctx, kind, payload, item, f"Rejected by the email service: {rejected}", "rejected", claimed.subject)
            counts["failed"] += 1
            continue
        kind.record(ctx, item, Outcome(SENT, handed_at, operation_id=operation, subject=claimed.subject))
        counts["sent"] += 1
    return counts if several else {k: v for k, v in counts.items() if v}


def receive_report(ctx: Context, event_type: str, data: Any) -> str:
    """One Event Grid event from the mail service: its delivery report applied to the email it names.

    "ignored" (not a delivery report, or an `Expanded` list), "malformed", "unknown" (no such email; dropped), or what
    `reports.apply` says. Only a ctx outage raises: Event Grid then delivers the event again.
    """
    if event_type != reports.EVENT_TYPE:
        return "ignored"
    try:
        report = reports.read_report(data)
    except reports.BadReport as exc:
        log.warning("a delivery report that cannot be read was dropped: %s", exc)
        telemetry.count("emails.reports", reason="malformed")
        return "malformed"
    if report.status == reports.DeliveryStatus.EXPANDED:
        return "ignored"
    return reports.apply(ctx, report, _every_kind())


def _fail(ctx: Context, kind: EmailKind, payload: dict[str, Any], item: dict[str, Any], reason: str, cause: str,
          subject: Any) -> None:
    """Failed for good: the kind records it where partners read it; the trace is kept for every kind."""
    kind.record(ctx, item, Outcome(FAILED, ctx.now(), reason, cause, str(item.get("operationId") or ""), subject))
    record_failure(ctx, {"type": payload.get("type"), "operationId": item.get("operationId")},
                   f"given up: {reason[:1].lower()}{reason[1:]}")


class _PlainEmail(EmailKind):
    """A ready-made email: nothing to claim, nothing to record beyond the failure trace."""

    kind = "email"


register(_PlainEmail())
