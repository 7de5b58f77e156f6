"""The app's queues as its queue-triggered functions see them: the JSON payloads the app queued, taken off (received and
deleted), received only (hidden for the visibility timeout, as while a function runs), or delivered as the email function
does (deliver, then delete)."""

from __future__ import annotations

import base64
import json
from typing import Any

from notifications import queue as email_queue
from notifications.sender import EmailSender
from shared.storage import Storage
from tests.support.context import ctx_of


def payload_of(message: Any) -> dict[str, Any]:
    return json.loads(base64.b64decode(message.content))


def take(storage: Storage, queue: str) -> list[dict[str, Any]]:
    """Every payload waiting on `queue` (up to 32), taken off it."""
    q = storage.queue(queue)
    out = []
    for m in q.receive_messages(max_messages=32, visibility_timeout=30):
        out.append(payload_of(m))
        q.delete_message(m)
    return out


def receive(storage: Storage, queue: str) -> list[dict[str, Any]]:
    """Every payload waiting on `queue` (up to 32), left on it but out of sight for the visibility timeout."""
    return [payload_of(m) for m in storage.queue(queue).receive_messages(messages_per_page=32)]


def deliver_all(storage: Storage, queue: str, sender: EmailSender) -> list[dict[str, Any]]:
    """What the email queue's function does with every waiting message: deliver it, then delete it. The payloads."""
    q = storage.queue(queue)
    out = []
    for m in q.receive_messages(max_messages=32, visibility_timeout=30):
        out.append(payload_of(m))
        email_queue.deliver(ctx_of(storage), sender, out[-1])
        q.delete_message(m)
    return out
