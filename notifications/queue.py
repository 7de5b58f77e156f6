"""The one email queue: every email the app sends passes through it, whatever feature asked for it.

A message is JSON with a `type`. Ready-made emails (`type: email`) are sent as they are; other types are
handled by the feature that queued them, which registers its handler here (`handles`): an invitation email
must be checked against its invitation and its delivery recorded there, which only the invitations know.

Nothing fails quietly: a message that fails for good (poisoned after five attempts, throttled more than
EMAIL_MAX_ATTEMPTS times, rejected, of an unknown type) is recorded by its feature where partners read it, and
always in the `FailedEmails` table (type, operation id, reason; no addresses or content) and the logs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import Field

from notifications.sender import EmailMessage, EmailRejected, EmailSender, EmailThrottled
from shared import telemetry
from shared.audit import reverse_ticks
from shared.context import Context
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
    """Keep a trace of a message that failed for good (its feature records it where partners read it, too)."""
    kind = str(payload.get("type"))
    log.error("email message of type %s (operation %s) failed for good: %s", kind, payload.get("operationId"), reason)
    telemetry.count("emails.failed", kind=(kind if kind in _handlers else "unknown").replace("-", "_"))
    try:
        ctx.store(_FailedEmails).insert(FailedEmail(kind=kind[:64], operation_id=str(payload.get("operationId") or "")[:64],
                                                  reason=reason[:500], failed_at=ctx.now()))
    except StorageUnavailable:
        log.error("could not record the failed message either; the log line above is its trace")


_handlers: dict[str, Handler] = {}
_poison_handlers: dict[str, PoisonHandler] = {}


def handles(kind: str, on_poison: PoisonHandler | None = None) -> Callable[[Handler], Handler]:
    """Register the handler of a message type (and what to record when such a message is poisoned)."""

    def register(handler: Handler) -> Handler:
        _handlers[kind] = handler
        if on_poison is not None:
            _poison_handlers[kind] = on_poison
        return handler

    return register


def send(ctx: Context, payload: dict[str, Any], *, delay_seconds: int = 0) -> None:
    ctx.send_message(ctx.settings.email_queue, payload, delay_seconds=delay_seconds)


def queue_plain_email(ctx: Context, message: EmailMessage, operation: str) -> None:
    """Queue a rendered email; `operation` identifies it, so a repeated send is recognised as the same one."""
    send(ctx, {"type": "email", "operationId": operation, "message": message.__dict__})


def deliver(ctx: Context, sender: EmailSender, payload: dict[str, Any]) -> dict[str, int]:
    """Handle one queue message. Returns counts by outcome (logged by the trigger)."""
    kind = payload.get("type")
    if payload.get("outbox"):
        # New events announced with this email (their change saved a request by not queueing its own message):
        # forwarded first and once; a throttled email is re-queued without them.
        ctx.announce([tuple(p) for p in payload.pop("outbox")])  # type: ignore[misc]
    handler = _handlers.get(str(kind))
    if handler is None:
        record_failure(ctx, payload, "unknown message type; dropped")
        return {"dropped": 1}
    return handler(ctx, sender, payload)


def poisoned(ctx: Context, payload: dict[str, Any]) -> int:
    """A message that failed five times: let its feature record it, and keep its trace. Returns how many records say so."""
    handler = _poison_handlers.get(str(payload.get("type")))
    marked = handler(ctx, payload) if handler is not None else 0
    record_failure(ctx, payload, "delivery failed five times (poisoned)")
    return marked


@handles("email")
def _deliver_plain(ctx: Context, sender: EmailSender, payload: dict[str, Any]) -> dict[str, int]:
    message = EmailMessage(**payload["message"])
    attempt = int(payload.get("attempt", 1))
    try:
        sender.send(message, payload["operationId"])
    except EmailThrottled as throttled:
        if attempt >= ctx.settings.email_max_attempts:
            record_failure(ctx, payload, f"throttled by the email service {attempt} times")
            return {"failed": 1}
        send(ctx, {**payload, "attempt": attempt + 1}, delay_seconds=max(1, min(throttled.retry_after_seconds, 3600)))
        return {"requeued": 1}
    except EmailRejected as rejected:
        record_failure(ctx, payload, f"rejected by the email service: {rejected}")
        return {"failed": 1}
    return {"sent": 1}
