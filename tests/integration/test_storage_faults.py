"""Storage that stops answering, through the fault proxy: health answers at once, request paths give up soon."""

from __future__ import annotations

import json

import pytest
from azure.storage.queue import LinearRetry

from invite_user import functions as fn
from invite_user.repository import InvitationStore
from operations.functions import health
from shared.storage import Storage, azurite_connection_string, set_storage
from tests.integration.test_invitations_api import invitation_body, post
from tests.support.fault_proxy import FaultProxy


@pytest.fixture
def proxied(servers, storage, settings):
    """The app's storage behind a fault proxy in front of Azurite's table and queue services."""
    ports = servers.stack.ports
    proxy = FaultProxy(ports.table, ports.queue).start()
    st = Storage(settings.model_copy(update={
        "storage_connection_string": azurite_connection_string(ports.blob, proxy.ports[1], proxy.ports[0])}))
    set_storage(st)
    yield st, proxy, proxy
    set_storage(None)
    proxy.stop()


def test_health_tries_once_and_answers_503_with_retry_after_when_storage_is_paused(proxied):
    storage, tables, _ = proxied
    assert health_status() == 200
    tables.pause()
    storage.counter.reset()
    resp = health(_get("health"))
    assert resp.status_code == 503 and int(resp.headers["Retry-After"]) > 0
    assert json.loads(resp.get_body())["storage"]["reachable"] is False
    assert storage.counter.reset() == 1  # one short try, no retries: a probe hears within its budget


def test_a_create_with_storage_paused_is_a_503_problem_and_then_works(proxied, partner_tokens):
    storage, tables, _ = proxied
    token = partner_tokens()
    assert post("invitations", token, invitation_body(email="warm@contoso.com"), fn.create_invitation).status_code == 201
    tables.pause()
    storage.counter.reset()
    paused = post("invitations", token, invitation_body(), fn.create_invitation, key="k-paused")
    assert paused.status_code == 503 and paused.mimetype == "application/problem+json"
    assert storage.counter.reset() <= 4  # three tries of the first request, one quick release of the key
    tables.clear()
    again = post("invitations", token, invitation_body(), fn.create_invitation, key="k-paused")
    # Requests held by the pause reach storage when it resumes, the key's release among them (then the retry runs)
    # or not yet (then the key is held until its lease ends, and says so). Either way one invitation, never two.
    assert again.status_code in (201, 409), again.get_body()
    if again.status_code == 409:
        assert 0 < int(again.headers["Retry-After"]) <= 31
    assert len(InvitationStore(storage).list_page("p-direct").items) <= 2  # the warm-up one and at most this one


def test_request_timeouts_bound_a_request_path_to_about_ten_seconds():
    t = Storage.TIMEOUTS
    assert (t["retry_total"] + 1) * (t["read_timeout"] + t["connection_timeout"]) <= 15
    assert Storage.QUICK_TIMEOUTS["retry_total"] == 0 and Storage.QUICK_TIMEOUTS["read_timeout"] <= 2


def test_the_queue_client_retries_as_briefly_as_the_tables(settings):
    """The queue SDK's own default waits 15 s, then 45 s, between tries: a queued email held a request a minute."""
    policy = Storage(settings)._queue_service._config.retry_policy
    assert isinstance(policy, LinearRetry)
    assert policy.total_retries == Storage.TIMEOUTS["retry_total"] and policy.backoff <= 1 and policy.random_jitter_range == 0


def _get(path):
    from tests.support.http import build_request

    return build_request("GET", path)


def health_status() -> int:
    return health(_get("health")).status_code
