"""Who may do what: the one authorization policy, as a table of actions, and the check that applies it.

Every route declares its action (`shared.endpoints.endpoint(action=...)`, timers and queue functions with `runs_as`);
`POLICY` states for each action who may do it: which caller (a partner agent, a platform admin, the invitee, a
company user, anyone, the scheduler), which token roles, which partner types, which relationship the calling
partner must hold with the customer (active / removed / none), whether it needs delegated admin privileges (DAP)
and which consent the customer's side must give. `check` applies a row to plain values (the caller's roles, the
partner's type, its standing with the customer), so this module knows no feature; services call it where those
facts are known and it raises `Forbidden` or `NotFound` (one answer for "no such customer" and "not yours").

The edge (`shared.endpoints`) resolves who calls once: the token's roles and the tenant's partner registration (a tenant
that is not a registered partner is refused on every partner route) and checks the route's row; services check the
rows that depend on the body or the customer with the same caller. The rows checked while a keyed request ran are kept
with its answer, and a replay is checked against them again with the replaying caller (`checked` / `check_again`).
Route descriptions take their "who may" sentence from the table (`who_may`).

Services of a lower layer (invitations) learn a partner's standing with a customer through `standing_of`, which the
customers feature provides (`provide_standing`); without a provider every customer counts as not the caller's.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from shared.context import Context
from shared.errors import Forbidden, NotFound


class Action(StrEnum):
    # The partner API.
    INVITE = "invite"  # an invitation that touches no existing customer (a new customer, a new relationship)
    MANAGE_INVITATIONS = "manage-invitations"  # list, read, resend, revoke, draft the partner's own invitations
    # Where the partner's own invitations stand: one invitation's onboarding trail, the funnel of all. A read of delivery and
    # of the invitee's progress, never a change: a row of its own, so a read-only role is one line here, not a new route.
    READ_ONBOARDING_PROGRESS = "read-onboarding-progress"
    # ... and of those, the ones into an existing customer's company (its users' names, emails, roles): the company's data
    MANAGE_COMPANY_INVITATIONS = "manage-company-invitations"
    INVITE_COMPANY_USER = "invite-company-user"  # a user into an existing customer's company
    REQUEST_RELATIONSHIP = "request-relationship"  # a reseller relationship with an existing customer
    ASK_DIRECT_ACCEPTANCE = "ask-direct-acceptance"  # invite an existing customer to accept the agreement itself
    CREATE_CUSTOMER = "create-customer"
    LIST_CUSTOMERS = "list-customers"
    READ_CUSTOMER = "read-customer"  # the customer, its agreement, its signing status, its eligibility
    READ_RELATIONSHIP = "read-relationship"  # the partner's own relationship, removed ones included
    ATTEST = "attest"
    REMOVE_RELATIONSHIP = "remove-relationship"
    READ_AUDIT = "read-audit"
    REGISTER_PARTNERS = "register-partners"  # register and list partners
    MANAGE_WEBHOOKS = "manage-webhooks"  # subscribe, change, rotate, test, read deliveries: the partner's events go anywhere
    READ_EVENTS = "read-events"  # the partner's own events feed
    READ_COMPANY_USERS = "read-company-users"  # the customer's users (names, emails, roles): a partner managing it with DAP
    UPDATE_PRIMARY_CONTACT = "update-primary-contact"  # correct the customer's primary contact (name, email, phone, language)
    # Change a pending invitation's invitee (a new link to whom it now names): beside what inviting that kind needs.
    CHANGE_INVITEE = "change-invitee"
    # The customer's side.
    ACCEPT_INVITATION = "accept-invitation"  # the invitee, signed in as the address invited (or bound subject)
    CONSENT_TO_RELATIONSHIP = "consent-to-relationship"  # the customer accepts a partner's relationship request
    ACCEPT_DIRECTLY = "accept-directly"  # the customer accepts the agreement itself
    CONFIRM_AGREEMENT = "confirm-agreement"  # the customer's contact accepts on an attestation's personal link, no sign-in
    VIEW_COMPANY = "view-company"  # the company's own pages
    INVITE_COLLEAGUE = "invite-colleague"  # a company user (or the company's partner with DAP) invites a colleague
    MANAGE_DOMAINS = "manage-domains"  # link and verify the company's domains, decide who joins through them
    MANAGE_USERS = "manage-users"  # change a colleague's roles, remove a colleague, resend or revoke the company's invitations
    MANAGE_PARTNERS = "manage-partners"  # see the company's partners' rights; remove a partner's DAP or end the relationship
    JOIN_COMPANY = "join-company"  # a person at a verified domain asks to join (or joins) the company, no invitation
    SIGN_IN = "sign-in"  # start, finish, leave a sign-in
    # Nobody in particular.
    PUBLIC = "public"  # the link's landing page, the pages' files, health, the API contract and its reference page
    REQUEST_RESEND = "request-resend"  # the anonymous resend request (rate limited)
    SCHEDULED = "scheduled"  # timers and queue functions: no caller


class Who(StrEnum):
    PARTNER = "partner agent"
    PLATFORM_ADMIN = "platform admin (of the platform's own tenant)"
    INVITEE = "the invitee, signed in"
    CUSTOMER_ADMIN = "an account administrator or the primary contact of the customer, signed in as themselves"
    COMPANY_USER = "a user of the company, signed in"
    ANYONE = "anyone"
    SCHEDULER = "the platform's scheduler"
    DOMAIN_ADMIN = "a User administrator or Account manager of the company, signed in"
    DOMAIN_PERSON = "a person signed in with a verified address at a domain the company verified"
    LINK_HOLDER = "whoever holds the personal link a partner had sent to the customer's contact (no sign-in)"


class Relationship(StrEnum):
    ACTIVE = "Active"
    REMOVED = "Removed"
    NONE = "None"


AGENTS = frozenset({"AdminAgent", "SalesAgent"})
ADMIN_AGENT = frozenset({"AdminAgent"})
PLATFORM_ADMIN = "PlatformAdmin"
ALL_PARTNER_TYPES = frozenset({"Direct", "IndirectProvider", "IndirectReseller"})
ANY_RELATIONSHIP = frozenset(Relationship)
ACTIVE = frozenset({Relationship.ACTIVE})
CUSTOMER_ADMIN_ROLES = frozenset({"AccountManager", "AccountAdministrator"})
DOMAIN_ADMIN_ROLES = frozenset({"UserAdministrator", "AccountManager"})
# Who may invite a colleague at all; which roles each of them may give is accept_invite.roles' delegation table.
INVITING_ROLES = frozenset({"UserAdministrator", "AccountManager", "AgreementManager"})


@dataclass(frozen=True)
class Rule:
    """Who may do an action, and what the customer's side must have given."""

    who: Who
    roles: frozenset[str] = frozenset()  # token roles (partner routes), one of them needed
    partner_types: frozenset[str] = ALL_PARTNER_TYPES
    relationship: frozenset[Relationship] = ANY_RELATIONSHIP  # the caller's relationship with the customer
    relationship_role: str | None = None  # "Reseller": an indirect provider's relationship does not do
    dap: bool = False
    consent: str = "none"  # what the customer's side must give, in words (docs/SECURITY.md quotes this table)
    company_roles: frozenset[str] = frozenset()  # the company's own Business Center roles (customer side), one of them needed


POLICY: dict[Action, Rule] = {
    Action.INVITE: Rule(Who.PARTNER, AGENTS, consent="the invitee signs in as the address invited and creates the company"),
    Action.MANAGE_INVITATIONS: Rule(Who.PARTNER, AGENTS),
    # Seed 002/004 know two partner roles, both of which invite: both read how their invitations fare.
    Action.READ_ONBOARDING_PROGRESS: Rule(Who.PARTNER, AGENTS),
    Action.MANAGE_COMPANY_INVITATIONS: Rule(Who.PARTNER, AGENTS, relationship=ACTIVE,
                                            consent="the company's users' invitations are held only while the partner serves it"),
    Action.INVITE_COMPANY_USER: Rule(Who.PARTNER, ADMIN_AGENT, relationship=ACTIVE, relationship_role="Reseller", dap=True,
                                     consent="given when the customer accepted the relationship (DAP)"),
    Action.REQUEST_RELATIONSHIP: Rule(Who.PARTNER, AGENTS,
                                      consent="an account administrator or the primary contact accepts, signed in as themselves"),
    Action.ASK_DIRECT_ACCEPTANCE: Rule(Who.PARTNER, AGENTS, relationship=ACTIVE, consent="the customer accepts the agreement itself"),
    Action.CREATE_CUSTOMER: Rule(Who.PARTNER, AGENTS),
    Action.LIST_CUSTOMERS: Rule(Who.PARTNER, AGENTS),
    Action.READ_CUSTOMER: Rule(Who.PARTNER, AGENTS, relationship=ACTIVE, consent="given when the customer accepted the relationship"),
    # Names, emails and roles of the customer's people: only the partner that manages them (an active relationship with DAP);
    # anyone else is told the customer is not theirs (404), as on every customer route.
    Action.READ_COMPANY_USERS: Rule(Who.PARTNER, ADMIN_AGENT, relationship=ACTIVE, dap=True,
                                    consent="given when the customer accepted the relationship (DAP); the customer may take it back"),
    Action.READ_RELATIONSHIP: Rule(Who.PARTNER, AGENTS, relationship=frozenset({Relationship.ACTIVE, Relationship.REMOVED})),
    Action.ATTEST: Rule(Who.PARTNER, AGENTS, partner_types=frozenset({"Direct", "IndirectProvider"}), relationship=ACTIVE,
                        consent="given when the customer accepted the relationship"),
    Action.REMOVE_RELATIONSHIP: Rule(Who.PARTNER, AGENTS, relationship=ACTIVE),
    Action.READ_AUDIT: Rule(Who.PARTNER, AGENTS, relationship=ACTIVE, consent="given when the customer accepted the relationship"),
    Action.REGISTER_PARTNERS: Rule(Who.PLATFORM_ADMIN, frozenset({PLATFORM_ADMIN})),
    Action.MANAGE_WEBHOOKS: Rule(Who.PARTNER, ADMIN_AGENT),
    Action.READ_EVENTS: Rule(Who.PARTNER, AGENTS),
    # Seed 004: the roles of the agreement pages, where "the primary contact's details must be right (the partner can
    # update them)", are Admin agent and Sales agent; any partner type, as any may set the contact when adding a customer.
    Action.UPDATE_PRIMARY_CONTACT: Rule(Who.PARTNER, AGENTS, relationship=ACTIVE,
                                        consent="given when the customer accepted the relationship; every partner of the "
                                                "customer hears of the change"),
    Action.CHANGE_INVITEE: Rule(Who.PARTNER, AGENTS, consent="as for inviting that kind: an invitation about an existing "
                                "customer is checked again as if it were created now (a company user: AdminAgent, DAP)"),
    Action.ACCEPT_INVITATION: Rule(Who.INVITEE),
    Action.CONSENT_TO_RELATIONSHIP: Rule(Who.CUSTOMER_ADMIN, company_roles=CUSTOMER_ADMIN_ROLES,
                                         consent="the primary contact counts too, at their verified email"),
    Action.ACCEPT_DIRECTLY: Rule(Who.CUSTOMER_ADMIN, company_roles=CUSTOMER_ADMIN_ROLES,
                                 consent="the invitation of a partner with an active relationship, "
                                 "or the signed-in account administrator / primary contact"),
    Action.CONFIRM_AGREEMENT: Rule(Who.LINK_HOLDER, consent="the contact types the name the partner gave and accepts on behalf "
                                   "of the company; the evidence stays with the customer's audit records, for that partner only"),
    Action.VIEW_COMPANY: Rule(Who.COMPANY_USER),
    Action.INVITE_COLLEAGUE: Rule(Who.COMPANY_USER, company_roles=INVITING_ROLES,
                                  consent="a company user with a role that may invite, or the partner as for invite-company-user"),
    Action.MANAGE_DOMAINS: Rule(Who.DOMAIN_ADMIN, company_roles=DOMAIN_ADMIN_ROLES,
                                consent="a domain counts once proven: its DNS TXT record, or the admin's own verified address at it; "
                                "one company per domain"),
    Action.MANAGE_USERS: Rule(Who.DOMAIN_ADMIN, company_roles=DOMAIN_ADMIN_ROLES,
                              consent="only roles the acting user may grant (the delegation table of inviting) change; the company "
                              "keeps an Account manager and a User administrator; a removed user's next request is refused"),
    Action.MANAGE_PARTNERS: Rule(Who.CUSTOMER_ADMIN, company_roles=CUSTOMER_ADMIN_ROLES,
                                 consent="the primary contact counts too, at their verified email; the partner's access follows at "
                                 "once; the partner is told by email and event"),
    Action.JOIN_COMPANY: Rule(Who.DOMAIN_PERSON, consent="an administrator approves, or the company lets people join at once as "
                              "Account viewer"),
    Action.SIGN_IN: Rule(Who.ANYONE),
    Action.PUBLIC: Rule(Who.ANYONE),
    Action.REQUEST_RESEND: Rule(Who.ANYONE, consent="mailed only to the designated purchasing account manager"),
    Action.SCHEDULED: Rule(Who.SCHEDULER),
}


@dataclass(frozen=True)
class Standing:
    """A partner's standing with one customer, as plain values (a customer that does not exist: NONE)."""

    relationship: Relationship = Relationship.NONE
    role: str | None = None  # "Reseller" or "IndirectProvider"
    dap: bool = False


NO_STANDING = Standing()


def not_yours(customer_id: str) -> NotFound:
    # Whether a customer exists is nobody's business without a relationship: one answer for both cases.
    return NotFound(f"No customer {customer_id} with an active reseller relationship to your partner account.",
                    code="no-active-relationship")


def check(action: Action, *, roles: frozenset[str] | None, partner_type: str | None = None, standing: Standing | None = None,
          customer_id: str = "") -> None:
    """Refuse unless the policy lets a caller with these roles, partner type and standing do `action`.

    Forbidden for a missing role or partner type or DAP; NotFound when the relationship the row needs is not there.
    `roles=None`: the route checked them already (the token's roles against the same row).
    """
    rule = POLICY[action]
    recorded = _checked.get()
    if recorded is not None and action not in recorded:
        recorded.append(action)
    if roles is not None and rule.roles and not roles & rule.roles:
        raise Forbidden(f"This needs one of the roles {', '.join(sorted(rule.roles))}; the token has {', '.join(sorted(roles)) or 'none'}.")
    if partner_type is not None and partner_type not in rule.partner_types:
        if action == Action.ATTEST:
            raise Forbidden("Indirect resellers cannot attest that a customer accepted the Microsoft Customer Agreement; "
                            "work with your indirect provider.", code="indirect-reseller-cannot-attest")
        raise Forbidden(f"A partner of type {partner_type} cannot do this.", code="partner-type-not-allowed")
    if standing is None:
        return
    if standing.relationship not in rule.relationship:
        raise not_yours(customer_id)
    if rule.relationship_role and standing.role != rule.relationship_role or rule.dap and not standing.dap:
        raise Forbidden("This needs the AdminAgent role and an active reseller relationship with delegated admin privileges (DAP).",
                        code="dap-required")


# -- a replay is authorized like the request ------------------------------------------------------------------

_checked: contextvars.ContextVar[list[Action] | None] = contextvars.ContextVar("checked_actions", default=None)


@contextmanager
def checked() -> Iterator[list[Action]]:
    """The actions `check` was asked about while the block ran (a keyed request stores them with its answer)."""
    actions: list[Action] = []
    token = _checked.set(actions)
    try:
        yield actions
    finally:
        _checked.reset(token)


def check_again(actions: Iterable[str], *, roles: frozenset[str], partner_type: str | None) -> None:
    """A replayed answer's rows, checked with the replaying caller's roles and partner type (its standing was the
    request's: the same partner, which the idempotency scope guarantees)."""
    for action in actions:
        check(Action(action), roles=roles, partner_type=partner_type)


def holds(action: Action, company_roles: Iterable[str]) -> bool:
    """Whether a company user with these Business Center roles is one the row lets do `action` (customer side)."""
    return bool(POLICY[action].company_roles & set(company_roles))


def who_may(action: Action) -> str:
    """The row in words, for the route's description in the API contract (the table is the only place it is written)."""
    rule = POLICY[action]
    parts = [f"Who may: {rule.who.value}"]
    if rule.roles:
        parts.append(f"with the role {' or '.join(sorted(rule.roles))}")
    if rule.company_roles:
        parts.append(f"holding the company role {' or '.join(sorted(rule.company_roles))}")
    if rule.partner_types != ALL_PARTNER_TYPES:
        parts.append(f"of a partner of type {' or '.join(sorted(rule.partner_types))}")
    if rule.relationship != ANY_RELATIONSHIP:
        relation = " or ".join(sorted(r.value.lower() for r in rule.relationship))
        role = f"{rule.relationship_role} " if rule.relationship_role else ""
        parts.append(f"holding an {relation} {role}relationship with the customer" + (" with DAP" if rule.dap else ""))
    sentence = ", ".join(parts) + "."
    return sentence + (f" Consent: {rule.consent}." if rule.consent != "none" else "")


# -- the customers feature tells lower layers a partner's standing -----------------------------------------

StandingSource = Callable[[Any, str, str], Standing]  # (storage, partner id, customer id) -> standing
_standing_source: list[StandingSource] = []


def provide_standing(source: StandingSource) -> None:
    """The customers feature registers how a partner's standing with a customer is read (at its import)."""
    _standing_source[:] = [source]


def standing_of(ctx: Context, partner_id: str, customer_id: str) -> Standing:
    """The partner's standing with the customer; NONE (fail closed) when no feature provides it."""
    return _standing_source[0](ctx, partner_id, customer_id) if _standing_source else NO_STANDING


# -- which action each function of the app performs ---------------------------------------------------------

DECLARED: dict[str, Action] = {}
F = TypeVar("F", bound=Callable[..., Any])


def declare(function_name: str, action: Action) -> None:
    if not isinstance(action, Action):
        raise TypeError(f"{function_name}: action must be a shared.authorization.Action, not {action!r}")
    DECLARED[function_name] = action


def runs_as(action: Action) -> Callable[[F], F]:
    """A timer or queue function's action (SCHEDULED): declared like every route's."""

    def mark(fn: F) -> F:
        declare(fn.__name__, action)
        return fn

    return mark
