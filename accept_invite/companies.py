"""Accepting an invitation: create the company, or join an existing one, exactly once.

Rules:
- Only the signed-in person whose email the invitation names may accept it; anyone else leaves it untouched.
- The company's id is derived from the invitation, so every retry, double-click or parallel request writes
  to the same customer partition. One entity-group transaction creates the profile, the first user
  (Account manager plus the invited roles), the reseller relationship with the inviting partner (and the
  indirect provider the invitation names) and their audit records: all of it or nothing.
- The invitation is claimed first: marked Accepted into that company under its ETag, before anything of the
  company is written. A revoke or an expiry that came first stops the acceptance there, with nothing written; one
  that comes after finds the invitation Accepted and changes nothing. So a revoked or expired invitation never
  leaves a company, a user or a relationship behind.
- Then the company (one transaction) and the partners' customer lists. Every step is idempotent: if storage fails
  after the claim, the next attempt (the invitee submits again) completes the company of its accepted invitation.
- Joining an existing company rests on a consent (the company's administrator for a relationship request; a company
  user or a partner with DAP, now, for a new user). It is checked before the claim, so a refusal leaves the invitation
  Pending with nothing written; and again inside the company's transaction. When that second check refuses (the consent
  went in the instant between, or an invitation claimed before this rule), the claim is released: the invitation is
  Pending again (audited `invitation.released`), nothing of the company is written, and the page says whom to ask.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from accept_invite.company_form import CompanyForm
from accept_invite.invitation_company import Person, customer_id_for, needs_company_form
from attest_agreement.customers import CompanyUser, Contact, Customer, RelationshipRole, ResellerRelationship
from attest_agreement.relationships import PartnerRef
from attest_agreement.repository import CustomerUnitOfWork
from attest_agreement.service import index_partner_lists, is_customer_admin, join_relationship, standing_with
from invite_user import service as invitations
from invite_user.invitations import (
    BusinessCenterRole,
    Invitation,
    InvitationKind,
    InvitationStateError,
    InvitationStatus,
    normalize_email,
)
from shared import errors
from shared.authorization import Action, Relationship, check
from shared.context import Context
from shared.uow import attempt

# An invitation with the unit of work that read it (`load_for`): a change that follows commits under that read's ETag.
Loaded = tuple[Any, Invitation]


class AcceptError(errors.DomainError):
    """The invitation cannot be accepted by this person now; the page says why (a domain error of the one table elsewhere)."""


class InvitationNotFound(AcceptError, errors.NotFound):
    pass


class WrongAccount(AcceptError, errors.Forbidden):
    def __init__(self, invitation: Invitation, signed_in_as: str) -> None:
        super().__init__(f"signed in as {signed_in_as}, the invitation is for {invitation.email}")
        self.invitation = invitation
        self.signed_in_as = signed_in_as


class NotPending(AcceptError, errors.Conflict):
    """Expired, revoked, or accepted for another company."""

    def __init__(self, invitation: Invitation, status: InvitationStatus) -> None:
        super().__init__(f"the invitation is {status}")
        self.invitation = invitation
        self.status = status


class CompanyGone(AcceptError, errors.NotFound):
    """The invitation names a company that does not exist (any more)."""


class OtherStep(AcceptError, errors.Conflict):
    """An AgreementAcceptance invitation: it is accepted on the agreement page, not here."""


class NotAllowed(AcceptError, errors.Forbidden):
    """The signed-in person may not give this consent for the company (a relationship request needs the customer's account
    administrator or primary contact), or the partner that invited no longer acts for it: nothing was written."""

    def __init__(self, invitation: Invitation) -> None:
        super().__init__(f"not allowed to accept invitation {invitation.reference}")
        self.invitation = invitation


class Busy(AcceptError, errors.Busy):
    """The company or the invitation kept changing under us; nothing inconsistent was written. Retry."""


def first_user_roles(inv: Invitation) -> list[str]:
    """The first user of a new company is its Account manager, plus whatever roles the seller gave."""
    roles = [BusinessCenterRole.ACCOUNT_MANAGER.value]
    roles += [r.value for r in inv.roles if r.value not in roles]
    return roles


def load(ctx: Context, link_hash: str, person: Person) -> Invitation:
    """The invitation for this person: InvitationNotFound when there is none, WrongAccount when it names someone else."""
    return _load(ctx, link_hash, person)[1]


def load_for(ctx: Context, link_hash: str, person: Person) -> Loaded:
    """`load`, with the unit of work that read it, for a change that follows (`create_company(read=...)`)."""
    return _load(ctx, link_hash, person)


def _load(ctx: Context, link_hash: str, person: Person) -> Loaded:
    """`load`, with the unit of work that read it: marking it accepted goes on from there without reading it again."""
    uow, inv = invitations.reading(ctx, link_hash)
    if inv is None:
        raise InvitationNotFound(link_hash)
    if not inv.is_for(person.email):
        raise WrongAccount(inv, person.email)
    return uow, inv


def _in_customer(ctx: Context, customer_id: str, work: Callable[[CustomerUnitOfWork], Customer]) -> Customer:
    """`work` on the customer's partition under the app's one retry policy; the page hears Busy when it keeps changing."""
    try:
        return attempt(lambda: ctx.unit(CustomerUnitOfWork, customer_id), work)
    except errors.Busy as exc:
        raise Busy("the company kept changing") from exc


def _mark_accepted(ctx: Context, link_hash: str, customer_id: str, person: Person, now: datetime, *, company_created: bool,
                   first: Any = None) -> None:
    try:
        invitations.accept(ctx, link_hash, person.actor(), customer_id=customer_id, now=now, company_created=company_created,
                           first=first)
    except errors.NotFound as exc:
        raise InvitationNotFound(link_hash) from exc
    except InvitationStateError as exc:
        inv = invitations.find(ctx, link_hash)
        if inv is None:
            raise InvitationNotFound(link_hash) from exc
        raise NotPending(inv, exc.status) from exc
    except errors.Busy as exc:
        raise Busy("the invitation kept changing") from exc


# -- a new company ------------------------------------------------------------------------------


def create_company(ctx: Context, link_hash: str, person: Person, form: CompanyForm, now: datetime | None = None, *,
                   read: Loaded | None = None) -> str:
    """Create the company of an invitation, or find the one an earlier attempt created. Returns its id.

    `read`: the invitation as the page's guard loaded it for this person (`load_for`), so it is not read twice.
    """
    now = now or ctx.now()
    first, inv = read if read is not None else _load(ctx, link_hash, person)
    customer_id = customer_id_for(inv)
    status = inv.effective_status(now)
    if status == InvitationStatus.ACCEPTED and inv.customer_id != customer_id:
        raise NotPending(inv, status)
    if status != InvitationStatus.ACCEPTED and not needs_company_form(inv):
        raise NotPending(inv, status)  # this invitation joins an existing company; there is nothing to create
    _mark_accepted(ctx, link_hash, customer_id, person, now, company_created=False, first=first)
    joined: list[ResellerRelationship] = []

    def work(uow: CustomerUnitOfWork) -> Customer:
        joined.clear()  # an attempt that met a conflict committed nothing
        existing = uow.customer()
        if existing is not None:
            return existing  # an earlier attempt made it: carry on with the remaining steps
        customer, rels = _stage_company(uow, inv, form, person, now)
        joined.extend(rels)
        return customer

    customer = _in_customer(ctx, customer_id, work)
    # A company this call created has exactly the relationships it staged; one an earlier attempt created is listed
    # from its rows.
    index_partner_lists(ctx, customer_id, customer.name, joined=joined or None)
    return customer_id


def _stage_company(uow: CustomerUnitOfWork, inv: Invitation, form: CompanyForm, person: Person,
                   now: datetime) -> tuple[Customer, list[ResellerRelationship]]:
    customer = Customer(
        id=uow.customer_id, name=form.name or "", address=form.address(), country=form.country or inv.country_region,
        vat_number=form.vat_number, registration_number=form.registration_number, phone=form.phone, website=form.website,
        domain=form.domain,
        primary_contact=Contact(first_name=inv.first_name, last_name=inv.last_name, email=str(inv.email), language=inv.language),
        language=inv.language, asked_to_accept_directly=inv.ask_agreement_acceptance, created_at=now,
        created_by={**person.actor(), "invitation": inv.reference, "partnerId": inv.partner_id},
        created_from_invitation=inv.reference,
    )
    user = _user(inv, customer.id, first_user_roles(inv), person, now)
    uow.add(customer)
    uow.add(user)
    uow.record("customer.created", person.email, after=customer)
    uow.event("company.created", inv.partner_id, customerId=customer.id, invitation=inv.reference, resource=f"customers/{customer.id}")
    uow.record("user.added", person.email, after={"email": user.email, "roles": user.roles})
    return customer, _join_partners(uow, inv, person, now)


def _user(inv: Invitation, customer_id: str, roles: list[str], person: Person, now: datetime) -> CompanyUser:
    return CompanyUser(
        customer_id=customer_id, email=str(inv.email), email_normalized=inv.email_normalized, first_name=inv.first_name,
        last_name=inv.last_name, roles=roles, language=inv.language, country_region=inv.country_region, subject=person.subject or None,
        added_at=now, added_by=f"invitation {inv.reference} from {inv.partner_name}",
    )


def _join_partners(uow: CustomerUnitOfWork, inv: Invitation, person: Person, now: datetime) -> list[ResellerRelationship]:
    """The inviting partner as Reseller, and the indirect provider the invitation names, each Active with DAP.

    Returns the relationships staged (none for one that was active already)."""
    # Each names the invitation: its consent is a step of that invitation's onboarding trail, staged with its event.
    staged = [join_relationship(uow, PartnerRef(inv.partner_id, inv.partner_name), person.email, now, role=RelationshipRole.RESELLER,
                                invitation=inv.reference)]
    if inv.indirect_provider_id:
        provider = PartnerRef(inv.indirect_provider_id, inv.indirect_provider_name or inv.indirect_provider_id)
        staged.append(join_relationship(uow, provider, person.email, now, role=RelationshipRole.INDIRECT_PROVIDER,
                                        invitation=inv.reference))
    return [rel for rel in staged if rel is not None]


# -- an existing company ------------------------------------------------------------------------


def accept_existing(ctx: Context, link_hash: str, person: Person, now: datetime | None = None) -> str:
    """Join a company (CompanyUser) or accept a partner's relationship (ResellerRelationship). Returns the company id."""
    now = now or ctx.now()
    read, inv = _load(ctx, link_hash, person)
    status = inv.effective_status(now)
    if status == InvitationStatus.ACCEPTED and inv.customer_id and inv.kind == InvitationKind.AGREEMENT_ACCEPTANCE:
        return inv.customer_id
    if inv.kind == InvitationKind.AGREEMENT_ACCEPTANCE:
        raise OtherStep(inv.kind)
    accepted = status == InvitationStatus.ACCEPTED and bool(inv.customer_id)
    if not accepted and (status != InvitationStatus.PENDING or needs_company_form(inv)):
        raise NotPending(inv, status)
    customer_id = str(inv.customer_id)
    if not accepted:
        # The company must be there and consent before the invitation is claimed; then the claim (see the module's rules).
        uow = ctx.unit(CustomerUnitOfWork, customer_id)
        customer = uow.customer()
        if customer is None:
            raise CompanyGone(customer_id)
        if not _consents(uow, customer, inv, person):
            raise NotAllowed(inv)
        _mark_accepted(ctx, link_hash, customer_id, person, now, company_created=False, first=read)

    def work(uow: CustomerUnitOfWork) -> Customer:
        customer = uow.customer()
        if customer is None:
            raise CompanyGone(customer_id)
        if accepted and _joined(uow, inv):
            return customer  # an earlier attempt joined under the consent of its time: nothing left to do
        if not _consents(uow, customer, inv, person):
            raise NotAllowed(inv)
        if inv.kind in (InvitationKind.COMPANY_USER, InvitationKind.CUSTOMER_ONBOARDING):
            _join_users(uow, inv, person, now)
        if inv.kind == InvitationKind.RESELLER_RELATIONSHIP:
            _join_partners(uow, inv, person, now)
        return customer

    try:
        customer = _in_customer(ctx, customer_id, work)
    except NotAllowed:
        # Refused after the claim, with nothing of the company written: the invitation goes back to Pending.
        invitations.release(ctx, link_hash, person.actor(), customer_id=customer_id, now=now)
        raise
    index_partner_lists(ctx, customer_id, customer.name)
    return customer_id


def _consents(uow: CustomerUnitOfWork, customer: Customer, inv: Invitation, person: Person) -> bool:
    """Whether the company side consents, now, to what the invitation does to it."""
    if inv.kind in (InvitationKind.COMPANY_USER, InvitationKind.CUSTOMER_ONBOARDING):
        return _invited_with_authority(uow, inv)
    if inv.kind == InvitationKind.RESELLER_RELATIONSHIP:
        # Consent comes from the customer: its own administrator or primary contact, never the address the partner picked.
        return is_customer_admin(uow, customer, person.email, person.subject, Action.CONSENT_TO_RELATIONSHIP)
    return True


def _joined(uow: CustomerUnitOfWork, inv: Invitation) -> bool:
    """Whether the company side of an accepted invitation is written (the user with its roles, or the relationship)."""
    if inv.kind == InvitationKind.RESELLER_RELATIONSHIP:
        return standing_with(uow, inv.partner_id).relationship == Relationship.ACTIVE
    user = uow.user(normalize_email(str(inv.email)))
    wanted = {r.value for r in inv.roles} or {BusinessCenterRole.ACCOUNT_VIEWER.value}
    return user is not None and wanted <= set(user.roles)


def _invited_with_authority(uow: CustomerUnitOfWork, inv: Invitation) -> bool:
    """A user joins on the word of a company user who could invite (checked when inviting), or of a partner that, now,
    holds an active reseller relationship with delegated admin privileges."""
    if (inv.created_by or {}).get("companyUser"):
        return True
    try:
        # The policy's row, applied to the standing the inviting partner holds now (its roles were checked when it invited).
        check(Action.INVITE_COMPANY_USER, roles=None, standing=standing_with(uow, inv.partner_id), customer_id=uow.customer_id)
    except (errors.Forbidden, errors.NotFound):
        return False
    return True


def _join_users(uow: CustomerUnitOfWork, inv: Invitation, person: Person, now: datetime) -> None:
    """The invitee becomes a user of the company, or a user already there gains the roles the invitation gives."""
    user = uow.user(normalize_email(str(inv.email)))
    # An onboarding invitation into an existing company without roles makes a reader, never an administrator.
    wanted = [r.value for r in inv.roles] or [BusinessCenterRole.ACCOUNT_VIEWER.value]
    if user is None:
        user = _user(inv, uow.customer_id, wanted, person, now)
        uow.add(user)
        uow.record("user.added", person.email, after={"email": user.email, "roles": user.roles})
    elif set(wanted) - set(user.roles):
        before = {"roles": list(user.roles)}
        user.roles = user.roles + [r for r in wanted if r not in user.roles]
        user.subject = user.subject or person.subject or None
        uow.save(user)
        uow.record("user.roles_added", person.email, before=before, after={"roles": user.roles})
