"""Webhooks on real Azurite, delivered to a real HTTP receiver (devhost's inbox) and verified with standardwebhooks."""

from __future__ import annotations

import base64
import json
import socket
import time
from datetime import timedelta

import azure.functions as func
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from devhost.identity import ensure_certs
from devhost.webhook_inbox import WebhookInbox
from invite_user import functions as invitations_fn
from invite_user import service as invitation_service
from invite_user.repository import partner_partition
from notifications import queue as email_queue
from notifications.sender import get_sender
from shared import clock, events
from shared.settings import get_settings, reset_settings
from shared.storage import Op
from tests.support.context import ctx_of
from tests.support.expect import found
from tests.support.http import build_request, json_of
from tests.support.queues import take
from webhooks import deliveries, publish
from webhooks import functions as fn
from webhooks.publish import OutboxRows
from webhooks.subscriptions import SubscriptionRepository


@pytest.fixture
def inbox():
    box = WebhookInbox().start()
    yield box
    box.stop()


def call(handler, method, path, token, body=None, route_params=None, params=None):
    headers = {"Authorization": token} if token else {}
    return handler(build_request(method, path, body=body, headers=headers, route_params=route_params or {}, params=params or {}))


def subscribe(token, inbox, events_=("invitation.created", "invitation.accepted", "invitation.revoked")):
    resp = call(fn.create_subscription, "POST", "webhooks", token, {"url": inbox.url(), "events": list(events_)})
    assert resp.status_code == 201, resp.get_body()
    sub = json_of(resp)
    inbox.secrets = lambda: {"demo": sub["secret"]}
    return sub


def pump(storage, *, include_delayed=False):
    """What the functions host does: run the email queue (it forwards outbox announcements), then the webhooks queue."""
    s = get_settings()
    for payload in take(storage, s.email_queue):
        email_queue.deliver(ctx_of(storage), get_sender(s), payload)
    handled = 0
    for payload in take(storage, s.webhooks_queue):
        if payload["type"] == events.MESSAGE:
            for table, partition in payload["partitions"]:
                publish.publish(ctx_of(storage), table, partition)
        elif include_delayed:
            deliveries.attempt(ctx_of(storage), payload["partnerId"], payload["subscriptionId"], payload["rowKey"])
        handled += 1
    return handled


def invite(token, email="harry@contoso.example", **over):
    body = {"email": email, "firstName": "Harry", "lastName": "Kim", "language": "en", "countryRegion": "US",
            "kind": "CustomerOnboarding", "company": {"name": "Contoso", "country": "US"}, **over}
    resp = call(invitations_fn.create_invitation, "POST", "invitations", token, body)
    assert resp.status_code == 201, resp.get_body()
    return json_of(resp)


def test_a_created_invitation_arrives_signed_and_verifies_with_the_library(storage, partner_tokens, inbox):
    token = partner_tokens()
    sub = subscribe(token, inbox)
    created = invite(token)
    pump(storage)
    got = inbox.wait_for(lambda d: d["type"] == "invitation.created")
    assert got["verdict"] == "verified"
    event = Webhook(sub["secret"]).verify(got["body"], got["headers"])  # a partner's receiver, with the library
    assert event["data"]["reference"] == created["reference"] and event["data"]["status"] == "PendingAcceptance"
    assert event["data"]["links"]["self"].endswith(f"/api/invitations/{created['reference']}")
    assert got["webhookId"] == event["id"]
    # thin: nothing personal the partner's own API call would not show, and here not even that
    assert "harry" not in got["body"].lower() and "Kim" not in got["body"]


def test_accepting_sends_invitation_accepted(storage, partner_tokens, inbox):
    token = partner_tokens()
    subscribe(token, inbox)
    created = invite(token, sendEmail=False)
    invitation_service.accept(ctx_of(storage), created["reference"], {"email": "harry@contoso.example"}, customer_id=None, now=clock.utc_now())
    pump(storage)
    got = inbox.wait_for(lambda d: d["type"] == "invitation.accepted")
    assert got["verdict"] == "verified" and got["event"]["data"]["status"] == "Accepted"


def test_a_receiver_answering_500_then_200_gets_the_event_exactly_once_more(storage, partner_tokens, inbox):
    token = partner_tokens()
    sub = subscribe(token, inbox, ("invitation.created",))
    inbox.answers = [500]
    invite(token)
    pump(storage)
    [first] = inbox.deliveries
    assert first["answered"] == 500
    page = json_of(call(fn.list_deliveries, "GET", f"webhooks/{sub['id']}/deliveries", token, route_params={"id": sub["id"]}))
    [delivery] = page["items"]
    assert delivery["status"] == "Pending" and delivery["attempts"] == 1 and delivery["lastStatusCode"] == 500
    assert "nextAttemptAt" in delivery
    # the retry waits in the queue (5 s backoff); the host would run it then: run it now, and a duplicate copy after it
    retry = storage.queue(get_settings().webhooks_queue).receive_messages(max_messages=1, visibility_timeout=1)
    assert list(retry) == []  # invisible until its backoff has passed
    rk = deliveries.DeliveryRepository(storage).page(sub["id"], 10, None).items[0].row_key
    assert deliveries.attempt(ctx_of(storage), "p-direct", sub["id"], rk) == "delivered"
    assert deliveries.attempt(ctx_of(storage), "p-direct", sub["id"], rk) == "settled"
    assert [d["answered"] for d in inbox.deliveries] == [500, 200]
    assert inbox.deliveries[0]["webhookId"] == inbox.deliveries[1]["webhookId"]  # one id for deduplication
    again = json_of(call(fn.list_deliveries, "GET", f"webhooks/{sub['id']}/deliveries", token, route_params={"id": sub["id"]}))
    assert again["items"][0]["status"] == "Delivered" and again["items"][0]["attempts"] == 2


def test_a_tampered_or_stale_delivery_fails_verification(storage, partner_tokens, inbox):
    token = partner_tokens()
    sub = subscribe(token, inbox, ("invitation.created",))
    invite(token)
    pump(storage)
    got = inbox.wait_for(lambda d: d["type"] == "invitation.created")
    wh = Webhook(sub["secret"])
    tampered = got["body"].replace("PendingAcceptance", "Accepted")
    with pytest.raises(WebhookVerificationError):
        wh.verify(tampered, got["headers"])
    stale = {**got["headers"], "webhook-timestamp": str(int(time.time()) - 301)}
    with pytest.raises(WebhookVerificationError):
        wh.verify(got["body"], stale)
    with pytest.raises(WebhookVerificationError):
        Webhook(Webhook.__new__(Webhook) and "whsec_" + base64.b64encode(b"x" * 32).decode()).verify(got["body"], got["headers"])


@pytest.mark.parametrize("url", ["https://10.0.0.5/hook", "https://169.254.169.254/latest", "https://[::1]/x", "https://localhost:8443/x",
                                 "https://127.0.0.2/x", "https://[::ffff:10.1.2.3]/x", "http://example.com/x",
                                 "https://user:pw@example.com/x"])
def test_private_loopback_link_local_or_plain_http_urls_are_refused(storage, partner_tokens, monkeypatch, url):
    monkeypatch.setenv("WEBHOOKS_ALLOW_LOOPBACK", "false")
    reset_settings()
    resp = call(fn.create_subscription, "POST", "webhooks", partner_tokens(), {"url": url, "events": ["invitation.created"]})
    assert resp.status_code == 400, resp.get_body()
    assert json_of(resp)["errors"][0]["field"] == "url"


def test_loopback_is_refused_at_delivery_time_without_the_local_setting(storage, partner_tokens, inbox, monkeypatch):
    token = partner_tokens()
    sub = subscribe(token, inbox, ("invitation.created",))
    monkeypatch.setenv("WEBHOOKS_ALLOW_LOOPBACK", "false")
    reset_settings()
    invite(token)
    pump(storage)
    assert inbox.deliveries == []
    [d] = deliveries.DeliveryRepository(storage).page(sub["id"], 10, None).items
    assert d.status == deliveries.DeliveryStatus.PENDING and d.last_error == "The URL must be https."


def test_create_still_costs_three_storage_requests_with_subscriptions(storage, partner_tokens, inbox):
    token = partner_tokens()
    subscribe(token, inbox)
    subscribe(partner_tokens(), WebhookInbox(), ("invitation.created",))
    invite(token, email="warm@contoso.example")  # warm: tables, queues (created once per process), partner cache
    invite(token, email="warm2@contoso.example", sendEmail=False)
    storage.counter.reset()
    invite(token, email="second@contoso.example")
    assert storage.counter.reset() <= 3
    invite(token, email="third@contoso.example", sendEmail=False)  # no email message: the announcement is its own message
    assert storage.counter.reset() <= 3


def test_the_event_row_is_in_the_same_transaction_and_publishing_is_idempotent(storage, partner_tokens, inbox):
    token = partner_tokens()
    subscribe(token, inbox, ("invitation.created",))
    created = invite(token, sendEmail=False)
    [row] = OutboxRows(storage, "Invitations").pending(partner_partition("p-direct"))
    assert row.type == "invitation.created" and row.data["reference"] == created["reference"]
    for _ in range(2):  # a repeated announcement publishes nothing twice
        publish.publish(ctx_of(storage), "Invitations", partner_partition("p-direct"))
    assert OutboxRows(storage, "Invitations").pending(partner_partition("p-direct")) == []
    assert [d["type"] for d in inbox.deliveries] == ["invitation.created"]


def test_the_sweep_publishes_what_was_never_announced(storage, partner_tokens, inbox, monkeypatch):
    token = partner_tokens()
    subscribe(token, inbox, ("invitation.created",))
    monkeypatch.setattr(events, "announce", lambda *a, **k: False)  # the process died between commit and queue
    invite(token, sendEmail=False)
    monkeypatch.undo()
    assert publish.sweep(ctx_of(storage)) == 0  # too fresh: its announcement may still be on its way
    later = clock.FixedClock(clock.utc_now() + timedelta(minutes=2))
    previous = clock.set_clock(later)
    try:
        assert publish.sweep(ctx_of(storage)) == 1
    finally:
        clock.set_clock(previous)
    assert [d["type"] for d in inbox.deliveries] == ["invitation.created"]


def test_the_feed_lists_the_partners_events_in_order_after_a_cursor(storage, partner_tokens, inbox):
    token = partner_tokens()
    first = invite(token, email="a@contoso.example", sendEmail=False)
    second = invite(token, email="b@contoso.example", sendEmail=False)
    invite(partner_tokens("p-provider"), email="c@contoso.example", sendEmail=False)  # another partner's
    call(invitations_fn.revoke_invitation, "POST", "x", token, route_params={"id": first["id"]})
    pump(storage)
    later = clock.FixedClock(clock.utc_now() + timedelta(seconds=5))  # past the settle time
    previous = clock.set_clock(later)
    try:
        page = json_of(call(fn.read_events, "GET", "events", token, params={"pageSize": "2"}))
        assert [(e["type"], e["data"]["reference"]) for e in page["items"]] == [
            ("invitation.created", first["reference"]), ("invitation.created", second["reference"])]
        rest = json_of(call(fn.read_events, "GET", "events", token, params={"after": page["nextCursor"]}))
        assert [e["type"] for e in rest["items"]] == ["invitation.revoked"]
        done = json_of(call(fn.read_events, "GET", "events", token, params={"after": rest["nextCursor"]}))
        assert done == {"items": [], "nextCursor": rest["nextCursor"]}
    finally:
        clock.set_clock(previous)


def test_subscriptions_are_managed_by_admin_agents_and_the_secret_is_shown_once(storage, partner_tokens, inbox):
    token = partner_tokens()
    sub = subscribe(token, inbox)
    assert sub["secret"].startswith("whsec_")
    listed = json_of(call(fn.list_subscriptions, "GET", "webhooks", token))
    assert [s["id"] for s in listed["items"]] == [sub["id"]] and "secret" not in listed["items"][0]
    assert call(fn.list_subscriptions, "GET", "webhooks", partner_tokens(roles=("SalesAgent",))).status_code == 403
    other = call(fn.get_subscription, "GET", "x", partner_tokens("p-provider"), route_params={"id": sub["id"]})
    assert other.status_code == 404  # another partner's subscription does not exist for it
    changed = json_of(call(fn.update_subscription, "PATCH", "x", token, {"events": ["invitation.expired"], "enabled": False},
                           route_params={"id": sub["id"]}))
    assert changed["events"] == ["invitation.expired"] and changed["enabled"] is False
    bad = call(fn.update_subscription, "PATCH", "x", token, {"events": ["nope"]}, route_params={"id": sub["id"]})
    assert bad.status_code in (400, 422)
    assert call(fn.delete_subscription, "DELETE", "x", token, route_params={"id": sub["id"]}).status_code == 204
    assert call(fn.get_subscription, "GET", "x", token, route_params={"id": sub["id"]}).status_code == 404


def test_a_rotated_secret_and_the_old_one_both_verify_for_a_day(storage, partner_tokens, inbox):
    token = partner_tokens()
    sub = subscribe(token, inbox, ("invitation.created",))
    rotated = json_of(call(fn.rotate_secret, "POST", "x", token, route_params={"id": sub["id"]}))
    assert rotated["secret"] != sub["secret"] and rotated["previousSecretValidUntil"]
    invite(token)
    pump(storage)
    got = inbox.wait_for(lambda d: d["type"] == "invitation.created")
    for secret in (sub["secret"], rotated["secret"]):
        Webhook(secret).verify(got["body"], got["headers"])
    stored = found(SubscriptionRepository(storage).find("p-direct", sub["id"]))[0]
    assert stored.signing_secrets(clock.utc_now() + timedelta(hours=25)) == [rotated["secret"]]


def test_the_test_event_is_delivered_and_limited_to_two_a_minute(storage, partner_tokens, inbox):
    token = partner_tokens()
    sub = subscribe(token, inbox, ("invitation.created",))
    for _ in range(2):
        resp = call(fn.test_subscription, "POST", "x", token, route_params={"id": sub["id"]})
        assert resp.status_code == 200 and json_of(resp)["delivery"]["status"] == "Delivered"
    assert call(fn.test_subscription, "POST", "x", token, route_params={"id": sub["id"]}).status_code == 429
    assert [d["type"] for d in inbox.deliveries] == ["test-created", "test-created"]
    assert all(d["verdict"] == "verified" for d in inbox.deliveries)


def test_a_subscription_failing_for_days_is_disabled_with_the_reason(storage, partner_tokens, inbox):
    token = partner_tokens()
    sub = subscribe(token, inbox, ("invitation.created",))
    repo = SubscriptionRepository(storage)
    stored, etag = found(repo.find("p-direct", sub["id"]))
    stored.failing_since = clock.utc_now() - timedelta(days=3, minutes=1)
    repo.transact([Op("update", stored, etag=etag)])
    inbox.answers = [503]
    invite(token)
    pump(storage)
    shown = json_of(call(fn.get_subscription, "GET", "x", token, route_params={"id": sub["id"]}))
    assert shown["enabled"] is False and "failed" in shown["disabledReason"]



def test_a_delivery_whose_message_is_poisoned_is_failed_where_the_partner_reads_it(storage, partner_tokens, inbox):
    token = partner_tokens()
    sub = subscribe(token, inbox, ("invitation.created",))
    inbox.answers = [500]
    invite(token)
    pump(storage)  # first attempt answered 500: the row is Pending, its retry waits in the queue
    [pending] = deliveries.DeliveryRepository(storage).page(sub["id"], 10, None).items
    assert pending.status == deliveries.DeliveryStatus.PENDING
    msg = func.QueueMessage(body=json.dumps(deliveries.message(pending)).encode())  # the message the host gave up on
    fn.webhooks_poison(msg)
    page = json_of(call(fn.list_deliveries, "GET", f"webhooks/{sub['id']}/deliveries", token, route_params={"id": sub["id"]}))
    [delivery] = page["items"]
    assert delivery["status"] == "Failed" and delivery["lastError"] == deliveries.POISONED and "nextAttemptAt" not in delivery
    # a late copy of the retry does nothing: the delivery is settled
    assert deliveries.attempt(ctx_of(storage), "p-direct", sub["id"], pending.row_key) == "settled"
    fn.webhooks_poison(msg)  # a second poisoned copy changes nothing
    assert deliveries.give_up(ctx_of(storage), sub["id"], pending.row_key) is False


@pytest.fixture
def tls_inbox(monkeypatch):
    """An https receiver for `localhost` (the local CA's certificate), trusted through the app's CA bundle setting."""
    bundle, server_cert = ensure_certs()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    reset_settings()
    box = WebhookInbox(tls_cert=server_cert).start()
    yield box
    box.stop()
    monkeypatch.undo()
    reset_settings()


def test_a_delivery_connects_to_the_address_that_was_checked_not_to_a_second_dns_answer(storage, partner_tokens, tls_inbox,
                                                                                        monkeypatch):
    token = partner_tokens()
    subscribe(token, tls_inbox, ("invitation.created",))  # https://localhost:<port>/..., checked at registration
    answers = []
    real = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        """A name server that answers loopback once (the check), then an address inside (a rebinding attack)."""
        if host != "localhost":
            return real(host, port, *args, **kwargs)  # storage and the rest
        answers.append(host)
        address = "127.0.0.1" if len(answers) == 1 else "10.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    invite(token)
    pump(storage)
    got = tls_inbox.wait_for(lambda d: d["type"] == "invitation.created")
    assert got["verdict"] == "verified" and got["answered"] == 200  # over TLS, the certificate checked for localhost
    assert answers == ["localhost"]  # the name was resolved once, for the check; the connection went where it said


def test_a_certificate_for_another_name_is_refused_though_the_address_is_pinned(storage, partner_tokens, tls_inbox, monkeypatch):
    token = partner_tokens()
    sub = subscribe(token, tls_inbox, ("invitation.created",))
    # the same receiver under a name its certificate does not carry (resolved to it): TLS must fail, not deliver
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
                        if host == "receiver.example" else real(host, port, *a, **k))
    resp = call(fn.update_subscription, "PATCH", f"webhooks/{sub['id']}", token,
                {"url": tls_inbox.url().replace("localhost", "receiver.example")}, route_params={"id": sub["id"]})
    assert resp.status_code == 200, resp.get_body()
    invite(token)
    pump(storage)
    assert tls_inbox.deliveries == []
    [delivery] = deliveries.DeliveryRepository(storage).page(sub["id"], 10, None).items
    assert delivery.status == deliveries.DeliveryStatus.PENDING and "could not reach" in (delivery.last_error or "")


def test_a_bulk_announces_each_invitation_as_its_own_event_from_one_outbox_row_per_transaction(storage, partner_tokens, inbox):
    token = partner_tokens()
    subscribe(token, inbox, ("invitation.created",))
    rows = [{"email": f"user{i}@contoso.example", "firstName": "U", "lastName": f"{i}", "language": "en", "countryRegion": "US",
             "kind": "CustomerOnboarding", "company": {"name": f"Contoso {i}", "country": "US"}, "sendEmail": False} for i in range(30)]
    resp = call(invitations_fn.create_invitations_bulk, "POST", "invitations/bulk", token, {"invitations": rows})
    assert resp.status_code in (200, 201, 207), resp.get_body()
    references = {r["invitation"]["reference"] for r in json_of(resp)["results"] if r["status"] == "created"}
    assert len(references) == 30
    outbox = [e for e in storage.table("Invitations").list_entities() if e["RowKey"].startswith("e|")]
    assert len(outbox) == 2  # 24 + 6 invitations: one outbox row per transaction
    pump(storage)
    pump(storage)  # a repeated announcement publishes nothing twice
    arrived = [d for d in inbox.deliveries if d["type"] == "invitation.created"]
    assert sorted(d["event"]["data"]["reference"] for d in arrived) == sorted(references)
    assert len({d["webhookId"] for d in arrived}) == 30 and all(d["verdict"] == "verified" for d in arrived)
    later = clock.FixedClock(clock.utc_now() + timedelta(seconds=5))  # past the feed's settle time
    previous = clock.set_clock(later)
    try:
        feed_items = json_of(call(fn.read_events, "GET", "events", token, params={"pageSize": "100"}))["items"]
    finally:
        clock.set_clock(previous)
    assert sorted(e["data"]["reference"] for e in feed_items) == sorted(references)
    assert len({e["id"] for e in feed_items}) == 30
    assert not [e for e in storage.table("Invitations").list_entities() if e["RowKey"].startswith("e|")]  # published, removed


def test_thirty_parallel_subscriptions_store_at_most_ten(storage, partner_tokens, inbox):
    # Issue 19 item 10: count-then-insert let 30 parallel requests store 16-19 subscriptions under a limit of 10.
    from concurrent.futures import ThreadPoolExecutor

    token = partner_tokens()
    first = call(fn.create_subscription, "POST", "webhooks", token, {"url": inbox.url(), "events": ["invitation.created"]})
    assert first.status_code == 201

    def one(_):
        return call(fn.create_subscription, "POST", "webhooks", token, {"url": inbox.url(), "events": ["invitation.created"]}).status_code

    with ThreadPoolExecutor(30) as pool:
        statuses = list(pool.map(one, range(30)))
    stored = SubscriptionRepository(storage).of_partner("p-direct")
    assert len(stored) <= 10 and statuses.count(201) == len(stored) - 1
    assert set(statuses) <= {201, 409, 503}
    while len(SubscriptionRepository(storage).of_partner("p-direct")) < 10:
        assert one(0) == 201
    assert one(0) == 409
    # Deleting one frees one place, and only one.
    assert call(fn.delete_subscription, "DELETE", "webhooks/x", token, route_params={"id": stored[0].id}).status_code == 204
    assert [one(0), one(0)] == [201, 409]
