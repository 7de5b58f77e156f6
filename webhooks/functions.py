"""Trigger functions of webhooks: the subscriptions API, the events feed, the queue that publishes and delivers, the sweep."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import azure.functions as func

from shared import events, telemetry
from shared.authorization import Action, runs_as
from shared.context import request_context
from shared.endpoints import Call, Reply, endpoint
from shared.lazy import on_first_use

if TYPE_CHECKING:
    from partners import registry
    from webhooks import deliveries, feed, publish, service
    from webhooks.api_models import (
        DeliveryPage,
        FeedPage,
        SubscriptionOut,
        SubscriptionPage,
        SubscriptionWithSecret,
        TestSent,
    )
else:  # this feature's route modules, imported on a route's first call (cold start: shared/lazy.py)
    deliveries, feed, publish, service, registry = on_first_use(
        "webhooks.deliveries", "webhooks.feed", "webhooks.publish", "webhooks.service", "partners.registry")

log = logging.getLogger(__name__)

bp = func.Blueprint()

TAG = "Webhooks"
EVENTS_TAG = "Events"
WRITE = (400, 401, 403, 404, 409, 422)
READ = (401, 403, 404)
SIGNED = ("Deliveries are signed as Standard Webhooks: `webhook-id` (the event id, stable across retries), `webhook-timestamp`, "
          "`webhook-signature` (`v1,<base64 HMAC-SHA256>` of `id.timestamp.body`; two during a secret rotation). Verify with "
          "a standardwebhooks library and refuse timestamps older than 5 minutes. Answer 2xx within 5 seconds; anything else "
          "is retried with backoff for about a day (5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h), then the "
          "delivery is Failed. Redirects are not followed. A subscription failing for 3 days is disabled.")


@endpoint(bp, "webhooks", "POST", action=Action.MANAGE_WEBHOOKS,
          summary="Subscribe to events", tag=TAG, body="webhooks.api_models:NewSubscription", response="webhooks.api_models:SubscriptionWithSecret",
          status=201, problems=WRITE, description="Events are POSTed to the https URL. The signing secret is in this answer only. " + SIGNED)
def create_subscription(call: Call) -> SubscriptionWithSecret:
    return service.create(call.ctx, call.partner, call.body)  # type: ignore[arg-type]


@endpoint(bp, "webhooks", "GET", action=Action.MANAGE_WEBHOOKS,
          summary="The partner's webhook subscriptions", tag=TAG, response="webhooks.api_models:SubscriptionPage", problems=READ)
def list_subscriptions(call: Call) -> SubscriptionPage:
    return service.list_all(call.ctx, call.partner)  # type: ignore[arg-type]


@endpoint(bp, "webhooks/{id}", "GET", action=Action.MANAGE_WEBHOOKS,
          summary="Read a subscription", tag=TAG, response="webhooks.api_models:SubscriptionOut", problems=READ,
          description="`disabledReason` says why a failing subscription was disabled; `failingSince` since when deliveries fail.")
def get_subscription(call: Call) -> SubscriptionOut:
    return service.get(call.ctx, call.partner, call.param("id"))  # type: ignore[arg-type]


@endpoint(bp, "webhooks/{id}", "PATCH", action=Action.MANAGE_WEBHOOKS,
          summary="Change a subscription", tag=TAG, body="webhooks.api_models:SubscriptionChange", response="webhooks.api_models:SubscriptionOut",
          problems=WRITE, description="URL, event types, description, enabled (true enables a disabled subscription again).")
def update_subscription(call: Call) -> SubscriptionOut:
    return service.update(call.ctx, call.partner, call.param("id"), call.body)  # type: ignore[arg-type]


@endpoint(bp, "webhooks/{id}", "DELETE", action=Action.MANAGE_WEBHOOKS,
          summary="Delete a subscription", tag=TAG, status=204, problems=READ)
def delete_subscription(call: Call) -> Reply:
    service.delete(call.ctx, call.partner, call.param("id"))  # type: ignore[arg-type]
    return Reply(None, 204)


@endpoint(bp, "webhooks/{id}/rotate-secret", "POST", action=Action.MANAGE_WEBHOOKS,
          summary="Rotate the signing secret", tag=TAG, response="webhooks.api_models:SubscriptionWithSecret",
          problems=WRITE, description="A new secret, shown once; the old one keeps signing beside it for 24 hours.")
def rotate_secret(call: Call) -> SubscriptionWithSecret:
    return service.rotate_secret(call.ctx, call.partner, call.param("id"))  # type: ignore[arg-type]


@endpoint(bp, "webhooks/{id}/test", "POST", action=Action.MANAGE_WEBHOOKS,
          summary="Send a test-created event", tag=TAG, response="webhooks.api_models:TestSent", problems=(*WRITE, 429),
          idempotent=False, description="Delivers a `test-created` event now and answers with the delivery; 2 a minute per subscription.")
def test_subscription(call: Call) -> TestSent:
    return service.send_test(call.ctx, call.partner, call.param("id"))  # type: ignore[arg-type]


@endpoint(bp, "webhooks/{id}/deliveries", "GET", action=Action.MANAGE_WEBHOOKS,
          summary="Deliveries of a subscription", tag=TAG, query="shared.pagination:PageQuery", response="webhooks.api_models:DeliveryPage",
          problems=READ, description="Newest first: event, attempts, last status code and error, next attempt, final state.")
def list_deliveries(call: Call) -> DeliveryPage:
    q = call.query
    return service.list_deliveries(call.ctx, call.partner, call.param("id"), q.page_size, q.continuation_token)  # type: ignore[arg-type]


@endpoint(bp, "events", "GET", action=Action.READ_EVENTS,
          summary="The partner's events feed", tag=EVENTS_TAG, query="webhooks.api_models:FeedQuery", response="webhooks.api_models:FeedPage",
          problems=(400, 401, 403),
          description="The partner's events in order, oldest first, kept 30 days; the same payloads as webhooks. Read on with "
                      "`after=<nextCursor>`. For partners without an endpoint, or to catch up on missed deliveries.")
def read_events(call: Call) -> FeedPage:
    return service.read_feed(call.ctx, call.partner, call.query)  # type: ignore[arg-type]


@bp.queue_trigger(arg_name="msg", queue_name="%WEBHOOKS_QUEUE%", connection="AzureWebJobsStorage")
@runs_as(Action.SCHEDULED)
@telemetry.traced
def publish_and_deliver(msg: func.QueueMessage) -> None:
    """Outbox announcements (publish to feed and subscriptions) and delivery retries. Raising lets the host retry."""
    payload = json.loads(msg.get_body())
    if payload.get("type") == events.MESSAGE:
        for table, partition in payload["partitions"]:
            publish.publish(request_context(), table, partition)
    elif payload.get("type") == deliveries.MESSAGE:
        outcome = deliveries.attempt(request_context(), payload["partnerId"], payload["subscriptionId"], payload["rowKey"])
        log.info("webhook delivery %s: %s", payload["rowKey"], outcome)
    else:
        log.error("unknown webhooks message %r dropped", payload.get("type"))


@bp.queue_trigger(arg_name="msg", queue_name="%WEBHOOKS_QUEUE%-poison", connection="AzureWebJobsStorage")
@runs_as(Action.SCHEDULED)
@telemetry.traced
def webhooks_poison(msg: func.QueueMessage) -> None:
    """Messages the host gave up on after 5 attempts: a delivery is marked Failed (visible to the partner); an outbox
    announcement needs nothing, since its rows stay until published and the sweep below publishes them."""
    payload = json.loads(msg.get_body())
    if payload.get("type") == deliveries.MESSAGE:
        marked = deliveries.give_up(request_context(), payload["subscriptionId"], payload["rowKey"])
        log.error("poisoned webhook delivery %s of subscription %s: %s", payload["rowKey"], payload["subscriptionId"],
                  "marked Failed" if marked else "settled already")
    else:
        log.error("poisoned webhooks message %r: left to the outbox sweep", payload.get("type"))


@bp.timer_trigger(arg_name="timer", schedule="0 */10 * * * *", run_on_startup=False, use_monitor=True)
@runs_as(Action.SCHEDULED)
@telemetry.traced
def sweep_outboxes(timer: func.TimerRequest) -> None:
    """Publishes events whose announcement was lost (every 10 minutes; a late run simply finds more). Daily: old feed rows go."""
    ctx = request_context()
    found = publish.sweep(ctx)
    if found:
        log.warning("published %d outbox partition(s) nobody announced", found)
    now = ctx.now()
    if now.hour == 3 and now.minute < 10:  # once a day is enough for a 30-day retention
        for partner_id in ctx.store(registry.PartnerRepository).all_ids():
            feed.purge(ctx, partner_id, now)
