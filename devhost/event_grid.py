"""The Functions host's Event Grid webhook, as the local host serves it: what Azure's host does with each request.

Azure serves every Event Grid–triggered function at `/runtime/webhooks/eventgrid?functionName=<name>` behind the
`eventgrid_extension` system key (or the master key), in the `code` query parameter or the `x-functions-key` header.
Event Grid schema: the `aeg-event-type` header says `SubscriptionValidation` (answered with the validation code),
`Notification` (a JSON array of events, each passed to the function) or `Unsubscribe`. CloudEvents 1.0: validation is
an HTTP OPTIONS with `WebHook-Request-Origin` (answered with `WebHook-Allowed-Origin`), events come one per request
(`application/cloudevents+json`) or as a batch array. A function that raises answers 500, so Event Grid retries.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import azure.functions as func

EVENT_GRID_PATH = "/runtime/webhooks/eventgrid"
SYSTEM_KEY = "eventgrid_extension"
VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"

Answer = tuple[int, list[tuple[str, str]], bytes]
Invoke = Callable[[str, func.EventGridEvent], None]


class Malformed(ValueError):
    """The body is not an event (or a list of them) in either schema."""


def _text(status: int, text: str = "") -> Answer:
    return status, [("Content-Type", "text/plain")], text.encode()


def answer(method: str, headers: dict[str, str], query: dict[str, str], body: bytes, *, key_ok: bool,
           functions: set[str], invoke: Invoke) -> Answer:
    """The host's answer to one request on the Event Grid webhook; `invoke(name, event)` runs the function."""
    if not key_ok:
        return _text(401)  # as Azure: a missing or wrong system key, before anything else
    name = next((f for f in functions if f.lower() == (query.get("functionName") or "").lower()), None)
    if name is None:
        return _text(404, f"No Event Grid function named {query.get('functionName')!r}.")
    if method == "OPTIONS":
        origin = headers.get("webhook-request-origin")
        if not origin:
            return _text(400, "WebHook-Request-Origin is required.")
        return 200, [("WebHook-Allowed-Origin", origin), ("WebHook-Allowed-Rate", "*"), ("Content-Length", "0")], b""
    if method != "POST":
        return _text(405)
    kind = (headers.get("aeg-event-type") or "").lower()
    if kind == "unsubscribe":
        return _text(202)
    try:
        payload = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        return _text(400, "The body is not JSON.")
    if kind == "subscriptionvalidation":
        code = _validation_code(payload)
        if code is None:
            return _text(400, "No validation code in the SubscriptionValidation event.")
        return 200, [("Content-Type", "application/json")], json.dumps({"validationResponse": code}).encode()
    if kind != "notification" and not _is_cloud_event_request(headers):
        return _text(400, "aeg-event-type must be Notification, SubscriptionValidation or Unsubscribe.")
    try:
        events = [to_event(e) for e in (payload if isinstance(payload, list) else [payload])]
    except Malformed as exc:
        return _text(400, str(exc))
    if not events:
        return _text(400, "No events.")
    for event in events:
        try:
            invoke(name, event)
        except Exception:  # the function failed: Event Grid retries the whole delivery
            return _text(500)
    return _text(200)


def _is_cloud_event_request(headers: dict[str, str]) -> bool:
    return (headers.get("content-type") or "").lower().startswith(("application/cloudevents", "application/cloudevents-batch"))


def _validation_code(payload: Any) -> str | None:
    for event in payload if isinstance(payload, list) else [payload]:
        if isinstance(event, dict) and event.get("eventType") == VALIDATION_EVENT and isinstance(event.get("data"), dict):
            code = event["data"].get("validationCode")
            if isinstance(code, str) and code:
                return code
    return None


def to_event(raw: Any) -> func.EventGridEvent:
    """One event of either schema as the Python worker hands it to the function (`func.EventGridEvent`)."""
    if not isinstance(raw, dict):
        raise Malformed("An event must be a JSON object.")
    cloud = "specversion" in raw
    fields = ("id", "type", "source") if cloud else ("id", "eventType", "subject", "eventTime", "dataVersion")
    missing = [f for f in fields if not isinstance(raw.get(f), str) or (f in ("id", "type", "eventType") and not raw[f])]
    if missing:
        raise Malformed(f"The event lacks {', '.join(missing)}.")
    when = raw.get("time" if cloud else "eventTime")
    try:
        event_time = datetime.fromisoformat(str(when).replace("Z", "+00:00")) if when else None
    except ValueError:
        raise Malformed(f"The event's time {when!r} is not a time.") from None
    return func.EventGridEvent(
        id=raw["id"], data=raw.get("data"),  # type: ignore[arg-type]
        topic=str(raw.get("source") if cloud else raw.get("topic") or ""),
        subject=str(raw.get("subject") or ""), event_type=raw["type"] if cloud else raw["eventType"],
        event_time=event_time, data_version=str(raw.get("dataschema") or "") if cloud else raw["dataVersion"],
    )
