"""Inviting colleagues: a company user, or the company's partner, invites someone into the company.

The invitation is an ordinary `CompanyUser` invitation with the invitations feature's storage and email path.
It is kept in the partition of the partner that manages the company (the inviting partner, or for a company
user the company's reseller), so the partner sees it with the company's other invitations and the expiry timer
handles it like any other; `createdBy` says which company user sent it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accept_invite import roles as delegation
from accept_invite.colleague_invitation import ColleagueInvitation
from attest_agreement.customers import Customer, RelationshipRole, member
from attest_agreement.repository import CustomerStore
from attest_agreement.service import standing
from invite_user import service as invitations
from invite_user.api_models import NewInvitation
from invite_user.invitations import BusinessCenterRole, CompanyData, InvitationKind, normalize_email
from partners.registry import Partner, PartnerRepository, PartnerType
from shared.authorization import Action, check
from shared.context import Context
from shared.errors import Conflict, DomainError, Forbidden, NotFound, Unauthenticated
from shared.http import dump
from shared.partner_auth import Caller


@dataclass(frozen=True)
class Inviter:
    """Who invites: a company user (with their roles) or a partner agent acting with delegated admin rights."""

    name: str
    email: str
    subject: str
    roles: tuple[str, ...] = ()
    partner: Caller | None = None

    @property
    def display(self) -> str:
        return self.name or self.email


TITLE = "Invitation not sent"


def refused(kind: type[DomainError], code: str, detail: str, *, roles: list[str] | None = None) -> DomainError:
    """Why the invitation was not sent: a domain error (its status from the one table, shared.http.STATUS_OF) whose
    `code` is stable (page reason / problem type); `extra["roles"]` names the roles the inviter cannot give."""
    return kind(detail, code=code, title=TITLE, extra={"roles": roles} if roles else None)


def company_user_inviter(ctx: Context, customer_id: str, email: str, name: str, subject: str) -> tuple[Customer, Inviter]:
    """The signed-in person as an inviter of this company: 404 when no such company, 403 when not allowed."""
    customers = ctx.store(CustomerStore)
    customer = customers.customer(customer_id)
    if customer is None:
        raise refused(NotFound, "company-not-found", "No such company.")
    user = member(customers.users_of(customer_id), email, subject)
    if user is None or not delegation.may_invite(user.roles):
        raise refused(Forbidden, "not-allowed", "Only User administrators, Account managers and Agreement managers can invite colleagues.")
    display = name or " ".join(p for p in (user.first_name, user.last_name) if p)
    return customer, Inviter(name=display, email=user.email, subject=subject, roles=tuple(user.roles))


def session_inviter(ctx: Context, customer_id: str, session: Any, csrf: str | None) -> tuple[Customer, Inviter]:
    """A signed-in company user calling the JSON API from the browser: the session plus its CSRF token (X-CSRF-Token)."""
    signed_in(session, csrf)
    return company_user_inviter(ctx, customer_id, session.email, session.name or "", session.subject or "")


def signed_in(session: Any, csrf: str | None) -> None:
    """401 without a signed-in session, 403 when the X-CSRF-Token header is not the session's."""
    if session is None or not session.signed_in:
        raise refused(Unauthenticated, "unauthorized", "Sign in first (a session cookie or a bearer token is required).")
    if not session.check_csrf(csrf):
        raise refused(Forbidden, "csrf", "The X-CSRF-Token header does not match this session.")


# A partner with delegated admin rights on the company may give any role (the Account manager row of the table).
PARTNER_ROLES = (BusinessCenterRole.ACCOUNT_MANAGER.value,)


def partner_inviter(ctx: Context, customer_id: str, caller: Caller) -> tuple[Customer, Inviter]:
    """A partner agent as an inviter: it needs an active reseller relationship with DAP on this company."""
    try:
        # The policy's row for a partner inviting a company user (shared.authorization).
        check(Action.INVITE_COMPANY_USER, roles=caller.roles, partner_type=caller.partner_type,
              standing=standing(ctx, caller.partner_id, customer_id), customer_id=customer_id)
    except NotFound as exc:
        # Another partner's customer is "not found": whether it exists is not the caller's business.
        raise refused(NotFound, "company-not-found", "No such customer among yours.") from exc
    except Forbidden as exc:
        raise refused(Forbidden, "not-allowed", exc.detail) from exc
    customer = ctx.store(CustomerStore).customer(customer_id)
    if customer is None:
        raise refused(NotFound, "company-not-found", "No such customer among yours.")
    return customer, Inviter(name=caller.name, email=caller.email, subject=caller.subject, roles=PARTNER_ROLES, partner=caller)


def _managing_partner(ctx: Context, customer: Customer, inviter: Inviter) -> Partner:
    if inviter.partner is not None:
        partner = ctx.store(PartnerRepository).find(inviter.partner.partner_id)
        if partner is not None:
            return partner
    # Only a reseller serving the company now holds its users' invitations (names, emails, roles): never one that removed
    # its relationship, which would otherwise go on receiving them and could revoke them.
    rels = [r for r in ctx.store(CustomerStore).relationships_of(customer.id) if r.role == RelationshipRole.RESELLER and r.serving]
    rels.sort(key=lambda r: r.created_at)
    if not rels:
        raise refused(Conflict, "no-partner", "This company has no partner serving it now to send invitations on its behalf.")
    found = ctx.store(PartnerRepository).find(rels[0].partner_id)
    # A partner record removed from the platform still names the partition its invitations live in.
    return found or Partner(id=rels[0].partner_id, name=rels[0].partner_name, type=PartnerType.DIRECT)


def invite(ctx: Context, customer: Customer, inviter: Inviter, body: ColleagueInvitation) -> dict[str, Any]:
    """Create the CompanyUser invitation and queue its email in the invitee's preferred language."""
    not_grantable = delegation.refused(inviter.roles, [r.value for r in body.roles])
    if not_grantable:
        raise refused(Forbidden, "role-not-grantable", f"Your role cannot give: {', '.join(not_grantable)}.", roles=not_grantable)
    if ctx.store(CustomerStore).user(customer.id, normalize_email(str(body.email))) is not None:
        raise refused(Conflict, "already-a-user", f"{body.email} is a user of {customer.name} already.")
    partner = _managing_partner(ctx, customer, inviter)
    new = NewInvitation(
        email=body.email, first_name=body.first_name, last_name=body.last_name, language=body.language,
        country_region=body.country_region, kind=InvitationKind.COMPANY_USER, roles=body.roles,
        company=CompanyData(name=customer.name), customer_id=customer.id,
    )
    caller = inviter.partner or Caller(partner_id=partner.id, roles=frozenset(), name=inviter.name, email=inviter.email,
                                       subject=inviter.subject)
    inv, raw_id = invitations.build_invitation(caller, partner, None, new)
    if inviter.partner is None:
        inv.created_by = {**inv.created_by, "customerId": customer.id, "companyUser": inviter.email}
        inv.inviter_name = inviter.display
    audit_extra = {"roles": [r.value for r in inv.roles], "by": "companyUser" if inviter.partner is None else "partner"}
    return dump(invitations.invite(ctx, inv, raw_id, inviter.display, audit_extra=audit_extra,
                                   event="colleague.invited"))
