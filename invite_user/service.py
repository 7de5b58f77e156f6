"""The seller side of invitations: create (one or in bulk), read, list, resend, revoke, draft, resend-request.

This is the invitations feature's public service: other features (the customer's journey, customers and
agreements) use invitations only through the functions here.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from invite_user import delivery, reminders
from invite_user.acceptance import accept, reading, release  # noqa: F401  (public: accepting an invitation)
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
    event_fields,
    link_hash,
    new_invitation_id,
    normalize_email,
    parse_invitation_id,
    partner_tag,
)
from invite_user.records import bulk_record, change_record, created_record
from invite_user.repository import TABLE, InvitationStore, InvitationUnitOfWork, partner_partition
from invite_user.resend_requests import limit_resend_requests, request_resend  # noqa: F401  (public: the anonymous resend request)
from invite_user.trail import Trail, mark_journey, onboarding_trail, trail_of  # noqa: F401  (public: the invitee's journey marks)
from partners.registry import Partner
from partners.service import partner_of, resolve_provider
from shared import events, telemetry
from shared.audit import AuditRecord
from shared.authorization import Action, check, standing_of, who_may
from shared.clock import utc_now
from shared.context import Context
from shared.errors import DomainError, NotFound, RuleBroken
from shared.partner_auth import Caller
from shared.problems import pydantic_errors
from shared.settings import get_settings
from shared.storage import Page
from shared.uow import attempt

log = logging.getLogger(__name__)

def actor(caller: Caller) -> dict[str, str]:
    return {"partnerId": caller.partner_id, "name": caller.name, "email": caller.email, "subject": caller.subject}


def build_invitation(caller: Caller, partner: Partner, provider: Partner | None, body: NewInvitation) -> tuple[Invitation, str]:
    now = utc_now()
    raw_id = new_invitation_id(caller.partner_id)
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
        remind=body.remind,
        link_seal=reminders.seal_link(raw_id, link_hash(raw_id)) if body.remind else None,
        remind_before=get_settings().remind_before,
    )
    return inv, raw_id


def _outbox(inv: Invitation) -> events.Partition:
    return TABLE, partner_partition(inv.partner_id)  # where its events wait (named in the announcement after the commit)


# What an invitation about an existing customer needs of the caller (shared.authorization.POLICY).
_CUSTOMER_ACTIONS = {
    InvitationKind.COMPANY_USER: Action.INVITE_COMPANY_USER,
    InvitationKind.AGREEMENT_ACCEPTANCE: Action.ASK_DIRECT_ACCEPTANCE,
    InvitationKind.RESELLER_RELATIONSHIP: Action.REQUEST_RELATIONSHIP,
}


def kind_rules() -> str:
    """Each kind's row in words, for the API contract (the policy table is the only place they are written)."""
    return " ".join(f"{kind.value}: {who_may(action)}" for kind, action in _CUSTOMER_ACTIONS.items())


def authorize(ctx: Context, caller: Caller, partner: Partner, body: NewInvitation | Invitation) -> None:
    """An invitation that touches an existing customer needs the caller's standing with it (or the customer's consent);
    checked when it is created, and again when its invitee is changed (`body` is then the stored invitation).

    Each kind's row of the policy (`_CUSTOMER_ACTIONS`) decides; CustomerOnboarding creates a new customer, never an
    existing one.
    """
    if body.customer_id is None:
        return
    if body.kind == InvitationKind.CUSTOMER_ONBOARDING:
        raise RuleBroken("A CustomerOnboarding invitation creates a new customer; it cannot name an existing one (customerId). "
                         "Ask for a reseller relationship instead.", field="customerId", code="onboarding-names-customer")
    check(_CUSTOMER_ACTIONS[body.kind], roles=caller.roles, partner_type=partner.type.value,
          standing=standing_of(ctx, caller.partner_id, body.customer_id), customer_id=body.customer_id)


def create(ctx: Context, caller: Caller, body: NewInvitation) -> InvitationOut:
    partner = partner_of(ctx, caller)
    authorize(ctx, caller, partner, body)
    provider = resolve_provider(ctx, partner, body.indirect_provider_id)
    inv, raw_id = build_invitation(caller, partner, provider, body)
    return invite(ctx, inv, raw_id, caller.display, send_email=body.send_email)


def invite(ctx: Context, inv: Invitation, raw_id: str, record_actor: str, *, send_email: bool = True,
           audit_extra: dict[str, Any] | None = None, event: str = "invitation.created") -> InvitationOut:
    """Store a prepared invitation with its audit record (plus `audit_extra`, e.g. who in the company invited) and queue its email.

    Its `event` is announced with the email's queue message (one storage request for both), or alone without one.
    """
    stored = ctx.store(InvitationStore).create(inv, created_record(inv, record_actor, audit_extra), event)
    if stored is not inv:
        # A retry of a keyed create whose first run committed: answer from what was committed, and queue its email
        # again if it may not have been (a second copy is skipped by the send's claim); announce its event again
        # (publishing is idempotent).
        if send_email and stored.email_status == EmailStatus.QUEUED:
            delivery.queue_emails(ctx, [(stored, raw_id)], outbox=[_outbox(stored)])
        else:
            ctx.announce([_outbox(stored)])
        return present(stored, raw_id=raw_id, redeem_url=redeem_url(raw_id), now=ctx.now())
    telemetry.count("invitations.created", partner_id=inv.partner_id, kind=inv.kind.value, reference=inv.reference)
    if send_email:
        delivery.queue_emails(ctx, [(inv, raw_id)], outbox=[_outbox(inv)])
    else:
        ctx.announce([_outbox(inv)])
    return present(inv, raw_id=raw_id, redeem_url=redeem_url(raw_id), now=ctx.now())


def create_bulk(ctx: Context, caller: Caller, rows: list[dict[str, Any]]) -> BulkResult:
    """One result per row; a bad row never sinks the others. Rows are batched per partition."""
    partner = partner_of(ctx, caller)
    results: list[dict[str, Any]] = [{} for _ in rows]
    pending: list[tuple[int, Invitation, str, bool]] = []
    for i, row in enumerate(rows):
        try:
            body = NewInvitation.model_validate(row)
            authorize(ctx, caller, partner, body)
            provider = resolve_provider(ctx, partner, body.indirect_provider_id)
        except ValidationError as exc:
            results[i] = {"index": i, "status": "invalid", "errors": pydantic_errors(exc)}
            continue
        except DomainError as error:
            results[i] = {"index": i, "status": "invalid", "errors": error.errors or [{"field": "(row)", "message": error.detail}]}
            continue
        inv, raw_id = build_invitation(caller, partner, provider, body)
        pending.append((i, inv, raw_id, body.send_email))
    store = ctx.store(InvitationStore)
    created = store.create_many([inv for _, inv, _, _ in pending], lambda chunk: bulk_record(chunk, caller)) if pending else {}
    to_mail = []
    now = ctx.now()
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
    outbox = [_outbox(inv) for _, inv, _, _ in pending if inv.link_hash in created]
    if to_mail:
        delivery.queue_emails(ctx, to_mail, outbox=outbox)
    else:
        ctx.announce(outbox)
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


def _load(ctx: Context, uow: InvitationUnitOfWork, caller: Caller, handle: str,
          company: str | None = None) -> tuple[Invitation, str | None]:
    h, raw = resolve_handle(handle)
    inv = uow.by_link(partner_tag(caller.partner_id) + h)  # the caller's partition: one read
    # Another partner's invitation is "not found", never "forbidden": its existence is not the caller's business. The
    # company's own administrator (`company`) holds the company's colleague invitations whoever keeps them.
    held = inv is not None and (inv.customer_id == company and inv.kind == InvitationKind.COMPANY_USER if company
                                else _held(ctx, caller, inv, {}))
    if inv is None or inv.partner_id != caller.partner_id or not held:
        raise NotFound("No such invitation.")
    telemetry.annotate(reference=inv.reference)
    return inv, raw


# Invitations into an existing customer's company (its users, its primary contact): the company's data.
_COMPANY_KINDS = frozenset({InvitationKind.COMPANY_USER, InvitationKind.AGREEMENT_ACCEPTANCE})


def _held(ctx: Context, caller: Caller, inv: Invitation, seen: dict[str, bool]) -> bool:
    """Whether the caller holds the invitation: one into a customer's company only while the partner serves the customer
    (the policy's manage-company-invitations row); a partner that removed its relationship neither reads nor changes
    it. `seen` remembers the answer per customer within one request (a list page)."""
    if inv.kind not in _COMPANY_KINDS or not inv.customer_id:
        return True
    if inv.customer_id not in seen:
        try:
            check(Action.MANAGE_COMPANY_INVITATIONS, roles=caller.roles, partner_type=caller.partner_type,
                  standing=standing_of(ctx, caller.partner_id, inv.customer_id), customer_id=inv.customer_id)
            seen[inv.customer_id] = True
        except NotFound:
            seen[inv.customer_id] = False
    return seen[inv.customer_id]


def version_tag(inv: Invitation, now: datetime) -> str:
    """The invitation's ETag as partners see it: opaque, changed by every change of the invitation (resend, revoke,
    change, acceptance, expiry: each sets `updated_at`, a resend counts up, the others change its status as shown),
    but not by its email's delivery, so an agent's GET stays good while the email goes out."""
    version = f"{inv.reference}|{inv.updated_at.isoformat()}|{inv.resent_count}|{inv.effective_status(now).value}"
    return '"' + hashlib.sha256(version.encode()).hexdigest()[:32] + '"'


def get(ctx: Context, caller: Caller, handle: str) -> tuple[InvitationOut, str]:
    """The invitation and its ETag (what `If-Match` must name to change it)."""
    inv, raw = _load(ctx, ctx.unit(InvitationUnitOfWork), caller, handle)
    now = ctx.now()
    return present(inv, raw_id=raw, redeem_url=redeem_url(raw) if raw else None, now=now), version_tag(inv, now)


def trail(ctx: Context, caller: Caller, handle: str) -> Trail:
    """GET /api/invitations/{id}/trail: one read (two more once accepted); another partner's invitation is not found."""
    inv, _ = _load(ctx, ctx.unit(InvitationUnitOfWork), caller, handle)
    return onboarding_trail(ctx, inv)


def find(ctx: Context, key: str) -> Invitation | None:
    """The invitation a personal link leads to, or None: by its link key (one read) or a bare link hash."""
    return ctx.store(InvitationStore).find_by_link(key)


def list_page(ctx: Context, caller: Caller, query: Any) -> InvitationPage:
    store = ctx.store(InvitationStore)
    try:
        page = store.list_page(
            caller.partner_id, status=query.status.value if query.status else None,
            email=normalize_email(query.email) if query.email else None, kind=query.kind.value if query.kind else None,
            customer_id=query.customer_id, email_status=query.email_status.value if query.email_status else None,
            stage=query.stage.value if query.stage else None, created_before=query.created_before,
            page_size=query.page_size, continuation_token=query.continuation_token)
    except ValueError as exc:
        raise RuleBroken(str(exc), field="continuationToken", code="invalid") from exc
    now = ctx.now()
    seen: dict[str, bool] = {}
    return InvitationPage(items=[present(i, raw_id=None, redeem_url=None, now=now) for i in page.items if _held(ctx, caller, i, seen)],
                          continuation_token=page.continuation_token)


def _change(ctx: Context, caller: Caller, handle: str, action: str, apply: Any,
            company: str | None = None) -> tuple[Invitation, str | None]:
    """Read, apply a life-cycle rule, write under the ETag (the unit of work retries on a concurrent change)."""

    def work(uow: InvitationUnitOfWork) -> tuple[Invitation, str | None]:
        inv, raw = _load(ctx, uow, caller, handle, company)
        before = {"status": inv.status, "expiresAt": inv.expires_at.isoformat()}
        apply(inv)  # a state that does not allow it: InvitationStateError, a 409 of the one table
        uow.save(inv, change_record(inv, action, caller.display, before))
        uow.event(action, inv.partner_id, **event_fields(inv))
        return inv, raw

    return attempt(lambda: ctx.unit(InvitationUnitOfWork), work, busy="The invitation is changing right now; retry.")


def resend(ctx: Context, caller: Caller, handle: str, *, company: str | None = None) -> InvitationOut:
    """The same link stays valid and its expiry restarts. Called with the reference only (the link id is
    not stored), the email carries an additional link to the same invitation; the first one still works."""
    inv, raw = _change(ctx, caller, handle, "invitation.resent", lambda inv: inv.resend(ctx.now()), company)
    link_id = raw or ctx.store(InvitationStore).add_link(inv)
    delivery.queue_emails(ctx, [(inv, link_id)])
    return present(inv, raw_id=raw, redeem_url=redeem_url(raw) if raw else None, now=ctx.now())


def revoke(ctx: Context, caller: Caller, handle: str, *, company: str | None = None) -> InvitationOut:
    """`company`: the company's own administrator revokes one of its colleague invitations (the partner keeps it)."""
    now = ctx.now()
    inv, raw = _change(ctx, caller, handle, "invitation.revoked", lambda inv: inv.revoke(now, actor(caller)), company)
    return present(inv, raw_id=raw, redeem_url=None, now=now)


def draft_email(ctx: Context, caller: Caller, handle: str, language: str | None) -> DraftEmail:
    """The email a partner may review, edit or copy and send itself; it keeps the personalised URL."""
    inv, raw = _load(ctx, ctx.unit(InvitationUnitOfWork), caller, handle)
    if raw is None:
        raise RuleBroken(
            "The personalised URL is built from the invitation id returned when the invitation was created; "
            "only a hash of it is stored, so the reference cannot rebuild it.",
            code="link-id-required", title="The invitation id is needed",
        )
    rendered = delivery.render(inv, redeem_url(raw), language)
    return DraftEmail(subject=rendered.subject, text=rendered.text, html=rendered.html, language=rendered.language,
                      invite_redeem_url=redeem_url(raw), to=str(inv.email))


# -- used by the customer's journey and by customers/agreements (accepting: invite_user/acceptance.py) --------


def has_invitation(ctx: Context, partner_id: str, kind: InvitationKind, customer_id: str) -> bool:
    """Whether the partner has an invitation of this kind for the customer."""
    page = ctx.store(InvitationStore).list_page(partner_id, kind=kind.value, customer_id=customer_id, page_size=1)
    return bool(page.items)


def audit_after(ctx: Context, partner_id: str, customer_id: str, after_row_key: str, page_size: int) -> Page[AuditRecord]:
    """The partner's invitation audit records about a customer, newest first, after a row key."""
    return ctx.store(InvitationStore).audit_after(partner_id, customer_id, after_row_key, page_size)
