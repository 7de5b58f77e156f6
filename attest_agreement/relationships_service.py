"""Reseller relationships: opening or restoring one (the one rule, also used by accept_invite), requesting, removing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from attest_agreement import relationships
from attest_agreement.api_models import RelationshipRequestIn, RelationshipRequestOut, RemoveRelationshipIn
from attest_agreement.asking import new_invitation
from attest_agreement.customer_events import relationship_event, relationship_fields
from attest_agreement.customers import GranularDelegatedAdminPrivileges, RelationshipRole, RelationshipStatus, ResellerRelationship
from attest_agreement.relationships import PartnerRef
from attest_agreement.repository import CustomerStore, CustomerUnitOfWork
from attest_agreement.steps import dump, no_relationship, retried, standing_from
from invite_user import service as invitations
from invite_user.invitations import Invitation, InvitationKind
from invite_user.trail import TrailStep, provide_customer_steps
from partners.registry import Partner
from shared.authorization import Action, Standing, check, provide_standing
from shared.context import Context
from shared.errors import Conflict, Invalid, NotFound
from shared.partner_auth import Caller


def join_relationship(uow: CustomerUnitOfWork, partner: Partner | PartnerRef, actor: str, now: datetime, *,
                      role: RelationshipRole = RelationshipRole.RESELLER,
                      gdap: GranularDelegatedAdminPrivileges | None = None,
                      invitation: str | None = None) -> ResellerRelationship | None:
    """Stage the partner's relationship with the customer: new, or a removed one made active again (fresh DAP, GDAP kept).

    Nothing is staged, and None returned, when it is active already. The caller commits, then puts the customer
    on the partners' lists (`index_partner_lists`).
    """
    existing = uow.relationship(partner.id)
    if relationships.is_active(existing):
        return None
    before = dump(existing) if existing is not None else None
    rel = relationships.open_relationship(uow.customer_id, partner, actor, now, role=role, gdap=gdap, existing=existing,
                                        invitation=invitation)
    if existing is None:
        uow.add(rel)
        uow.record("relationship.created", actor, after=rel)
    else:
        uow.save(rel)
        uow.record("relationship.restored", actor, before=before, after=rel)
    uow.event(relationship_event(rel), partner.id, **relationship_fields(rel))
    return rel


def index_partner_lists(ctx: Context, customer_id: str, customer_name: str, *,
                        joined: Sequence[ResellerRelationship] | None = None) -> None:
    """Put the customer on the list of every partner it has an active relationship with (rebuilt from the rows, the truth).

    `joined`: the relationships a commit that just created the customer wrote, which are then all it has (no read).
    """
    uow = ctx.unit(CustomerUnitOfWork, customer_id)
    for rel in joined if joined is not None else uow.relationships():
        if rel.serving:
            uow.index(rel, customer_name)


def standing(ctx: Context, partner_id: str, customer_id: str) -> Standing:
    """The partner's standing with the customer, for the policy checks of lower layers (invitations)."""
    return standing_from(ctx.store(CustomerStore).relationship(customer_id, partner_id))


provide_standing(standing)


def onboarding_steps(ctx: Context, inv: Invitation) -> list[TrailStep]:
    """The steps of an accepted invitation's trail that live on its customer's records (`invite_user.trail`), each
    written in the transaction that staged its event: the relationship its acceptance consented to (which names it) and
    the customer's agreement acceptance made after the invitation, whichever way (attested by the partner, confirmed by
    the customer on its own link, accepted directly). A colleague invitation has neither. At most two point reads."""
    if inv.kind == InvitationKind.COMPANY_USER or not inv.customer_id:
        return []
    store, steps = ctx.store(CustomerStore), []
    if inv.kind in (InvitationKind.CUSTOMER_ONBOARDING, InvitationKind.RESELLER_RELATIONSHIP):
        rel = store.relationship(inv.customer_id, inv.partner_id)
        if rel is not None and rel.invitation == inv.reference:
            steps.append(TrailStep(step="relationshipConsented", at=rel.created_at))
    acceptance = store.acceptance(inv.customer_id)
    if acceptance is not None and acceptance.recorded_at >= inv.created_at:
        steps.append(TrailStep(step="agreementAccepted", at=acceptance.recorded_at, how=acceptance.how.value))
    return steps


provide_customer_steps(onboarding_steps)


def get_relationship(ctx: Context, caller: Caller, customer_id: str) -> ResellerRelationship:
    """The caller's relationship with the customer, removed ones included (DAP gone, GDAP kept is visible)."""
    rel = ctx.store(CustomerStore).relationship(customer_id, caller.partner_id)
    if rel is None:
        raise NotFound(f"Your partner account has no relationship with customer {customer_id}.", code="no-relationship")
    check(Action.READ_RELATIONSHIP, roles=caller.roles, partner_type=caller.partner_type, standing=standing_from(rel), customer_id=customer_id)
    return rel


def request_relationship(ctx: Context, caller: Caller, customer_id: str, body: RelationshipRequestIn) -> RelationshipRequestOut:
    """A ResellerRelationship invitation to an existing customer and the draft email with its personalised URL.

    The caller has no relationship with the customer (yet, or any more): nothing is written to the customer and none of
    its data is shown. The partner names the person it asks (someone it knows at the customer) and the company's name as
    it knows it; only the customer's account administrator or primary contact, signed in as themselves, can accept.
    """
    uow = ctx.unit(CustomerUnitOfWork, customer_id)
    rel = uow.relationship(caller.partner_id)
    check(Action.REQUEST_RELATIONSHIP, roles=caller.roles, partner_type=caller.partner_type, standing=standing_from(rel), customer_id=customer_id)
    customer = uow.customer()
    if customer is None:
        raise NotFound(f"No customer {customer_id}.")
    if relationships.is_active(rel):
        raise Conflict(f"Your partner account has an active relationship with customer {customer_id} already.", code="relationship-exists")
    missing = [name for name, value in (("email", body.email), ("firstName", body.first_name), ("lastName", body.last_name),
                                        ("companyName", body.company_name), ("countryRegion", body.country_region)) if not value]
    if missing:
        raise Invalid([{"field": name, "message": "required: the person you ask at the customer, and its name as you know it",
                        "code": "missing"} for name in missing])
    # Addressed from the request alone: the customer's own data (its contact, country, language) stays with the customer.
    stranger_view = customer.model_copy(update={
        "name": body.company_name, "country": body.country_region, "language": body.language or "en",
        "primary_contact": customer.primary_contact.model_copy(update={"email": "", "first_name": "", "last_name": "", "language": None}),
    })
    new = new_invitation(stranger_view, InvitationKind.RESELLER_RELATIONSHIP, body, indirectProviderId=body.indirect_provider_id,
                         askAgreementAcceptance=body.ask_agreement_acceptance, sendEmail=body.send_email)
    created = invitations.create(ctx, caller, new)
    draft = invitations.draft_email(ctx, caller, created.id or created.reference, body.language)
    return RelationshipRequestOut(invitation=created, draft_email=draft)


def remove(ctx: Context, customer_id: str, partner_id: str, actor: str, body: RemoveRelationshipIn) -> ResellerRelationship:
    """Off the partner's list, DAP removed, GDAP kept, nobody notified, audited."""
    relationships.check_good_faith(body.good_faith_declaration)  # before any read

    def work(uow: CustomerUnitOfWork) -> ResellerRelationship:
        rel = uow.relationship(partner_id)
        customer = uow.customer()
        if rel is None or customer is None:
            raise no_relationship(uow.customer_id)
        if rel.status != RelationshipStatus.ACTIVE:
            uow.index(rel, customer.name)  # an earlier removal may have stopped before the list was updated
            raise no_relationship(uow.customer_id)
        before = dump(rel)
        relationships.remove_relationship(rel, True, actor, ctx.now())
        uow.save(rel)
        uow.record("relationship.removed", actor, before=before, after=rel)
        uow.event("dap-admin-relationship-terminated", partner_id, **relationship_fields(rel))
        uow.commit()
        uow.index(rel, customer.name)
        return rel

    return retried(lambda: ctx.unit(CustomerUnitOfWork, customer_id), work)


def remove_relationship(ctx: Context, caller: Caller, customer_id: str, body: RemoveRelationshipIn) -> ResellerRelationship:
    return remove(ctx, customer_id, caller.partner_id, caller.display, body)
