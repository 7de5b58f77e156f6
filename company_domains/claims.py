"""Which company holds a domain: the claim row, and the rule that a DNS proof takes it over from anything weaker.

A domain is proven by its TXT record only (issue 19 item 2). Domains verified earlier by an admin's own address
(`VerifiedHow.OWN_ADDRESS`) keep their claim until a company shows the TXT record: then the claim moves to that company
and the weaker holder's row goes back to Pending (audited `domain.yielded`). Two DNS proofs: the first keeps it.
"""

from __future__ import annotations

from datetime import datetime

from company_domains.domains import DomainStatus, VerifiedHow
from company_domains.repository import DomainClaims, DomainUnitOfWork
from shared.context import Context
from shared.errors import Conflict
from shared.uow import attempt, retrying


class Claimed(Conflict):
    """Another company holds the domain by a proof at least as strong (the domains page says so as `DomainRefused`)."""

    def __init__(self, domain: str) -> None:
        super().__init__(f"Another company has linked {domain}.", code="domain-claimed")


def take(ctx: Context, domain: str, customer_id: str, how: VerifiedHow, now: datetime) -> None:
    """Make the claim row name this company, or refuse: another company proved the domain as strongly first.

    A proof always wins over a weaker one: a company that holds the claim by an admin's address (stored before the TXT
    record became the only proof) yields it to one that shows the TXT record, and its domain goes back to Pending.
    Even a claim that is already ours is rewritten under its ETag: a company taking over a released claim read it
    before that rewrite, so its replace fails and it reads again (never two companies verified for one domain).
    """
    rows = ctx.store(DomainClaims)

    def once() -> str | None:
        claim = rows.get(domain)
        yielded = None
        if claim is not None and claim.customer_id != customer_id:
            owner = ctx.unit(DomainUnitOfWork, claim.customer_id).domain(domain)
            held = owner.verified_how if owner is not None and owner.status == DomainStatus.VERIFIED else None
            # A claimed domain still Pending is being verified right now (the claim is written first): it stays theirs.
            if owner is not None and (held is None or held.strength >= how.strength):
                raise Claimed(domain)
            # Released and not cleaned up, or held by a weaker proof: the claim is ours to take, under its ETag.
            yielded = claim.customer_id if owner is not None else None
        rows.claim(domain, customer_id, now, over=claim)
        return yielded

    yielded = retrying(once, busy="The domain's claim kept changing; retry.")
    if yielded is not None:
        _yield(ctx, yielded, domain)


def _yield(ctx: Context, customer_id: str, domain: str) -> None:
    """The company whose weaker proof lost the domain: its row goes back to Pending (its TXT token still shown), audited."""

    def work(uow: DomainUnitOfWork) -> None:
        row = uow.domain(domain)
        if row is None or row.status != DomainStatus.VERIFIED or row.verified_how == VerifiedHow.DNS:
            return
        before = row.shown()
        row.status, row.verified_at, row.verified_how = DomainStatus.PENDING, None, None
        uow.save(row)
        uow.record("domain.yielded", "platform", before=before, after={**row.shown(), "reason": "another company proved it by DNS"})

    attempt(lambda: ctx.unit(DomainUnitOfWork, customer_id), work)
