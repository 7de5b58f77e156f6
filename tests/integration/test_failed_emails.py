"""Every queue message that fails for good leaves a record: bounded throttling, poison, rejection, one sender per process."""

from __future__ import annotations

import json
import socket

from attest_agreement import notices
from notifications import queue
from notifications.sender import EmailMessage, SmtpSender, get_sender
from tests.integration.test_attest_agreement import agreement, attest, attestation
from tests.integration.test_attest_customers import create, table_rows
from tests.support.context import ctx_of
from tests.support.http import json_of
from tests.support.queues import take


def _dead_smtp(settings) -> SmtpSender:
    """A real SMTP client aimed at a port nobody listens on: every send is throttled (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return SmtpSender("127.0.0.1", port, settings.email_sender, timeout=2)


def _waiting(storage, settings) -> int:
    return storage.queue(settings.email_queue).get_queue_properties().approximate_message_count


def _failed(storage):
    return table_rows(storage, "FailedEmails")


def _plain(operation="op-1", **extra):
    message = EmailMessage(to_address="ops@contoso.example", to_name="Ops", subject="s", text="t", html="<p>t</p>", language="en")
    return {"type": "email", "operationId": operation, "message": message.__dict__, **extra}


def test_a_plain_email_throttled_too_often_is_given_up_and_recorded(storage, settings):
    sender = _dead_smtp(settings)
    assert queue.deliver(ctx_of(storage), sender, _plain()) == {"requeued": 1}
    assert _waiting(storage, settings) == 1  # back on the queue, behind the service's Retry-After
    assert queue.deliver(ctx_of(storage), sender, _plain(attempt=settings.email_max_attempts)) == {"failed": 1}
    assert _waiting(storage, settings) == 1  # not re-queued again
    [record] = _failed(storage)
    assert record["kind"] == "email" and record["operation_id"] == "op-1" and "throttled" in record["reason"]
    assert "ops@contoso.example" not in json.dumps(record, default=str)


def test_poisoned_plain_and_resend_request_messages_leave_a_record(storage, settings):
    assert queue.poisoned(ctx_of(storage), _plain("op-2")) == 0
    queue.poisoned(ctx_of(storage), {"type": "resend-request", "email": "pam@contoso.example", "agreementNumber": "A1",
                             "purchasingAccountNumber": "P1"})
    records = sorted(_failed(storage), key=lambda r: r["kind"])
    assert [(r["kind"], "poisoned" in r["reason"]) for r in records] == [("email", True), ("resend-request", True)]
    assert "pam@contoso.example" not in json.dumps(records, default=str)


def test_an_attestation_confirmation_that_fails_for_good_is_visible_to_the_partner(storage, settings, partner_tokens, fixed_clock):
    contact = {"firstName": "Greta", "lastName": "Maier", "email": "greta.f1@contoso.de"}
    cid = create(partner_tokens(), primaryContact=contact)["customer"]["id"]
    assert attest(partner_tokens(), cid, attestation(primaryContact=contact)).status_code == 201
    [message] = take(storage, settings.email_queue)
    assert message["type"] == notices.KIND
    sender = _dead_smtp(settings)
    assert queue.deliver(ctx_of(storage), sender, message) == {"requeued": 1}
    assert queue.deliver(ctx_of(storage), sender, {**message, "attempt": settings.email_max_attempts}) == {"failed": 1}
    view = json_of(agreement(partner_tokens(), cid))
    assert view["confirmationEmail"]["status"] == "Failed" and "Throttled" in view["confirmationEmail"]["error"]
    assert notices.sweep(ctx_of(storage))["queued"] == 0  # failed for good: not queued again behind the partner's back


def test_a_poisoned_attestation_confirmation_is_marked_failed(storage, settings, partner_tokens, fixed_clock):
    contact = {"firstName": "Greta", "lastName": "Maier", "email": "greta.f2@contoso.de"}
    cid = create(partner_tokens(), primaryContact=contact)["customer"]["id"]
    attest(partner_tokens(), cid, attestation(primaryContact=contact))
    [message] = take(storage, settings.email_queue)
    queue.poisoned(ctx_of(storage), message)
    assert json_of(agreement(partner_tokens(), cid))["confirmationEmail"]["status"] == "Failed"
    assert [r["kind"] for r in _failed(storage)] == [notices.KIND]


def test_one_sender_per_process(settings):
    assert get_sender(settings) is get_sender(settings)
