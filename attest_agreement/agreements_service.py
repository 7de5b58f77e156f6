"""The partner's side of the customer agreement: attesting it, reading it, and what it allows the customer to buy."""

from __future__ import annotations

from typing import Any, Protocol

from attest_agreement import agreements, notices
from attest_agreement.agreements import AgreementError, AlreadyAccepted, CustomerNotFound
from attest_agreement.api_models import (
    AgreementView,
    AttestationIn,
    ConfirmationEmail,
    DirectSigningStatus,
    EligibilityQuery,
    PurchaseEligibility,
)
from attest_agreement.customer_events import acceptance_fields
from attest_agreement.customers import AcceptanceHow, AgreementAcceptance, Customer, CustomerStore, CustomerUnitOfWork
from attest_agreement.eligibility import evaluate
from attest_agreement.primary_contact import change_contact
from attest_agreement.steps import Units, active, agreement_view, by, contact, refusal, retried
from partners.registry import Partner
from partners.service import partner_of
from shared.authorization import Action
from shared.clock import utc_now
from shared.partner_auth import Caller
from shared.storage import ConcurrencyConflict, Storage


class Outbox(Protocol):
    """Where the confirmation email waits from before the attestation's commit until it is queued."""

    def remember(self, customer: Customer, acceptance: AgreementAcceptance) -> Any: ...
    def forget(self, notice: Any) -> None: ...
    def send(self, customer: Customer, acceptance: AgreementAcceptance, notice: Any = None) -> None: ...


def record_attestation(make: Units, partner: Partner, recorded_by: dict[str, str], actor: str, body: AttestationIn,
                       outbox: Outbox, if_match: str | None = None) -> tuple[Customer, AgreementAcceptance]:
    """A partner confirms the customer accepted the agreement, once; the primary contact may be corrected and is told.

    Attested already (also by an earlier try of this very request, whose email then waits in the outbox for the
    sweep: a parallel request cannot be told apart from such a retry) is a conflict, never a second record.
    """
    try:
        agreements.check_may_attest(partner)
    except AgreementError as exc:
        raise refusal(exc) from exc

    def work(uow: CustomerUnitOfWork) -> tuple[Customer, AgreementAcceptance]:
        customer, _rel = active(uow, partner.id, Action.ATTEST)
        person = contact(body.primary_contact, customer.country, customer.primary_contact)
        existing = uow.acceptance(body.type)
        if existing is not None:
            raise refusal(AlreadyAccepted(existing))
        try:
            acceptance = agreements.attestation(customer, person, body.date_agreed, recorded_by, utc_now(), body.type)
        except AgreementError as exc:
            raise refusal(exc) from exc
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

    return retried(make, work)


def attest(storage: Storage, caller: Caller, customer_id: str, body: AttestationIn, if_match: str | None = None) -> AgreementView:
    partner = partner_of(storage, caller)
    customer, acceptance = record_attestation(lambda: CustomerUnitOfWork(storage, customer_id), partner, by(caller, partner),
                                              caller.display, body, notices.Outbox(storage), if_match)
    return agreement_view(customer, acceptance)


def get_agreement(storage: Storage, caller: Caller, customer_id: str) -> AgreementView:
    uow = CustomerUnitOfWork(storage, customer_id)
    customer, _ = active(uow, caller.partner_id)
    acceptance = uow.acceptance()
    view = agreement_view(customer, acceptance)
    notice = notices.status_of(storage, acceptance) if acceptance is not None else None
    if notice is not None:
        view.confirmation_email = ConfirmationEmail(status=notice[0], error=notice[1])
    return view


def agreement_status(storage: Storage, customer_id: str) -> AgreementView:
    """What the customer's own Account page shows (no partner involved): Provided or NotProvided, how, when, by whom."""
    store = CustomerStore(storage)
    customer = store.customer(customer_id)
    if customer is None:
        raise CustomerNotFound(customer_id)
    return agreement_view(customer, store.acceptance(customer_id))


def direct_signing_status(storage: Storage, caller: Caller, customer_id: str) -> DirectSigningStatus:
    uow = CustomerUnitOfWork(storage, customer_id)
    active(uow, caller.partner_id)
    acceptance = uow.acceptance()
    return DirectSigningStatus(is_signed=acceptance is not None and acceptance.how == AcceptanceHow.DIRECT_ACCEPTANCE)


def purchase_eligibility(storage: Storage, caller: Caller, customer_id: str, query: EligibilityQuery) -> PurchaseEligibility:
    uow = CustomerUnitOfWork(storage, customer_id)
    active(uow, caller.partner_id)
    answer = evaluate(customer_id, uow.acceptance(), query.purchase_type, partner_of(storage, caller))
    return PurchaseEligibility.model_validate(answer)
