"""Steps every customer service shares: who may see a customer, the caller as recorded, contacts, agreement views."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from attest_agreement import agreements, relationships
from attest_agreement.agreements import AlreadyAccepted
from attest_agreement.api_models import AgreementView, ContactIn, GdapIn
from attest_agreement.customers import AgreementAcceptance, Contact, Customer, GranularDelegatedAdminPrivileges, ResellerRelationship
from attest_agreement.repository import CustomerUnitOfWork
from invite_user import service as invitations
from partners.registry import Partner
from shared.authorization import NO_STANDING, Action, Relationship, Standing, check, not_yours
from shared.errors import Busy, Invalid, NotFound
from shared.partner_auth import Caller
from shared.uow import attempt

MCA = agreements.MICROSOFT_CUSTOMER_AGREEMENT
GDAP_MAX_DAYS = 730  # a GDAP relationship lasts at most two years
T = TypeVar("T")

Units = Callable[[], CustomerUnitOfWork]


def no_relationship(customer_id: str) -> NotFound:
    return not_yours(customer_id)


def standing_from(rel: ResellerRelationship | None) -> Standing:
    """A relationship row as the plain values the authorization policy reads."""
    if rel is None:
        return NO_STANDING
    is_active = relationships.is_active(rel)
    return Standing(Relationship.ACTIVE if is_active else Relationship.REMOVED, rel.role.value, is_active and rel.dap.active)


def already_accepted(acceptance: AgreementAcceptance) -> AlreadyAccepted:
    """The 409 of an agreement recorded already, showing the partner the agreement as it is."""
    exc = AlreadyAccepted(acceptance)
    exc.extra["agreement"] = view_of(acceptance.customer_id, acceptance, False).model_dump(mode="json", by_alias=True, exclude_none=True)
    return exc


def retried(make: Units, work: Callable[[CustomerUnitOfWork], T]) -> T:
    """`attempt` with the customer's own words when it keeps changing."""
    try:
        return attempt(make, work)
    except Busy:
        raise Busy("The customer is changing right now; retry.", title="Customer busy") from None


def by(caller: Caller, partner: Partner) -> dict[str, str]:
    """The partner user as recorded with an attestation or a customer."""
    return {**invitations.actor(caller), "partnerName": partner.name}


def active(uow: CustomerUnitOfWork, caller: Caller, action: Action = Action.READ_CUSTOMER,
           partner: Partner | None = None) -> tuple[Customer, ResellerRelationship]:
    """The customer and the caller's relationship with it, as the policy's row for `action` needs it (roles, partner type:
    the edge's, or that of `partner` where a service read it; an active relationship for every action that reaches
    here); one 404 for "no customer" and "not yours"."""
    rel = uow.relationship(caller.partner_id)
    partner_type = partner.type.value if partner is not None else caller.partner_type
    check(action, roles=caller.roles, partner_type=partner_type, standing=standing_from(rel), customer_id=uow.customer_id)
    customer = uow.customer()
    if customer is None or rel is None:
        raise no_relationship(uow.customer_id)
    return customer, rel


def phone(raw: str | None, country: str, field: str) -> str | None:
    try:
        return agreements.normalize_phone(raw, country)
    except agreements.InvalidPhoneNumber as exc:
        raise exc.at(field) from None


def contact(body: ContactIn, country: str, previous: Contact | None = None, field: str = "primaryContact.phoneNumber") -> Contact:
    number = phone(body.phone_number, country, field)
    language = body.language
    if previous is not None and previous.email.casefold() == str(body.email).casefold():
        # Optional fields left out for the same person keep what we know; they are not erased.
        language = language or previous.language
        number = number or previous.phone_number
    return Contact(first_name=body.first_name, last_name=body.last_name, email=str(body.email), phone_number=number, language=language)


def gdap(body: GdapIn | None, now: datetime) -> GranularDelegatedAdminPrivileges | None:
    if body is None:
        return None
    today = now.date()
    if not today < body.end_date <= today + timedelta(days=GDAP_MAX_DAYS):
        raise Invalid([{"field": "gdap.endDate", "code": "out_of_range",
                        "message": f"must be after {today.isoformat()} and at most {GDAP_MAX_DAYS} days ahead"}])
    return GranularDelegatedAdminPrivileges(roles=body.roles, end_date=body.end_date)


def view_of(customer_id: str, acceptance: AgreementAcceptance | None, asked_directly: bool) -> AgreementView:
    if acceptance is None:
        return AgreementView(customer_id=customer_id, type=MCA, acceptance="NotProvided", asked_to_accept_directly=asked_directly)
    return AgreementView(
        customer_id=customer_id, type=acceptance.type, acceptance="Provided", how=acceptance.how, attestation_id=acceptance.attestation_id,
        date_agreed=acceptance.date_agreed,
        recorded_at=acceptance.recorded_at, recorded_by=acceptance.by, contact=acceptance.contact,
        asked_to_accept_directly=asked_directly,
    )


def agreement_view(customer: Customer, acceptance: AgreementAcceptance | None) -> AgreementView:
    return view_of(customer.id, acceptance, customer.asked_to_accept_directly)


def dump(entity: Any) -> dict[str, Any]:
    return entity.model_dump(mode="json", by_alias=True, exclude_none=True)
