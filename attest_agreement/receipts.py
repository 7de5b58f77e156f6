"""The receipt email of an attestation the customer accepted: queued before the acceptance commits, sent once.

Queued *before* the commit so that no failure after the commit can lose it: a request that fails before its commit
answers 503 and the contact submits again. The acceptance's transaction writes the receipt row naming the message's
operation id; the queue function sends only the message the row names (a losing tab's finds another) and claims the send
on the row under its ETag first, so two copies of a message never both send. A message that finds no row yet (its
request is committing right now, or failed before its commit) looks again a few times, later, then is dropped.
Throttled sends wait for the email service's Retry-After, at most EMAIL_MAX_ATTEMPTS times; whatever fails for good is
Failed on the row with the reason and recorded in FailedEmails.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from attest_agreement.customers import AttestationReceipt
from attest_agreement.repository import CustomerStore, customer_partition
from notifications import queue
from notifications.emails import render_email
from notifications.sender import EmailRejected, EmailSender, EmailThrottled
from shared.context import Context
from shared.errors import Busy
from shared.storage import ConcurrencyConflict, Op

log = logging.getLogger(__name__)

KIND = "attestation-receipt"
EMAIL_KIND = "AgreementAttestationReceipt"
# Together longer than a request can take to commit (storage calls give up within about 10 s).
RECHECK_SECONDS, RECHECKS = 20, 3
# A claim older than this belongs to a send that died; a copy of the message may take it over.
CLAIM = timedelta(minutes=10)


class SendInProgress(Busy):
    """Another copy of the message is sending right now; this one is retried later (and usually finds it Sent)."""


def queue_receipt(ctx: Context, customer_id: str, attestation_id: str, operation_id: str) -> None:
    """Before the acceptance's commit: the message that sends its receipt once the row names it."""
    queue.send(ctx, {"type": KIND, "customerId": customer_id, "attestationId": attestation_id, "operationId": operation_id})


def _claim(ctx: Context, payload: dict[str, Any]) -> tuple[AttestationReceipt, str | None] | str:
    rows = ctx.store(CustomerStore).receipts
    found = rows.read(customer_partition(payload["customerId"]), f"tr|{payload['attestationId']}")
    if found is None:
        return "missing"
    receipt, etag = found
    if receipt.operation_id != payload["operationId"] or receipt.status in ("Sent", "Failed"):
        return "not this one"
    now = ctx.now()
    if receipt.status == "Sending" and receipt.claimed_at is not None and now - receipt.claimed_at < CLAIM:
        raise SendInProgress(payload["operationId"])
    receipt.status, receipt.claimed_at = "Sending", now
    try:
        rows.transact([Op("update", receipt, etag=etag)])
    except ConcurrencyConflict:
        return "claimed"  # by another copy
    return receipt, receipt.etag


def _record(ctx: Context, receipt: AttestationReceipt, status: str, error: str | None = None) -> None:
    receipt.status, receipt.error = status, error
    ctx.store(CustomerStore).receipts.transact([Op("update", receipt, etag=receipt.etag)])


def _poisoned(ctx: Context, payload: dict[str, Any]) -> int:
    rows = ctx.store(CustomerStore).receipts
    found = rows.read(customer_partition(payload["customerId"]), f"tr|{payload['attestationId']}")
    if found is None or found[0].operation_id != payload["operationId"] or found[0].status == "Sent":
        return 0
    _record(ctx, found[0], "Failed", "Delivery failed repeatedly; see the service logs.")
    return 1


@queue.handles(KIND, on_poison=_poisoned)
def send_receipt(ctx: Context, sender: EmailSender, payload: dict[str, Any]) -> dict[str, int]:
    claimed = _claim(ctx, payload)
    if claimed == "missing" and int(payload.get("rechecks", 0)) < RECHECKS:
        queue.send(ctx, {**payload, "rechecks": int(payload.get("rechecks", 0)) + 1}, delay_seconds=RECHECK_SECONDS)
        return {"requeued": 1}
    if isinstance(claimed, str):
        return {"skipped": 1}
    receipt, _ = claimed
    att = ctx.store(CustomerStore).attestation(receipt.customer_id, receipt.attestation_id)
    if att is None or att.accepted_at is None:
        _record(ctx, receipt, "Failed", "The attestation is gone.")
        return {"failed": 1}
    s = ctx.settings
    rendered = render_email(EMAIL_KIND, att.language, {
        "first_name": att.contact.first_name, "last_name": att.contact.last_name, "seller_name": att.partner_name,
        "company_name": att.company_name, "platform_name": s.platform_name, "support_email": s.support_email,
        "docs_url": s.docs_url, "date_agreed": att.accepted_at, "accepted_by_name": att.accepted_name})
    attempt = int(payload.get("attempt", 1))
    try:
        sender.send(rendered.to_message(att.contact.email, f"{att.contact.first_name} {att.contact.last_name}"), receipt.operation_id)
    except EmailThrottled as throttled:
        if attempt >= s.email_max_attempts:
            _record(ctx, receipt, "Failed", f"Throttled by the email service {attempt} times.")
            queue.record_failure(ctx, payload, f"throttled by the email service {attempt} times")
            return {"failed": 1}
        _record(ctx, receipt, "Pending")
        queue.send(ctx, {**payload, "attempt": attempt + 1}, delay_seconds=max(1, min(throttled.retry_after_seconds, 3600)))
        return {"requeued": 1}
    except EmailRejected as rejected:
        _record(ctx, receipt, "Failed", f"Rejected by the email service: {rejected}")
        queue.record_failure(ctx, payload, f"rejected by the email service: {rejected}")
        return {"failed": 1}
    try:
        _record(ctx, receipt, "Sent")
    except ConcurrencyConflict:
        log.warning("receipt %s sent, its row changed meanwhile", receipt.operation_id)
    return {"sent": 1}
