"""Invitation emails: queued with the invitation, sent once, in the invitee's language, failures visible."""

from __future__ import annotations

import base64
import json

from invite_user import functions as fn
from invite_user.invitations import EmailStatus, link_hash
from invite_user.repository import InvitationStore
from notifications import queue
from notifications.sender import EmailRejected, EmailThrottled, SmtpSender
from tests.integration.test_invitations_api import invitation_body, post
from tests.support.context import ctx_of
from tests.support.expect import found
from tests.support.http import json_of
from tests.support.mail import inbox


def _drain(storage, settings):
    q = storage.queue(settings.email_queue)
    out = []
    for m in q.receive_messages(max_messages=32, visibility_timeout=30):
        out.append((json.loads(base64.b64decode(m.content)), m))
    return q, out


def test_email_arrives_once_in_the_invitees_language(storage, settings, servers, partner_tokens):
    created = json_of(post("invitations", partner_tokens(), invitation_body(email="kim.ko@contoso.com"), fn.create_invitation))
    sender = SmtpSender(settings.smtp_host, settings.smtp_port, settings.email_sender)
    _, messages = _drain(storage, settings)
    payload = messages[0][0]
    assert queue.deliver(ctx_of(storage), sender, payload) == {"sent": 1, "skipped": 0, "failed": 0, "requeued": 0}
    # the queue redelivers the same message (e.g. the function crashed before deleting it): nothing is sent twice
    assert queue.deliver(ctx_of(storage), sender, payload)["skipped"] == 1
    mails = inbox(servers, "kim.ko@contoso.com")
    assert len(mails) == 1
    mail = mails[0]
    assert created["inviteRedeemUrl"] in mail["text"] and created["inviteRedeemUrl"] in mail["html"]
    assert any("\uac00" <= ch <= "\ud7a3" for ch in mail["subject"] + mail["text"])  # Hangul: the invitee's language
    assert "<b>Harry</b>" not in mail["html"]  # the partner's message is text, never markup
    inv = found(InvitationStore(storage).find_by_link(link_hash(created["id"])))
    assert inv.email_status == EmailStatus.SENT and inv.email_sent_at is not None


class ScriptedSender:
    """Answers from a script: a rule test of what delivery does with each outcome."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.sent = []

    def send(self, message, operation_id):
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if isinstance(outcome, Exception):
            raise outcome
        self.sent.append((message.to_address, operation_id))
        return "msg-1"


def test_throttling_requeues_with_the_services_delay(storage, settings, partner_tokens):
    rows = [invitation_body(email=f"t{i}@contoso.com") for i in range(3)]
    post("invitations/bulk", partner_tokens(), {"invitations": rows}, fn.create_invitations_bulk)
    q, messages = _drain(storage, settings)
    payload, msg = messages[0]
    sender = ScriptedSender("ok", EmailThrottled(120))
    counts = queue.deliver(ctx_of(storage), sender, payload)
    assert counts == {"sent": 1, "skipped": 0, "failed": 0, "requeued": 2}
    q.delete_message(msg)
    # the rest waits (visibility delay), it is not lost and not slept on
    assert list(q.receive_messages(max_messages=32)) == []
    props = q.get_queue_properties()
    assert props.approximate_message_count == 1
    statuses = sorted(i.email_status.value for i in InvitationStore(storage).list_page("p-direct").items)
    assert statuses == ["Queued", "Queued", "Sent"]


def test_after_the_last_retry_the_invitation_shows_failed(storage, settings, partner_tokens, monkeypatch):
    monkeypatch.setenv("EMAIL_MAX_ATTEMPTS", "2")
    from shared.settings import reset_settings

    reset_settings()
    created = json_of(post("invitations", partner_tokens(), invitation_body(), fn.create_invitation))
    _, messages = _drain(storage, settings)
    payload = messages[0][0]
    queue.deliver(ctx_of(storage), ScriptedSender(EmailThrottled(1)), payload)
    queue.deliver(ctx_of(storage), ScriptedSender(EmailThrottled(1)), payload)
    inv = found(InvitationStore(storage).find_by_link(link_hash(created["id"])))
    assert inv.email_status == EmailStatus.FAILED and "Throttled" in (inv.email_error or "")
    got = json_of(fn.get_invitation(__import__("tests.support.http", fromlist=["x"]).build_request(
        "GET", "x", headers={"Authorization": partner_tokens()}, route_params={"id": created["id"]})))
    assert got["emailStatus"] == "Failed" and got["emailError"]
    # the partner resends: a fresh send is queued and goes out
    post("x", partner_tokens(), None, fn.resend_invitation, route_params={"id": created["id"]})
    _, messages = _drain(storage, settings)
    sender = ScriptedSender()
    queue.deliver(ctx_of(storage), sender, messages[-1][0])
    assert sender.sent and found(InvitationStore(storage).find_by_link(link_hash(created["id"]))).email_status == EmailStatus.SENT


def test_rejected_address_is_failed_with_the_reason(storage, settings, partner_tokens):
    created = json_of(post("invitations", partner_tokens(), invitation_body(), fn.create_invitation))
    _, messages = _drain(storage, settings)
    queue.deliver(ctx_of(storage), ScriptedSender(EmailRejected("mailbox does not exist")), messages[0][0])
    inv = found(InvitationStore(storage).find_by_link(link_hash(created["id"])))
    assert inv.email_status == EmailStatus.FAILED and "mailbox does not exist" in (inv.email_error or "")


def test_poisoned_message_marks_invitations_failed(storage, settings, partner_tokens):
    created = json_of(post("invitations", partner_tokens(), invitation_body(), fn.create_invitation))
    _, messages = _drain(storage, settings)
    assert queue.poisoned(ctx_of(storage), messages[0][0]) == 1
    assert found(InvitationStore(storage).find_by_link(link_hash(created["id"]))).email_status == EmailStatus.FAILED


def test_revoked_before_sending_is_not_sent(storage, settings, partner_tokens):
    created = json_of(post("invitations", partner_tokens(), invitation_body(), fn.create_invitation))
    post("x", partner_tokens(), None, fn.revoke_invitation, route_params={"id": created["id"]})
    _, messages = _drain(storage, settings)
    sender = ScriptedSender()
    assert queue.deliver(ctx_of(storage), sender, messages[0][0])["skipped"] == 1
    assert sender.sent == []


def test_send_email_false_queues_nothing(storage, settings, partner_tokens):
    created = json_of(post("invitations", partner_tokens(), invitation_body(sendEmail=False), fn.create_invitation))
    assert created["emailStatus"] == "NotRequested"
    assert _drain(storage, settings)[1] == []
