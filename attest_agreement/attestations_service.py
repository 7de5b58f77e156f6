"""Attestations the customer confirms itself: the partner asks, the contact accepts on its personal link, the partner
creates the agreement from it; the partner's pipeline and the expiry sweep.

Everything an attestation changes lives in the customer's partition (the attestation, the slot naming the current one,
the audit records with the acceptance's evidence, the events), one transaction per change. The expiry index row is
written before the attestation's commit (an index row without its attestation is dropped by the sweep); the partners'
pipeline rows are filed after every commit by the customer's unit of work.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime
from typing import Any

from attest_agreement import agreements, attestations, receipts
from attest_agreement.api_models import (
    AgreementView,
    AttestationIn,
    EmailDelivery,
)
from attest_agreement.attestation_models import (
    AttestationCreated,
    AttestationOut,
    AttestationRequestIn,
    PipelineItem,
    PipelinePage,
    PipelineQuery,
    PipelineStatus,
)
from attest_agreement.attestations import NotAccepted, UnknownLink
from attest_agreement.customer_events import acceptance_fields
from attest_agreement.customers import (
    AgreementAttestation,
    AttestationExpiry,
    AttestationReceipt,
    AttestationSlot,
    PipelineStage,
)
from attest_agreement.repository import CustomerStore, CustomerUnitOfWork
from attest_agreement.steps import MCA, active, agreement_view, already_accepted, by, contact, retried
from notifications import queue
from notifications.emails import render_email
from partners.service import partner_of
from shared.authorization import Action
from shared.context import Context
from shared.errors import Busy, Invalid, NotFound
from shared.fields import ID
from shared.partner_auth import Caller
from shared.storage import StorageUnavailable, decode_token, encode_token

log = logging.getLogger(__name__)

_OPS = uuid.UUID("9d3e2c41-5b7a-4f08-a6d1-0c2b4e8f7a13")
PAGE_PATH = "/api/agreements/attestation"
REQUEST_EMAIL = "AgreementAttestationRequest"
SWEEP_BATCH = 100


def acceptance_url(ctx: Context, link_id: str) -> str:
    return f"{ctx.settings.public_base_url.rstrip('/')}{PAGE_PATH}?link={link_id}"


def view(att: AgreementAttestation, now: datetime) -> AttestationOut:
    data = att.model_dump(by_alias=True, exclude={"receipt_email_detail"})
    data["status"] = attestations.effective_status(att, now).value
    out = AttestationOut.model_validate(data)
    if att.receipt_email_detail is not None:
        out.receipt_email = EmailDelivery(**EmailDelivery.of(att.receipt_email_detail))
    return out


def _not_found(attestation_id: str) -> NotFound:
    # Another customer's or another partner's attestation is none of the caller's: one answer for all three.
    return NotFound(f"No attestation {attestation_id} of your partner account for this customer.", code="attestation-not-found",
                    title="Attestation not found")


# -- the partner asks ---------------------------------------------------------------------------------------


def request_attestation(ctx: Context, caller: Caller, customer_id: str, body: AttestationRequestIn) -> AttestationCreated:
    """A new attestation with a personal link for the contact; it replaces the customer's pending one (its link stops)."""
    partner = partner_of(ctx, caller)  # its type was checked at the edge (the attest row of POLICY)
    store = ctx.store(CustomerStore)
    attestation_id = str(uuid.uuid4())
    link_id = attestations.new_link_id(customer_id, attestation_id)
    now = ctx.now()
    expires_at = attestations.expiry(now, body.validity_days)

    def work(uow: CustomerUnitOfWork) -> AgreementAttestation:
        customer, _rel = active(uow, caller, Action.ATTEST, partner)
        existing = uow.acceptance(MCA)
        if existing is not None:
            raise already_accepted(existing)
        person = contact(body.contact, customer.country, field="contact.phoneNumber")
        att = AgreementAttestation(
            id=attestation_id, customer_id=customer.id, partner_id=partner.id, partner_name=partner.name,
            agreement_version=attestations.AGREEMENT_VERSION, contact=person, company_name=body.company_name,
            language=body.language or person.language or customer.language, link_hash=attestations.link_hash(link_id),
            created_at=now, created_by=by(caller, partner), expires_at=expires_at,
        )
        slot = uow.attestation_slot(MCA)
        if slot is None:
            uow.add(AttestationSlot(customer_id=customer.id, agreement_type=MCA, attestation_id=att.id))
        else:
            old = uow.attestation(slot.attestation_id)
            if old is not None and attestations.replace(old, att.id, now):
                uow.save(old)
                uow.record("attestation.replaced", caller.display, after=_trace(old, replacedBy=att.id))
            slot.attestation_id = att.id
            uow.save(slot)
        uow.add(att)
        uow.record("attestation.requested", caller.display, after=_trace(att, contact=person.model_dump(by_alias=True, exclude_none=True),
                                                                       expiresAt=expires_at.isoformat()))
        # Filed before the commit: an index row whose attestation never committed is dropped by the sweep.
        store.expiries.upsert(AttestationExpiry(expires_at=expires_at, customer_id=customer.id, attestation_id=att.id))
        return att

    att = retried(lambda: ctx.unit(CustomerUnitOfWork, customer_id), work)
    url = acceptance_url(ctx, link_id)
    status = "NotSent"
    if body.send_email:
        status = _queue_email(ctx, REQUEST_EMAIL, att, "request", invite_url=url, expires_at=att.expires_at)
    return AttestationCreated.model_validate({**view(att, now).model_dump(by_alias=True), "acceptanceUrl": url, "emailStatus": status})


def _trace(att: AgreementAttestation, **more: Any) -> dict[str, Any]:
    """What an attestation's audit record names; `partnerId` keeps it the attesting partner's alone (audit_trail)."""
    return {"partnerId": att.partner_id, "attestationId": att.id, "agreementType": att.agreement_type, **more}


def _queue_email(ctx: Context, kind: str, att: AgreementAttestation, what: str, **context: Any) -> str:
    """Render and queue an email to the contact through the one email queue; the operation id makes a repeat the same send."""
    s = ctx.settings
    rendered = render_email(kind, att.language, {
        "first_name": att.contact.first_name, "last_name": att.contact.last_name, "seller_name": att.partner_name,
        "company_name": att.company_name, "platform_name": s.platform_name, "support_email": s.support_email,
        "docs_url": s.docs_url, **context})
    message = rendered.to_message(att.contact.email, f"{att.contact.first_name} {att.contact.last_name}")
    try:
        queue.queue_plain_email(ctx, message, str(uuid.uuid5(_OPS, f"{att.id}:{what}")))
    except StorageUnavailable as exc:
        log.error("could not queue the attestation %s email of %s: %s", what, att.id, exc)
        return "Failed"
    return "Queued"


def get_attestation(ctx: Context, caller: Caller, customer_id: str, attestation_id: str) -> AttestationOut:
    uow = ctx.unit(CustomerUnitOfWork, customer_id)
    active(uow, caller)
    att = uow.attestation(attestation_id) if re.fullmatch(ID, attestation_id) else None  # no row key is made of anything else
    if att is None or att.partner_id != caller.partner_id:
        raise _not_found(attestation_id)
    return view(att, ctx.now())


# -- the contact, on the personal link ---------------------------------------------------------------------


def open_attestation_link(ctx: Context, link_id: str | None) -> AgreementAttestation | None:
    """The attestation a link opens (one point read), or None for a link that is not (or no longer stored as) ours."""
    where = attestations.parse_link(link_id)
    if where is None:
        return None
    att = ctx.store(CustomerStore).attestation(*where)
    return att if attestations.opens(att, str(link_id)) else None


def accept_attestation(ctx: Context, link_id: str, typed_name: str | None, client_address: str, user_agent: str) -> AgreementAttestation:
    """The contact accepts on behalf of the company: once (two tabs racing: one wins, the other finds it used).

    The evidence a dispute needs is the audit record, in the customer's partition, committed with the acceptance, as is
    the receipt row naming the receipt's message (queued just before the commit: `receipts`).
    Raises UnknownLink, NotPending, NameMissing, NameMismatch.
    """
    where = attestations.parse_link(link_id)
    if where is None:
        raise UnknownLink("No such link.")
    customer_id, attestation_id = where
    operation = str(uuid.uuid4())  # this request's receipt; only the one the committed row names is sent

    def work(uow: CustomerUnitOfWork) -> AgreementAttestation:
        att = uow.attestation(attestation_id)
        if att is None or not attestations.opens(att, link_id):
            raise UnknownLink("No such link.")
        now = ctx.now()
        attestations.accept(att, typed_name, now)
        uow.save(att)
        uow.record("attestation.accepted", att.contact.email, after=_trace(
            att, acceptedAt=now.isoformat(), linkHash=att.link_hash, agreementVersion=att.agreement_version,
            typedName=att.accepted_name, clientAddress=client_address[:64], userAgent=user_agent[:512]))
        uow.event("agreement.attestationAccepted", att.partner_id, **event_fields(att))
        uow.add(AttestationReceipt(customer_id=customer_id, attestation_id=att.id, operation_id=operation))
        receipts.queue_receipt(ctx, customer_id, att.id, operation)
        return att

    return retried(lambda: ctx.unit(CustomerUnitOfWork, customer_id), work)


def event_fields(att: AgreementAttestation) -> dict[str, Any]:
    """What an event about an attestation says: ids, status and times, never the contact."""
    return {"customerId": att.customer_id, "attestationId": att.id, "status": att.status.value,
            **({"acceptedAt": att.accepted_at.isoformat()} if att.accepted_at else {}),
            "expiresAt": att.expires_at.isoformat(), "resource": f"customers/{att.customer_id}/agreement-attestations/{att.id}"}


# -- the partner creates the agreement from it -------------------------------------------------------------


def finalize_attestation(ctx: Context, caller: Caller, customer_id: str, body: AttestationIn) -> AgreementView:
    """POST .../agreements with attestationId: 201 from an Accepted attestation; the usual 409 when the agreement exists,
    409 attestation-not-accepted while it is not Accepted (a second finalize meets the agreement: the usual 409)."""
    partner = partner_of(ctx, caller)  # its type was checked at the edge (the attest row of POLICY)
    attestation_id = str(body.attestation_id)

    def work(uow: CustomerUnitOfWork) -> AgreementView:
        customer, _rel = active(uow, caller, Action.ATTEST, partner)
        existing = uow.acceptance(body.type)
        if existing is not None:
            raise already_accepted(existing)
        att = uow.attestation(attestation_id)
        if att is None or att.partner_id != partner.id or att.agreement_type != body.type:
            raise _not_found(attestation_id)
        now = ctx.now()
        try:
            attestations.finalize(att, now)
        except NotAccepted as exc:
            exc.extra["attestation"] = view(att, now).model_dump(mode="json", by_alias=True, exclude_none=True)
            raise
        assert att.accepted_at is not None
        acceptance = attestations.acceptance_of(att, by(caller, partner), now,
                                                agreements.latest_date_agreed(customer.country, att.accepted_at))
        uow.save(att)
        uow.add(acceptance)
        uow.record("agreement.attested", caller.display, after=acceptance)
        uow.record("attestation.finalized", caller.display, after=_trace(att, finalizedAt=now.isoformat()))
        uow.event("agreement.attested", partner.id, **acceptance_fields(acceptance))
        return agreement_view(customer, acceptance)

    return retried(lambda: ctx.unit(CustomerUnitOfWork, customer_id), work)


def needs_fields(body: AttestationIn) -> None:
    """Without attestationId the partner types the acceptance in: primaryContact and dateAgreed are required."""
    if body.attestation_id is not None:
        return
    missing = [{"field": name, "message": "Field required (or give attestationId)", "code": "missing"}
               for name, value in (("primaryContact", body.primary_contact), ("dateAgreed", body.date_agreed)) if value is None]
    if missing:
        raise Invalid(missing)


# -- the partner's pipeline ---------------------------------------------------------------------------------

_CHUNK = 100


def agreement_pipeline(ctx: Context, caller: Caller, query: PipelineQuery) -> PipelinePage:
    """The partner's customers at one stage, in customer id order, paged.

    Reads the partner's customer list and its pipeline rows chunk by chunk (both partitions of this partner only): the
    cost grows with the partner's customers, never with all customers. A customer not filed yet (its relationship began
    after its last agreement change) is filed from its own rows on first sight.
    """
    store = ctx.store(CustomerStore)
    try:
        cursor = (decode_token(query.continuation_token) or {}).get("after", "")
    except ValueError as exc:
        raise Invalid([{"field": "continuationToken", "message": str(exc), "code": "invalid"}]) from exc
    now = ctx.now()
    wanted = PipelineStage(query.status.value)
    out: list[PipelineItem] = []
    more = True
    while more and len(out) < query.page_size:
        page = store.customers_after(caller.partner_id, cursor, _CHUNK)
        if not page.items:
            more = False
            break
        rows = store.pipeline_between(caller.partner_id, page.items[0].customer_id, page.items[-1].customer_id)
        more = page.continuation_token is not None
        for i, entry in enumerate(page.items):
            row = rows.get(entry.customer_id)
            if row is None:
                store.file_pipeline(entry.customer_id, now)
                row = store.pipeline.get(f"pa|{caller.partner_id}", entry.customer_id)
            cursor = entry.customer_id
            stage = attestations.stage_now(row, now)
            if stage == wanted:
                out.append(PipelineItem(customer_id=entry.customer_id, customer_name=entry.name, status=PipelineStatus(stage.value),
                                        attestation_id=row.attestation_id if row else None,
                                        expires_at=row.expires_at if row else None, accepted_at=row.accepted_at if row else None))
                if len(out) == query.page_size:
                    more = more or i < len(page.items) - 1
                    break
    return PipelinePage(items=out, continuation_token=encode_token({"after": cursor}) if more else None)


# -- the expiry sweep ------------------------------------------------------------------------------------------


def expire_attestations(ctx: Context, now: datetime | None = None, *, limit: int = 5000) -> dict[str, int]:
    """Expire pending links past their expiry: reads only the index rows up to now (cost grows with what expires).

    Per row: the attestation, one transaction when it is still pending (Expired, audited, its event), then the index row
    deleted. An attestation accepted or replaced meanwhile only loses its index row; a run cut short is finished by the next.
    """
    now = now or ctx.now()
    store = ctx.store(CustomerStore)
    counts = {"expired": 0, "dropped": 0, "busy": 0}
    done = 0
    while done < limit:
        rows = store.expiring(now, SWEEP_BATCH)
        if not rows:
            break
        for row in rows:
            done += 1
            try:
                expired = _expire_one(ctx, row, now)
            except Busy:
                counts["busy"] += 1
                continue
            counts["expired" if expired else "dropped"] += 1
            store.expiries.delete(*store.expiries.keys(row))
        if counts["busy"] and counts["busy"] >= len(rows):
            break  # every row was contended: the next run tries again
    return counts


def _expire_one(ctx: Context, row: AttestationExpiry, now: datetime) -> bool:
    def work(uow: CustomerUnitOfWork) -> bool:
        att = uow.attestation(row.attestation_id)
        if att is None or not attestations.expire(att, now):
            return False
        uow.save(att)
        uow.record("attestation.expired", "scheduler", after=_trace(att, expiredAt=now.isoformat()))
        uow.event("agreement.attestationExpired", att.partner_id, **event_fields(att))
        return True

    expired = retried(lambda: ctx.unit(CustomerUnitOfWork, row.customer_id), work)
    return expired
