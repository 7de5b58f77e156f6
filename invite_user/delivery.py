"""Delivery of invitation emails: queued with the invitation, sent by a queue-triggered function.

Sending never blocks or loses an invitation. Each email has an operation id derived from the invitation
and its resend count, so a redelivered queue message is recognised: an email already marked Sent is not
sent again, and the provider (ACS) deduplicates a send repeated under the same operation id.
Throttling (429) re-queues the rest with the provider's Retry-After as a visibility delay.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from invite_user.invitations import EmailStatus, Invitation, InvitationStatus
from invite_user.repository import InvitationStore, invitation_row_key
from shared import telemetry
from shared.clock import utc_now
from shared.email import EmailMessage, EmailRejected, EmailThrottled
from shared.settings import get_settings
from shared.storage import ConcurrencyConflict, Storage, StorageUnavailable, chunks

log = logging.getLogger(__name__)

_OPS = uuid.UUID("6f1c0b7e-8c44-4b8e-9a55-1d3c2b7a9e10")
ITEMS_PER_MESSAGE = 32  # bulk creates queue few messages; each stays well under the 64 KiB queue limit


def operation_id(inv: Invitation) -> str:
    return str(uuid.uuid5(_OPS, f"{inv.link_hash}:{inv.resent_count}"))


def queue_emails(storage: Storage, items: Sequence[tuple[Invitation, str]]) -> None:
    """Queue the emails of freshly stored invitations. A queue outage is recorded on the invitation
    (emailStatus Failed, with the reason) so the partner sees it and can resend: nothing is silently lost."""
    queue = get_settings().email_queue
    for chunk in chunks(list(items), ITEMS_PER_MESSAGE):
        payload = {"type": "invitation-email", "items": [
            {"partnerId": inv.partner_id, "rowKey": invitation_row_key(inv), "linkId": link_id, "operationId": operation_id(inv)}
            for inv, link_id in chunk
        ]}
        try:
            storage.send_message(queue, payload)
        except StorageUnavailable as exc:
            log.error("could not queue %d invitation emails: %s", len(chunk), exc)
            store = InvitationStore(storage)
            for inv, _ in chunk:
                _mark(store, inv, EmailStatus.FAILED, "The email could not be queued (storage unavailable); resend it.")
                telemetry.count("invitations.email_failed", partner_id=inv.partner_id, kind=inv.kind.value, reason="not_queued")  # telemetry


def _mark(store: InvitationStore, inv: Invitation, status: EmailStatus, error: str | None) -> None:
    inv.email_status, inv.email_error = status, error
    try:
        store.invitations.replace(inv)
    except (ConcurrencyConflict, StorageUnavailable):
        log.warning("could not record email status %s on invitation %s", status, inv.reference)


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


def render(inv: Invitation, url: str, language: str | None = None) -> Any:
    from invite_user.emails import render_email

    return render_email(inv.kind.value, language or inv.language, email_context(inv, url))


def message_for(inv: Invitation, url: str) -> EmailMessage:
    rendered = render(inv, url)
    return EmailMessage(
        to_address=str(inv.email), to_name=f"{inv.first_name} {inv.last_name}", subject=rendered.subject,
        text=rendered.text, html=rendered.html, language=rendered.language,
    )


def deliver(storage: Storage, sender: Any, payload: dict[str, Any], *, requeue: Any = None) -> dict[str, int]:
    """Handle one queue message. Returns counts by outcome (logged by the trigger)."""
    kind = payload.get("type")
    if kind == "invitation-email":
        return _deliver_invitations(storage, sender, payload["items"])
    if kind == "resend-request":
        return _resend_request(storage, payload)
    if kind == "email":
        # A ready-made email of another feature (e.g. the attestation confirmation): one path for all mail.
        return _deliver_plain(storage, sender, payload)
    log.error("unknown message type %r dropped", kind)
    return {"dropped": 1}


def _deliver_invitations(storage: Storage, sender: Any, items: list[dict[str, Any]]) -> dict[str, int]:
    store = InvitationStore(storage)
    counts = {"sent": 0, "skipped": 0, "failed": 0, "requeued": 0}
    max_attempts = get_settings().email_max_attempts
    for index, item in enumerate(items):
        outcome = _deliver_one(store, sender, item, max_attempts)
        if isinstance(outcome, EmailThrottled):
            rest = items[index:]
            storage.send_message(get_settings().email_queue, {"type": "invitation-email", "items": rest},
                                 delay_seconds=max(1, min(outcome.retry_after_seconds, 3600)))
            counts["requeued"] += len(rest)
            break
        counts[outcome] += 1
    return counts


def _deliver_one(store: InvitationStore, sender: Any, item: dict[str, Any], max_attempts: int) -> Any:
    for _ in range(5):
        inv = store.get(item["partnerId"], item["rowKey"])
        if inv is None or operation_id(inv) != item["operationId"]:
            return "skipped"  # gone, or superseded by a later resend with its own message
        if inv.email_status in (EmailStatus.SENT, EmailStatus.NOT_REQUESTED, EmailStatus.FAILED) or inv.status != InvitationStatus.PENDING:
            return "skipped"
        inv.email_status, inv.email_attempts = EmailStatus.SENDING, inv.email_attempts + 1
        try:
            store.invitations.replace(inv)  # claim this send under the ETag
        except ConcurrencyConflict:
            continue
        break
    else:
        return "skipped"
    try:
        sender.send(message_for(inv, redeem_url(item["linkId"])), item["operationId"])
    except EmailThrottled as throttled:
        if inv.email_attempts >= max_attempts:
            _mark(store, inv, EmailStatus.FAILED, f"Throttled by the email service {inv.email_attempts} times; resend later.")
            telemetry.count("invitations.email_failed", partner_id=inv.partner_id, kind=inv.kind.value, reason="throttled")  # telemetry
            return "failed"
        _mark(store, inv, EmailStatus.QUEUED, None)
        return throttled
    except EmailRejected as rejected:
        _mark(store, inv, EmailStatus.FAILED, f"Rejected by the email service: {rejected}")
        telemetry.count("invitations.email_failed", partner_id=inv.partner_id, kind=inv.kind.value, reason="rejected")  # telemetry
        return "failed"
    inv.email_sent_at = utc_now()
    _mark(store, inv, EmailStatus.SENT, None)
    telemetry.count("invitations.emailed", partner_id=inv.partner_id, kind=inv.kind.value, reference=inv.reference)  # telemetry
    log.info("invitation email %s sent (operation %s)", inv.reference, item["operationId"])
    return "sent"


def _resend_request(storage: Storage, payload: dict[str, Any]) -> dict[str, int]:
    """Business Center resend request: only when the email is the designated purchasing account manager's."""
    from invite_user.service import resend_as_system

    store = InvitationStore(storage)
    matched = 0
    for inv in store.find_by_agreement(payload["agreementNumber"], payload["purchasingAccountNumber"]):
        if inv.email_normalized == payload["email"] and inv.status in (InvitationStatus.PENDING, InvitationStatus.EXPIRED):
            resend_as_system(storage, inv)
            matched += 1
    log.info("resend request for agreement %s: %d invitation(s) resent", payload["agreementNumber"], matched)
    return {"resent": matched}


def queue_plain_email(storage: Storage, message: EmailMessage, operation: str) -> None:
    storage.send_message(get_settings().email_queue, {"type": "email", "operationId": operation, "message": message.__dict__})


def _deliver_plain(storage: Storage, sender: Any, payload: dict[str, Any]) -> dict[str, int]:
    message = EmailMessage(**payload["message"])
    try:
        sender.send(message, payload["operationId"])
    except EmailThrottled as throttled:
        storage.send_message(get_settings().email_queue, payload, delay_seconds=max(1, throttled.retry_after_seconds))
        return {"requeued": 1}
    except EmailRejected:
        log.error("email %s rejected", payload["operationId"])
        return {"failed": 1}
    return {"sent": 1}


def mark_poisoned(storage: Storage, payload: dict[str, Any]) -> int:
    """A message that failed five times: say so on its invitations, so partners see it and can resend."""
    if payload.get("type") != "invitation-email":
        return 0
    store = InvitationStore(storage)
    marked = 0
    for item in payload["items"]:
        inv = store.get(item["partnerId"], item["rowKey"])
        if inv is not None and operation_id(inv) == item["operationId"] and inv.email_status != EmailStatus.SENT:
            if inv.email_status != EmailStatus.FAILED:  # telemetry: counted once, though a poisoned message may mark it again
                telemetry.count("invitations.email_failed", partner_id=inv.partner_id, kind=inv.kind.value, reason="poisoned")  # telemetry
            _mark(store, inv, EmailStatus.FAILED, "Delivery failed repeatedly; see the service logs, then resend.")
            marked += 1
    return marked
