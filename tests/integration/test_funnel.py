"""The partner's funnel: counts kept in the same transactions as the invitations' changes, matching what was created,
by how far each got; another partner's invitations never counted; the read is one query whatever the number."""

from __future__ import annotations

from datetime import timedelta

from invite_user import functions as fn
from invite_user import service
from invite_user.invitations import link_hash
from invite_user.repository import InvitationStore
from notifications import queue, reports
from partners.registry import Partner, PartnerRepository, PartnerType
from tests.integration.test_invitations_api import invitation_body, post
from tests.support.context import ctx_of
from tests.support.expect import found
from tests.support.http import build_request, json_of


def _funnel(partner_tokens, partner="p-direct", **params):
    req = build_request("GET", "invitations/funnel", headers={"Authorization": partner_tokens(partner)}, params=params)
    return fn.invitation_funnel(req)


def _report(storage, created, status, at):
    inv = found(InvitationStore(storage).find_by_link(link_hash(created["id"])))
    op = inv.email_operation_id or _claim(storage, inv)
    return queue.receive_report(ctx_of(storage), reports.EVENT_TYPE, {"messageId": op, "status": status, "deliveryAttemptTimestamp": at.isoformat()})


def _claim(storage, inv):
    from invite_user.delivery import operation_id

    return operation_id(inv)


def test_the_funnel_counts_what_was_created_by_how_far_it_got(storage, settings, partner_tokens, fixed_clock):
    day = fixed_clock.now().date().isoformat()
    made = [json_of(post("invitations", partner_tokens(), invitation_body(email=f"f{i}@contoso.com"), fn.create_invitation))
            for i in range(5)]
    post("invitations/bulk", partner_tokens(), {"invitations": [invitation_body(email=f"b{i}@contoso.com") for i in range(30)]},
         fn.create_invitations_bulk)
    # a real send records the operation id; here the queue is drained by hand for two of them
    import base64
    import json

    from notifications.sender import SmtpSender
    q = storage.queue(settings.email_queue)
    for m in q.receive_messages(max_messages=32, visibility_timeout=30):
        sender = SmtpSender(settings.smtp_host, settings.smtp_port, settings.email_sender)
        queue.deliver(ctx_of(storage), sender, json.loads(base64.b64decode(m.content)))
    _report(storage, made[0], "Delivered", fixed_clock.now())
    _report(storage, made[0], "Delivered", fixed_clock.now())  # a duplicate report: counted once
    _report(storage, made[1], "Bounced", fixed_clock.now())
    post("x", partner_tokens(), None, fn.revoke_invitation, route_params={"id": made[2]["id"]})
    inv = found(InvitationStore(storage).find_by_link(link_hash(made[3]["id"])))
    service.mark_journey(ctx_of(storage), inv.link_hash, "opened")
    service.mark_journey(ctx_of(storage), inv.link_hash, "opened")  # pressed twice: once
    resp = _funnel(partner_tokens, **{"from": day, "to": day})
    assert resp.status_code == 200, resp.get_body()
    got = json_of(resp)
    assert got["created"] == 35  # every invitation created, each counted once
    assert got["stages"]["Delivered"] == 1 and got["stages"]["DeliveryFailed"] == 1 and got["stages"]["Revoked"] == 1
    assert got["stages"]["Opened"] == 1
    assert got["stages"]["Created"] == 31  # sent (Sent is not yet a report): still Created
    PartnerRepository(storage).save(Partner(id="p-other", name="Other Partner", type=PartnerType.DIRECT))
    assert json_of(_funnel(partner_tokens, "p-other", **{"from": day, "to": day}))["created"] == 0  # never another's
    tomorrow = (fixed_clock.now() + timedelta(days=1)).date().isoformat()
    assert json_of(_funnel(partner_tokens, **{"from": tomorrow, "to": tomorrow}))["created"] == 0
    assert json_of(_funnel(partner_tokens, **{"from": day, "to": day, "kind": "CompanyUser"}))["created"] == 0


def test_any_window_is_answered_and_a_backwards_one_is_empty(storage, partner_tokens, fixed_clock):
    json_of(post("invitations", partner_tokens(), invitation_body(email="w@contoso.com"), fn.create_invitation))
    today = fixed_clock.now().date().isoformat()
    assert json_of(_funnel(partner_tokens, **{"from": today, "to": "2026-01-01"}))["created"] == 0
    assert json_of(_funnel(partner_tokens, **{"from": "0042-02-02", "to": "3835-09-05"}))["created"] == 1  # years: one query
    assert _funnel(partner_tokens, **{"from": "yesterday", "to": "2026-12-01"}).status_code == 400


def _as_before_the_funnel(storage, partner_id):
    """The partner's rows as they were stored before the funnel existed: no count rows, no invitation counted."""
    from azure.data.tables import UpdateMode

    from invite_user.repository import TABLE, partner_partition

    table = storage.table(TABLE)
    for entity in list(table.query_entities("PartitionKey eq @pk", parameters={"pk": partner_partition(partner_id)})):
        if entity["RowKey"].startswith("f|"):
            table.delete_entity(entity["PartitionKey"], entity["RowKey"])
        elif "countedStage" in entity or "counted_stage" in entity:
            kept = {k: v for k, v in entity.items() if k not in ("countedStage", "counted_stage", "countedAcceptMinutes",
                                                                 "counted_accept_minutes")}
            table.update_entity(kept, mode=UpdateMode.REPLACE)


def test_invitations_stored_before_the_funnel_are_counted_once_by_the_backfill(storage, partner_tokens, fixed_clock):
    from invite_user.funnel_backfill import count_uncounted

    day = fixed_clock.now().date().isoformat()
    made = [json_of(post("invitations", partner_tokens(), invitation_body(email=f"old{i}@contoso.com"), fn.create_invitation))
            for i in range(4)]
    post("x", partner_tokens(), None, fn.revoke_invitation, route_params={"id": made[0]["id"]})
    _as_before_the_funnel(storage, "p-direct")
    assert json_of(_funnel(partner_tokens, **{"from": day, "to": day}))["created"] == 0  # what a deploy finds

    assert count_uncounted(ctx_of(storage), "p-direct") == 4
    got = json_of(_funnel(partner_tokens, **{"from": day, "to": day}))
    assert got["created"] == 4 and got["stages"]["Revoked"] == 1 and got["stages"]["Created"] == 3
    assert count_uncounted(ctx_of(storage), "p-direct") == 0  # a second run counts nothing twice
    post("x", partner_tokens(), None, fn.revoke_invitation, route_params={"id": made[1]["id"]})  # later changes move it
    got = json_of(_funnel(partner_tokens, **{"from": day, "to": day}))
    assert got["created"] == 4 and got["stages"]["Revoked"] == 2 and got["stages"]["Created"] == 2
