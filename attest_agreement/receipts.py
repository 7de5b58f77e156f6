"""The receipt email of an attestation the customer accepted: queued before the acceptance commits, sent once.

Queued *before* the commit so that no failure after the commit can lose it: a request that fails before its commit
answers 503 and the contact submits again. The acceptance's transaction writes the receipt row naming the message's
operation id; the queue function sends only the message the row names (a losing tab's finds another) and claims the send
on the row under its ETag first, so two copies of a message never both send. A message that finds no row yet (its
request is committing right now, or failed before its commit) looks again a few times, later, then is dropped.
Sending, throttling, attempts, poison and the failure record are the one delivery mechanism's (`notifications.queue`):
this module says only what to claim (the row, under its ETag) and what to record on it (Sent, Failed with the reason).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from attest_agreement.customers import AttestationReceipt
from attest_agreement.repository import CustomerStore, customer_partition
from notifications import queue
from notifications.emails import render_email
from notifications.reports import StatusDetail, keep_on_row
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


class ReceiptEmail(queue.EmailKind):
    """The receipt as the one delivery mechanism sends it: only the message its row names, claimed once on that row."""

    kind = KIND

    def claim(self, ctx: Context, item: dict[str, Any]) -> queue.Claimed | str | None:
        claimed = _claim(ctx, item)
        if claimed == "missing" and int(item.get("rechecks", 0)) < RECHECKS:
            queue.send(ctx, {**item, "rechecks": int(item.get("rechecks", 0)) + 1}, delay_seconds=RECHECK_SECONDS)
            return None
        if isinstance(claimed, str):
            return None
        receipt, _ = claimed
        att = ctx.store(CustomerStore).attestation(receipt.customer_id, receipt.attestation_id)
        if att is None or att.accepted_at is None:
            return "The attestation is gone."
        s = ctx.settings
        rendered = render_email(EMAIL_KIND, att.language, {
            "first_name": att.contact.first_name, "last_name": att.contact.last_name, "seller_name": att.partner_name,
            "company_name": att.company_name, "platform_name": s.platform_name, "support_email": s.support_email,
            "docs_url": s.docs_url, "date_agreed": att.accepted_at, "accepted_by_name": att.accepted_name})
        return queue.Claimed(rendered.to_message(att.contact.email, f"{att.contact.first_name} {att.contact.last_name}"), subject=receipt)

    def record(self, ctx: Context, item: dict[str, Any], outcome: queue.Outcome) -> bool:
        claimed: AttestationReceipt | None = outcome.subject
        receipt = claimed if claimed is not None else _unclaimed(ctx, item)
        if receipt is None:
            return False
        status = {queue.SENT: "Sent", queue.FAILED: "Failed"}.get(outcome.state, "Pending")
        try:
            _record(ctx, receipt, status, outcome.reason if outcome.state == queue.FAILED else None)
        except ConcurrencyConflict:
            log.warning("receipt %s: its row changed meanwhile; %s not recorded", item.get("operationId"), status)
            return False
        return outcome.state == queue.FAILED

    def where(self, item: dict[str, Any]) -> dict[str, str]:
        return {"customerId": item["customerId"], "attestationId": item["attestationId"]}

    def report(self, ctx: Context, where: dict[str, str], operation: str, detail: StatusDetail) -> bool:
        """Its delivery report, on the attestation (where the attesting partner reads it); newer reports only."""
        if "attestationId" not in where:
            return False
        keys = (customer_partition(where["customerId"]), f"t|{where['attestationId']}")
        return keep_on_row(ctx.store(CustomerStore).attestations, keys, "receipt_email_detail", detail)


def _unclaimed(ctx: Context, item: dict[str, Any]) -> AttestationReceipt | None:
    """A poisoned or unsendable message claimed nothing: its receipt row, read to say so, when the row still waits for
    this message (None when it was never written, another message is its one, or it was sent)."""
    found = ctx.store(CustomerStore).receipts.read(customer_partition(item["customerId"]), f"tr|{item['attestationId']}")
    if found is None:
        return None
    row, etag = found
    if row.operation_id != item.get("operationId") or row.status == "Sent":
        return None
    row.etag = etag
    return row


queue.register(ReceiptEmail())
