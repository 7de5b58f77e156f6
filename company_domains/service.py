"""PUBLIC: a company's verified domains and joining through them (the services the company pages call).

Each change is one transaction of the customer's partition (`DomainUnitOfWork` under `shared.uow.attempt`) with its
audit record and, where partners hear of it, its event (`company.domainVerified`, `company.userJoined`) staged in it.
The domain's claim row is written before the company's verification commits (see `repository`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from attest_agreement.customers import CompanyUser, Customer, member
from attest_agreement.repository import TABLE
from company_domains import claims
from company_domains.dns_lookup import LookupFailed, txt_records
from company_domains.domains import (
    JOINED_ROLE,
    MAX_DOMAINS,
    CompanyDomain,
    DomainStatus,
    JoinRequest,
    JoinSettings,
    JoinStatus,
    NotADomain,
    VerifiedHow,
    domain_name,
    email_domain,
    may_manage,
    new_token,
    proves,
    split_name,
)
from company_domains.repository import DomainClaims, DomainUnitOfWork
from shared import allowance
from shared.context import Context
from shared.errors import Conflict, Forbidden, NotFound, Refused
from shared.identity import normalize_email
from shared.uow import attempt

Lookup = Callable[[str], list[str]]
DOMAINS = "domains"  # the tally (shared.allowance) that holds MAX_DOMAINS


@dataclass(frozen=True)
class Person:
    """The signed-in person as plain values: the verified email and the account's subject."""

    email: str
    subject: str
    name: str = ""


class DomainRefused(Refused):
    """The domain cannot be added, verified or used now; `reason` says why, `values` fill the page's sentence."""

    def __init__(self, reason: str, detail: str, **values: str) -> None:
        super().__init__("domain", reason, detail, field="domain", **values)


@dataclass
class Overview:
    domains: list[CompanyDomain]
    pending: list[JoinRequest]
    join_automatically: bool


@dataclass
class JoinOption:
    """What a person at a verified domain may do with its company: `state` is member, joinable, requested, declined."""

    customer: Customer
    domain: str
    state: str
    join_automatically: bool = False
    roles: list[str] = field(default_factory=list)


# -- the company's administrators ---------------------------------------------------------------------------


def _stored(text: str) -> str:
    """A domain named by a form as it is stored (a hand-typed `Contoso.COM` finds `contoso.com`)."""
    try:
        return domain_name(text)
    except NotADomain:
        return str(text or "").strip().lower()


def _admin(uow: DomainUnitOfWork, person: Person) -> tuple[Customer, CompanyUser]:
    customer = uow.customer()
    if customer is None:
        raise NotFound("No such company.")
    user = member(uow.users(), person.email, person.subject)
    if user is None:
        raise Forbidden("Only the company's users may see its domains.", code="not-a-company-user")
    if not may_manage(user.roles):
        raise Forbidden("Only a User administrator or an Account manager links domains and decides who joins.", code="not-a-domain-admin")
    return customer, user


def overview(ctx: Context, customer_id: str, person: Person) -> Overview:
    uow = ctx.unit(DomainUnitOfWork, customer_id)
    _admin(uow, person)
    settings = uow.joining()
    pending = [r for r in uow.join_requests() if r.status == JoinStatus.PENDING]
    return Overview(sorted(uow.domains(), key=lambda d: d.domain), sorted(pending, key=lambda r: r.requested_at),
                    bool(settings and settings.join_automatically))


def add_domain(ctx: Context, customer_id: str, person: Person, text: str, now: datetime | None = None) -> CompanyDomain:
    """Link a domain (pending, with its token, until its TXT record proves it)."""
    now = now or ctx.now()
    try:
        name = domain_name(text)
    except NotADomain as exc:
        raise DomainRefused(exc.reason, "This is not a domain a company can link.", domain=str(text or "")[:100]) from exc

    def work(uow: DomainUnitOfWork) -> CompanyDomain:
        _admin(uow, person)
        found = uow.domain(name)
        if found is not None:
            return found  # added already (a repeated form): the same row, the same token
        # Counted in the same transaction as the row, under the tally's ETag: 30 at once store at most MAX_DOMAINS.
        uow.stage(allowance.admit(ctx, TABLE, uow.partition, DOMAINS, name, limit=MAX_DOMAINS,
                                  present=lambda: [d.domain for d in uow.domains()],
                                  refusal=lambda: DomainRefused("too_many", f"A company links at most {MAX_DOMAINS} domains.",
                                                                limit=str(MAX_DOMAINS))))
        row = CompanyDomain(customer_id=customer_id, domain=name, token=new_token(), added_at=now, added_by=person.email)
        uow.add(row)
        uow.record("domain.added", person.email, after=row.shown())
        return row

    # Pending until its TXT record is shown, whoever adds it: an address at the domain proves nothing about the domain.
    return attempt(lambda: ctx.unit(DomainUnitOfWork, customer_id), work)


def verify_domain(ctx: Context, customer_id: str, person: Person, domain: str, *, lookup: Lookup | None = None,
                  now: datetime | None = None) -> CompanyDomain:
    """Prove the domain by its TXT record (nothing else proves it), claim it for this company, mark it Verified."""
    now = now or ctx.now()
    domain = _stored(domain)
    uow = ctx.unit(DomainUnitOfWork, customer_id)
    _admin(uow, person)
    row = uow.domain(domain)
    if row is None:
        raise NotFound("This company has not added that domain.", code="domain-not-added")
    if row.proven:
        return row
    try:
        records = (lookup or txt_records)(row.domain)
    except LookupFailed as exc:
        raise DomainRefused("lookup_failed", "The DNS lookup got no answer; try again in a few minutes.", domain=row.domain) from exc
    if not proves(records, row.token):
        reason = "wrong_txt" if records else "no_txt"
        raise DomainRefused(reason, f"No TXT record at {row.domain} says {row.txt}.", domain=row.domain, record=row.txt)
    how = VerifiedHow.DNS  # the only proof (issue 19 item 2)
    _claim(ctx, row.domain, customer_id, how, now)

    def work(uow: DomainUnitOfWork) -> CompanyDomain:
        current = uow.domain(domain)
        if current is None:
            raise NotFound("The domain was removed meanwhile.", code="domain-not-added")
        if current.proven:
            return current
        before = current.shown()
        current.status, current.verified_at, current.verified_how = DomainStatus.VERIFIED, now, how
        uow.save(current)
        uow.record("domain.verified", person.email, before=before, after=current.shown())
        uow.tell_partners("company.domainVerified", customerId=customer_id, domain=current.domain, how=how.value,
                          resource=f"customers/{customer_id}")
        return current

    return attempt(lambda: ctx.unit(DomainUnitOfWork, customer_id), work)


def _claim(ctx: Context, domain: str, customer_id: str, how: VerifiedHow, now: datetime) -> None:
    try:
        claims.take(ctx, domain, customer_id, how, now)
    except claims.Claimed as exc:
        raise DomainRefused("claimed", "Another company has linked this domain.", domain=domain) from exc


def remove_domain(ctx: Context, customer_id: str, person: Person, domain: str) -> None:
    """Unlink a domain: nobody new joins through it; the users who joined stay."""
    domain = _stored(domain)

    def work(uow: DomainUnitOfWork) -> CompanyDomain | None:
        _admin(uow, person)
        row = uow.domain(domain)
        if row is not None:
            uow.remove(row)
            uow.stage(*[op for op in [allowance.release(ctx, TABLE, uow.partition, DOMAINS, domain)] if op])
            uow.record("domain.removed", person.email, before=row.shown())
        return row

    attempt(lambda: ctx.unit(DomainUnitOfWork, customer_id), work)
    claims = ctx.store(DomainClaims)
    claim = claims.get(domain)
    if claim is not None and claim.customer_id == customer_id:
        claims.release(claim)


def set_joining(ctx: Context, customer_id: str, person: Person, automatically: bool, now: datetime | None = None) -> bool:
    """Whether people at the company's verified domains join at once as Account viewer (else they ask)."""
    now = now or ctx.now()

    def work(uow: DomainUnitOfWork) -> bool:
        _admin(uow, person)
        current = uow.joining()
        if current is not None and current.join_automatically == automatically:
            return automatically
        before = {"joinAutomatically": bool(current and current.join_automatically)}
        if current is None:
            uow.add(JoinSettings(customer_id=customer_id, join_automatically=automatically, changed_at=now, changed_by=person.email))
        else:
            current.join_automatically, current.changed_at, current.changed_by = automatically, now, person.email
            uow.save(current)
        uow.record("joining.changed", person.email, before=before, after={"joinAutomatically": automatically})
        return automatically

    return attempt(lambda: ctx.unit(DomainUnitOfWork, customer_id), work)


# -- people at a verified domain ------------------------------------------------------------------------------


def join_option(ctx: Context, person: Person) -> JoinOption | None:
    """The company whose verified domain the person's verified address is at, and what they may do; None if none."""
    domain = email_domain(person.email)
    claim = ctx.store(DomainClaims).get(domain) if domain else None
    if claim is None:
        return None
    uow = ctx.unit(DomainUnitOfWork, claim.customer_id)
    row, customer = uow.domain(domain), uow.customer()
    if row is None or not row.proven or customer is None:
        return None
    settings = uow.joining()
    automatic = bool(settings and settings.join_automatically)
    user = member(uow.users(), person.email, person.subject)
    if user is not None:
        return JoinOption(customer, domain, "member", automatic, list(user.roles))
    request = uow.join_request(normalize_email(person.email))
    state = {JoinStatus.PENDING: "requested", JoinStatus.DECLINED: "declined"}.get(request.status, "joinable") if request else "joinable"
    return JoinOption(customer, domain, state, automatic)


def join(ctx: Context, customer_id: str, person: Person, now: datetime | None = None) -> str:
    """Ask to join (or join at once where the company lets people): "joined", "requested", "member" or "declined"."""
    now = now or ctx.now()
    option = join_option(ctx, person)
    if option is None or option.customer.id != customer_id:
        raise Forbidden("Your verified address is not at a domain this company has verified.", code="domain-not-verified")
    domain = option.domain
    email_key = normalize_email(person.email)

    def work(uow: DomainUnitOfWork) -> str:
        if member(uow.users(), person.email, person.subject) is not None:
            return "member"
        request = uow.join_request(email_key)
        settings = uow.joining()
        if settings is not None and settings.join_automatically:
            _add_member(uow, person, domain, now, how="AutoJoin", actor=person.email)
            if request is not None and request.status == JoinStatus.PENDING:
                request.status, request.decided_at, request.decided_by = JoinStatus.APPROVED, now, "joinAutomatically"
                uow.save(request)
            return "joined"
        if request is not None:
            return "requested" if request.status == JoinStatus.PENDING else "declined" if request.status == JoinStatus.DECLINED else "member"
        uow.add(JoinRequest(customer_id=customer_id, email=person.email, email_normalized=email_key, name=person.name,
                            subject=person.subject, domain=domain, requested_at=now))
        uow.record("join.requested", person.email, after={"email": person.email, "domain": domain})
        return "requested"

    return attempt(lambda: ctx.unit(DomainUnitOfWork, customer_id), work)


def _add_member(uow: DomainUnitOfWork, person: Person, domain: str, now: datetime, *, how: str, actor: str) -> CompanyUser:
    if uow.user(normalize_email(person.email)) is not None:
        # A user at this address bound to another account: the address alone does not make someone that user.
        raise Conflict("A user with this address exists, signed in with another account.", code="already-a-user")
    first, last = split_name(person.name)
    user = CompanyUser(customer_id=uow.customer_id, email=person.email, email_normalized=normalize_email(person.email),
                       first_name=first, last_name=last, roles=[JOINED_ROLE], subject=person.subject or None, added_at=now,
                       added_by=f"verified domain {domain} ({how})")
    customer = uow.customer()
    if customer is not None:
        user.language = customer.language
        user.country_region = customer.country
    uow.add(user)
    uow.record("user.joined", actor, after={"email": user.email, "roles": user.roles, "domain": domain, "how": how})
    uow.tell_partners("company.userJoined", customerId=uow.customer_id, roles=list(user.roles), how=how,
                      resource=f"customers/{uow.customer_id}")
    return user


def decide(ctx: Context, customer_id: str, person: Person, email: str, approve: bool, now: datetime | None = None) -> JoinStatus:
    """An administrator approves (the person becomes an Account viewer) or declines a pending request."""
    now = now or ctx.now()
    email_key = normalize_email(email)

    def work(uow: DomainUnitOfWork) -> JoinStatus:
        _admin(uow, person)
        request = uow.join_request(email_key)
        if request is None:
            raise NotFound("No such request to join.", code="no-join-request")
        if request.status != JoinStatus.PENDING:
            raise Conflict(f"The request was {request.status.value.lower()} already.", code="join-request-decided")
        if approve:
            row = uow.domain(request.domain)
            if row is None or not row.proven:
                raise DomainRefused("removed", "The domain is no longer verified: nobody new joins through it.", domain=request.domain)
            joiner = Person(email=request.email, subject=request.subject, name=request.name)
            if member(uow.users(), request.email, request.subject) is None:
                _add_member(uow, joiner, request.domain, now, how="JoinRequest", actor=person.email)
        request.status = JoinStatus.APPROVED if approve else JoinStatus.DECLINED
        request.decided_at, request.decided_by = now, person.email
        uow.save(request)
        uow.record("join.approved" if approve else "join.declined", person.email, after={"email": request.email})
        return request.status

    return attempt(lambda: ctx.unit(DomainUnitOfWork, customer_id), work)
