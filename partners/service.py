"""The partner registry's services: register and list partners, and who a calling partner is."""

from __future__ import annotations

from partners.registry import Partner, PartnerRepository, PartnerType
from shared.context import Context, request_context
from shared.errors import Conflict, Forbidden, NotFound, RuleBroken
from shared.pagination import Paged
from shared.partner_auth import Caller, provide_registry


class PartnerPage(Paged):
    items: list[Partner]


def register(ctx: Context, partner: Partner) -> Partner:
    """A new partner; an indirect reseller names a registered indirect provider."""
    repo = ctx.store(PartnerRepository)
    if repo.get(repo.PARTITION, partner.id) is not None:
        raise Conflict(f"Partner {partner.id} is registered already.", code="partner-exists")
    if partner.indirect_provider_id:
        provider = repo.find(partner.indirect_provider_id)
        if provider is None or provider.type != PartnerType.INDIRECT_PROVIDER:
            raise NotFound("No such indirect provider.")
    partner.created_at = ctx.now()
    return repo.save(partner)


def list_page(ctx: Context, continuation_token: str | None, page_size: int = 100) -> PartnerPage:
    try:
        page = ctx.store(PartnerRepository).list_page(page_size=page_size, continuation_token=continuation_token)
    except ValueError as exc:
        raise RuleBroken(str(exc), field="continuationToken", code="invalid") from exc
    return PartnerPage(items=page.items, continuation_token=page.continuation_token)


def partner_of(ctx: Context, caller: Caller) -> Partner:
    """The calling partner's registration, as the edge resolved it (`shared.partner_auth.registered`); a token of an
    unregistered partner may do nothing."""
    if isinstance(caller.partner, Partner):
        return caller.partner
    partner = ctx.store(PartnerRepository).find(caller.partner_id)
    if partner is None:
        raise Forbidden(
            f"The partner {caller.partner_id} (the token's tid) is not registered on this platform; ask a platform admin.",
            code="partner-not-registered", title="Partner not registered",
        )
    return partner


provide_registry(lambda partner_id: request_context().store(PartnerRepository).find(partner_id))


def resolve_provider(ctx: Context, partner: Partner, requested: str | None) -> Partner | None:
    """The indirect provider an invitation or customer names: an indirect reseller's OWN provider, or none.

    The one home of this rule (invitations of every kind, customers, relationship requests all pass here). A provider
    named on an invitation gets an active relationship with DAP when the customer creates its company, so naming any
    other (issue 19 item 3: any registered indirect provider could be named and read the customer) is refused; the
    customer is shown every partner it is about to consent to (landing page, email, company form).
    """
    own = partner.indirect_provider_id if partner.type == PartnerType.INDIRECT_RESELLER else None
    if requested and requested != own:
        reason = f"only your own indirect provider ({own}) may be named" if own else "only an indirect reseller names an indirect provider (its own)"
        raise RuleBroken(f"{requested} cannot be named: {reason}.", field="indirectProviderId", code="not-your-indirect-provider")
    if not own:
        return None
    provider = ctx.store(PartnerRepository).find(own)
    if provider is None or provider.type != PartnerType.INDIRECT_PROVIDER:
        raise RuleBroken(f"{own} is not a registered indirect provider", field="indirectProviderId", code="unknown_provider")
    return provider
