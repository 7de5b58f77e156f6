"""Accepting an invitation: marked Accepted under its ETag, audited, its event staged; repeating it is harmless."""

from __future__ import annotations

from datetime import datetime

from invite_user.invitations import Invitation, InvitationStateError, InvitationStatus, event_fields
from invite_user.repository import InvitationUnitOfWork, partner_partition
from shared import telemetry
from shared.audit import audit
from shared.context import Context
from shared.errors import NotFound
from shared.uow import attempt


def reading(ctx: Context, key: str) -> tuple[InvitationUnitOfWork, Invitation | None]:
    """The invitation a link leads to, read by a unit of work that `accept(first=...)` may go on with (no second read)."""
    uow = ctx.unit(InvitationUnitOfWork)
    return uow, uow.by_link(key)


def accept(ctx: Context, link_hash_: str, by: dict[str, str], *, customer_id: str | None, now: datetime,
           company_created: bool = False,
           first: InvitationUnitOfWork | None = None) -> Invitation:
    """Mark an invitation Accepted into `customer_id` (audited); repeating it is harmless.

    `first`, a unit of work that read the invitation already (`reading`), serves the first attempt; a conflict on
    commit (the invitation changed since) reads it afresh.

    Raises NotFound when there is no such invitation, InvitationStateError when it is revoked, expired or accepted
    into another company.
    """

    def work(uow: InvitationUnitOfWork) -> Invitation:
        newly_accepted.clear()  # an attempt that met a conflict accepted nothing
        inv = uow.by_link(link_hash_)
        if inv is None:
            raise NotFound("No such invitation.")
        if inv.status == InvitationStatus.ACCEPTED:
            if customer_id is None or inv.customer_id == customer_id:
                return inv
            raise InvitationStateError(inv.status, "The invitation was accepted for another company.")
        before = {"status": inv.status, "expiresAt": inv.expires_at.isoformat()}
        inv.accept(now, by, customer_id=customer_id, company_created=company_created)
        newly_accepted.append(inv)
        uow.save(inv, audit(partner_partition(inv.partner_id), "invitation.accepted", by.get("email", ""), before=before,
                            after={"status": inv.status, "reference": inv.reference, "customerId": inv.customer_id},
                            customer_id=inv.customer_id))
        uow.event("invitation.accepted", inv.partner_id, acceptedAt=now.isoformat(), **event_fields(inv))
        return inv

    newly_accepted: list[Invitation] = []
    units = [first] if first is not None else []
    accepted = attempt(lambda: units.pop() if units else ctx.unit(InvitationUnitOfWork), work, busy="The invitation kept changing; retry.")
    if newly_accepted:
        telemetry.count("invitations.redeemed", partner_id=accepted.partner_id, kind=accepted.kind.value, reference=accepted.reference,
                        customer_id=accepted.customer_id)
    return accepted


def release(ctx: Context, link_hash_: str, by: dict[str, str], *, customer_id: str, now: datetime) -> Invitation | None:
    """Put back to Pending an invitation accepted into `customer_id` whose company side was refused and not written
    (audited `invitation.released`); anything else (not accepted, accepted elsewhere, gone) is left as it is."""

    def work(uow: InvitationUnitOfWork) -> Invitation | None:
        inv = uow.by_link(link_hash_)
        if inv is None or inv.status != InvitationStatus.ACCEPTED or inv.customer_id != customer_id:
            return inv
        before = {"status": inv.status, "acceptedAt": inv.accepted_at.isoformat() if inv.accepted_at else None}
        inv.release(now)
        uow.save(inv, audit(partner_partition(inv.partner_id), "invitation.released", by.get("email", ""), before=before,
                            after={"status": inv.status, "reference": inv.reference}, customer_id=customer_id))
        return inv

    return attempt(lambda: ctx.unit(InvitationUnitOfWork), work, busy="The invitation kept changing; retry.")
