"""The onboarding trail: what happened to one invitation, in order with times.

Every step up to acceptance is a time the invitation keeps (created, emailed, its delivery report, each resend and
reminder with theirs, the invitee's journey marks, accepted, replaced, revoked, expired): one read, nothing personal
beyond what the invitation already holds (a wrong account tried is a time, never the address). The journey marks are
written here, the first time only: a repeated press or sign-in costs no write.

What follows acceptance happens on the customer's records, each written in the transaction that stages its event:
the relationship the acceptance consented to names the invitation, and the customer's agreement acceptance has its
time and how. The customers feature, a layer above, says how to read them (`provide_customer_steps`): at most two
point reads, and only for an accepted invitation whose kind has those steps.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from invite_user.invitations import EmailStatus, Invitation, event_fields
from invite_user.repository import InvitationUnitOfWork
from notifications.reports import StatusDetail
from shared import telemetry
from shared.context import Context
from shared.errors import Busy
from shared.storage import StorageUnavailable
from shared.uow import attempt

STEPS = ("created, emailed, delivered, deliveryFailed, resent, reminded, reminderDelivered, reminderDeliveryFailed, "
         "opened, signedIn, wrongAccount, accepted, relationshipConsented, agreementAccepted, replaced, revoked, expired")


class TrailStep(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    step: str = Field(description=STEPS)
    at: datetime
    email_status: str | None = Field(default=None, validation_alias="emailStatus", serialization_alias="emailStatus",
                                     description="delivered / deliveryFailed: the report's status.")
    advice: str | None = Field(default=None, description="deliveryFailed / reminderDeliveryFailed: what to do about it.")
    how: str | None = Field(default=None, description="agreementAccepted: PartnerAttestation, DirectAcceptance or "
                                                      "CustomerConfirmed.")


class Trail(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    reference: str
    status: str
    steps: list[TrailStep]


# After acceptance, on the customer's records: (invitation) -> steps. Provided by the customers feature at its import.
CustomerSteps = Callable[[Context, Invitation], list[TrailStep]]
_customer_steps: list[CustomerSteps] = []


def provide_customer_steps(source: CustomerSteps) -> None:
    """The customers feature registers how the steps after acceptance are read (relationship consented, agreement accepted)."""
    _customer_steps[:] = [source]


def onboarding_trail(ctx: Context, inv: Invitation) -> Trail:
    """The whole trail: the invitation's own steps, and for an accepted one those on its customer's records."""
    after = _customer_steps[0](ctx, inv) if _customer_steps and inv.accepted_at is not None and inv.customer_id else []
    return trail_of(inv, after)


def _report_step(detail: StatusDetail, delivered: str, failed: str) -> TrailStep:
    ok = detail.status == EmailStatus.DELIVERED.value
    return TrailStep(step=delivered if ok else failed, at=detail.at, email_status=detail.status, advice=detail.advice)


def trail_of(inv: Invitation, after: list[TrailStep] | None = None) -> Trail:
    steps = [TrailStep(step="created", at=inv.created_at)]
    # Emails a resend superseded: their reports (the current email's are below), then each resend.
    steps += [_report_step(d, "delivered", "deliveryFailed") for d in inv.earlier_emails if d.status]
    steps += [TrailStep(step="resent", at=at) for at in inv.resent_at]
    if inv.email_sent_at:
        steps.append(TrailStep(step="emailed", at=inv.email_sent_at))
    detail = inv.email_status_detail
    if detail is not None and detail.status:
        steps.append(_report_step(detail, "delivered", "deliveryFailed"))
    steps += [TrailStep(step="reminded", at=at) for at in inv.reminders_sent_at]
    steps += [_report_step(d, "reminderDelivered", "reminderDeliveryFailed") for d in inv.reminder_reports if d.status]
    for step, at in (("opened", inv.opened_at), ("signedIn", inv.signed_in_at), ("wrongAccount", inv.wrong_account_at),
                     ("accepted", inv.accepted_at), ("replaced", inv.replaced_at), ("revoked", inv.revoked_at),
                     ("expired", inv.expired_at)):
        if at is not None:
            steps.append(TrailStep(step=step, at=at))
    steps += after or []
    order: list[str] = list(STEPS.split(", "))  # same time: the order of STEPS (created before emailed, accepted before consented)
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
