"""The one email queue: every email the app sends passes through it, whatever feature asked for it.

A message is JSON with a `type`. Ready-made emails (`type: email`) are sent as they are; other types are
handled by the feature that queued them, which registers its handler here (`handles`): an invitation email
must be checked against its invitation and its delivery recorded there, which only the invitations know.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from notifications.sender import EmailMessage, EmailRejected, EmailSender, EmailThrottled
from shared import events
from shared.settings import get_settings
from shared.storage import Storage

log = logging.getLogger(__name__)

Handler = Callable[[Storage, EmailSender, dict[str, Any]], dict[str, int]]
PoisonHandler = Callable[[Storage, dict[str, Any]], int]

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


def send(storage: Storage, payload: dict[str, Any], *, delay_seconds: int = 0) -> None:
    storage.send_message(get_settings().email_queue, payload, delay_seconds=delay_seconds)


def queue_plain_email(storage: Storage, message: EmailMessage, operation: str) -> None:
    """Queue a rendered email; `operation` identifies it, so a repeated send is recognised as the same one."""
    send(storage, {"type": "email", "operationId": operation, "message": message.__dict__})


def deliver(storage: Storage, sender: EmailSender, payload: dict[str, Any]) -> dict[str, int]:
    """Handle one queue message. Returns counts by outcome (logged by the trigger)."""
    kind = payload.get("type")
    if payload.get("outbox"):
        # New events announced with this email (their change saved a request by not queueing its own message):
        # forwarded first and once; a throttled email is re-queued without them.
        events.announce(storage, [tuple(p) for p in payload.pop("outbox")])  # type: ignore[misc]
    handler = _handlers.get(str(kind))
    if handler is None:
        log.error("unknown message type %r dropped", kind)
        return {"dropped": 1}
    return handler(storage, sender, payload)


def poisoned(storage: Storage, payload: dict[str, Any]) -> int:
    """A message that failed five times: let its feature record it. Returns how many records say so."""
    handler = _poison_handlers.get(str(payload.get("type")))
    return handler(storage, payload) if handler is not None else 0


@handles("email")
def _deliver_plain(storage: Storage, sender: EmailSender, payload: dict[str, Any]) -> dict[str, int]:
    message = EmailMessage(**payload["message"])
    try:
        sender.send(message, payload["operationId"])
    except EmailThrottled as throttled:
        send(storage, payload, delay_seconds=max(1, throttled.retry_after_seconds))
        return {"requeued": 1}
    except EmailRejected:
        log.error("email %s rejected", payload["operationId"])
        return {"failed": 1}
    return {"sent": 1}
