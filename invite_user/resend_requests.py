"""The Business Center resend request: "Haven't received an invitation email yet?", answered the same either way.

The invitation is resent only when the email is the designated purchasing account manager's of that agreement;
the check runs from the email queue, so the anonymous caller cannot learn who that is from the answer or its timing.
"""

from __future__ import annotations

import logging
from typing import Any

from invite_user import delivery
from invite_user.api_models import ResendRequest, ResendRequestAnswer
from invite_user.invitations import Invitation, InvitationStatus, normalize_email
from invite_user.records import change_record
from invite_user.repository import InvitationStore, InvitationUnitOfWork
from notifications import queue
from notifications.sender import EmailSender
from shared.context import Context
from shared.rate_limit import hit, hit_client
from shared.uow import attempt

log = logging.getLogger(__name__)

# The one answer to every resend request (made on the first request: a model instance at import would build its model).
RESEND_REQUEST_ANSWER = {
    "status": "received",
    "detail": "If the email is the purchasing account manager of that agreement, the invitation is on its way. "
              "Check your inbox (and spam folder) in a few minutes.",
}


def request_resend(ctx: Context, body: ResendRequest) -> ResendRequestAnswer:
    """Queue the check-and-resend. The caller hears the same answer whether anything matched or not,
    so this cannot be used to learn who the purchasing account manager is."""
    queue.send(ctx, {
        "type": "resend-request",
        "email": normalize_email(str(body.email)),
        "agreementNumber": body.agreement_number,
        "purchasingAccountNumber": body.purchasing_account_number,
    })
    return ResendRequestAnswer(**RESEND_REQUEST_ANSWER)


@queue.handles("resend-request")
def _resend_request(ctx: Context, sender: EmailSender, payload: dict[str, Any]) -> dict[str, int]:
    """Resent only when the email is the designated purchasing account manager's of that agreement."""
    matched = 0
    for inv in ctx.store(InvitationStore).find_by_agreement(payload["agreementNumber"], payload["purchasingAccountNumber"]):
        if inv.email_normalized == payload["email"] and inv.status in (InvitationStatus.PENDING, InvitationStatus.EXPIRED):
            _resend_as_system(ctx, inv)
            matched += 1
    log.info("resend request for agreement %s: %d invitation(s) resent", payload["agreementNumber"], matched)
    return {"resent": matched}


def _resend_as_system(ctx: Context, inv: Invitation) -> None:
    """A resend nobody signed in asked for (the Business Center resend request), with a fresh extra link."""

    def work(uow: InvitationUnitOfWork) -> Invitation | None:
        current = uow.get(inv.partner_id, InvitationStore.row_key(inv))
        if current is None or current.status not in (InvitationStatus.PENDING, InvitationStatus.EXPIRED):
            return None
        before = {"status": current.status, "expiresAt": current.expires_at.isoformat()}
        current.resend(ctx.now())
        uow.save(current, change_record(current, "invitation.resent", "resend request (purchasing account manager)", before))
        return current

    resent = attempt(lambda: ctx.unit(InvitationUnitOfWork), work)
    if resent is not None:
        delivery.queue_emails(ctx, [(resent, ctx.store(InvitationStore).add_link(resent))])


RESEND_PER_CLIENT = 20  # resend requests per client address per hour
RESEND_PER_EMAIL = 5  # resend requests per email per hour, whichever path they come by


def limit_resend_requests(ctx: Context, client: str, body: ResendRequest) -> None:
    """The anonymous resend request's limits, the same on the API and the page: per client (an IPv6 /64 is one) and
    per email. The email is the VALIDATED one (`ResendRequest`, which folds a full-width `ｂomb.example` into
    `bomb.example`), keyed in the form invitations are matched by: counting the raw text gave every spelling of one
    mailbox a budget of its own (issue 19 item 1)."""
    hit_client(ctx, "resend-per-client", client, limit=RESEND_PER_CLIENT, window_seconds=3600)
    hit(ctx, f"resend-email|{normalize_email(str(body.email))}", limit=RESEND_PER_EMAIL, window_seconds=3600,
        policy="resend-per-email")
