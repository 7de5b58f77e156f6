"""Idempotency-Key on real Azurite: answers of any size, leases that end, committed work never answered twice, expiry."""

from __future__ import annotations

import json

import pytest

from invite_user import delivery
from invite_user import functions as fn
from invite_user.repository import InvitationStore
from shared import idempotency, rate_limit
from shared.idempotency import IdempotencyRepository
from shared.storage import StorageUnavailable
from tests.integration.test_invitations_api import invitation_body, post
from tests.support.context import ctx_of
from tests.support.http import json_of


def _table_dump(storage) -> str:
    return json.dumps([dict(e) for e in storage.table("Idempotency").list_entities()], default=str)


def _invitations(storage) -> list:
    return InvitationStore(storage).list_page("p-direct", page_size=1000).items


def test_a_bulk_answer_far_over_64_kib_is_kept_and_replayed(storage, settings, partner_tokens):
    token = partner_tokens()
    rows = [invitation_body(email=f"bulk{i}@contoso.com") for i in range(150)]
    first = post("invitations/bulk", token, {"invitations": rows}, fn.create_invitations_bulk, key="bulk-1")
    assert first.status_code == 200, first.get_body()
    assert len(first.get_body()) > 64 * 1024
    again = post("invitations/bulk", token, {"invitations": rows}, fn.create_invitations_bulk, key="bulk-1")
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert json_of(again) == json_of(first)
    assert len(_invitations(storage)) == 150


def test_the_table_never_holds_a_working_link(storage, settings, partner_tokens):
    resp = post("invitations", partner_tokens(), invitation_body(), fn.create_invitation, key="k-link")
    body = json_of(resp)
    dump = _table_dump(storage)
    assert body["id"] not in dump and body["inviteRedeemUrl"] not in dump and "k-link" not in dump
    assert json_of(post("invitations", partner_tokens(), invitation_body(), fn.create_invitation, key="k-link"))["id"] == body["id"]


def test_a_key_whose_release_failed_is_free_after_its_lease(storage, settings, partner_tokens, monkeypatch, fixed_clock):
    """Storage failed after the invitation was committed and again while releasing the key: the retry is not
    locked out for ever, and it answers with the invitation already committed (no duplicate)."""
    token = partner_tokens()
    real_queue = delivery.queue_emails

    def outage(*args, **kwargs):
        raise StorageUnavailable("paused")

    monkeypatch.setattr(delivery, "queue_emails", outage)
    monkeypatch.setattr(idempotency, "_release", lambda storage, marker: None)  # the release met the outage too
    failed = post("invitations", token, invitation_body(), fn.create_invitation, key="k-outage")
    assert failed.status_code == 503
    monkeypatch.setattr(delivery, "queue_emails", real_queue)
    locked = post("invitations", token, invitation_body(), fn.create_invitation, key="k-outage")
    assert locked.status_code == 409 and int(locked.headers["Retry-After"]) <= idempotency.LEASE.total_seconds() + 1
    fixed_clock.advance(seconds=idempotency.LEASE.total_seconds() + 1)
    retried = post("invitations", token, invitation_body(), fn.create_invitation, key="k-outage")
    assert retried.status_code == 201, retried.get_body()
    assert len(_invitations(storage)) == 1
    assert json_of(retried)["reference"] == _invitations(storage)[0].reference


def test_committed_work_answers_success_when_its_answer_cannot_be_saved(storage, settings, partner_tokens, monkeypatch,
                                                                      fixed_clock):
    token = partner_tokens()
    real = IdempotencyRepository.transact

    def failing(self, ops):
        raise StorageUnavailable("paused")

    monkeypatch.setattr(IdempotencyRepository, "transact", failing)
    first = post("invitations", token, invitation_body(), fn.create_invitation, key="k-save")
    assert first.status_code == 201
    monkeypatch.setattr(IdempotencyRepository, "transact", real)
    fixed_clock.advance(seconds=idempotency.LEASE.total_seconds() + 1)
    again = post("invitations", token, invitation_body(), fn.create_invitation, key="k-save")
    assert again.status_code == 201 and json_of(again)["id"] == json_of(first)["id"]
    assert len(_invitations(storage)) == 1


def test_a_keyed_bulk_that_failed_half_way_is_completed_by_its_retry(storage, settings, partner_tokens, monkeypatch):
    token = partner_tokens()
    rows = [invitation_body(email=f"half{i}@contoso.com") for i in range(120)]
    real = InvitationStore.create_many

    def half(self, invitations, record_for):
        real(self, invitations[:60], record_for)
        raise StorageUnavailable("paused")

    monkeypatch.setattr(InvitationStore, "create_many", half)
    assert post("invitations/bulk", token, {"invitations": rows}, fn.create_invitations_bulk, key="b-half").status_code == 503
    monkeypatch.setattr(InvitationStore, "create_many", real)
    done = post("invitations/bulk", token, {"invitations": rows}, fn.create_invitations_bulk, key="b-half")
    assert done.status_code == 200 and json_of(done)["summary"]["created"] == 120
    assert len(_invitations(storage)) == 120


@pytest.mark.parametrize("expired", [True, False])
def test_keys_expire_after_a_day_and_the_sweep_reads_only_what_expired(storage, settings, partner_tokens, fixed_clock, expired):
    token = partner_tokens()
    rows = [invitation_body(email=f"x{i}@contoso.com") for i in range(60)]
    post("invitations/bulk", token, {"invitations": rows}, fn.create_invitations_bulk, key="old")
    fixed_clock.advance(hours=25 if expired else 23)
    for i in range(5):
        post("invitations", token, invitation_body(email=f"live{i}@contoso.com"), fn.create_invitation, key=f"live-{i}")
    storage.counter.reset()
    deleted = idempotency.sweep(ctx_of(storage))
    requests = storage.counter.reset()
    assert deleted == (1 if expired else 0)
    assert requests <= 4  # the marks of past hours, the key's rows, their deletion, the mark's deletion
    left = [e["RowKey"] for e in storage.table("Idempotency").list_entities() if not e["PartitionKey"].startswith("x|")]
    assert sum(1 for rk in left if "|" not in rk) == (5 if expired else 6)
    if expired:  # the key is free for a new request
        fresh = post("invitations", token, invitation_body(email="new@contoso.com"), fn.create_invitation, key="old")
        assert fresh.status_code == 201


def test_rate_limit_windows_are_swept_once_over(storage, settings, fixed_clock):
    for i in range(3):
        rate_limit.hit(ctx_of(storage), f"resend-ip|10.0.0.{i}", limit=20, window_seconds=3600)
    fixed_clock.advance(days=2)
    rate_limit.hit(ctx_of(storage), "resend-ip|10.0.0.9", limit=20, window_seconds=3600)
    assert rate_limit.sweep(ctx_of(storage)) == 3
    assert len(list(storage.table("RateLimits").list_entities())) == 1


def test_an_expired_key_reused_for_another_invitation_makes_that_invitation(storage, settings, partner_tokens, fixed_clock):
    # Issue 19 item 8: the link id was derived from the key alone, so once the key expired a different request under
    # it derived the first invitation's link, found it and answered 201 with the OLD invitation (another address).
    token = partner_tokens()
    first = post("invitations", token, invitation_body(email="first@contoso.com"), fn.create_invitation, key="reused")
    assert first.status_code == 201
    fixed_clock.advance(hours=25)
    second = post("invitations", token, invitation_body(email="second@contoso.com"), fn.create_invitation, key="reused")
    assert second.status_code == 201 and second.headers.get("Idempotent-Replayed") is None
    assert json_of(second)["email"] == "second@contoso.com" and json_of(second)["id"] != json_of(first)["id"]
    assert sorted(i.email for i in _invitations(storage)) == ["first@contoso.com", "second@contoso.com"]


def test_an_expired_key_reused_for_another_customer_makes_that_customer(storage, settings, partner_tokens, fixed_clock):
    from attest_agreement import functions as customers_fn
    from tests.integration.test_attest_customers import call, customer_body

    token = partner_tokens()
    first = call(customers_fn.create_customer, "POST", "customers", token, customer_body(name="First GmbH"), key="c-reused")
    assert first.status_code == 201, first.get_body()
    # A retry of the same request within the day is the same customer (replayed).
    again = call(customers_fn.create_customer, "POST", "customers", token, customer_body(name="First GmbH"), key="c-reused")
    assert json_of(again)["customer"]["id"] == json_of(first)["customer"]["id"]
    fixed_clock.advance(hours=25)
    second = call(customers_fn.create_customer, "POST", "customers", token, customer_body(name="Second GmbH"), key="c-reused")
    assert second.status_code == 201, second.get_body()
    assert json_of(second)["customer"]["id"] != json_of(first)["customer"]["id"]
    assert json_of(second)["customer"]["name"] == "Second GmbH"


def test_derived_ids_follow_the_key_and_the_request():
    ids = {}
    for key, fingerprint in (("k", "a"), ("k", "b"), ("k2", "a")):
        token = idempotency._current.set((idempotency._Key("scope", key), fingerprint, [0]))
        try:
            ids[(key, fingerprint)] = idempotency.derived_id()
        finally:
            idempotency._current.reset(token)
    assert len(set(ids.values())) == 3
