"""Delivering one event to one subscription: signed, at least once, retried with backoff for about a day.

A delivery row (`d|<subscriptionId>` / `<newest-first ticks>|<eventId>`) is created once per event and subscription
and records every attempt: count, last status code and error, next attempt, final state. An attempt is claimed by
updating that row under its ETag, so two copies of a queue message cannot both count (a receiver may still see an
event twice: at least once, deduplicated by `webhook-id`). Requests have short timeouts and never follow redirects;
the URL is checked again before each attempt (webhooks/addresses.py). A subscription whose deliveries have failed
for DISABLE_AFTER is disabled, with the reason where the partner reads it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field

from shared.audit import reverse_ticks
from shared.context import Context
from shared.settings import get_settings
from shared.storage import ConcurrencyConflict, Op, Page, Repository, Row
from webhooks import addresses
from webhooks.subscriptions import TABLE, Subscription, SubscriptionRepository, sign

log = logging.getLogger(__name__)

MESSAGE = "delivery"
# Seconds before each retry: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h: about 24 hours in all.
BACKOFF = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800)
DISABLE_AFTER = timedelta(days=3)
TIMEOUT = (3.0, 5.0)  # connect, read: a slow receiver must not hold a worker
MAX_ERROR = 300


class DeliveryStatus(StrEnum):
    PENDING = "Pending"
    DELIVERED = "Delivered"
    FAILED = "Failed"


class Delivery(Row):
    subscription_id: str = Field(validation_alias="subscriptionId", serialization_alias="subscriptionId")
    partner_id: str = Field(validation_alias="partnerId", serialization_alias="partnerId")
    event_id: str = Field(validation_alias="eventId", serialization_alias="eventId")
    event_type: str = Field(validation_alias="eventType", serialization_alias="eventType")
    occurred_at: datetime = Field(validation_alias="occurredAt", serialization_alias="occurredAt")
    payload: str
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    last_status_code: int | None = Field(default=None, validation_alias="lastStatusCode", serialization_alias="lastStatusCode")
    last_error: str | None = Field(default=None, validation_alias="lastError", serialization_alias="lastError")
    last_attempt_at: datetime | None = Field(default=None, validation_alias="lastAttemptAt", serialization_alias="lastAttemptAt")
    next_attempt_at: datetime | None = Field(default=None, validation_alias="nextAttemptAt", serialization_alias="nextAttemptAt")

    @property
    def row_key(self) -> str:
        return f"{reverse_ticks(self.occurred_at)}|{self.event_id}"


class DeliveryRepository(Repository[Delivery]):
    table = TABLE
    model = Delivery

    def keys(self, row: Delivery) -> tuple[str, str]:
        return f"d|{row.subscription_id}", row.row_key

    def page(self, subscription_id: str, page_size: int, token: str | None) -> Page[Delivery]:
        return self.query_page("PartitionKey eq @pk", {"pk": f"d|{subscription_id}"}, page_size=page_size, continuation_token=token)


def message(d: Delivery) -> dict[str, str]:
    return {"type": MESSAGE, "partnerId": d.partner_id, "subscriptionId": d.subscription_id, "rowKey": d.row_key}


def post(sub: Subscription, event_id: str, body: str, now: datetime) -> tuple[int | None, str | None]:
    """One signed POST; (status code, error). 2xx is success; a redirect is a failure (never followed)."""
    try:
        target = addresses.target(sub.url, allow_loopback=get_settings().webhooks_allow_loopback)
    except addresses.AddressRefused as refused:
        return None, str(refused)
    import urllib3  # loaded by the delivery function only (cold start)

    try:
        status = _send(target, body.encode(), sign(sub, event_id, now, body))
    except urllib3.exceptions.HTTPError as exc:
        return None, f"{type(exc).__name__}: could not reach the endpoint"
    if 200 <= status < 300:
        return status, None
    if 300 <= status < 400:
        return status, "redirects are not followed; register the final URL"
    return status, f"the endpoint answered {status}"


def _send(target: addresses.Target, body: bytes, headers: dict[str, str]) -> int:
    """POST to the address the check passed, not to whatever the name resolves to now; TLS still checks the name."""
    import urllib3

    timeout = urllib3.Timeout(connect=TIMEOUT[0], read=TIMEOUT[1])
    if target.scheme == "https":
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            target.address, target.port, timeout=timeout, retries=False, cert_reqs="CERT_REQUIRED", ca_certs=_ca_bundle(),
            server_hostname=target.host, assert_hostname=target.host)
    else:  # plain http: loopback only (the local inbox), never anywhere else
        pool = urllib3.HTTPConnectionPool(target.address, target.port, timeout=timeout, retries=False)
    default_port = 443 if target.scheme == "https" else 80
    host = target.host if target.port == default_port else f"{target.host}:{target.port}"
    with pool:
        resp = pool.urlopen("POST", target.path, body=body, headers={**headers, "Host": host},
                            redirect=False, retries=False, preload_content=False)
        status = resp.status
        resp.close()  # the answer's body is never read: a huge or dripping one must not hold a worker
        return status


def _ca_bundle() -> str:
    import certifi

    return get_settings().tls_ca_bundle or certifi.where()


def attempt(ctx: Context, partner_id: str, subscription_id: str, row_key: str) -> str:
    """Make the next attempt of one delivery (a queue message, or the first try at publish). Returns what happened."""
    repo = ctx.store(DeliveryRepository)
    delivery = repo.get(f"d|{subscription_id}", row_key)
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return "settled"
    subs = ctx.store(SubscriptionRepository)
    found = subs.find(partner_id, subscription_id)
    now = ctx.now()
    if found is None or not found[0].enabled:
        delivery.status, delivery.last_error = DeliveryStatus.FAILED, "the subscription was deleted or disabled"
        _save(repo, delivery)
        return "dropped"
    sub, sub_etag = found
    code, error = post(sub, delivery.event_id, delivery.payload, now)
    delivery.attempts += 1
    delivery.last_status_code, delivery.last_error, delivery.last_attempt_at = code, error[:MAX_ERROR] if error else None, now
    if error is None:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.DELIVERED, None
    elif delivery.attempts > len(BACKOFF):
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
    else:
        delivery.next_attempt_at = now + timedelta(seconds=BACKOFF[delivery.attempts - 1])
    if not _save(repo, delivery):
        return "raced"  # another copy of this message recorded its attempt
    if delivery.status == DeliveryStatus.PENDING:
        ctx.send_message(ctx.settings.webhooks_queue, message(delivery), delay_seconds=BACKOFF[delivery.attempts - 1])
    _health(subs, sub, sub_etag, ok=error is None, now=now)
    return delivery.status.value.lower()


POISONED = "Delivery kept failing on the platform's side (its retry message was given up on); see the service logs."


def give_up(ctx: Context, subscription_id: str, row_key: str) -> bool:
    """A delivery whose queue message failed for good (poisoned): Failed, with the reason where the partner reads it.

    Without this the row would stay Pending with a next attempt nobody makes. The partner still has the event in
    the feed (GET /api/events). Returns whether this call marked it (False: settled already, or changed meanwhile).
    """
    repo = ctx.store(DeliveryRepository)
    delivery = repo.get(f"d|{subscription_id}", row_key)
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return False
    delivery.status, delivery.next_attempt_at, delivery.last_error = DeliveryStatus.FAILED, None, POISONED
    return _save(repo, delivery)


def _save(repo: DeliveryRepository, d: Delivery) -> bool:
    try:
        repo.replace(d)
        return True
    except ConcurrencyConflict:
        return False


def _health(subs: SubscriptionRepository, sub: Subscription, etag: str | None, *, ok: bool, now: datetime) -> None:
    """Remember since when a subscription fails; disable it after DISABLE_AFTER of nothing but failures."""
    if ok:
        if sub.failing_since is None and sub.last_success_at and now - sub.last_success_at < timedelta(minutes=5):
            return  # healthy and recently said so: spare a write per delivery
        sub.failing_since, sub.last_success_at = None, now
    elif sub.failing_since is None:
        sub.failing_since = now
    elif now - sub.failing_since >= DISABLE_AFTER:
        sub.enabled = False
        sub.disabled_reason = (f"Disabled at {now.isoformat()}: every delivery since {sub.failing_since.isoformat()} failed "
                               f"(last: {sub.url}). Fix the endpoint, then enable the subscription again.")
        log.warning("webhook subscription %s of %s disabled after failing since %s", sub.id, sub.partner_id, sub.failing_since)
    else:
        return
    try:
        subs.transact([Op("update", sub, etag=etag)])
    except ConcurrencyConflict:
        pass  # changed meanwhile (by the partner, or another delivery's note): the next delivery says it again


def new_delivery(sub: Subscription, event: dict[str, Any], occurred_at: datetime) -> Delivery:
    return Delivery(subscription_id=sub.id, partner_id=sub.partner_id, event_id=event["id"], event_type=event["type"],
                    occurred_at=occurred_at, payload=json.dumps(event, separators=(",", ":")))
