"""The partner's funnel as the route reads it (the counts and their rules: invite_user/funnel.py)."""

from __future__ import annotations

from invite_user.api_models import FunnelQuery
from invite_user.funnel import Funnel, summarize
from invite_user.repository import InvitationStore
from shared.context import Context
from shared.partner_auth import Caller


def funnel_of(ctx: Context, caller: Caller, query: FunnelQuery) -> Funnel:
    """GET /api/invitations/funnel: the caller's invitations created from..to (days, UTC, both included) by stage.
    Any window is answered (one backwards is empty): the count rows read are those of days with invitations, so even
    a window of years costs what the partner's days of invitations cost, never more."""
    day = "{:04d}{:02d}{:02d}".format
    rows = [] if query.to < query.from_ else ctx.store(InvitationStore).funnel_rows(
        caller.partner_id, day(query.from_.year, query.from_.month, query.from_.day), day(query.to.year, query.to.month, query.to.day))
    return summarize(rows, query.from_, query.to, query.kind, ctx.now())
