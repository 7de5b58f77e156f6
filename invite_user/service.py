"""The seller side of invitations: create (one or in bulk), read, list, resend, revoke, draft, resend-request."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from invite_user import delivery
from invite_user.api_models import NewInvitation, ResendRequest, present
from invite_user.delivery import redeem_url
from invite_user.invitations import (
    EmailStatus,
    Invitation,
    InvitationStateError,
    InvitationStatus,
    link_hash,
    new_invitation_id,
    normalize_email,
    parse_invitation_id,
)
from invite_user.repository import InvitationStore, partner_partition
from shared import telemetry
from shared.audit import audit
from shared.clock import utc_now
from shared.partner_auth import Caller
from shared.partners import Partner, PartnerRepository, PartnerType
from shared.problems import Problem, conflict, not_found, pydantic_errors, validation_problem
from shared.settings import get_settings
from shared.storage import Storage


def actor(caller: Caller) -> dict[str, str]:
    return {"partnerId": caller.partner_id, "name": caller.name, "email": caller.email, "subject": caller.subject}


def partner_of(storage: Storage, caller: Caller) -> Partner:
    partner = PartnerRepository(storage).find(caller.partner_id)
    if partner is None:
        raise Problem(
            403, "partner-not-registered", "Partner not registered",
            f"The partner {caller.partner_id} (the token's tid) is not registered on this platform; ask a platform admin.",
        )
    return partner


def resolve_provider(storage: Storage, partner: Partner, requested: str | None) -> Partner | None:
    """The indirect provider named on the invitation: a reseller's own provider unless another is given."""
    provider_id = requested or (partner.indirect_provider_id if partner.type == PartnerType.INDIRECT_RESELLER else None)
    if not provider_id:
        return None
    provider = PartnerRepository(storage).find(provider_id)
    if provider is None or provider.type != PartnerType.INDIRECT_PROVIDER:
        raise validation_problem([{
            "field": "indirectProviderId", "message": f"{provider_id} is not a registered indirect provider", "code": "unknown_provider",
        }])
    return provider


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


def _created_record(inv: Invitation, caller: Caller) -> Any:
    return audit(partner_partition(inv.partner_id), "invitation.created", caller.display,
                 after={"reference": inv.reference, "kind": inv.kind, "email": str(inv.email), "status": inv.status},
                 customer_id=inv.customer_id)


def _bulk_record(chunk: Any, caller: Caller) -> Any:
    first = chunk[0]
    return audit(partner_partition(first.partner_id), "invitation.created", caller.display,
                 after={"bulk": True, "count": len(chunk), "references": [i.reference for i in chunk],
                        "kinds": sorted({i.kind.value for i in chunk})},
                 customer_id=first.customer_id)


def create(storage: Storage, caller: Caller, body: NewInvitation) -> dict[str, Any]:
    partner = partner_of(storage, caller)
    provider = resolve_provider(storage, partner, body.indirect_provider_id)
    inv, raw_id = build_invitation(caller, partner, provider, body)
    InvitationStore(storage).create(inv, _created_record(inv, caller))
    telemetry.count("invitations.created", partner_id=inv.partner_id, kind=inv.kind.value, reference=inv.reference)  # telemetry
    if body.send_email:
        delivery.queue_emails(storage, [(inv, raw_id)])
    return present(inv, raw_id=raw_id, redeem_url=redeem_url(raw_id), now=utc_now())


def create_bulk(storage: Storage, caller: Caller, rows: list[dict[str, Any]]) -> dict[str, Any]:
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
        except Problem as problem:
            results[i] = {"index": i, "status": "invalid", "errors": problem.errors or [{"field": "(row)", "message": problem.detail}]}
            continue
        inv, raw_id = build_invitation(caller, partner, provider, body)
        pending.append((i, inv, raw_id, body.send_email))
    store = InvitationStore(storage)
    created = store.create_many([inv for _, inv, _, _ in pending], lambda chunk: _bulk_record(chunk, caller)) if pending else set()
    to_mail = []
    now = utc_now()
    for i, inv, raw_id, send in pending:
        if inv.link_hash in created:
            telemetry.count("invitations.created", partner_id=inv.partner_id, kind=inv.kind.value)  # telemetry
            results[i] = {"index": i, "status": "created",
                          "invitation": present(inv, raw_id=raw_id, redeem_url=redeem_url(raw_id), now=now)}
            if send:
                to_mail.append((inv, raw_id))
        else:
            results[i] = {"index": i, "status": "failed", "errors": [{"field": "(row)", "message": "could not be stored; retry"}]}
    if to_mail:
        delivery.queue_emails(storage, to_mail)
    counts = {k: sum(1 for r in results if r["status"] == k) for k in ("created", "invalid", "failed")}
    return {"summary": counts, "results": results}


def resolve_handle(handle: str) -> tuple[str, str | None]:
    """A path's {id} is the link id (from create) or the invitation's reference (from lists)."""
    raw = parse_invitation_id(handle)
    if raw:
        return link_hash(raw), raw
    h = (handle or "").strip().lower()
    if len(h) == 64 and all(c in "0123456789abcdef" for c in h):
        return h, None
    raise not_found("invitation")


def _load(store: InvitationStore, caller: Caller, handle: str) -> tuple[Invitation, str | None]:
    h, raw = resolve_handle(handle)
    inv = store.find_for_partner(caller.partner_id, h)
    if inv is None:
        raise not_found("invitation")
    telemetry.annotate(reference=inv.reference)  # telemetry
    return inv, raw


def get(storage: Storage, caller: Caller, handle: str) -> dict[str, Any]:
    inv, raw = _load(InvitationStore(storage), caller, handle)
    return present(inv, raw_id=raw, redeem_url=redeem_url(raw) if raw else None, now=utc_now())


def list_page(storage: Storage, caller: Caller, query: Any) -> dict[str, Any]:
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
        raise validation_problem([{"field": "continuationToken", "message": str(exc), "code": "invalid"}]) from exc
    now = utc_now()
    return {
        "items": [present(i, raw_id=None, redeem_url=None, now=now) for i in page.items],
        "continuationToken": page.continuation_token,
    }


def _change(storage: Storage, caller: Caller, handle: str, action: str, apply: Any) -> tuple[Invitation, str | None]:
    """Read, apply a life-cycle rule, write under the ETag; a concurrent change makes us read again."""
    store = InvitationStore(storage)
    from shared.storage import ConcurrencyConflict

    for _ in range(5):
        inv, raw = _load(store, caller, handle)
        before = {"status": inv.status, "expiresAt": inv.expires_at.isoformat()}
        was_pending_until = inv.expires_at if inv.status == InvitationStatus.PENDING else None
        try:
            apply(inv)
        except InvitationStateError as exc:
            raise conflict(f"invitation-{exc.status.value.lower()}", str(exc)) from exc
        record = audit(partner_partition(inv.partner_id), action, caller.display, before=before,
                       after={"status": inv.status, "expiresAt": inv.expires_at.isoformat()}, customer_id=inv.customer_id)
        record.after = {**(record.after or {}), "reference": inv.reference}
        try:
            store.save(inv, was_pending_until=was_pending_until, record=record)
            return inv, raw
        except ConcurrencyConflict:
            continue
    raise Problem(503, "busy", "Invitation busy", "The invitation is changing right now; retry.", headers={"Retry-After": "1"})


def _apply_resend(inv: Invitation) -> None:
    inv.resend(utc_now())
    inv.email_status = EmailStatus.QUEUED
    inv.email_error = None
    inv.email_attempts = 0


def resend(storage: Storage, caller: Caller, handle: str) -> dict[str, Any]:
    """The same link stays valid and its expiry restarts. Called with the reference only (the link id is
    not stored), the email carries an additional link to the same invitation; the first one still works."""
    inv, raw = _change(storage, caller, handle, "invitation.resent", _apply_resend)
    link_id = raw or InvitationStore(storage).add_link(inv)
    delivery.queue_emails(storage, [(inv, link_id)])
    return present(inv, raw_id=raw, redeem_url=redeem_url(raw) if raw else None, now=utc_now())


def resend_as_system(storage: Storage, inv: Invitation) -> None:
    """A resend nobody signed in asked for (the Business Center resend request), with a fresh extra link."""
    store = InvitationStore(storage)
    was_pending_until = inv.expires_at if inv.status == InvitationStatus.PENDING else None
    before = {"status": inv.status, "expiresAt": inv.expires_at.isoformat()}
    _apply_resend(inv)
    record = audit(partner_partition(inv.partner_id), "invitation.resent", "resend request (purchasing account manager)",
                   before=before, after={"status": inv.status, "expiresAt": inv.expires_at.isoformat(), "reference": inv.reference},
                   customer_id=inv.customer_id)
    store.save(inv, was_pending_until=was_pending_until, record=record)
    delivery.queue_emails(storage, [(inv, store.add_link(inv))])


def revoke(storage: Storage, caller: Caller, handle: str) -> dict[str, Any]:
    now = utc_now()
    inv, raw = _change(storage, caller, handle, "invitation.revoked", lambda inv: inv.revoke(now, actor(caller)))
    return present(inv, raw_id=raw, redeem_url=None, now=now)


def draft_email(storage: Storage, caller: Caller, handle: str, language: str | None) -> dict[str, Any]:
    """The email a partner may review, edit or copy and send itself; it keeps the personalised URL (seed 002)."""
    inv, raw = _load(InvitationStore(storage), caller, handle)
    if raw is None:
        raise Problem(
            400, "link-id-required", "The invitation id is needed",
            "The personalised URL is built from the invitation id returned when the invitation was created; "
            "only a hash of it is stored, so the reference cannot rebuild it.",
        )
    rendered = delivery.render(inv, redeem_url(raw), language)
    return {"subject": rendered.subject, "text": rendered.text, "html": rendered.html, "language": rendered.language,
            "inviteRedeemUrl": redeem_url(raw), "to": str(inv.email)}


def request_resend(storage: Storage, body: ResendRequest) -> None:
    """Queue the check-and-resend. The caller hears the same answer whether anything matched or not,
    so this endpoint cannot be used to learn who the purchasing account manager is."""
    storage.send_message(get_settings().email_queue, {
        "type": "resend-request",
        "email": normalize_email(str(body.email)),
        "agreementNumber": body.agreement_number,
        "purchasingAccountNumber": body.purchasing_account_number,
    })
