"""The seller side of invitations: create (one or in bulk), read, list, resend, revoke, draft, resend-request.

This is the invitations feature's public service: other features (the customer's journey, customers and
agreements) use invitations only through the functions here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from invite_user import delivery
from invite_user.api_models import (
    BulkResult,
    BulkRow,
    DraftEmail,
    InvitationOut,
    InvitationPage,
    NewInvitation,
    present,
)
from invite_user.delivery import redeem_url
from invite_user.invitations import (
    EmailStatus,
    Invitation,
    InvitationKind,
    InvitationStateError,
    InvitationStatus,
    link_hash,
    new_invitation_id,
    normalize_email,
    parse_invitation_id,
)
from invite_user.records import bulk_record, change_record, created_record
from invite_user.repository import InvitationStore, InvitationUnitOfWork, partner_partition
from invite_user.resend_requests import request_resend  # noqa: F401  (public: the anonymous resend request)
from partners.registry import Partner
from partners.service import partner_of, resolve_provider
from shared import telemetry
from shared.audit import AuditRecord, audit
from shared.clock import utc_now
from shared.errors import Conflict, DomainError, NotFound, RuleBroken
from shared.partner_auth import Caller
from shared.problems import pydantic_errors
from shared.storage import Page, Storage
from shared.uow import attempt

log = logging.getLogger(__name__)

def actor(caller: Caller) -> dict[str, str]:
    return {"partnerId": caller.partner_id, "name": caller.name, "email": caller.email, "subject": caller.subject}


def build_invitation(caller: Caller, partner: Partner, provider: Partner | None, body: NewInvitation) -> tuple[Invitation, str]:
    now = utc_now()
    raw_id = new_invitation_id()
    inv = Invitation(
        link_hash=link_hash(raw_id),
        partner_id=caller.partner_id,
        kind=body.kind,
        email=body.email,
        email_normalized=normalize_email(str(body.email)),
        first_name=body.first_name,
        last_name=body.last_name,
        language=body.language,
        country_region=body.country_region,
        roles=body.roles,
        company=body.company,
        agreement=body.agreement,
        customer_id=body.customer_id,
        indirect_provider_id=provider.id if provider else None,
        indirect_provider_name=provider.name if provider else None,
        message=body.message,
        expires_in_days=body.expires_in_days,
        expires_at=now + timedelta(days=body.expires_in_days),
        created_at=now,
        updated_at=now,
        created_by=actor(caller),
        inviter_name=caller.name or partner.name,
        partner_name=partner.name,
        ask_agreement_acceptance=body.ask_agreement_acceptance,
        email_status=EmailStatus.QUEUED if body.send_email else EmailStatus.NOT_REQUESTED,
    )
    return inv, raw_id


def create(storage: Storage, caller: Caller, body: NewInvitation) -> InvitationOut:
    partner = partner_of(storage, caller)
    provider = resolve_provider(storage, partner, body.indirect_provider_id)
    inv, raw_id = build_invitation(caller, partner, provider, body)
    return invite(storage, inv, raw_id, caller.display, send_email=body.send_email)


def invite(storage: Storage, inv: Invitation, raw_id: str, record_actor: str, *, send_email: bool = True,
           audit_extra: dict[str, Any] | None = None) -> InvitationOut:
    """Store a prepared invitation with its audit record (plus `audit_extra`, e.g. who in the company invited) and queue its email."""
    stored = InvitationStore(storage).create(inv, created_record(inv, record_actor, audit_extra))
    if stored is not inv:
        # A retry of a keyed create whose first run committed: answer from what was committed, and queue its email
        # again if it may not have been (a second copy is skipped by the send's claim).
        if send_email and stored.email_status == EmailStatus.QUEUED:
            delivery.queue_emails(storage, [(stored, raw_id)])
        return present(stored, raw_id=raw_id, redeem_url=redeem_url(raw_id), now=utc_now())
    telemetry.count("invitations.created", partner_id=inv.partner_id, kind=inv.kind.value, reference=inv.reference)
    if send_email:
        delivery.queue_emails(storage, [(inv, raw_id)])
    return present(inv, raw_id=raw_id, redeem_url=redeem_url(raw_id), now=utc_now())


def create_bulk(storage: Storage, caller: Caller, rows: list[dict[str, Any]]) -> BulkResult:
    """One result per row; a bad row never sinks the others. Rows are batched per partition."""
    partner = partner_of(storage, caller)
    results: list[dict[str, Any]] = [{} for _ in rows]
    pending: list[tuple[int, Invitation, str, bool]] = []
    for i, row in enumerate(rows):
        try:
            body = NewInvitation.model_validate(row)
            provider = resolve_provider(storage, partner, body.indirect_provider_id)
        except ValidationError as exc:
            results[i] = {"index": i, "status": "invalid", "errors": pydantic_errors(exc)}
            continue
        except DomainError as error:
            results[i] = {"index": i, "status": "invalid", "errors": error.errors or [{"field": "(row)", "message": error.detail}]}
            continue
        inv, raw_id = build_invitation(caller, partner, provider, body)
        pending.append((i, inv, raw_id, body.send_email))
    store = InvitationStore(storage)
    created = store.create_many([inv for _, inv, _, _ in pending], lambda chunk: bulk_record(chunk, caller)) if pending else {}
    to_mail = []
    now = utc_now()
    for i, inv, raw_id, send in pending:
        stored = created.get(inv.link_hash)
        if stored is not None:
            results[i] = {"index": i, "status": "created",
                          "invitation": present(stored, raw_id=raw_id, redeem_url=redeem_url(raw_id), now=now)}
            if stored is inv:  # not one a first run of this keyed request stored already
                telemetry.count("invitations.created", partner_id=inv.partner_id, kind=inv.kind.value)
            if send and stored.email_status == EmailStatus.QUEUED:  # a first run may have died before queueing it
                to_mail.append((stored, raw_id))
        else:
            results[i] = {"index": i, "status": "failed", "errors": [{"field": "(row)", "message": "could not be stored; retry"}]}
    if to_mail:
        delivery.queue_emails(storage, to_mail)
    counts = {k: sum(1 for r in results if r["status"] == k) for k in ("created", "invalid", "failed")}
    return BulkResult(summary=counts, results=[BulkRow.model_validate(r) for r in results])


def resolve_handle(handle: str) -> tuple[str, str | None]:
    """A path's {id} is the link id (from create) or the invitation's reference (from lists)."""
    raw = parse_invitation_id(handle)
    if raw:
        return link_hash(raw), raw
    h = (handle or "").strip().lower()
    if len(h) == 64 and all(c in "0123456789abcdef" for c in h):
        return h, None
    raise NotFound("No such invitation.")


def _load(uow: InvitationUnitOfWork, caller: Caller, handle: str) -> tuple[Invitation, str | None]:
    h, raw = resolve_handle(handle)
    inv = uow.by_link(h)
    # Another partner's invitation is "not found", never "forbidden": its existence is not the caller's business.
    if inv is None or inv.partner_id != caller.partner_id:
        raise NotFound("No such invitation.")
    telemetry.annotate(reference=inv.reference)
    return inv, raw


def get(storage: Storage, caller: Caller, handle: str) -> InvitationOut:
    inv, raw = _load(InvitationUnitOfWork(storage), caller, handle)
    return present(inv, raw_id=raw, redeem_url=redeem_url(raw) if raw else None, now=utc_now())


def find(storage: Storage, link_hash_: str) -> Invitation | None:
    """The invitation a personal link leads to (by the link's hash), or None."""
    return InvitationStore(storage).find_by_link(link_hash_)


def list_page(storage: Storage, caller: Caller, query: Any) -> InvitationPage:
    store = InvitationStore(storage)
    try:
        page = store.list_page(
            caller.partner_id,
            status=query.status.value if query.status else None,
            email=normalize_email(query.email) if query.email else None,
            kind=query.kind.value if query.kind else None,
            customer_id=query.customer_id,
            page_size=query.page_size,
            continuation_token=query.continuation_token,
        )
    except ValueError as exc:
        raise RuleBroken(str(exc), field="continuationToken", code="invalid") from exc
    now = utc_now()
    return InvitationPage(items=[present(i, raw_id=None, redeem_url=None, now=now) for i in page.items],
                          continuation_token=page.continuation_token)


UnitFactory = Callable[[Storage], InvitationUnitOfWork]


def _change(storage: Storage, caller: Caller, handle: str, action: str, apply: Any,
            unit: UnitFactory = InvitationUnitOfWork) -> tuple[Invitation, str | None]:
    """Read, apply a life-cycle rule, write under the ETag (the unit of work retries on a concurrent change)."""

    def work(uow: InvitationUnitOfWork) -> tuple[Invitation, str | None]:
        inv, raw = _load(uow, caller, handle)
        before = {"status": inv.status, "expiresAt": inv.expires_at.isoformat()}
        try:
            apply(inv)
        except InvitationStateError as exc:
            raise Conflict(str(exc), code=f"invitation-{exc.status.value.lower()}") from exc
        uow.save(inv, change_record(inv, action, caller.display, before))
        return inv, raw

    return attempt(lambda: unit(storage), work, busy="The invitation is changing right now; retry.")


def resend(storage: Storage, caller: Caller, handle: str) -> InvitationOut:
    """The same link stays valid and its expiry restarts. Called with the reference only (the link id is
    not stored), the email carries an additional link to the same invitation; the first one still works."""
    inv, raw = _change(storage, caller, handle, "invitation.resent", lambda inv: inv.resend(utc_now()))
    link_id = raw or InvitationStore(storage).add_link(inv)
    delivery.queue_emails(storage, [(inv, link_id)])
    return present(inv, raw_id=raw, redeem_url=redeem_url(raw) if raw else None, now=utc_now())


def revoke(storage: Storage, caller: Caller, handle: str, *, unit: UnitFactory = InvitationUnitOfWork) -> InvitationOut:
    now = utc_now()
    inv, raw = _change(storage, caller, handle, "invitation.revoked", lambda inv: inv.revoke(now, actor(caller)), unit)
    return present(inv, raw_id=raw, redeem_url=None, now=now)


def draft_email(storage: Storage, caller: Caller, handle: str, language: str | None) -> DraftEmail:
    """The email a partner may review, edit or copy and send itself; it keeps the personalised URL."""
    inv, raw = _load(InvitationUnitOfWork(storage), caller, handle)
    if raw is None:
        raise RuleBroken(
            "The personalised URL is built from the invitation id returned when the invitation was created; "
            "only a hash of it is stored, so the reference cannot rebuild it.",
            code="link-id-required", title="The invitation id is needed",
        )
    rendered = delivery.render(inv, redeem_url(raw), language)
    return DraftEmail(subject=rendered.subject, text=rendered.text, html=rendered.html, language=rendered.language,
                      invite_redeem_url=redeem_url(raw), to=str(inv.email))


# -- used by the customer's journey and by customers/agreements --------------------------------------


def accept(storage: Storage, link_hash_: str, by: dict[str, str], *, customer_id: str | None, now: datetime,
           company_created: bool = False, unit: UnitFactory = InvitationUnitOfWork) -> Invitation:
    """Mark an invitation Accepted into `customer_id` (audited); repeating it is harmless.

    Raises NotFound when there is no such invitation, InvitationStateError when it is revoked, expired or accepted
    into another company.
    """

    def work(uow: InvitationUnitOfWork) -> Invitation:
        newly_accepted.clear()  # an attempt that met a conflict accepted nothing
        inv = uow.by_link(link_hash_)
        if inv is None:
            raise NotFound("No such invitation.")
        if inv.status == InvitationStatus.ACCEPTED:
            if customer_id is None or inv.customer_id == customer_id:
                return inv
            raise InvitationStateError(inv.status, "The invitation was accepted for another company.")
        before = {"status": inv.status, "expiresAt": inv.expires_at.isoformat()}
        inv.accept(now, by, customer_id=customer_id, company_created=company_created)
        newly_accepted.append(inv)
        uow.save(inv, audit(partner_partition(inv.partner_id), "invitation.accepted", by.get("email", ""), before=before,
                            after={"status": inv.status, "reference": inv.reference, "customerId": inv.customer_id},
                            customer_id=inv.customer_id))
        return inv

    newly_accepted: list[Invitation] = []
    accepted = attempt(lambda: unit(storage), work, busy="The invitation kept changing; retry.")
    if newly_accepted:
        telemetry.count("invitations.redeemed", partner_id=accepted.partner_id, kind=accepted.kind.value, reference=accepted.reference,
                        customer_id=accepted.customer_id)
    return accepted


def has_invitation(storage: Storage, partner_id: str, kind: InvitationKind, customer_id: str) -> bool:
    """Whether the partner has an invitation of this kind for the customer."""
    page = InvitationStore(storage).list_page(partner_id, kind=kind.value, customer_id=customer_id, page_size=1)
    return bool(page.items)


def audit_after(storage: Storage, partner_id: str, customer_id: str, after_row_key: str, page_size: int) -> Page[AuditRecord]:
    """The partner's invitation audit records about a customer, newest first, after a row key."""
    return InvitationStore(storage).audit_after(partner_id, customer_id, after_row_key, page_size)
