"""The attestation confirmation email to the customer's primary contact, promised within 30 minutes.

It goes through the one email queue and the one delivery mechanism as its own kind (`attestation-notice`), which
says here only what to claim (the outbox row) and what to record. It is rendered again when it is sent, from the customer as it is then:
a primary contact corrected meanwhile gets it (the queued copy serves only if the customer cannot be read). So that
nothing between the attestation's commit and the send can lose it, a small outbox row is written *before* the
attestation's transaction; it is marked Queued when the message is queued and deleted only once the email was sent.
A timer (`sweep`) queues rows a request left unqueued. A send that fails for good (rejected, throttled too often,
poisoned) leaves the row Failed with the reason, which partners read as the agreement's `confirmationEmail`; a
corrected primary contact gives it another go (`readdress`). Every attempt carries the same operation id, so ACS
treats a repeat as the same send and SMTP relays see the same Message-ID.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from azure.core.exceptions import ResourceNotFoundError
from pydantic import Field

from attest_agreement.customers import AgreementAcceptance, Customer
from attest_agreement.repository import CustomerStore, customer_partition
from notifications import queue
from notifications.emails import render_email
from notifications.reports import StatusDetail, keep_on_row
from notifications.sender import EmailMessage
from shared import telemetry
from shared.context import Context
from shared.settings import get_settings
from shared.storage import ConcurrencyConflict, Op, Repository, Row, StorageUnavailable

log = logging.getLogger(__name__)

EMAIL_KIND = "AgreementAttestationConfirmation"
_OPS = uuid.UUID("2b9f6a53-7c1e-4d0a-8f3b-5e6d7c8b9a01")
# An outbox row younger than this may belong to a request still running; the sweep leaves it alone.
# Storage calls time out well within it (3 s reads, two retries), and sweep interval + this grace stay far
# under the promised 30 minutes.
GRACE = timedelta(minutes=5)
PARTITION = "pending"
KIND = "attestation-notice"
PENDING: Final = "Pending"
QUEUED: Final = "Queued"
FAILED: Final = "Failed"


class PendingNotice(Row):
    customer_id: str = Field(validation_alias="customerId", serialization_alias="customerId")
    agreement_type: str = Field(validation_alias="agreementType", serialization_alias="agreementType")
    recorded_at: datetime = Field(validation_alias="recordedAt", serialization_alias="recordedAt")
    operation_id: str = Field(validation_alias="operationId", serialization_alias="operationId")
    created_at: datetime = Field(validation_alias="createdAt", serialization_alias="createdAt")
    # One row per attempt: a parallel attempt that loses its commit removes its own row, never the winner's.
    attempt: str = Field(default_factory=lambda: uuid.uuid4().hex)
    state: str = PENDING  # Pending (not queued yet), Queued, Failed (with `error`); deleted once sent
    error: str | None = None


class _Outbox(Repository[PendingNotice]):
    table = "AgreementNotices"
    model = PendingNotice

    def keys(self, row: PendingNotice) -> tuple[str, str]:
        return PARTITION, f"{row.customer_id}|{row.agreement_type}|{row.attempt}"


def operation_id(acceptance: AgreementAcceptance) -> str:
    return str(uuid.uuid5(_OPS, f"{acceptance.customer_id}|{acceptance.type}|{acceptance.recorded_at.isoformat()}"))


def confirmation_email(customer: Customer, acceptance: AgreementAcceptance) -> EmailMessage:
    """The email to the primary contact, in their language (else the customer's)."""
    s = get_settings()
    contact = customer.primary_contact
    accepted_by = f"{acceptance.contact.first_name} {acceptance.contact.last_name}".strip()
    rendered = render_email(EMAIL_KIND, contact.language or customer.language, {
        "first_name": contact.first_name, "last_name": contact.last_name,
        "contact_name": f"{contact.first_name} {contact.last_name}".strip(),
        "seller_name": acceptance.by.get("partnerName") or acceptance.by.get("partnerId"),
        "platform_name": s.platform_name, "support_email": s.support_email, "docs_url": s.docs_url,
        "company_name": customer.name, "date_agreed": acceptance.date_agreed, "accepted_by_name": accepted_by,
    })
    return rendered.to_message(contact.email, f"{contact.first_name} {contact.last_name}".strip())


def remember(ctx: Context, customer: Customer, acceptance: AgreementAcceptance) -> PendingNotice:
    """Write the outbox row; call before committing the attestation.

    The email is rendered first: a template fault must stop the attestation before its commit, not after.
    """
    confirmation_email(customer, acceptance)
    notice = PendingNotice(customer_id=acceptance.customer_id, agreement_type=acceptance.type, recorded_at=acceptance.recorded_at,
                           operation_id=operation_id(acceptance), created_at=ctx.now())
    return ctx.store(_Outbox).upsert(notice)


def pending(ctx: Context, acceptance: AgreementAcceptance) -> list[PendingNotice]:
    """The outbox rows of this acceptance, while its email is not queued yet."""
    prefix = f"{acceptance.customer_id}|{acceptance.type}|"
    return ctx.store(_Outbox).query_all("PartitionKey eq @pk and RowKey gt @lo and RowKey lt @hi and operation_id eq @op",
                                      {"pk": PARTITION, "lo": prefix, "hi": prefix + "~", "op": operation_id(acceptance)})


def dispatch(ctx: Context, notice: PendingNotice, message: EmailMessage) -> bool:
    """Queue the email and mark the outbox row Queued; False (the row kept Pending for the sweep) when the queue is down.

    The row stays until the email is sent (`_send_notice`), so no failure after this point can lose it.
    """
    outbox = ctx.store(_Outbox)
    try:
        queue.send(ctx, {"type": KIND, "operationId": notice.operation_id, "message": message.__dict__,
                             "noticeRow": outbox.keys(notice)[1]})  # not "outbox": that key carries event announcements
    except StorageUnavailable as exc:
        log.warning("attestation confirmation for customer %s not queued yet (%s); the sweep will retry", notice.customer_id, exc)
        return False
    telemetry.annotate(customer_id=notice.customer_id)
    _mark(ctx, outbox.keys(notice)[1], QUEUED, None)
    return True


def _mark(ctx: Context, row_key: str, state: str, error: str | None) -> None:
    try:
        ctx.store(_Outbox).transact([Op("merge", keys=(PARTITION, row_key), fields={"state": state, "error": error or ""}, etag="*")])
    except (StorageUnavailable, ConcurrencyConflict) as exc:
        # Left Pending: the sweep may queue it once more under the same operation id; the send deletes the row once.
        log.warning("outbox row %s not marked %s: %s", row_key, state, exc)


class ConfirmationEmail(queue.EmailKind):
    """The confirmation as the one delivery mechanism sends it: sent while its outbox row is there and not Failed;
    sent, the row is forgotten; failed for good, the row says Failed with the reason (partners read it)."""

    kind = KIND

    def claim(self, ctx: Context, item: dict[str, Any]) -> queue.Claimed | None:
        row = ctx.store(_Outbox).get(PARTITION, item["noticeRow"])
        if row is None or row.state == FAILED:
            return None  # sent already (its row is gone) or failed for good
        return queue.Claimed(_current(ctx, row) or EmailMessage(**item["message"]), subject=row)

    def record(self, ctx: Context, item: dict[str, Any], outcome: queue.Outcome) -> bool:
        if outcome.state == queue.SENT:
            row: PendingNotice = outcome.subject
            telemetry.count("notices.sent", customer_id=row.customer_id)
            forget(ctx, row)
        elif outcome.state == queue.FAILED:
            log.error("attestation confirmation %s failed for good: %s", item.get("operationId"), outcome.reason)
            _mark(ctx, item["noticeRow"], FAILED, outcome.reason)
            return True
        return False

    def where(self, item: dict[str, Any]) -> dict[str, str]:
        customer_id, agreement_type, _ = str(item["noticeRow"]).rsplit("|", 2)
        return {"customerId": customer_id, "agreementType": agreement_type}

    def report(self, ctx: Context, where: dict[str, str], operation: str, detail: StatusDetail) -> bool:
        """Its delivery report, on the acceptance it confirms (the agreement partners read), while that acceptance is
        still the one it confirms; newer reports only (`supersedes`)."""
        if "customerId" not in where:
            return False
        keys = (customer_partition(where["customerId"]), f"g|{where['agreementType']}")
        return keep_on_row(ctx.store(CustomerStore).acceptances, keys, "confirmation_email_detail", detail,
                           lambda acceptance: operation_id(acceptance) == operation)


queue.register(ConfirmationEmail())


def _current(ctx: Context, row: PendingNotice) -> EmailMessage | None:
    """The confirmation as it reads now (to the primary contact of now); None when its attestation cannot be read."""
    store = ctx.store(CustomerStore)
    try:
        customer, acceptance = store.customer(row.customer_id), store.acceptance(row.customer_id, row.agreement_type)
    except StorageUnavailable as exc:
        log.warning("customer %s not read for its confirmation (%s); the queued copy is sent", row.customer_id, exc)
        return None
    if customer is None or acceptance is None or operation_id(acceptance) != row.operation_id:
        return None
    return confirmation_email(customer, acceptance)


def readdress(ctx: Context, customer: Customer, acceptance: AgreementAcceptance) -> bool:
    """The primary contact was corrected: a confirmation that failed for good (a wrong address, typically) gets another
    go, to the new contact. One still on its way needs nothing: it is rendered for the contact of the moment it is sent.

    Returns whether it was queued again.
    """
    rows = pending(ctx, acceptance)
    if not rows or any(r.state != FAILED for r in rows):
        return False
    notice = rows[0]
    _mark(ctx, ctx.store(_Outbox).keys(notice)[1], PENDING, None)  # Pending: the sweep queues it if this request stops here
    return dispatch(ctx, notice, confirmation_email(customer, acceptance))


def forget(ctx: Context, notice: PendingNotice) -> None:
    """Remove an outbox row (sent, or its attestation did not commit)."""
    outbox = ctx.store(_Outbox)
    try:
        outbox.delete(*outbox.keys(notice))
    except ResourceNotFoundError:
        pass
    except StorageUnavailable as exc:
        # Left behind Queued: a redelivered message or the sweep finds it; the operation id makes a repeat the same send.
        log.warning("outbox row of customer %s not cleared: %s", notice.customer_id, exc)


def status_of(ctx: Context, acceptance: AgreementAcceptance) -> tuple[Literal["Queued", "Failed"], str | None] | None:
    """What partners read as the confirmation's status: None when there is nothing left to send (sent, or never asked)."""
    rows = pending(ctx, acceptance)
    if not rows:
        return None
    failed = next((r for r in rows if r.state == FAILED), None)
    return (FAILED, failed.error) if failed else (QUEUED, None)


def sweep(ctx: Context, now: datetime | None = None) -> dict[str, int]:
    """Queue the confirmations whose request stopped between commit and queue; drop rows of attestations never committed."""
    now = now or ctx.now()
    store = ctx.store(CustomerStore)
    counts = {"queued": 0, "dropped": 0, "waiting": 0}
    for notice in ctx.store(_Outbox).query_all("PartitionKey eq @pk", {"pk": PARTITION}):
        if notice.state != PENDING:
            continue  # on its way (the message holds it) or failed for good (kept for partners to read)
        if now - notice.created_at < GRACE:
            counts["waiting"] += 1
            continue
        acceptance = store.acceptance(notice.customer_id, notice.agreement_type)
        customer = store.customer(notice.customer_id)
        if acceptance is None or customer is None or operation_id(acceptance) != notice.operation_id:
            forget(ctx, notice)  # the attestation's transaction never committed (or a later one replaced it)
            counts["dropped"] += 1
            continue
        if dispatch(ctx, notice, confirmation_email(customer, acceptance)):
            counts["queued"] += 1
    return counts


class Outbox:
    """The outbox as the attestation services use it: remembered before the commit, sent after, forgotten on a conflict."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def remember(self, customer: Customer, acceptance: AgreementAcceptance) -> PendingNotice:
        return remember(self.ctx, customer, acceptance)

    def forget(self, notice: PendingNotice) -> None:
        forget(self.ctx, notice)

    def send(self, customer: Customer, acceptance: AgreementAcceptance, notice: PendingNotice | None = None) -> None:
        """Queue the confirmation once the attestation is committed.

        Without `notice` (finishing an earlier attempt), whatever outbox rows of this acceptance are left are used.
        """
        rows = [notice] if notice is not None else pending(self.ctx, acceptance)
        if any(r.state != PENDING for r in rows):
            return  # queued already (or failed for good): queueing again would send it twice
        if rows and dispatch(self.ctx, rows[0], confirmation_email(customer, acceptance)):
            for extra in rows[1:]:
                forget(self.ctx, extra)
