"""The onboarding trail: what happened to one invitation, in order with times, read from the invitation alone.

Every step is a time the invitation keeps (created, emailed, its delivery report, each reminder sent, the invitee's
journey marks, accepted, replaced, revoked, expired), so the trail costs the one read of the invitation and holds
nothing personal beyond what the invitation already does (a wrong account tried is a time, never the address).
The journey marks are written here, the first time only: a repeated press or sign-in costs no write.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import ConfigDict, Field

from invite_user.invitations import EmailStatus, Invitation, event_fields
from invite_user.repository import InvitationUnitOfWork
from shared import telemetry
from shared.context import Context
from shared.errors import Busy
from shared.models import Model
from shared.storage import StorageUnavailable
from shared.uow import attempt


class TrailStep(Model):
    model_config = ConfigDict(populate_by_name=True)
    step: str = Field(description="created, emailed, delivered, deliveryFailed, reminded, opened, signedIn, wrongAccount, "
                                  "accepted, replaced, revoked, expired")
    at: datetime
    email_status: str | None = Field(default=None, validation_alias="emailStatus", serialization_alias="emailStatus",
                                     description="delivered / deliveryFailed: the report's status.")
    advice: str | None = Field(default=None, description="deliveryFailed: what to do about it.")


class Trail(Model):
    model_config = ConfigDict(populate_by_name=True)
    reference: str
    status: str
    steps: list[TrailStep]


def trail_of(inv: Invitation) -> Trail:
    steps = [TrailStep(step="created", at=inv.created_at)]
    if inv.email_sent_at:
        steps.append(TrailStep(step="emailed", at=inv.email_sent_at))
    detail = inv.email_status_detail
    if detail is not None and detail.status:
        delivered = detail.status == EmailStatus.DELIVERED.value
        steps.append(TrailStep(step="delivered" if delivered else "deliveryFailed", at=detail.at, email_status=detail.status,
                               advice=detail.advice))
    steps += [TrailStep(step="reminded", at=at) for at in inv.reminders_sent_at]
    for step, at in (("opened", inv.opened_at), ("signedIn", inv.signed_in_at), ("wrongAccount", inv.wrong_account_at),
                     ("accepted", inv.accepted_at), ("replaced", inv.replaced_at), ("revoked", inv.revoked_at),
                     ("expired", inv.expired_at)):
        if at is not None:
            steps.append(TrailStep(step=step, at=at))
    order = [s.step for s in steps]  # same time: the order above (created before emailed, opened before signed in)
    steps.sort(key=lambda s: (s.at, order.index(s.step)))
    return Trail(reference=inv.reference, status=inv.status.value, steps=steps)


def mark_journey(ctx: Context, link_key: str, step: str | Callable[[Invitation], str], *, let_go: bool = False) -> Invitation | None:
    """The invitation a link leads to, with the invitee's first `step` recorded (in one transaction with its
    `invitation.opened` event). Read once; written only the first time. `let_go`: a mark that cannot be written now is
    let go once the invitation was read (a sign-in goes on; the trail misses a time); else the outage is the caller's."""
    now = ctx.now()
    read: list[Invitation | None] = [None]

    def work(uow: InvitationUnitOfWork) -> None:
        inv = read[0] = uow.by_link(link_key)
        what = step(inv) if callable(step) and inv is not None else step
        if inv is None or not inv.mark_journey(str(what), now):
            return
        uow.save(inv)
        if what == "opened":
            uow.event("invitation.opened", inv.partner_id, **event_fields(inv), openedAt=now.isoformat())
            telemetry.count("invitations.opened", partner_id=inv.partner_id, kind=inv.kind.value)

    try:
        attempt(lambda: ctx.unit(InvitationUnitOfWork), work)
    except (Busy, StorageUnavailable):
        if read[0] is None or not let_go:
            raise
    return read[0]
