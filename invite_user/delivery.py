"""Delivery of invitation emails: queued with the invitation, sent by a queue-triggered function.

Sending never blocks or loses an invitation. Each email has an operation id derived from the invitation
and its resend count, so a redelivered queue message is recognised: an email already marked Sent is not
sent again, and the provider (ACS) deduplicates a send repeated under the same operation id.
Sending, throttling, attempts and poison are the one delivery mechanism's (`notifications.queue`); this module says
only what an invitation email claims and where its outcome is recorded.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from invite_user.invitations import REPORTED, EmailStatus, Invitation, event_fields
from invite_user.repository import InvitationStore, InvitationUnitOfWork
from notifications import queue
from notifications.emails import RenderedEmail, render_email
from notifications.reports import ADVICE, FAILURES, REASON_LENGTH, DeliveryStatus, StatusDetail
from notifications.sender import EmailMessage
from shared import events, telemetry
from shared.context import Context
from shared.errors import Busy
from shared.settings import get_settings
from shared.storage import StorageUnavailable, chunks
from shared.uow import attempt

log = logging.getLogger(__name__)

DELIVERY_FAILURES = frozenset(EmailStatus(s.value) for s in FAILURES)

_OPS = uuid.UUID("6f1c0b7e-8c44-4b8e-9a55-1d3c2b7a9e10")
KIND = "invitation-email"
ITEMS_PER_MESSAGE = 32  # bulk creates queue few messages; each stays well under the 64 KiB queue limit


def operation_id(inv: Invitation, sends: int | None = None) -> str:
    """The operation id of the invitation's email after `sends` resends (by default its current one)."""
    return str(uuid.uuid5(_OPS, f"{inv.link_hash}:{inv.resent_count if sends is None else sends}"))


def _earlier_operations(inv: Invitation) -> set[str]:
    """The operation ids of the emails its resends superseded."""
    return {operation_id(inv, count) for count in range(inv.resent_count)}


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
                        "The email could not be queued (ctx unavailable); resend it.")


def _record(ctx: Context, partner_id: str, row_key: str, operation: str, status: EmailStatus, error: str | None,
            *, sent_at: datetime | None = None, detail: StatusDetail | None = None) -> None:
    """Record what became of one send on its invitation (only while the invitation still expects that send)."""

    def work(uow: InvitationUnitOfWork) -> None:
        inv = uow.get(partner_id, row_key)
        if inv is None or operation_id(inv) != operation:
            return
        before = inv.email_status
        inv.record_email(status, error, sent_at=sent_at, detail=detail)
        uow.save(inv)
        if inv.email_status == EmailStatus.FAILED:
            uow.event("invitation.email-failed", inv.partner_id, **event_fields(inv))
        _announce_failure(uow, inv, before)

    try:
        attempt(lambda: ctx.unit(InvitationUnitOfWork), work)
    except (Busy, StorageUnavailable):
        log.warning("could not record email status %s on invitation %s", status, row_key)


def _announce_failure(uow: InvitationUnitOfWork, inv: Invitation, before: EmailStatus) -> None:
    """`invitation.deliveryFailed` once the email fails (bounced, quarantined, ...), with what to do about it."""
    if inv.email_status in DELIVERY_FAILURES and inv.email_status != before:
        detail = inv.email_status_detail
        uow.event("invitation.deliveryFailed", inv.partner_id, **event_fields(inv), advice=detail.advice if detail else None)
        telemetry.count("invitations.delivery_failed", partner_id=inv.partner_id, kind=inv.kind.value, reason=inv.email_status.value)


def record_report(ctx: Context, partner_id: str, row_key: str, operation: str, detail: StatusDetail) -> bool:
    """A delivery report of an invitation email, applied while it is the invitation's current email; True if it changed."""

    def work(uow: InvitationUnitOfWork) -> bool:
        inv = uow.get(partner_id, row_key)
        if inv is None:
            return False
        if operation_id(inv) != operation:
            # An email a resend superseded: its report goes on the trail only, never on the invitation's emailStatus.
            if operation not in _earlier_operations(inv) or not inv.record_earlier_delivery(detail):
                return False
            uow.save(inv)
            return True
        before = inv.email_status
        if not inv.record_delivery(detail):
            return False
        uow.save(inv)
        _announce_failure(uow, inv, before)
        if inv.email_status == EmailStatus.DELIVERED and before != EmailStatus.DELIVERED:
            telemetry.count("invitations.delivered", partner_id=inv.partner_id, kind=inv.kind.value)
        return True

    return attempt(lambda: ctx.unit(InvitationUnitOfWork), work)


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


class InvitationEmail(queue.EmailKind):
    """The invitation email as the one delivery mechanism sends it: claimed on the invitation (which counts its
    attempts), its outcome recorded there (emailStatus, emailError; `invitation.email-failed` when it fails)."""

    kind = KIND

    def claim(self, ctx: Context, item: dict[str, Any]) -> queue.Claimed | None:
        inv = _claim(ctx, item)
        if inv is None:
            return None
        return queue.Claimed(message_for(inv, redeem_url(item["linkId"])), inv.email_attempts, inv)

    def where(self, item: dict[str, Any]) -> dict[str, str]:
        return {"partnerId": item["partnerId"], "rowKey": item["rowKey"]}

    def report(self, ctx: Context, where: dict[str, str], operation: str, detail: StatusDetail) -> bool:
        return record_report(ctx, where["partnerId"], where["rowKey"], operation, detail)

    def record(self, ctx: Context, item: dict[str, Any], outcome: queue.Outcome) -> bool:
        where = (ctx, item["partnerId"], item["rowKey"], item["operationId"])
        inv: Invitation | None = outcome.subject
        if outcome.state == queue.REQUEUED:
            _record(*where, EmailStatus.QUEUED, None)
            return False
        if outcome.state == queue.SENT:
            assert inv is not None
            _record(*where, EmailStatus.SENT, None, sent_at=outcome.at)
            telemetry.count("invitations.emailed", partner_id=inv.partner_id, kind=inv.kind.value, reference=inv.reference)
            log.info("invitation email %s sent (operation %s)", inv.reference, item["operationId"])
            return False
        if inv is None:  # poisoned: nothing claimed; only an invitation still expecting this send is marked
            inv = ctx.store(InvitationStore).get(item["partnerId"], item["rowKey"])
            if inv is None or operation_id(inv) != item["operationId"] or inv.email_status in (EmailStatus.SENT, *REPORTED):
                return False
            if inv.email_status == EmailStatus.FAILED:  # counted once, though a poisoned message may mark it again
                _record(*where, EmailStatus.FAILED, outcome.reason)
                return True
        telemetry.count("invitations.email_failed", partner_id=inv.partner_id, kind=inv.kind.value, reason=outcome.cause)
        bounced = outcome.cause == "bounced"
        _record(*where, EmailStatus.BOUNCED if bounced else EmailStatus.FAILED, outcome.reason,
                detail=failure_detail(outcome, DeliveryStatus.BOUNCED if bounced else DeliveryStatus.FAILED))
        return True


def failure_detail(outcome: queue.Outcome, status: DeliveryStatus) -> StatusDetail:
    """The detail of a send that failed here (not reported by the service): a refusal is a bounce, the rest retry-later."""
    advice = ADVICE[status] if outcome.cause != "rejected" else "fix-address"
    return StatusDetail(reason=(outcome.reason or "")[:REASON_LENGTH] or None, advice=advice, at=outcome.at,
                        message_id=outcome.operation_id, status=status.value)


queue.register(InvitationEmail())


def _claim(ctx: Context, item: dict[str, Any]) -> Invitation | None:
    """Take one send under the invitation's ETag; None when it is not (or no longer) this message's to send."""
    return change_for_message(ctx, item, operation_id, lambda inv: inv.claim_send(ctx.now(), item["operationId"]))


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
