"""Telemetry through the real functions on Azurite and MailDev: spans and counters exist, and carry no personal data."""

from __future__ import annotations

import base64
import json

from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from accept_invite import companies
from accept_invite import functions as accept_fn
from accept_invite.company_form import prefill
from attest_agreement import functions as attest_fn
from invite_user import functions as fn
from invite_user.invitations import link_hash
from notifications import functions as notifications_fn
from tests.integration.test_attest_agreement import attest, attestation
from tests.integration.test_attest_customers import create
from tests.integration.test_invitations_api import invitation_body, post
from tests.support.accept_invite import form_request, invite, session_header
from tests.support.http import json_of
from tests.support.partners import register_partners

HARRY = ("Harry.Kim@Contoso.com", "Harry", "Kim")
AGENT = ("anna@partner.example", "Anna Agent")


def _trace_id(span) -> str:
    return format(span.context.trace_id, "032x")


def _queue_messages(storage, settings) -> list[QueueMessage]:
    q = storage.queue(settings.email_queue)
    out = []
    for m in q.receive_messages(max_messages=32, visibility_timeout=30):
        out.append(QueueMessage(id=m.id, body=base64.b64decode(m.content), dequeue_count=m.dequeue_count))
        q.delete_message(m)
    return out


def test_create_and_email_an_invitation(storage, settings, partner_tokens, recorded):
    token = partner_tokens()
    resp = post("invitations", token, invitation_body(), fn.create_invitation)
    assert resp.status_code == 201, resp.get_body()
    created = json_of(resp)
    [message] = _queue_messages(storage, settings)
    notifications_fn.send_queued_email(message)  # SMTP to MailDev

    span = recorded.span("create_invitation")
    assert dict(span.attributes) | {"faas.invocation_id": "-"} == {
        "faas.trigger": "http", "faas.invocation_id": "-", "http.request.method": "POST", "http.route": "invitations",
        "partner.id": "p-direct", "invitation.reference": link_hash(created["id"]),
        "http.response.status_code": 201, "outcome": "ok",
    }
    sent = recorded.span("send_queued_email")
    assert sent.attributes["faas.trigger"] == "pubsub" and sent.attributes["outcome"] == "ok"
    assert sent.attributes["invitation.reference"] == link_hash(created["id"])
    assert recorded.points("invitations.created") == [({"partner.id": "p-direct", "invitation.kind": "CustomerOnboarding"}, 1)]
    assert recorded.points("invitations.emailed") == [({"partner.id": "p-direct", "invitation.kind": "CustomerOnboarding"}, 1)]
    # Neither the invitee, nor the agent, nor the bearer token (or any part of it), nor the raw link id.
    recorded.assert_none_contains(*HARRY, *AGENT, token, *token.removeprefix("Bearer ").split("."), created["id"])


def test_error_answers_carry_the_trace_id_of_their_span(storage, settings, partner_tokens, recorded):
    token = partner_tokens()
    invalid = post("invitations", token, invitation_body(email="not-an-email"), fn.create_invitation)
    unauthenticated = post("invitations", None, invitation_body(), fn.create_invitation)
    assert (invalid.status_code, unauthenticated.status_code) == (400, 401)
    assert invalid.mimetype == "application/problem+json"
    first, second = recorded.spans("create_invitation")
    assert json_of(invalid)["traceId"] == _trace_id(first) != _trace_id(second) == json_of(unauthenticated)["traceId"]
    assert first.attributes["outcome"] == second.attributes["outcome"] == "rejected"
    assert first.attributes["partner.id"] == "p-direct" and "partner.id" not in second.attributes
    assert recorded.points("invitations.created") == []
    recorded.assert_none_contains("not-an-email", *HARRY, *AGENT, token)


def test_bulk_creates_count_per_invitation(storage, settings, partner_tokens, recorded):
    rows = [invitation_body(email=f"bulk{i}@contoso.com", sendEmail=False) for i in range(3)] + [{"email": "broken"}]
    resp = post("invitations/bulk", partner_tokens(), {"invitations": rows}, fn.create_invitations_bulk)
    assert json_of(resp)["summary"] == {"created": 3, "invalid": 1, "failed": 0}
    assert recorded.total("invitations.created", **{"partner.id": "p-direct"}) == 3
    recorded.assert_none_contains("bulk0@contoso.com", "broken")


def test_expired_invitations_are_counted_by_the_timer(storage, settings, partner_tokens, fixed_clock, recorded):
    for email in ("a@contoso.com", "b@contoso.com"):
        post("invitations", partner_tokens(), invitation_body(email=email, expiresInDays=1, sendEmail=False), fn.create_invitation)
    fixed_clock.advance(days=2)
    fn.expire_invitations(TimerRequest(past_due=False))
    span = recorded.span("expire_invitations")
    assert span.attributes["faas.trigger"] == "timer" and span.attributes["outcome"] == "ok"
    assert recorded.points("invitations.expired") == [({"partner.id": "p-direct"}, 2)]


def test_a_redeemed_invitation_is_counted_on_its_page_span(storage, settings, recorded):
    register_partners(storage)
    inv, _ = invite(storage)
    form = {"csrf": "csrf-token-for-tests", "invitationId": inv.link_hash,
            **prefill(inv.company, inv.country_region)}
    resp = accept_fn.create_company(form_request("companies", form, session_header()))
    assert resp.status_code == 303
    span = recorded.span("create_company")
    assert span.attributes["invitation.reference"] == inv.reference
    assert span.attributes["customer.id"] == companies.customer_id_for(inv)
    assert span.attributes["http.response.status_code"] == 303 and span.attributes["outcome"] == "ok"
    assert recorded.points("invitations.redeemed") == [({"partner.id": "p-direct", "invitation.kind": inv.kind.value}, 1)]
    recorded.assert_none_contains("hanna", "Schmidt", str(inv.email), inv.first_name, inv.last_name)


def test_an_attestation_confirmation_is_counted(storage, settings, partner_tokens, fixed_clock, recorded):
    contact = {"firstName": "Greta", "lastName": "Maier", "email": "greta.t1@contoso.de"}
    customer_id = create(partner_tokens(), primaryContact=contact)["customer"]["id"]
    assert attest(partner_tokens(), customer_id, attestation(primaryContact=contact)).status_code == 201
    span = recorded.span("attest_customer_agreement")
    assert span.attributes["customer.id"] == customer_id and span.attributes["partner.id"] == "p-direct"
    assert recorded.total("notices.sent") == 0  # queued, not sent yet
    [message] = _queue_messages(storage, settings)
    notifications_fn.send_queued_email(message)  # SMTP to MailDev
    assert recorded.total("notices.sent") == 1
    attest_fn.send_pending_attestation_notices(TimerRequest(past_due=False))  # nothing left for the sweep
    notifications_fn.send_queued_email(message)  # a redelivered message: sent already, skipped
    assert recorded.total("notices.sent") == 1
    recorded.assert_none_contains(*contact.values())
    assert json.dumps(recorded.points("notices.sent")) == "[[{}, 1]]"
