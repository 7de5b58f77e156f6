"""The attestation confirmation email to the customer's primary contact, promised within 30 minutes.

It goes through the one email path (`notifications.queue.queue_plain_email`, sent by the queue-triggered
function). So that a queue outage between the attestation's commit and the queueing cannot lose it, a
small outbox row is written *before* the attestation's transaction and deleted once the email is queued;
a timer (`sweep`) queues whatever is left after a few minutes. Every attempt carries the same operation
id, so ACS treats a repeat as the same send and SMTP relays see the same Message-ID.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from azure.core.exceptions import ResourceNotFoundError
from pydantic import Field

from attest_agreement.customers import AgreementAcceptance, Customer, CustomerStore
from notifications.emails import render_email
from notifications.queue import queue_plain_email
from notifications.sender import EmailMessage
from shared import telemetry
from shared.clock import utc_now
from shared.settings import get_settings
from shared.storage import Repository, Row, Storage, StorageUnavailable

log = logging.getLogger(__name__)

EMAIL_KIND = "AgreementAttestationConfirmation"
_OPS = uuid.UUID("2b9f6a53-7c1e-4d0a-8f3b-5e6d7c8b9a01")
# An outbox row younger than this may belong to a request still running; the sweep leaves it alone.
# Storage calls time out well within it (20 s reads, two retries), and sweep interval + this grace stay far
# under the promised 30 minutes.
GRACE = timedelta(minutes=5)
PARTITION = "pending"


class PendingNotice(Row):
    customer_id: str = Field(alias="customerId")
    agreement_type: str = Field(alias="agreementType")
    recorded_at: datetime = Field(alias="recordedAt")
    operation_id: str = Field(alias="operationId")
    created_at: datetime = Field(alias="createdAt")
    # One row per attempt: a parallel attempt that loses its commit removes its own row, never the winner's.
    attempt: str = Field(default_factory=lambda: uuid.uuid4().hex)


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


def remember(storage: Storage, customer: Customer, acceptance: AgreementAcceptance) -> PendingNotice:
    """Write the outbox row; call before committing the attestation.

    The email is rendered first: a template fault must stop the attestation before its commit, not after.
    """
    confirmation_email(customer, acceptance)
    notice = PendingNotice(customer_id=acceptance.customer_id, agreement_type=acceptance.type, recorded_at=acceptance.recorded_at,
                           operation_id=operation_id(acceptance), created_at=utc_now())
    return _Outbox(storage).upsert(notice)


def pending(storage: Storage, acceptance: AgreementAcceptance) -> list[PendingNotice]:
    """The outbox rows of this acceptance, while its email is not queued yet."""
    prefix = f"{acceptance.customer_id}|{acceptance.type}|"
    return _Outbox(storage).query_all("PartitionKey eq @pk and RowKey gt @lo and RowKey lt @hi and operation_id eq @op",
                                      {"pk": PARTITION, "lo": prefix, "hi": prefix + "~", "op": operation_id(acceptance)})


def dispatch(storage: Storage, notice: PendingNotice, message: EmailMessage) -> bool:
    """Queue the email and clear the outbox row; False (and the row kept for the sweep) when the queue is down."""
    try:
        queue_plain_email(storage, message, notice.operation_id)
    except StorageUnavailable as exc:
        log.warning("attestation confirmation for customer %s not queued yet (%s); the sweep will retry", notice.customer_id, exc)
        return False
    telemetry.count("notices.sent", customer_id=notice.customer_id)
    forget(storage, notice)
    return True


def forget(storage: Storage, notice: PendingNotice) -> None:
    """Remove an outbox row (queued, or its attestation did not commit)."""
    outbox = _Outbox(storage)
    try:
        outbox.delete(*outbox.keys(notice))
    except ResourceNotFoundError:
        pass
    except StorageUnavailable as exc:
        # Left behind: the sweep will queue it once more under the same operation id.
        log.warning("outbox row of customer %s not cleared: %s", notice.customer_id, exc)


def sweep(storage: Storage, now: datetime | None = None) -> dict[str, int]:
    """Queue the confirmations whose request stopped between commit and queue; drop rows of attestations never committed."""
    now = now or utc_now()
    store = CustomerStore(storage)
    counts = {"queued": 0, "dropped": 0, "waiting": 0}
    for notice in _Outbox(storage).query_all("PartitionKey eq @pk", {"pk": PARTITION}):
        if now - notice.created_at < GRACE:
            counts["waiting"] += 1
            continue
        acceptance = store.acceptance(notice.customer_id, notice.agreement_type)
        customer = store.customer(notice.customer_id)
        if acceptance is None or customer is None or operation_id(acceptance) != notice.operation_id:
            forget(storage, notice)  # the attestation's transaction never committed (or a later one replaced it)
            counts["dropped"] += 1
            continue
        if dispatch(storage, notice, confirmation_email(customer, acceptance)):
            counts["queued"] += 1
    return counts


class Outbox:
    """The outbox as the attestation services use it: remembered before the commit, sent after, forgotten on a conflict."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def remember(self, customer: Customer, acceptance: AgreementAcceptance) -> PendingNotice:
        return remember(self.storage, customer, acceptance)

    def forget(self, notice: PendingNotice) -> None:
        forget(self.storage, notice)

    def send(self, customer: Customer, acceptance: AgreementAcceptance, notice: PendingNotice | None = None) -> None:
        """Queue the confirmation once the attestation is committed.

        Without `notice` (finishing an earlier attempt), whatever outbox rows of this acceptance are left are used.
        """
        rows = [notice] if notice is not None else pending(self.storage, acceptance)
        if rows and dispatch(self.storage, rows[0], confirmation_email(customer, acceptance)):
            for extra in rows[1:]:
                forget(self.storage, extra)
