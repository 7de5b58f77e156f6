"""A company's own colleague invitations: the ones its users page lists, resends and revokes (through the partner's rules).

Colleague invitations live in the partition of the partner that manages the company (`accept_invite.colleagues`), so a
company reads one filtered query per partner it has had; a resend or revoke is the partner's own life-cycle change,
made by the company's administrator as the actor.
"""

from __future__ import annotations

from invite_user import reminders
from invite_user.api_models import InvitationOut
from invite_user.invitations import Invitation, InvitationKind, InvitationStatus
from invite_user.repository import InvitationStore
from invite_user.service import find, resend, revoke
from shared.context import Context
from shared.errors import NotFound
from shared.partner_auth import Caller

COMPANY_LIST_LIMIT = 100  # the users page shows the company's pending invitations in one query per partner partition


def company_invitations(ctx: Context, partner_ids: list[str], customer_id: str) -> list[Invitation]:
    """The pending CompanyUser invitations into the company, in the partitions of the partners that kept them, newest first.

    Colleague invitations live in the partition of the partner that manages the company (`accept_invite.colleagues`),
    so a company reads one filtered query per partner it has had.
    """
    store = ctx.store(InvitationStore)
    found: list[Invitation] = []
    for partner_id in dict.fromkeys(partner_ids):
        found += store.list_page(partner_id, status=InvitationStatus.PENDING.value, kind=InvitationKind.COMPANY_USER.value, customer_id=customer_id,
                                 page_size=COMPANY_LIST_LIMIT).items
    return sorted(found, key=lambda inv: inv.created_at, reverse=True)[:COMPANY_LIST_LIMIT]


def _company_caller(ctx: Context, customer_id: str, reference: str, by: dict[str, str]) -> Caller:
    """The company's administrator acting on one of the company's colleague invitations (any other is "not found")."""
    h = (reference or "").strip().lower()
    inv = find(ctx, h) if len(h) == 64 and all(c in "0123456789abcdef" for c in h) else None
    if inv is None or inv.customer_id != customer_id or inv.kind != InvitationKind.COMPANY_USER:
        raise NotFound("No such invitation of this company.", code="invitation-not-found")
    return Caller(partner_id=inv.partner_id, roles=frozenset(), name=by.get("name") or by.get("email", ""), email=by.get("email", ""),
                  subject=by.get("subject", ""))


def resend_for_company(ctx: Context, customer_id: str, reference: str, by: dict[str, str]) -> InvitationOut:
    """The company's administrator resends a colleague's invitation: the same link, a fresh expiry (as a partner's resend)."""
    caller = _company_caller(ctx, customer_id, reference, by)
    inv = find(ctx, reference.strip().lower())
    # The link in the invitee's inbox, opened from the seal the reminder keeps: the email carries that same link.
    return resend(ctx, caller, (reminders.open_link(inv) if inv else None) or reference, company=customer_id)


def revoke_for_company(ctx: Context, customer_id: str, reference: str, by: dict[str, str]) -> InvitationOut:
    """The company's administrator withdraws a colleague's invitation: its link shows the revoked page."""
    return revoke(ctx, _company_caller(ctx, customer_id, reference, by), reference, company=customer_id)


