"""The rules of reseller relationships: opening one, removing one (DAP goes, GDAP stays).

DAP (delegated admin privileges) are the partner's broad admin rights on the customer; GDAP (granular
delegated admin privileges) are role-scoped, time-bound rights granted separately. Removing the
relationship takes the customer off the partner's list and removes DAP; GDAP is not touched. The customer may
remove the partner's DAP alone (the relationship stays) or end the relationship (`attest_agreement.partner_rights`).
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from attest_agreement.customers import (
    DelegatedAdminPrivileges,
    GranularDelegatedAdminPrivileges,
    RelationshipRole,
    RelationshipStatus,
    ResellerRelationship,
)
from partners.registry import Partner
from shared.errors import Conflict, DomainError, RuleBroken


class PartnerRef(NamedTuple):
    """A partner as an invitation names it (its id and the name it had), when no registration is at hand."""

    id: str
    name: str


class RelationshipError(DomainError):
    code = "relationship-error"


class GoodFaithDeclarationMissing(RelationshipError, RuleBroken):
    code = "good-faith-declaration-required"
    title = "Good faith declaration required"

    def __init__(self) -> None:
        super().__init__("Removing a reseller relationship needs goodFaithDeclaration: true, declaring that the removal is made "
                         "in good faith.", errors=[{"field": "goodFaithDeclaration", "message": "must be true", "code": self.code}])


class RelationshipNotActive(RelationshipError, Conflict):
    code = "relationship-not-active"


def check_good_faith(declaration: bool | None) -> None:
    """The partner declares the removal is made in good faith (seed 002), or nothing is removed."""
    if declaration is not True:
        raise GoodFaithDeclarationMissing()


def open_relationship(customer_id: str, partner: Partner | PartnerRef, by: str, now: datetime, *, role: RelationshipRole | None = None,
                      gdap: GranularDelegatedAdminPrivileges | None = None,
                      existing: ResellerRelationship | None = None, invitation: str | None = None) -> ResellerRelationship:
    """A new active relationship with DAP, or a removed one made active again (its GDAP is kept).
    `invitation`: the invitation whose acceptance consents to it (its onboarding trail shows the consent).

    The partner who creates or invites is the customer's Reseller (admin rights); an indirect provider named
    alongside gets role IndirectProvider (it places orders), as accept_invite records them too.
    """
    if existing is not None:
        if existing.status == RelationshipStatus.ACTIVE:
            return existing
        existing.status = RelationshipStatus.ACTIVE
        existing.dap = DelegatedAdminPrivileges(active=True)
        existing.partner_name = partner.name
        existing.created_at, existing.created_by = now, by
        existing.removed_at = existing.removed_by = None
        existing.invitation = invitation
        if gdap is not None:
            existing.gdap = gdap
        return existing
    return ResellerRelationship(
        customer_id=customer_id, partner_id=partner.id, partner_name=partner.name, role=role or RelationshipRole.RESELLER,
        status=RelationshipStatus.ACTIVE, dap=DelegatedAdminPrivileges(active=True),
        gdap=gdap or GranularDelegatedAdminPrivileges(), created_at=now, created_by=by, invitation=invitation,
    )


def remove_relationship(rel: ResellerRelationship, good_faith_declaration: bool, by: str, now: datetime) -> ResellerRelationship:
    """The partner declares good faith; DAP is removed, GDAP stays; nobody is notified."""
    check_good_faith(good_faith_declaration)
    if rel.status != RelationshipStatus.ACTIVE:
        raise RelationshipNotActive("The relationship is removed already.")
    rel.status = RelationshipStatus.REMOVED
    rel.removed_at, rel.removed_by = now, by
    rel.dap = DelegatedAdminPrivileges(active=False, removed_at=now)
    return rel


def remove_admin_rights(rel: ResellerRelationship, now: datetime) -> ResellerRelationship:
    """The customer takes back the partner's DAP: the relationship stays active, GDAP stays (as on removal)."""
    if rel.status != RelationshipStatus.ACTIVE:
        raise RelationshipNotActive("The relationship is removed already.")
    rel.dap = DelegatedAdminPrivileges(active=False, removed_at=now)
    return rel


def is_active(rel: ResellerRelationship | None) -> bool:
    return rel is not None and rel.serving
