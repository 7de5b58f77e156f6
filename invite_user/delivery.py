"""Delivery of invitation emails: queued with the invitation, sent by a queue-triggered function.

Sending never blocks or loses an invitation. Each email has an operation id derived from the invitation
and its resend count, so a redelivered queue message is recognised: an email already marked Sent is not
sent again, and the provider (ACS) deduplicates a send repeated under the same operation id.
Throttling (429) re-queues the rest with the provider's Retry-After as a visibility delay.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from invite_user.invitations import EmailStatus, Invitation, event_fields
from invite_user.repository import InvitationStore, InvitationUnitOfWork
from notifications import queue
from notifications.emails import RenderedEmail, render_email
from notifications.sender import EmailMessage, EmailRejected, EmailSender, EmailThrottled
from shared import events, telemetry
from shared.context import Context
from shared.errors import Busy
from shared.settings import get_settings
from shared.storage import StorageUnavailable, chunks
from shared.uow import attempt

log = logging.getLogger(__name__)

_OPS = uuid.UUID("6f1c0b7e-8c44-4b8e-9a55-1d3c2b7a9e10")
KIND = "invitation-email"
ITEMS_PER_MESSAGE = 32  # bulk creates queue few messages; each stays well under the 64 KiB queue limit


def operation_id(inv: Invitation) -> str:
    return str(uuid.uuid5(_OPS, f"{inv.link_hash}:{inv.resent_count}"))


def queue_emails(ctx: Context, items: Sequence[tuple[Invitation, str]], *, outbox: Sequence[events.Partition] = ()) -> None:
    """Queue the emails of freshly stored invitations. A queue outage is recorded on the invitation
    (emailStatus Failed, with the reason) so the partner sees it and can resend: nothing is silently lost.

    `outbox` names partitions with new events; the email message carries the announcement (notifications forwards it).
    """
    for chunk in chunks(list(items), ITEMS_PER_MESSAGE):
        payload: dict[str, Any] = {"type": KIND, **({"outbox": events.hints(outbox)} if outbox else {}), "items": [
            {"partnerId": inv.partner_id, "rowKey": InvitationStore.row_key(inv), "linkId": link_id, "operationId": operation_id(inv)}
            for inv, link_id in chunk
        ]}
        try:
            queue.send(ctx, payload)
        except StorageUnavailable as exc:
            log.error("could not queue %d invitation emails: %s", len(chunk), exc)
            for inv, _ in chunk:
                telemetry.count("invitations.email_failed", partner_id=inv.partner_id, kind=inv.kind.value, reason="not_queued")
                _record(ctx, inv.partner_id, InvitationStore.row_key(inv), operation_id(inv), EmailStatus.FAILED,
                        "The email could not be queued (storage unavailable); resend it.")


def _record(ctx: Context, partner_id: str, row_key: str, operation: str, status: EmailStatus, error: str | None,
            *, sent_at: datetime | None = None) -> None:
    """Record what became of one send on its invitation (only while the invitation still expects that send)."""

    def work(uow: InvitationUnitOfWork) -> None:
        inv = uow.get(partner_id, row_key)
        if inv is None or operation_id(inv) != operation:
            return
        inv.record_email(status, error, sent_at=sent_at)
        uow.save(inv)
        if status == EmailStatus.FAILED:
            uow.event("invitation.email-failed", inv.partner_id, **event_fields(inv))

    try:
        attempt(lambda: ctx.unit(InvitationUnitOfWork), work)
    except (Busy, StorageUnavailable):
        log.warning("could not record email status %s on invitation %s", status, row_key)


def redeem_url(link_id: str) -> str:
    return f"{get_settings().public_base_url.rstrip('/')}/api/InviteUser?invitationId={link_id}"


def email_context(inv: Invitation, url: str) -> dict[str, Any]:
    s = get_settings()
    return {
        "first_name": inv.first_name, "last_name": inv.last_name, "inviter_name": inv.inviter_name,
        "seller_name": inv.partner_name, "platform_name": s.platform_name, "invite_url": url,
        "expires_at": inv.expires_at, "support_email": s.support_email, "docs_url": s.docs_url,
        "message": inv.message, "company_name": inv.company.name, "indirect_provider_name": inv.indirect_provider_name,
        "roles": [r.value for r in inv.roles],
        "agreement_number": inv.agreement.agreement_number if inv.agreement else None,
    }


def render(inv: Invitation, url: str, language: str | None = None) -> RenderedEmail:
    return render_email(inv.kind.value, language or inv.language, email_context(inv, url))


def message_for(inv: Invitation, url: str) -> EmailMessage:
    rendered = render(inv, url)
    return EmailMessage(
        to_address=str(inv.email), to_name=f"{inv.first_name} {inv.last_name}", subject=rendered.subject,
        text=rendered.text, html=rendered.html, language=rendered.language,
    )


def _mark_poisoned(ctx: Context, payload: dict[str, Any]) -> int:
    """A message that failed five times: say so on its invitations, so partners see it and can resend."""
    marked = 0
    for item in payload["items"]:
        inv = ctx.store(InvitationStore).get(item["partnerId"], item["rowKey"])
        if inv is not None and operation_id(inv) == item["operationId"] and inv.email_status != EmailStatus.SENT:
            if inv.email_status != EmailStatus.FAILED:  # counted once, though a poisoned message may mark it again
                telemetry.count("invitations.email_failed", partner_id=inv.partner_id, kind=inv.kind.value, reason="poisoned")
            _record(ctx, item["partnerId"], item["rowKey"], item["operationId"], EmailStatus.FAILED,
                    "Delivery failed repeatedly; see the service logs, then resend.")
            marked += 1
    return marked


@queue.handles(KIND, on_poison=_mark_poisoned)
def deliver_invitations(ctx: Context, sender: EmailSender, payload: dict[str, Any]) -> dict[str, int]:
    """Send the emails of one queue message; throttling re-queues the rest with the service's Retry-After."""
    items = payload["items"]
    counts = {"sent": 0, "skipped": 0, "failed": 0, "requeued": 0}
    max_attempts = ctx.settings.email_max_attempts
    for index, item in enumerate(items):
        outcome = _deliver_one(ctx, sender, item, max_attempts)
        if isinstance(outcome, EmailThrottled):
            rest = items[index:]
            queue.send(ctx, {"type": KIND, "items": rest}, delay_seconds=max(1, min(outcome.retry_after_seconds, 3600)))
            counts["requeued"] += len(rest)
            break
        counts[outcome] += 1
    return counts


def _claim(ctx: Context, item: dict[str, Any]) -> Invitation | None:
    """Take one send under the invitation's ETag; None when it is not (or no longer) this message's to send."""
    return change_for_message(ctx, item, operation_id, lambda inv: inv.claim_send(ctx.now()))


def change_for_message(ctx: Context, item: dict[str, Any], operation_of: Callable[[Invitation], str],
                       change: Callable[[Invitation], bool]) -> Invitation | None:
    """Apply `change(inv)` (True: save it) under the invitation's ETag while the queue item is still the invitation's
    current one (`operation_of(inv)` is the item's operation id: a later resend or reminder has a message of its own).
    None when it is gone, superseded, or the change declined."""

    def work(uow: InvitationUnitOfWork) -> Invitation | None:
        inv = uow.get(item["partnerId"], item["rowKey"])
        if inv is None or operation_of(inv) != item["operationId"] or not change(inv):
            return None
        uow.save(inv)
        return inv

    try:
        return attempt(lambda: ctx.unit(InvitationUnitOfWork), work)
    except Busy:
        return None


def _deliver_one(ctx: Context, sender: EmailSender, item: dict[str, Any], max_attempts: int) -> Any:
    inv = _claim(ctx, item)
    if inv is None:
        return "skipped"
    where = (ctx, item["partnerId"], item["rowKey"], item["operationId"])
    try:
        sender.send(message_for(inv, redeem_url(item["linkId"])), item["operationId"])
    except EmailThrottled as throttled:
        if inv.email_attempts >= max_attempts:
            telemetry.count("invitations.email_failed", partner_id=inv.partner_id, kind=inv.kind.value, reason="throttled")
            _record(*where, EmailStatus.FAILED, f"Throttled by the email service {inv.email_attempts} times; resend later.")
            return "failed"
        _record(*where, EmailStatus.QUEUED, None)
        return throttled
    except EmailRejected as rejected:
        telemetry.count("invitations.email_failed", partner_id=inv.partner_id, kind=inv.kind.value, reason="rejected")
        _record(*where, EmailStatus.FAILED, f"Rejected by the email service: {rejected}")
        return "failed"
    _record(*where, EmailStatus.SENT, None, sent_at=ctx.now())
    telemetry.count("invitations.emailed", partner_id=inv.partner_id, kind=inv.kind.value, reference=inv.reference)
    log.info("invitation email %s sent (operation %s)", inv.reference, item["operationId"])
    return "sent"
