"""Accepting an invitation: create the company (seed 001 step 3), or join an existing one, exactly once.

Rules:
- Only the signed-in person whose email the invitation names may accept it; anyone else leaves it untouched.
- The company's id is derived from the invitation, so every retry, double-click or parallel request writes
  to the same customer partition. One entity-group transaction creates the profile, the first user
  (Account manager plus the invited roles), the reseller relationship with the inviting partner (and the
  indirect provider the invitation names) and their audit records: all of it or nothing.
- A conflict on that transaction means the company is there already: the request carries on with the
  remaining steps instead of failing, so every caller sees the same company.
- Then the partners' customer lists are indexed and the invitation is marked Accepted under its ETag.
  Both steps are idempotent; if storage fails between them, the next attempt completes them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from accept_invite.company_form import CompanyForm
from invite_user.invitations import BusinessCenterRole, Invitation, InvitationKind, InvitationStatus, normalize_email
from invite_user.repository import InvitationStore, partner_partition
from shared import telemetry
from shared.audit import audit
from shared.clock import utc_now
from shared.customers import (
    CompanyUser,
    Contact,
    Customer,
    CustomerStore,
    DelegatedAdminPrivileges,
    RelationshipRole,
    RelationshipStatus,
    ResellerRelationship,
    customer_partition,
)
from shared.storage import ConcurrencyConflict, Op, Storage

_CUSTOMER_IDS = uuid.UUID("0b6f4b1e-5d0a-4c55-9f7e-2c1e8f3a7d21")
ATTEMPTS = 8


@dataclass(frozen=True)
class Person:
    """The signed-in person, as the identity provider said."""

    email: str
    name: str = ""
    subject: str = ""

    def actor(self) -> dict[str, str]:
        return {"email": self.email, "name": self.name, "subject": self.subject}


class AcceptError(Exception):
    """The invitation cannot be accepted by this person now; the page says why."""


class InvitationNotFound(AcceptError):
    pass


class WrongAccount(AcceptError):
    def __init__(self, invitation: Invitation, signed_in_as: str) -> None:
        super().__init__(f"signed in as {signed_in_as}, the invitation is for {invitation.email}")
        self.invitation = invitation
        self.signed_in_as = signed_in_as


class NotPending(AcceptError):
    """Expired, revoked, or accepted for another company."""

    def __init__(self, invitation: Invitation, status: InvitationStatus) -> None:
        super().__init__(f"the invitation is {status}")
        self.invitation = invitation
        self.status = status


class CompanyGone(AcceptError):
    """The invitation names a company that does not exist (any more)."""


class OtherStep(AcceptError):
    """This invitation is accepted elsewhere (the customer agreement: attest_agreement)."""


class Busy(AcceptError):
    """The invitation kept changing under us; nothing inconsistent was written. Retry."""


def customer_id_for(inv: Invitation) -> str:
    """The id of the company an invitation creates: the same for every attempt, unguessable from outside."""
    return str(uuid.uuid5(_CUSTOMER_IDS, inv.link_hash))


def needs_company_form(inv: Invitation) -> bool:
    """New customers confirm the company data; invitations to an existing company only need a confirmation."""
    return inv.customer_id is None or inv.kind == InvitationKind.CUSTOMER_ONBOARDING and inv.customer_id == customer_id_for(inv)


def first_user_roles(inv: Invitation) -> list[str]:
    """The first user of a new company is its Account manager, plus whatever roles the seller gave."""
    roles = [BusinessCenterRole.ACCOUNT_MANAGER.value]
    roles += [r.value for r in inv.roles if r.value not in roles]
    return roles


def load(storage: Storage, link_hash: str, person: Person) -> Invitation:
    """The invitation for this person: NotFound when there is none, WrongAccount when it names someone else."""
    inv = InvitationStore(storage).find_by_link(link_hash)
    if inv is None:
        raise InvitationNotFound(link_hash)
    if not inv.is_for(person.email):
        raise WrongAccount(inv, person.email)
    return inv


def accepted_into(inv: Invitation) -> str | None:
    """The company an accepted invitation led to."""
    return inv.customer_id if inv.status == InvitationStatus.ACCEPTED else None


# -- a new company ------------------------------------------------------------------------------


def create_company(storage: Storage, link_hash: str, person: Person, form: CompanyForm, now: datetime | None = None) -> str:
    """Create the company of an invitation, or find the one an earlier attempt created. Returns its id."""
    now = now or utc_now()
    inv = load(storage, link_hash, person)
    customer_id = customer_id_for(inv)
    customers = CustomerStore(storage)
    status = inv.effective_status(now)
    if status == InvitationStatus.ACCEPTED:
        if inv.customer_id == customer_id:
            return customer_id
        raise NotPending(inv, status)
    if not needs_company_form(inv):
        raise NotPending(inv, status)  # this invitation joins an existing company; there is nothing to create
    existing = customers.customer(customer_id)
    if status != InvitationStatus.PENDING and existing is None:
        raise NotPending(inv, status)
    if existing is None:
        try:
            customers.commit(_company_ops(inv, form, person, customer_id, now))
        except ConcurrencyConflict:
            pass  # another request (a double-click, a retry) created it a moment ago: carry on with the rest
        existing = customers.customer(customer_id)
        if existing is None:
            raise Busy("the company is neither created nor there")
    _index(customers, customer_id, existing.name)
    _mark_accepted(storage, link_hash, customer_id, person, now, company_done=True)
    return customer_id


def _company_ops(inv: Invitation, form: CompanyForm, person: Person, customer_id: str, now: datetime) -> list[Op]:
    partition = customer_partition(customer_id)
    actor = person.email
    customer = Customer(
        id=customer_id, name=form.name or "", address=form.address(), country=form.country or inv.country_region,
        vat_number=form.vat_number, registration_number=form.registration_number, phone=form.phone, website=form.website,
        domain=form.domain,
        primary_contact=Contact(first_name=inv.first_name, last_name=inv.last_name, email=str(inv.email), language=inv.language),
        language=inv.language, asked_to_accept_directly=inv.ask_agreement_acceptance, created_at=now,
        created_by={**person.actor(), "invitation": inv.reference, "partnerId": inv.partner_id},
        created_from_invitation=inv.reference,
    )
    user = _user(inv, customer_id, first_user_roles(inv), person, now)
    ops: list[Op] = [
        Op("create", customer),
        Op("create", user),
        Op("create", audit(partition, "customer.created", actor, after=customer, customer_id=customer_id)),
        Op("create", audit(partition, "user.added", actor, after={"email": user.email, "roles": user.roles}, customer_id=customer_id)),
    ]
    for rel in _relationships(inv, customer_id, person, now):
        ops.append(Op("create", rel))
        ops.append(Op("create", audit(partition, "relationship.created", actor, after=rel, customer_id=customer_id)))
    return ops


def _user(inv: Invitation, customer_id: str, roles: list[str], person: Person, now: datetime) -> CompanyUser:
    return CompanyUser(
        customer_id=customer_id, email=str(inv.email), email_normalized=inv.email_normalized, first_name=inv.first_name,
        last_name=inv.last_name, roles=roles, language=inv.language, country_region=inv.country_region, subject=person.subject or None,
        added_at=now, added_by=f"invitation {inv.reference} from {inv.partner_name}",
    )


def _relationships(inv: Invitation, customer_id: str, person: Person, now: datetime) -> list[ResellerRelationship]:
    rels = [ResellerRelationship(
        customer_id=customer_id, partner_id=inv.partner_id, partner_name=inv.partner_name, role=RelationshipRole.RESELLER,
        created_at=now, created_by=person.email,
    )]
    if inv.indirect_provider_id:
        rels.append(ResellerRelationship(
            customer_id=customer_id, partner_id=inv.indirect_provider_id, partner_name=inv.indirect_provider_name or inv.indirect_provider_id,
            role=RelationshipRole.INDIRECT_PROVIDER, created_at=now, created_by=person.email,
        ))
    return rels


def _index(customers: CustomerStore, customer_id: str, name: str) -> None:
    """Put the company on its partners' lists (rebuilt from the relationship rows, the truth)."""
    for rel in customers.relationships_of(customer_id):
        if rel.status == RelationshipStatus.ACTIVE:
            customers.index_relationship(rel, name)


def _mark_accepted(storage: Storage, link_hash: str, customer_id: str, person: Person, now: datetime, *, company_done: bool) -> None:
    store = InvitationStore(storage)
    for _ in range(ATTEMPTS):
        inv = store.find_by_link(link_hash)
        if inv is None:
            raise InvitationNotFound(link_hash)
        if inv.status == InvitationStatus.ACCEPTED:
            if inv.customer_id == customer_id:
                return
            raise NotPending(inv, inv.status)
        if inv.status == InvitationStatus.REVOKED:
            raise NotPending(inv, inv.status)
        before = {"status": inv.status, "expiresAt": inv.expires_at.isoformat()}
        was_pending_until = inv.expires_at if inv.status == InvitationStatus.PENDING else None
        if inv.effective_status(now) == InvitationStatus.PENDING:
            inv.accept(now, person.actor())
        elif company_done:
            # The company was made while the link was valid; an expiry landing between that and this mark
            # must not leave the acceptance half-done, so the acceptance is completed.
            inv.status, inv.accepted_at, inv.accepted_by, inv.updated_at = InvitationStatus.ACCEPTED, now, person.actor(), now
        else:
            raise NotPending(inv, inv.effective_status(now))
        inv.customer_id = customer_id
        record = audit(partner_partition(inv.partner_id), "invitation.accepted", person.email, before=before,
                       after={"status": inv.status, "reference": inv.reference, "customerId": customer_id}, customer_id=customer_id)
        try:
            store.save(inv, was_pending_until=was_pending_until, record=record)
            telemetry.count("invitations.redeemed", partner_id=inv.partner_id, kind=inv.kind.value, reference=inv.reference,  # telemetry
                            customer_id=customer_id)  # telemetry
            return
        except ConcurrencyConflict:
            continue  # changed meanwhile (often: accepted by a parallel request); read again
    raise Busy("the invitation kept changing")


# -- an existing company ------------------------------------------------------------------------


def accept_existing(storage: Storage, link_hash: str, person: Person, now: datetime | None = None) -> str:
    """Join a company (CompanyUser) or accept a partner's relationship (ResellerRelationship). Returns the company id."""
    now = now or utc_now()
    inv = load(storage, link_hash, person)
    status = inv.effective_status(now)
    if status == InvitationStatus.ACCEPTED and inv.customer_id:
        return inv.customer_id
    if inv.kind == InvitationKind.AGREEMENT_ACCEPTANCE:
        raise OtherStep(inv.kind)
    if status != InvitationStatus.PENDING or needs_company_form(inv):
        raise NotPending(inv, status)
    customer_id = str(inv.customer_id)
    customers = CustomerStore(storage)
    for _ in range(ATTEMPTS):
        customer = customers.customer(customer_id)
        if customer is None:
            raise CompanyGone(customer_id)
        ops = _existing_ops(customers, inv, customer, person, now)
        if not ops:
            break
        try:
            customers.commit(ops)
            break
        except ConcurrencyConflict:
            continue  # a parallel request wrote first: look again, there may be nothing left to do
    else:
        raise Busy("the company kept changing")
    _index(customers, customer_id, customer.name)
    _mark_accepted(storage, link_hash, customer_id, person, now, company_done=False)
    return customer_id


def _existing_ops(customers: CustomerStore, inv: Invitation, customer: Customer, person: Person, now: datetime) -> list[Op]:
    partition = customer_partition(customer.id)
    ops: list[Op] = []
    if inv.kind in (InvitationKind.COMPANY_USER, InvitationKind.CUSTOMER_ONBOARDING):
        user = customers.user(customer.id, normalize_email(str(inv.email)))
        # An onboarding invitation into an existing company without roles makes a reader, never an administrator.
        wanted = [r.value for r in inv.roles] or [BusinessCenterRole.ACCOUNT_VIEWER.value]
        if user is None:
            user = _user(inv, customer.id, wanted, person, now)
            ops += [Op("create", user), Op("create", audit(partition, "user.added", person.email,
                                                           after={"email": user.email, "roles": user.roles}, customer_id=customer.id))]
        elif set(wanted) - set(user.roles):
            before = {"roles": list(user.roles)}
            user.roles = user.roles + [r for r in wanted if r not in user.roles]
            user.subject = user.subject or person.subject or None
            ops += [Op("update", user), Op("create", audit(partition, "user.roles_added", person.email, before=before,
                                                           after={"roles": user.roles}, customer_id=customer.id))]
    if inv.kind == InvitationKind.RESELLER_RELATIONSHIP:
        for rel in _relationships(inv, customer.id, person, now):
            current = customers.relationship(customer.id, rel.partner_id)
            if current is not None and current.status == RelationshipStatus.ACTIVE:
                continue
            if current is None:
                ops.append(Op("create", rel))
            else:
                # A removed relationship comes back with fresh DAP; GDAP was never removed (seed 002).
                before = current.model_dump(mode="json", by_alias=True, exclude_none=True)
                current.status, current.dap, current.removed_at, current.removed_by = (
                    RelationshipStatus.ACTIVE, DelegatedAdminPrivileges(), None, None)
                current.created_at, current.created_by = now, person.email
                rel = current
                ops.append(Op("update", rel))
                ops.append(Op("create", audit(partition, "relationship.restored", person.email, before=before, after=rel,
                                              customer_id=customer.id)))
                continue
            ops.append(Op("create", audit(partition, "relationship.created", person.email, after=rel, customer_id=customer.id)))
    return ops

