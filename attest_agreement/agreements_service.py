"""The partner's side of the customer agreement: attesting it, reading it, and what it allows the customer to buy."""

from __future__ import annotations

from typing import Any, Protocol

from attest_agreement import agreements, attestations_service, notices
from attest_agreement.agreements import CustomerNotFound
from attest_agreement.api_models import (
    AgreementView,
    AttestationIn,
    ConfirmationEmail,
    DirectSigningStatus,
    EligibilityQuery,
    EmailDelivery,
    PurchaseEligibility,
)
from attest_agreement.customer_events import acceptance_fields
from attest_agreement.customers import AcceptanceHow, AgreementAcceptance, Customer
from attest_agreement.eligibility import evaluate
from attest_agreement.primary_contact import change_contact
from attest_agreement.repository import CustomerStore, CustomerUnitOfWork
from attest_agreement.steps import active, agreement_view, already_accepted, by, contact, retried
from partners.registry import Partner
from partners.service import partner_of
from shared.authorization import Action
from shared.context import Context
from shared.partner_auth import Caller
from shared.storage import ConcurrencyConflict


class Outbox(Protocol):
    """Where the confirmation email waits from before the attestation's commit until it is queued."""

    def remember(self, customer: Customer, acceptance: AgreementAcceptance) -> Any: ...
    def forget(self, notice: Any) -> None: ...
    def send(self, customer: Customer, acceptance: AgreementAcceptance, notice: Any = None) -> None: ...


def record_attestation(ctx: Context, customer_id: str, caller: Caller, partner: Partner,
                       body: AttestationIn, if_match: str | None = None) -> tuple[Customer, AgreementAcceptance]:
    """A partner confirms the customer accepted the agreement, once; the primary contact may be corrected and is told.

    Attested already (also by an earlier try of this very request, whose email then waits in the outbox for the
    sweep: a parallel request cannot be told apart from such a retry) is a conflict, never a second record.
    """
    recorded_by, actor = by(caller, partner), caller.display
    outbox: Outbox = notices.Outbox(ctx)

    assert body.primary_contact is not None and body.date_agreed is not None  # attest() refused them missing

    def work(uow: CustomerUnitOfWork) -> tuple[Customer, AgreementAcceptance]:
        assert body.primary_contact is not None and body.date_agreed is not None
        customer, _rel = active(uow, caller, Action.ATTEST, partner)
        person = contact(body.primary_contact, customer.country, customer.primary_contact)
        existing = uow.acceptance(body.type)
        if existing is not None:
            raise already_accepted(existing)
        acceptance = agreements.attestation(customer, person, body.date_agreed, recorded_by, ctx.now(), body.type)
        uow.add(acceptance)
        uow.record("agreement.attested", actor, after=acceptance)
        uow.event("agreement.attested", partner.id, **acceptance_fields(acceptance))
        # Another person than the customer's contact: the one rule of a contact change (If-Match, audit, every partner told).
        change_contact(uow, customer, person, actor, if_match)
        notice = outbox.remember(customer, acceptance) if agreements.sends_confirmation(customer, acceptance) else None
        try:
            uow.commit()
        except ConcurrencyConflict:
            if notice is not None:
                outbox.forget(notice)
            raise  # attested or edited meanwhile: read again (and answer 409 if it was attested)
        if notice is not None:
            outbox.send(customer, acceptance, notice)
        return customer, acceptance

    return retried(lambda: ctx.unit(CustomerUnitOfWork, customer_id), work)


def attest(ctx: Context, caller: Caller, customer_id: str, body: AttestationIn, if_match: str | None = None) -> AgreementView:
    """The partner attests (typed in), or, with `attestationId`, creates the agreement the customer confirmed itself."""
    if body.attestation_id is not None:
        return attestations_service.finalize_attestation(ctx, caller, customer_id, body)
    attestations_service.needs_fields(body)
    partner = partner_of(ctx, caller)
    customer, acceptance = record_attestation(ctx, customer_id, caller, partner, body, if_match)
    return agreement_view(customer, acceptance)


def get_agreement(ctx: Context, caller: Caller, customer_id: str) -> AgreementView:
    uow = ctx.unit(CustomerUnitOfWork, customer_id)
    customer, _ = active(uow, caller)
    acceptance = uow.acceptance()
    view = agreement_view(customer, acceptance)
    notice = notices.status_of(ctx, acceptance) if acceptance is not None else None
    report = acceptance.confirmation_email_detail if acceptance is not None else None
    if notice is not None:
        view.confirmation_email = ConfirmationEmail(status=notice[0], error=notice[1], **EmailDelivery.of(report))
    elif report is not None:  # sent (its outbox row is gone), and the mail service reported on it
        view.confirmation_email = ConfirmationEmail(status="Sent", **EmailDelivery.of(report))
    return view


def agreement_status(ctx: Context, customer_id: str) -> AgreementView:
    """What the customer's own Account page shows (no partner involved): Provided or NotProvided, how, when, by whom."""
    store = ctx.store(CustomerStore)
    customer = store.customer(customer_id)
    if customer is None:
        raise CustomerNotFound(customer_id)
    return agreement_view(customer, store.acceptance(customer_id))


def direct_signing_status(ctx: Context, caller: Caller, customer_id: str) -> DirectSigningStatus:
    uow = ctx.unit(CustomerUnitOfWork, customer_id)
    active(uow, caller)
    acceptance = uow.acceptance()
    return DirectSigningStatus(is_signed=acceptance is not None and acceptance.how == AcceptanceHow.DIRECT_ACCEPTANCE)


def purchase_eligibility(ctx: Context, caller: Caller, customer_id: str, query: EligibilityQuery) -> PurchaseEligibility:
    uow = ctx.unit(CustomerUnitOfWork, customer_id)
    active(uow, caller)
    answer = evaluate(customer_id, uow.acceptance(), query.purchase_type, partner_of(ctx, caller))
    return PurchaseEligibility.model_validate(answer)
