"""The webhooks API's services: a partner's subscriptions, their secrets, test events, deliveries, and the events feed."""

from __future__ import annotations

import uuid

from shared import allowance, rate_limit
from shared.clock import utc_now
from shared.context import Context
from shared.errors import Conflict, NotFound, RuleBroken
from shared.events import EventRow
from shared.partner_auth import Caller
from shared.settings import get_settings
from shared.storage import ConcurrencyConflict, Op
from shared.uow import retrying
from webhooks import addresses, deliveries, feed
from webhooks.api_models import (
    DeliveryOut,
    DeliveryPage,
    FeedItem,
    FeedPage,
    FeedQuery,
    NewSubscription,
    SubscriptionChange,
    SubscriptionOut,
    SubscriptionPage,
    SubscriptionWithSecret,
    TestSent,
)
from webhooks.catalog import TEST, payload_of
from webhooks.subscriptions import TABLE, Subscription, SubscriptionRepository, new_subscription

MAX_SUBSCRIPTIONS = 10
SUBSCRIPTIONS = "subscriptions"  # the tally (shared.allowance) that holds MAX_SUBSCRIPTIONS
TESTS_PER_MINUTE = 2  # as Partner Center allows for its test-created event


def present(sub: Subscription) -> SubscriptionOut:
    until = sub.previous_secret_until if sub.previous_secret_until and sub.previous_secret_until > utc_now() else None
    return SubscriptionOut(id=sub.id, url=sub.url, events=sub.events, description=sub.description, enabled=sub.enabled,
                           created_at=sub.created_at, updated_at=sub.updated_at, failing_since=sub.failing_since,
                           last_success_at=sub.last_success_at, disabled_reason=sub.disabled_reason, previous_secret_valid_until=until)


def _with_secret(sub: Subscription, secret: str) -> SubscriptionWithSecret:
    return SubscriptionWithSecret(**present(sub).model_dump(), secret=secret)


def _checked_url(url: object) -> str:
    return addresses.check(str(url), allow_loopback=get_settings().webhooks_allow_loopback)  # AddressRefused: 400, field url


def _load(ctx: Context, caller: Caller, subscription_id: str) -> tuple[Subscription, str | None]:
    found = ctx.store(SubscriptionRepository).find(caller.partner_id, subscription_id)
    if found is None:
        raise NotFound("No such webhook subscription.")
    return found


def create(ctx: Context, caller: Caller, body: NewSubscription) -> SubscriptionWithSecret:
    url = _checked_url(body.url)
    repo = ctx.store(SubscriptionRepository)
    sub = new_subscription(caller.partner_id, url, body.events, body.description, ctx.now())

    def counted_in() -> None:
        # The limit and the insert in one transaction under the tally's ETag: 30 at once store at most 10.
        tally = allowance.admit(ctx, TABLE, f"s|{caller.partner_id}", SUBSCRIPTIONS, sub.id, limit=MAX_SUBSCRIPTIONS,
                                present=lambda: [s.id for s in repo.of_partner(caller.partner_id)], refusal=_too_many)
        repo.transact([Op("create", sub), tally])

    retrying(counted_in, busy="Other subscriptions were being added at the same time; retry.")
    return _with_secret(sub, sub.secret)


def _too_many() -> Conflict:
    return Conflict(f"A partner may have {MAX_SUBSCRIPTIONS} webhook subscriptions; delete one first.", code="too-many-subscriptions")


def list_all(ctx: Context, caller: Caller) -> SubscriptionPage:
    subs = sorted(ctx.store(SubscriptionRepository).of_partner(caller.partner_id), key=lambda s: s.created_at)
    return SubscriptionPage(items=[present(s) for s in subs])


def get(ctx: Context, caller: Caller, subscription_id: str) -> SubscriptionOut:
    return present(_load(ctx, caller, subscription_id)[0])


def update(ctx: Context, caller: Caller, subscription_id: str, change: SubscriptionChange) -> SubscriptionOut:
    sub, etag = _load(ctx, caller, subscription_id)
    if change.url is not None:
        sub.url = _checked_url(change.url)
    if change.events is not None:
        sub.events = sorted(set(change.events))
    if change.description is not None:
        sub.description = change.description
    if change.enabled is not None:
        sub.enabled = change.enabled
        if change.enabled:
            sub.disabled_reason, sub.failing_since = None, None  # a fresh start: its next failures count anew
    sub.updated_at = ctx.now()
    _replace(ctx, sub, etag)
    return present(sub)


def delete(ctx: Context, caller: Caller, subscription_id: str) -> None:
    _load(ctx, caller, subscription_id)
    partition = f"s|{caller.partner_id}"

    def uncounted() -> None:
        repo = ctx.store(SubscriptionRepository)
        tally = allowance.release(ctx, TABLE, partition, SUBSCRIPTIONS, subscription_id)
        gone = repo.find(caller.partner_id, subscription_id) is None  # deleted meanwhile: only the tally is left to mend
        repo.transact([*([] if gone else [Op("delete", keys=(partition, subscription_id))]), *([tally] if tally else [])])

    retrying(uncounted)


def rotate_secret(ctx: Context, caller: Caller, subscription_id: str) -> SubscriptionWithSecret:
    """A new secret; the old one keeps signing beside it for 24 hours (deliveries then carry both signatures)."""
    sub, etag = _load(ctx, caller, subscription_id)
    secret = sub.rotate(ctx.now())
    _replace(ctx, sub, etag)
    return _with_secret(sub, secret)


def _replace(ctx: Context, sub: Subscription, etag: str | None) -> None:
    try:
        ctx.store(SubscriptionRepository).transact([Op("update", sub, etag=etag)])
    except ConcurrencyConflict as exc:
        raise Conflict("The subscription changed meanwhile; read it again and retry.", code="changed") from exc


def send_test(ctx: Context, caller: Caller, subscription_id: str) -> TestSent:
    """A `test-created` event to this subscription now (2 a minute), delivered and retried like any other."""
    sub, _ = _load(ctx, caller, subscription_id)
    rate_limit.hit(ctx, f"webhook-test|{sub.id}", limit=TESTS_PER_MINUTE, window_seconds=60)
    now = ctx.now()
    row = EventRow(event_id=str(uuid.uuid4()), type=TEST, partner_id=caller.partner_id, occurred_at=now,
                   data={"subscriptionId": sub.id, "resource": f"webhooks/{sub.id}"})
    delivery = deliveries.new_delivery(sub, payload_of(row), now)
    repo = ctx.store(deliveries.DeliveryRepository)
    repo.insert(delivery)
    deliveries.attempt(ctx, caller.partner_id, sub.id, delivery.row_key)
    return TestSent(delivery=_delivery_out(repo.get(f"d|{sub.id}", delivery.row_key) or delivery))


def _delivery_out(d: deliveries.Delivery) -> DeliveryOut:
    return DeliveryOut.model_validate(d.model_dump(by_alias=True, exclude={"payload", "subscription_id", "partner_id"}))


def list_deliveries(ctx: Context, caller: Caller, subscription_id: str, page_size: int, token: str | None) -> DeliveryPage:
    _load(ctx, caller, subscription_id)
    try:
        page = ctx.store(deliveries.DeliveryRepository).page(subscription_id, page_size, token)
    except ValueError as exc:
        raise RuleBroken(str(exc), field="continuationToken", code="invalid") from exc
    return DeliveryPage(items=[_delivery_out(d) for d in page.items], continuation_token=page.continuation_token)


def read_feed(ctx: Context, caller: Caller, query: FeedQuery) -> FeedPage:
    """The partner's events after the cursor, oldest first (kept 30 days; the newest few seconds settle first)."""
    entries = feed.read(ctx, caller.partner_id, query.after, query.page_size, ctx.now())
    items = [FeedItem.model_validate({**event, "cursor": key}) for key, event in entries]
    return FeedPage(items=items, next_cursor=items[-1].cursor if items else query.after)

