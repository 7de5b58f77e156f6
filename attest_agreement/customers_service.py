"""Adding a customer (with its relationships and, at once, the partner's attestation), and the partner's customer list."""

from __future__ import annotations

from attest_agreement import agreements, notices, relationships
from attest_agreement.agreements import DateAgreedInFuture
from attest_agreement.api_models import (
    AgreementInvitationIn,
    CustomerCreated,
    CustomerDetail,
    CustomerPage,
    CustomerSummary,
    NewCustomer,
    PageQuery,
    PartnerOfCustomer,
)
from attest_agreement.asking import invite_to_accept
from attest_agreement.company_user_models import CompanyUserList, CompanyUserOut
from attest_agreement.customer_events import acceptance_fields
from attest_agreement.customers import AgreementAcceptance, Customer, RelationshipRole, ResellerRelationship
from attest_agreement.primary_contact import customer_etag
from attest_agreement.repository import CustomerStore, CustomerUnitOfWork
from attest_agreement.steps import active, agreement_view, by, contact, gdap, no_relationship, phone
from invite_user import service as invitations
from invite_user.api_models import InvitationOut
from invite_user.invitations import InvitationKind
from partners.registry import Partner
from partners.service import partner_of, resolve_provider
from shared.authorization import Action, check
from shared.context import Context
from shared.errors import Conflict, Forbidden, Invalid
from shared.idempotency import derived_id
from shared.partner_auth import Caller
from shared.storage import ConcurrencyConflict


def create_customer(ctx: Context, caller: Caller, body: NewCustomer, request_key: str | None = None) -> CustomerCreated:
    """A new customer with an active relationship to the caller (and the reseller's indirect provider), and,
    in the same transaction, the partner's attestation when `agreement` is given. With an Idempotency-Key the
    customer's id comes from the key and the request (`derived_id`), so a retry after a failure finds the customer instead of making another."""
    partner = partner_of(ctx, caller)
    if body.agreement is not None:
        # Creating a customer with its attestation is attesting: the policy's row for it, roles and partner type.
        check(Action.ATTEST, roles=caller.roles, partner_type=partner.type.value)
    provider = resolve_provider(ctx, partner, body.indirect_provider_id)
    now = ctx.now()
    # Keyed: derived from the key and the request (never the key alone: an expired key reused for another customer
    # must not find this one and answer as its retry).
    customer_id = derived_id()
    uow = ctx.unit(CustomerUnitOfWork, customer_id)
    if request_key and uow.customer() is not None:
        return _resume_create(ctx, caller, partner, customer_id)

    person = contact(body.primary_contact, body.country)
    company_phone = phone(body.phone, body.country, "phone")
    rights = gdap(body.gdap, now)
    recorded_by = by(caller, partner)
    customer = Customer(
        id=customer_id, name=body.name, address=body.address.model_dump(mode="json", by_alias=True, exclude_none=True) if body.address else None,
        country=body.country, vat_number=body.vat_number, registration_number=body.registration_number, phone=company_phone,
        website=body.website, domain=body.domain, primary_contact=person, language=body.language,
        asked_to_accept_directly=body.ask_to_accept_directly, created_at=now, created_by=recorded_by,
    )
    rels = [relationships.open_relationship(customer_id, partner, caller.display, now, gdap=rights)]
    if provider is not None and provider.id != partner.id:
        rels.append(relationships.open_relationship(customer_id, provider, caller.display, now, role=RelationshipRole.INDIRECT_PROVIDER))
    acceptance = None
    if body.agreement is not None:
        try:
            acceptance = agreements.attestation(customer, person, body.agreement.date_agreed, recorded_by, now)
        except DateAgreedInFuture as exc:
            raise exc.at("agreement.dateAgreed") from None

    uow.add(customer)
    uow.record("customer.created", caller.display, after=customer)
    for rel in rels:
        uow.add(rel)
        uow.record("relationship.created", caller.display, after=rel)
    outbox = notices.Outbox(ctx)
    notice = None
    if acceptance is not None:
        uow.add(acceptance)
        uow.record("agreement.attested", caller.display, after=acceptance)
        uow.event("agreement.attested", partner.id, **acceptance_fields(acceptance))
        if agreements.sends_confirmation(customer, acceptance):
            notice = outbox.remember(customer, acceptance)
    try:
        uow.commit()  # the id is new or the key's own: a conflict means another try of this request, never a retry
    except ConcurrencyConflict:
        if notice is not None:
            outbox.forget(notice)
        if request_key and ctx.store(CustomerStore).customer(customer_id) is not None:
            return _resume_create(ctx, caller, partner, customer_id)  # a parallel retry of this very request won
        raise
    for rel in rels:
        uow.index(rel, customer.name)
    if notice is not None and acceptance is not None:
        outbox.send(customer, acceptance, notice)
    invitation = invite_to_accept(ctx, caller, customer, AgreementInvitationIn()) if body.ask_to_accept_directly else None
    return _created(customer, rels, acceptance, invitation)


def _resume_create(ctx: Context, caller: Caller, partner: Partner, customer_id: str) -> CustomerCreated:
    """The customer of this Idempotency-Key exists: finish what the first attempt may have left undone."""
    uow = ctx.unit(CustomerUnitOfWork, customer_id)
    customer = uow.customer()
    if customer is None or customer.created_by.get("partnerId") != partner.id:
        raise Conflict("A customer was created with this Idempotency-Key by someone else; use a new key.", code="customer-exists")
    rels = [r for r in uow.relationships() if r.serving]
    for rel in rels:
        uow.index(rel, customer.name)
    acceptance = uow.acceptance()
    if acceptance is not None and agreements.sends_confirmation(customer, acceptance):
        notices.Outbox(ctx).send(customer, acceptance)
    invitation = None
    if customer.asked_to_accept_directly and not invitations.has_invitation(
            ctx, partner.id, InvitationKind.AGREEMENT_ACCEPTANCE, customer_id):
        invitation = invite_to_accept(ctx, caller, customer, AgreementInvitationIn())
    return _created(customer, rels, acceptance, invitation)


def _created(customer: Customer, rels: list[ResellerRelationship], acceptance: AgreementAcceptance | None,
             invitation: InvitationOut | None) -> CustomerCreated:
    return CustomerCreated(customer=customer, relationships=rels, agreement=agreement_view(customer, acceptance),
                           agreement_invitation=invitation)


def list_customers(ctx: Context, caller: Caller, query: PageQuery) -> CustomerPage:
    try:
        page = ctx.store(CustomerStore).customers_of_partner(caller.partner_id, page_size=query.page_size,
                                                           continuation_token=query.continuation_token)
    except ValueError as exc:
        raise Invalid([{"field": "continuationToken", "message": str(exc), "code": "invalid"}]) from exc
    return CustomerPage(items=[CustomerSummary(customer_id=e.customer_id, name=e.name, role=e.role, since=e.since) for e in page.items],
                        continuation_token=page.continuation_token)


def get_customer(ctx: Context, caller: Caller, customer_id: str) -> tuple[CustomerDetail, str]:
    """The customer, the caller's relationship and the agreement; and the customer's ETag (for If-Match on changes)."""
    uow = ctx.unit(CustomerUnitOfWork, customer_id)
    customer, rel = active(uow, caller)
    detail = CustomerDetail(customer=customer, relationship=rel, agreement=agreement_view(customer, uow.acceptance()))
    return detail, customer_etag(uow, customer)


def company_users(ctx: Context, caller: Caller, customer_id: str) -> CompanyUserList:
    """The customer's users, for the partner that manages it: an AdminAgent whose active relationship holds DAP.

    Anyone else hears the customer is not theirs (404), a partner whose DAP the customer removed too: who works at a
    customer is the business of the partner it trusts with its administration only.
    """
    uow = ctx.unit(CustomerUnitOfWork, customer_id)
    try:
        active(uow, caller, Action.READ_COMPANY_USERS)
    except Forbidden as exc:
        if exc.code != "dap-required":
            raise
        raise no_relationship(customer_id) from exc
    users = sorted(uow.users(), key=lambda u: u.email_normalized)
    return CompanyUserList(items=[CompanyUserOut(email=u.email, first_name=u.first_name, last_name=u.last_name, roles=u.roles,
                                                 language=u.language, country_region=u.country_region, added_at=u.added_at,
                                                 signed_in=bool(u.subject)) for u in users])


def partners_of_customer(ctx: Context, customer_id: str) -> list[PartnerOfCustomer]:
    """The partners the customer works with (what the customer sees after accepting a relationship)."""
    return [PartnerOfCustomer(partner_id=r.partner_id, partner_name=r.partner_name, role=r.role, since=r.created_at)
            for r in ctx.store(CustomerStore).relationships_of(customer_id) if r.serving]
