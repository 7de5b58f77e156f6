"""Business Center "haven't received an invitation email yet?": same answer whether or not it matched."""

from __future__ import annotations

import base64
import json

from invite_user import functions as fn
from invite_user.invitations import link_hash
from invite_user.repository import InvitationStore
from notifications import queue
from tests.integration.test_invitation_delivery import ScriptedSender
from tests.integration.test_invitations_api import invitation_body, post
from tests.support.context import ctx_of
from tests.support.expect import found
from tests.support.http import build_request, json_of

AGREEMENT = {"agreementNumber": "MPSA-1234", "purchasingAccountNumber": "PA-99"}


def _ask(email, ip="203.0.113.5", **over):
    body = {"email": email, **AGREEMENT, **over}
    return fn.request_invitation_resend(build_request("POST", "invitations/resend-request", body=body,
                                                      headers={"X-Forwarded-For": f"{ip}:5123"}))


def _run_queue(storage, settings):
    q = storage.queue(settings.email_queue)
    sender = ScriptedSender()
    for _ in range(3):
        msgs = list(q.receive_messages(max_messages=32))
        if not msgs:
            break
        for m in msgs:
            queue.deliver(ctx_of(storage), sender, json.loads(base64.b64decode(m.content)))
            q.delete_message(m)
    return sender


def test_matching_email_gets_the_invitation_again(storage, settings, partner_tokens, fixed_clock):
    created = json_of(post("invitations", partner_tokens(), invitation_body(email="harry@contoso.com", agreement=AGREEMENT,
                                                                              expiresInDays=3), fn.create_invitation))
    _run_queue(storage, settings)  # the first email
    fixed_clock.advance(days=5)
    resp = _ask("HARRY@contoso.com")
    assert resp.status_code == 202
    sender = _run_queue(storage, settings)
    assert [to for to, _ in sender.sent] == ["harry@contoso.com"]
    inv = found(InvitationStore(storage).find_by_link(link_hash(created["id"])))
    assert inv.status.value == "PendingAcceptance" and inv.resent_count == 1


def test_other_email_gets_the_same_answer_and_nothing_is_sent(storage, settings, partner_tokens):
    post("invitations", partner_tokens(), invitation_body(email="harry@contoso.com", agreement=AGREEMENT), fn.create_invitation)
    _run_queue(storage, settings)
    matched = _ask("harry@contoso.com", ip="198.51.100.1")
    unmatched = _ask("mallory@contoso.com", ip="198.51.100.2")
    assert matched.status_code == unmatched.status_code == 202
    assert matched.get_body() == unmatched.get_body()
    sender = _run_queue(storage, settings)
    assert [to for to, _ in sender.sent] == ["harry@contoso.com"]


def test_rate_limited_per_email_and_per_client(storage, settings):
    statuses = [_ask("flood@contoso.com", ip=f"192.0.2.{i}").status_code for i in range(6)]
    assert statuses == [202] * 5 + [429]
    limited = _ask("flood@contoso.com", ip="192.0.2.77")
    assert limited.headers["Retry-After"] and limited.mimetype == "application/problem+json"
    per_ip = [_ask(f"u{i}@contoso.com", ip="192.0.2.200").status_code for i in range(21)]
    assert per_ip[-1] == 429 and per_ip[:20] == [202] * 20


def test_bad_input_is_400(storage, settings):
    resp = fn.request_invitation_resend(build_request("POST", "x", body={"email": "nope"}))
    assert resp.status_code == 400
    assert {e["field"] for e in json_of(resp)["errors"]} >= {"email", "agreementNumber", "purchasingAccountNumber"}
