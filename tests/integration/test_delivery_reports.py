"""Delivery reports: every email is sent under an operation id it is tracked by, and ACS's report (Event Grid) lands on
its record: monotonic (a duplicate changes nothing, an older report never overwrites a newer one), unknown ids dropped."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import azure.functions as func
import pytest
import requests

from devhost.mail_reports import reports_for
from invite_user import functions as fn
from invite_user.invitations import link_hash
from invite_user.repository import TABLE, InvitationStore, partner_partition
from notifications import functions as notifications_fn
from notifications import queue, reports
from notifications.sender import SmtpSender
from tests.integration.test_email_senders import _RefusingSmtp
from tests.integration.test_invitations_api import invitation_body, post
from tests.support.context import ctx_of
from tests.support.expect import found
from tests.support.http import build_request, json_of
from tests.support.queues import take

RUN = uuid.uuid4().hex[:8]  # MailDev is shared by the session: addresses of this run only


def _send_all(storage, settings, sender=None):
    sender = sender or SmtpSender(settings.smtp_host, settings.smtp_port, settings.email_sender)
    for payload in take(storage, settings.email_queue):
        queue.deliver(ctx_of(storage), sender, payload)


def _mail_to(servers, to, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        mails = requests.get(f"http://127.0.0.1:{servers.stack.ports.mail_web}/email", timeout=10).json()
        found = [m for m in mails if any(t["address"].lower() == to.lower() for t in m["to"])]
        if found:
            return found[-1]
        time.sleep(0.2)
    raise AssertionError(f"no mail to {to}")


def _deliver_event(event: dict) -> None:
    """As the Functions host hands an Event Grid event to the function."""
    notifications_fn.receive_email_delivery_report(func.EventGridEvent(
        id=event["id"], data=event["data"], topic=event["topic"], subject=event["subject"], event_type=event["eventType"],
        event_time=None, data_version=event["dataVersion"]))


def _read(partner_tokens, invitation_id):
    return json_of(fn.get_invitation(build_request("GET", "x", headers={"Authorization": partner_tokens()},
                                                   route_params={"id": invitation_id})))


def _events(storage, kind, partner="p-direct"):
    rows = storage.table(TABLE).query_entities("PartitionKey eq @pk and RowKey ge 'e|' and RowKey lt 'e}'",
                                               parameters={"pk": partner_partition(partner)})
    return [r for r in rows if r["type"] == kind]


def _report(message_id, status, at, words="words"):
    return {"id": str(uuid.uuid4()), "topic": "/acs", "subject": f"sender/s/message/{message_id}", "dataVersion": "1.0",
            "eventType": reports.EVENT_TYPE, "data": {"messageId": message_id, "status": status, "recipient": "r@x.example",
                                                      "deliveryStatusDetails": {"statusMessage": words},
                                                      "deliveryAttemptTimestamp": at.isoformat()}}


def test_a_hard_bounce_reaches_the_partner_with_advice_and_an_event(storage, settings, servers, partner_tokens):
    created = json_of(post("invitations", partner_tokens(), invitation_body(email=f"someone-{RUN}@hardbounce.example"), fn.create_invitation))
    _send_all(storage, settings)
    mail = _mail_to(servers, f"someone-{RUN}@hardbounce.example")
    [event] = reports_for(mail)
    inv = found(InvitationStore(storage).find_by_link(link_hash(created["id"])))
    assert event["data"]["messageId"] == inv.email_operation_id  # the id the app chose, stored, and sent under
    _deliver_event(event)
    got = _read(partner_tokens, created["id"])
    assert got["emailStatus"] == "Bounced" and got["status"] == "PendingAcceptance"
    detail = got["emailStatusDetail"]
    assert detail["advice"] == "fix-address" and "5.1.1" in detail["reason"] and detail["messageId"] == inv.email_operation_id
    [failed] = _events(storage, "invitation.deliveryFailed")
    assert '"advice":"fix-address"' in failed["data"] and '"emailStatus":"Bounced"' in failed["data"]
    _deliver_event(event)  # Event Grid delivers at least once: the same report again changes nothing
    assert len(_events(storage, "invitation.deliveryFailed")) == 1


def test_an_ordinary_email_is_delivered_and_reports_apply_newest_first_whatever_their_order(storage, settings, servers,
                                                                                           partner_tokens):
    created = json_of(post("invitations", partner_tokens(), invitation_body(email=f"kim-{RUN}@contoso.com"), fn.create_invitation))
    _send_all(storage, settings)
    [event] = reports_for(_mail_to(servers, f"kim-{RUN}@contoso.com"))
    op = event["data"]["messageId"]
    t0 = datetime.now(timezone.utc)
    _deliver_event(_report(op, "Delivered", t0 + timedelta(minutes=2), "No error."))
    _deliver_event(_report(op, "Failed", t0 + timedelta(minutes=1), "soft failure"))  # older: arrives late, ignored
    got = _read(partner_tokens, created["id"])
    assert got["emailStatus"] == "Delivered" and got["emailStatusDetail"].get("advice") is None and not got.get("emailError")
    _deliver_event(_report(op, "Bounced", t0 + timedelta(minutes=3), "550 mailbox gone"))  # newer: wins
    assert _read(partner_tokens, created["id"])["emailStatus"] == "Bounced"
    same_time = t0 + timedelta(minutes=3)
    _deliver_event(_report(op, "Delivered", same_time))  # same time, the better news: the worse one stays (order-free)
    assert _read(partner_tokens, created["id"])["emailStatus"] == "Bounced"


def test_a_report_faster_than_the_recorded_send_is_kept(storage, settings, partner_tokens):
    created = json_of(post("invitations", partner_tokens(), invitation_body(email="fast@contoso.com"), fn.create_invitation))

    class ReportsAtOnce:
        """A mail service whose report reaches the app before the send function records Sent."""

        def send(self, message, operation_id):
            _deliver_event(_report(operation_id, "Delivered", datetime.now(timezone.utc)))
            return operation_id

    _send_all(storage, settings, ReportsAtOnce())
    assert _read(partner_tokens, created["id"])["emailStatus"] == "Delivered"


def test_a_report_for_an_email_nobody_sent_is_logged_and_dropped(storage, settings, caplog):
    _deliver_event(_report(str(uuid.uuid4()), "Delivered", datetime.now(timezone.utc)))  # no exception: no retry storm
    assert "did not send" in caplog.text
    assert queue.receive_report(ctx_of(storage), reports.EVENT_TYPE, {"status": "Delivered"}) == "malformed"
    assert queue.receive_report(ctx_of(storage), reports.EVENT_TYPE, {"messageId": "x", "status": "Sideways",
                                                              "deliveryAttemptTimestamp": "2026-12-06T08:00:00Z"}) == "malformed"
    assert queue.receive_report(ctx_of(storage), "Microsoft.Communication.EmailEngagementTrackingReportReceived", {}) == "ignored"


def test_a_report_of_a_resent_invitations_earlier_email_does_not_change_it(storage, settings, servers, partner_tokens):
    created = json_of(post("invitations", partner_tokens(), invitation_body(email=f"twice-{RUN}@hardbounce.example"), fn.create_invitation))
    _send_all(storage, settings)
    [first] = reports_for(_mail_to(servers, f"twice-{RUN}@hardbounce.example"))
    post("x", partner_tokens(), None, fn.resend_invitation, route_params={"id": created["id"]})
    _deliver_event(first)  # the old email's bounce arrives after the resend: the new email is not Bounced by it
    assert _read(partner_tokens, created["id"])["emailStatus"] == "Queued"
    _send_all(storage, settings)
    [second] = reports_for(_mail_to_nth(servers, f"twice-{RUN}@hardbounce.example", 2))
    assert second["data"]["messageId"] != first["data"]["messageId"]
    _deliver_event(second)
    _deliver_event(first)  # a duplicate of the earlier one: nothing more
    # Both emails' reports are on the trail: the first (superseded) one, the resend, then the resend's own.
    steps = [(s["step"], s.get("emailStatus")) for s in _trail(partner_tokens, created["id"])["steps"]]
    assert steps == [("created", None), ("deliveryFailed", "Bounced"), ("resent", None), ("emailed", None),
                     ("deliveryFailed", "Bounced")], steps


def test_a_reminders_report_is_on_the_trail(storage, settings, servers, partner_tokens, fixed_clock):
    from invite_user import reminders

    created = json_of(post("invitations", partner_tokens(), invitation_body(email=f"later-{RUN}@quarantine.example",
                                                                           sendEmail=False), fn.create_invitation))
    take(storage, settings.email_queue)
    fixed_clock.advance(days=53, minutes=1)
    assert reminders.sweep(ctx_of(storage)).reminded == 1
    _send_all(storage, settings)
    [mailed] = reports_for(_mail_to(servers, f"later-{RUN}@quarantine.example"))
    event = _report(mailed["data"]["messageId"], "Quarantined", fixed_clock.now() + timedelta(minutes=1))  # the test's clock
    storage.counter.reset()
    assert queue.receive_report(ctx_of(storage), event["eventType"], event["data"]) == "applied"
    applied = storage.counter.reset()
    assert queue.receive_report(ctx_of(storage), event["eventType"], event["data"]) == "unchanged"  # a duplicate
    # the tracked send read, the invitation read and written, the tracked send written; a duplicate only reads both
    assert (applied, storage.counter.reset()) == (4, 2)
    steps = _trail(partner_tokens, created["id"])["steps"]
    assert [s["step"] for s in steps] == ["created", "reminded", "reminderDeliveryFailed"]
    assert steps[-1]["emailStatus"] == "Quarantined" and steps[-1]["advice"] == "ask-customer-to-allow-sender"
    assert _read(partner_tokens, created["id"])["emailStatus"] == "NotRequested"  # the invitation's own email: untouched


def _trail(partner_tokens, invitation_id):
    return json_of(fn.invitation_trail(build_request("GET", "x", headers={"Authorization": partner_tokens()},
                                                     route_params={"id": invitation_id})))


def _mail_to_nth(servers, to, n, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        mails = requests.get(f"http://127.0.0.1:{servers.stack.ports.mail_web}/email", timeout=10).json()
        found = [m for m in mails if any(t["address"].lower() == to.lower() for t in m["to"])]
        if len(found) >= n:
            return found[n - 1]
        time.sleep(0.2)
    raise AssertionError(f"fewer than {n} mails to {to}")


@pytest.mark.parametrize("reply", ["550 5.1.1 No such user"])
def test_an_smtp_refusal_at_send_time_is_a_bounce(storage, settings, partner_tokens, reply):
    created = json_of(post("invitations", partner_tokens(), invitation_body(email="nobody@contoso.com"), fn.create_invitation))
    server = _RefusingSmtp(reply)
    try:
        _send_all(storage, settings, SmtpSender("127.0.0.1", server.port, settings.email_sender, timeout=5))
    finally:
        server.close()
    got = _read(partner_tokens, created["id"])
    assert got["emailStatus"] == "Bounced" and got["emailStatusDetail"]["advice"] == "fix-address"
    assert "550" in got["emailStatusDetail"]["reason"]
    assert len(_events(storage, "invitation.deliveryFailed")) == 1


def test_every_kind_of_email_is_tracked_by_its_operation_id(storage, settings, servers):
    from notifications.sender import EmailMessage

    message = EmailMessage(to_address=f"ops-{RUN}@quarantine.example", to_name="Ops", subject="s", text="t", html="<p>t</p>")
    queue.queue_plain_email(ctx_of(storage), message, "plain-op-1")
    _send_all(storage, settings)
    [event] = reports_for(_mail_to(servers, f"ops-{RUN}@quarantine.example"))
    assert queue.receive_report(ctx_of(storage), event["eventType"], event["data"]) == "applied"
    row = found(reports.SentEmails(storage).get(reports.key_of("plain-op-1"), ""))
    assert row.detail is not None
    assert row.kind == "email" and row.detail.status == "Quarantined" and row.detail.advice == "ask-customer-to-allow-sender"
    assert queue.receive_report(ctx_of(storage), event["eventType"], event["data"]) == "unchanged"


def test_the_list_filters_by_email_status_and_stage(storage, settings, servers, partner_tokens, fixed_clock):
    bounced = json_of(post("invitations", partner_tokens(), invitation_body(email=f"gone-{RUN}@hardbounce.example"), fn.create_invitation))
    json_of(post("invitations", partner_tokens(), invitation_body(email=f"here-{RUN}@contoso.com"), fn.create_invitation))
    _send_all(storage, settings)
    for to in (f"gone-{RUN}@hardbounce.example", f"here-{RUN}@contoso.com"):
        [event] = reports_for(_mail_to(servers, to))
        _deliver_event(event)

    def listed(**params):
        req = build_request("GET", "invitations", headers={"Authorization": partner_tokens()}, params=params)
        return [i["reference"] for i in json_of(fn.list_invitations(req))["items"]]

    ref = _read(partner_tokens, bounced["id"])["reference"]
    assert listed(emailStatus="Bounced", status="PendingAcceptance") == [ref]  # bounced and still pending: one call
    assert listed(stage="DeliveryFailed") == [ref]
    assert len(listed(stage="Delivered")) == 1 and ref not in listed(stage="Delivered")
    fixed_clock.advance(days=8)
    assert set(listed(createdBefore=(fixed_clock.now() - timedelta(days=7)).isoformat())) >= {ref}
    assert listed(createdBefore=(fixed_clock.now() - timedelta(days=9)).isoformat()) == []
