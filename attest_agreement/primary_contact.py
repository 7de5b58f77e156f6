"""A partner corrects the customer's primary contact: under If-Match, audited, every partner of the customer told.

"The primary contact's details must be right (the partner can update them)" (seed 004). The contact is validated as an
attestation's (`ContactIn`, phone numbers of the customer's country), written through the customer's unit of work with
its audit record (before and after) and the event `customer.primaryContactUpdated` in one transaction. The caller names
the version it decided on (If-Match, the customer's ETag): a stale one is refused (412) unless the change is there
already (RFC 9110 13.1.1: a retry whose answer was lost, or the same correction made by someone else), so nothing is
overwritten unseen and a retry never fails for its own success.

The attestation confirmation is rendered when it is sent, so one not sent yet goes to the new contact; one that failed
for good (typically a wrong address) gets another go to the new contact (`notices.readdress`).
"""

from __future__ import annotations

from attest_agreement import agreements, notices
from attest_agreement.api_models import ContactIn
from attest_agreement.customers import Contact, Customer
from attest_agreement.repository import CustomerUnitOfWork
from attest_agreement.steps import active, contact, retried
from shared import conditional
from shared.authorization import Action
from shared.context import Context
from shared.errors import PreconditionRequired
from shared.partner_auth import Caller

EVENT = "customer.primaryContactUpdated"


def customer_etag(uow: CustomerUnitOfWork, customer: Customer) -> str:
    """The customer's HTTP ETag: its profile row's version as this unit of work read (or wrote) it."""
    version = uow.version(customer)
    return conditional.etag_of(version.etag if version else None)


def _corrected(body: ContactIn, customer: Customer) -> Contact:
    person = contact(body, customer.country, customer.primary_contact, field="phoneNumber")
    # Left out, an optional field of the same person keeps what is known; sent as null, it is removed.
    given = body.model_fields_set
    if "phone_number" in given and body.phone_number is None:
        person.phone_number = None
    if "language" in given and body.language is None:
        person.language = None
    return person


def _same(a: Contact, b: Contact) -> bool:
    return agreements.same_person(a, b) and a.language == b.language


def change_contact(uow: CustomerUnitOfWork, customer: Customer, person: Contact, actor: str, if_match: str | None) -> bool:
    """THE rule for replacing the customer's primary contact, whichever route does it (the PATCH, or an attestation
    naming another person): decided on the version the caller read (If-Match: 428 without, 412 when stale), audited
    before and after, and heard by every partner with an active relationship (`customer.primaryContactUpdated`), all in
    the caller's transaction. The same person (language included) changes nothing and needs no If-Match.

    Issue 19 item 4: an attestation with another `primaryContact` replaced the person who consents for the customer
    without If-Match and without telling the other partners.
    """
    if _same(customer.primary_contact, person):
        return False
    if not if_match:
        raise PreconditionRequired(
            "This changes the customer's primary contact (who consents for the customer): send If-Match with the customer's "
            "ETag as you read it (GET /api/customers/{id}), or name the current primary contact.", code="primary-contact-needs-if-match")
    conditional.check_syntax(if_match)
    conditional.require(if_match, customer_etag(uow, customer), "customer")
    before = customer.primary_contact
    customer.primary_contact = person
    uow.save(customer)
    uow.record(EVENT, actor, before=before, after=person)
    # Each partner serving the customer (an active relationship): its invitations default to this person.
    uow.tell_partners(EVENT, customerId=customer.id, resource=f"customers/{customer.id}")
    return True


def update_primary_contact(ctx: Context, caller: Caller, customer_id: str, body: ContactIn, if_match: str) -> tuple[Customer, str]:
    """The customer with its corrected primary contact, and its new ETag."""

    def work(uow: CustomerUnitOfWork) -> tuple[Customer, str]:
        customer, _rel = active(uow, caller, Action.UPDATE_PRIMARY_CONTACT)
        if change_contact(uow, customer, _corrected(body, customer), caller.display, if_match):
            uow.commit()
        return customer, customer_etag(uow, customer)  # nothing to change, whatever version was read: nothing written

    customer, etag = retried(lambda: ctx.unit(CustomerUnitOfWork, customer_id), work)
    acceptance = ctx.unit(CustomerUnitOfWork, customer_id).acceptance()
    if acceptance is not None and agreements.sends_confirmation(customer, acceptance):
        notices.readdress(ctx, customer, acceptance)
    return customer, etag
