"""Invitations made about an existing customer: asking it to accept the agreement itself, or to a relationship."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from attest_agreement.api_models import AgreementInvitationIn, InvitationOptions
from attest_agreement.customers import Customer
from attest_agreement.repository import CustomerUnitOfWork
from attest_agreement.steps import active, already_accepted, no_relationship, retried
from invite_user import service as invitations
from invite_user.api_models import InvitationOut, NewInvitation
from invite_user.invitations import InvitationKind
from shared.authorization import Action
from shared.context import Context
from shared.errors import Invalid
from shared.partner_auth import Caller
from shared.problems import pydantic_errors


def new_invitation(customer: Customer, kind: InvitationKind, body: InvitationOptions, **extra: Any) -> NewInvitation:
    """The invitation's request, addressed to the person given or else to the customer's primary contact."""
    contact = customer.primary_contact
    data = {
        "kind": kind.value, "customerId": customer.id,
        "email": str(body.email or contact.email), "firstName": body.first_name or contact.first_name,
        "lastName": body.last_name or contact.last_name,
        "language": body.language or (contact.language if not body.email else None) or customer.language,
        "countryRegion": customer.country, "company": {k: v for k, v in (("name", customer.name), ("country", customer.country)) if v},
        "message": body.message, "expiresInDays": body.expires_in_days, **extra,
    }
    try:
        return NewInvitation.model_validate({k: v for k, v in data.items() if v not in (None, "")})
    except ValidationError as exc:
        raise Invalid(pydantic_errors(exc), "The invitation cannot be made from the customer's data; see `errors`.") from exc


def invite_to_accept(ctx: Context, caller: Caller, customer: Customer, body: AgreementInvitationIn) -> InvitationOut:
    new = new_invitation(customer, InvitationKind.AGREEMENT_ACCEPTANCE, body, askAgreementAcceptance=True, sendEmail=body.send_email)
    return invitations.create(ctx, caller, new)


def mark_asked_directly(ctx: Context, customer_id: str, actor: str) -> Customer:
    """No attestation email ever goes to a customer invited to accept directly: remember (once) that it was."""

    def work(uow: CustomerUnitOfWork) -> Customer:
        customer = uow.customer()
        if customer is None:
            raise no_relationship(uow.customer_id)
        if not customer.asked_to_accept_directly:
            customer.asked_to_accept_directly = True
            uow.save(customer)
            uow.record("agreement.directAcceptanceRequested", actor, before={"askedToAcceptDirectly": False},
                       after={"askedToAcceptDirectly": True})
        return customer

    return retried(lambda: ctx.unit(CustomerUnitOfWork, customer_id), work)


def request_direct_acceptance(ctx: Context, caller: Caller, customer_id: str, body: AgreementInvitationIn) -> InvitationOut:
    """An AgreementAcceptance invitation to the primary contact (or the person given); the customer counts as asked to accept."""
    uow = ctx.unit(CustomerUnitOfWork, customer_id)
    active(uow, caller, Action.ASK_DIRECT_ACCEPTANCE)
    existing = uow.acceptance()
    if existing is not None:
        raise already_accepted(existing)
    customer = mark_asked_directly(ctx, customer_id, caller.display)
    return invite_to_accept(ctx, caller, customer, body)
