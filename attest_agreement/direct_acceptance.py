"""The customer accepts the agreement itself: its signed-in user ticks "I accept" on the agreement page."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from attest_agreement import agreements
from attest_agreement.agreements import AlreadyAccepted, CustomerNotFound, NotAllowedToAccept
from attest_agreement.customer_events import acceptance_fields
from attest_agreement.customers import AcceptanceHow, AgreementAcceptance, CompanyUser, Contact, Customer, member
from attest_agreement.repository import CustomerUnitOfWork
from attest_agreement.steps import MCA, standing_from
from invite_user import service as invitations
from invite_user.invitations import Invitation, InvitationKind, InvitationStateError, InvitationStatus
from shared.authorization import Action, Relationship, Standing, holds
from shared.context import Context
from shared.errors import NotFound
from shared.identity import same_email
from shared.uow import attempt

log = logging.getLogger(__name__)


def accept_directly(ctx: Context, customer_id: str, signed_in_user: Mapping[str, Any], contact: Contact | None = None, *,
                    invitation: Invitation | None = None, agreement_type: str = MCA) -> AgreementAcceptance:
    """The customer's signed-in user ticked "I accept". Returns the acceptance.

    `signed_in_user`: the ID token claims (or at least email/preferred_username, name, sub/oid/subject).
    `contact`: the person who accepted, as confirmed on the page; by default the signed-in user.
    `invitation`: the AgreementAcceptance invitation that led here, marked Accepted here (or a ResellerRelationship
    invitation asking for the agreement too, which the relationship step marks). Without one, the user must be the
    customer's primary contact or a company user with role AccountManager or AccountAdministrator.
    No confirmation email is sent. Raises CustomerNotFound, NotAllowedToAccept, AlreadyAccepted, InvalidPhoneNumber.
    """
    email = agreements.signed_in_email(signed_in_user)
    subject = str(signed_in_user.get("subject") or "")
    now = ctx.now()
    by = agreements.signed_in_actor(signed_in_user)

    def work(uow: CustomerUnitOfWork) -> AgreementAcceptance:
        customer = uow.customer()
        if customer is None:
            raise CustomerNotFound(f"No customer {customer_id}.")
        _check_may_accept(uow, customer, email, subject, invitation, now)
        existing = uow.acceptance(agreement_type)
        if existing is not None:
            if existing.how == AcceptanceHow.DIRECT_ACCEPTANCE and same_email(existing.by.get("email", ""), email):
                return existing  # a double submit, or a retry after a failure
            raise AlreadyAccepted(existing)
        who = contact or agreements.contact_from_sign_in(signed_in_user, customer.primary_contact.language or customer.language)
        if who.phone_number:
            who = who.model_copy(update={"phone_number": agreements.normalize_phone(who.phone_number, customer.country)})
        acceptance = agreements.direct_acceptance(customer, who, by, now, agreement_type)
        uow.add(acceptance)
        uow.record("agreement.acceptedDirectly", email, after=acceptance)
        uow.tell_partners("agreement.accepted", **acceptance_fields(acceptance))  # each partner serving it (not a removed one)
        return acceptance

    _claim_invitation(ctx, invitation, customer_id, email, by, now)
    return attempt(lambda: ctx.unit(CustomerUnitOfWork, customer_id), work)


def is_customer_admin(uow: CustomerUnitOfWork, customer: Customer, email: str, subject: str,
                      action: Action = Action.ACCEPT_DIRECTLY) -> bool:
    """Who may consent for the customer (`customer_admin`), reading its users through the unit of work."""
    return customer_admin(customer, uow.users(), email, subject, action)


def customer_admin(customer: Customer, users: list[CompanyUser], email: str, subject: str,
                   action: Action = Action.ACCEPT_DIRECTLY) -> bool:
    """The customer's primary contact (at their verified email), or a company user with a company role of the policy's
    row for `action` (bound to this account, or not bound yet and invited at this email): who may consent for the customer."""
    if same_email(customer.primary_contact.email, email):
        return True
    user = member(users, email, subject)
    return user is not None and holds(action, user.roles)


def standing_with(uow: CustomerUnitOfWork, partner_id: str) -> Standing:
    """The partner's standing with the customer of this unit of work."""
    return standing_from(uow.relationship(partner_id))


def may_consent(ctx: Context, customer_id: str, email: str, subject: str) -> bool:
    """Whether the signed-in person may consent for the customer (see `is_customer_admin`); False when there is no customer."""
    uow = ctx.unit(CustomerUnitOfWork, customer_id)
    customer = uow.customer()
    return customer is not None and is_customer_admin(uow, customer, email, subject, Action.CONSENT_TO_RELATIONSHIP)


def _check_may_accept(uow: CustomerUnitOfWork, customer: Customer, email: str, subject: str, invitation: Invitation | None,
                      now: datetime) -> None:
    if not email:
        raise NotAllowedToAccept("The signed-in account has no email address; sign in with a work account.")
    if invitation is not None:
        asks = invitation.kind == InvitationKind.AGREEMENT_ACCEPTANCE or (
            invitation.kind == InvitationKind.RESELLER_RELATIONSHIP and invitation.ask_agreement_acceptance)
        if not asks or invitation.customer_id not in (None, customer.id) or not invitation.is_for(email):
            raise NotAllowedToAccept("This invitation does not ask you to accept the agreement for this company.")
        if invitation.kind == InvitationKind.AGREEMENT_ACCEPTANCE and invitation.effective_status(now) not in (
                InvitationStatus.PENDING, InvitationStatus.ACCEPTED):
            raise NotAllowedToAccept(f"The invitation is {invitation.effective_status(now)}; ask your partner to send a new one.")
        if invitation.kind == InvitationKind.AGREEMENT_ACCEPTANCE:
            # The partner's address choice counts only while it is the customer's partner (an active relationship).
            if standing_from(uow.relationship(invitation.partner_id)).relationship == Relationship.ACTIVE:
                return
        elif is_customer_admin(uow, customer, email, subject):
            return  # a relationship request carrying the agreement: the customer's own administrator consents
        raise NotAllowedToAccept("Only the primary contact, an Account manager or an Account administrator of the company can accept "
                                 "the agreement.")
    if not is_customer_admin(uow, customer, email, subject):
        raise NotAllowedToAccept("Only the primary contact, an Account manager or an Account administrator of the company can accept the agreement.")


def _claim_invitation(ctx: Context, invitation: Invitation | None, customer_id: str, email: str, by: dict[str, str],
                      now: datetime) -> None:
    """Mark an AgreementAcceptance invitation Accepted BEFORE the acceptance is written (a relationship invitation is
    marked by its own step): a revoke or expiry that came first refuses here with nothing written, one that comes
    after finds it Accepted. A retry after a failure finds it Accepted by this customer and carries on."""
    if invitation is None or invitation.kind != InvitationKind.AGREEMENT_ACCEPTANCE:
        return
    if not email or invitation.customer_id not in (None, customer_id) or not invitation.is_for(email):
        raise NotAllowedToAccept("This invitation does not ask you to accept the agreement for this company.")
    try:
        invitations.accept(ctx, invitation.link_key, by, customer_id=customer_id, now=now)
    except InvitationStateError as exc:
        raise NotAllowedToAccept(f"The invitation is {exc.status}; ask your partner to send a new one.") from exc
    except NotFound as exc:
        raise NotAllowedToAccept("The invitation is gone; ask your partner to send a new one.") from exc
