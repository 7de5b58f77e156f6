"""Trigger functions of invitations: the partner API and the expiry timer (thin: parse, call one service)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import azure.functions as func

from invite_user import reminders, service
from invite_user.api_models import (
    BulkRequest,
    BulkResult,
    DraftEmail,
    DraftQuery,
    FunnelQuery,
    InvitationOut,
    InvitationPage,
    InviteeChange,
    ListQuery,
    NewInvitation,
    ResendRequest,
    ResendRequestAnswer,
)
from invite_user.funnel import Funnel
from shared import telemetry
from shared.authorization import Action, runs_as
from shared.context import request_context
from shared.endpoints import ANONYMOUS, Call, Reply, endpoint
from shared.http import client_ip
from shared.lazy import on_first_use

if TYPE_CHECKING:
    from invite_user import expiry, funnel_service, replacement
else:  # this feature's route modules, imported on a route's first call (cold start: shared/lazy.py)
    expiry, funnel_service, replacement = on_first_use("invite_user.expiry", "invite_user.funnel_service", "invite_user.replacement")

log = logging.getLogger(__name__)

bp = func.Blueprint()

TAG = "Invitations"
WRITE = (400, 401, 403, 404, 409, 422)
READ = (401, 403, 404)


@endpoint(bp, "invitations", "POST", action=Action.INVITE, summary="Invite someone", tag=TAG, body=NewInvitation, response=InvitationOut, status=201,
          problems=WRITE,
          description="Creates an invitation (CustomerOnboarding, ResellerRelationship, CompanyUser or AgreementAcceptance) and, "
                      "unless sendEmail is false, queues its email. The answer carries the link id (`id`) once. "
                      "CustomerOnboarding cannot name a customer (400); with a customerId, each kind is checked against its "
                      "own row (403 for a role or partner type, 404 without the relationship the row needs): "
                      + service.kind_rules())
def create_invitation(call: Call) -> InvitationOut:
    return service.create(call.ctx, call.partner, call.body)


@endpoint(bp, "invitations/bulk", "POST", action=Action.INVITE, summary="Invite many", tag=TAG, body=BulkRequest, response=BulkResult, problems=WRITE,
          description="Up to 1000 invitations; a bad row never sinks the others.")
def create_invitations_bulk(call: Call) -> BulkResult:
    return service.create_bulk(call.ctx, call.partner, call.body.invitations)


@endpoint(bp, "invitations", "GET", action=Action.MANAGE_INVITATIONS,
          summary="List the partner's invitations", tag=TAG, query=ListQuery, response=InvitationPage,
          problems=(400, 401, 403))
def list_invitations(call: Call) -> InvitationPage:
    return service.list_page(call.ctx, call.partner, call.query)


ETAG = {"ETag": "The invitation's version: send it as If-Match to change its invitee (PATCH)."}


@endpoint(bp, "invitations/{id}", "GET", action=Action.MANAGE_INVITATIONS,
          summary="Read an invitation", tag=TAG, response=InvitationOut, problems=READ, response_headers=ETAG,
          description="`{id}` is the link id from create, or the invitation's `reference`.")
def get_invitation(call: Call) -> Reply:
    out, tag = service.get(call.ctx, call.partner, call.param("id"))
    return Reply(out, headers={"ETag": tag})


@endpoint(bp, "invitations/{id}", "PATCH", action=Action.CHANGE_INVITEE, summary="Change the invitee", tag=TAG,
          body=InviteeChange, response=InvitationOut, problems=WRITE, idempotent=True, if_match=True,
          response_headers={**ETAG, "Content-Location": "The invitation the answer is: the new one, which replaced the old."},
          description="Changes a pending invitation's email, names, language or designated purchasing account manager "
                      "(`agreement`). The invitation becomes `Replaced` (with `replacedBy`) and its link stops working at "
                      "once (it shows a page saying so and whom to ask); a new pending invitation (with `replaces`) gets a "
                      "new link id (`id`, once) and a fresh expiry, and its email goes to the new address in its language "
                      "unless sendEmail is false. The answer is the new invitation. Needs If-Match with the ETag of GET "
                      "(412 when it changed meanwhile); 409 when the invitation is not pending. An invitation about an "
                      "existing customer is checked as when it was created (its kind's row, as for POST /invitations). "
                      "A change that changes nothing answers with the invitation as it is.")
def change_invitee(call: Call) -> Reply:
    out, tag = replacement.change_invitee(call.ctx, call.partner, call.param("id"), call.body, call.if_match)
    return Reply(out, headers={"ETag": tag, "Content-Location": f"/api/invitations/{out.reference}"})


@endpoint(bp, "invitations/funnel", "GET", action=Action.READ_ONBOARDING_PROGRESS,
          summary="The partner's invitation funnel", tag=TAG, query=FunnelQuery, response=Funnel, problems=(400, 401, 403),
          description="The caller's invitations created from `from` to `to` (days, UTC, both included; backwards: none), "
                      "optionally of one `kind`, counted by how far each got: its outcome (Accepted, Expired, Revoked; a "
                      "replaced one counts as Revoked) or its furthest step (Created, Delivered, DeliveryFailed, Opened, "
                      "SignedIn); with the median time from creation to acceptance. Counts are kept as the invitations "
                      "change, so this costs one range query whatever their number.")
def invitation_funnel(call: Call) -> Funnel:
    return funnel_service.funnel_of(call.ctx, call.partner, call.query)


@endpoint(bp, "invitations/{id}/trail", "GET", action=Action.READ_ONBOARDING_PROGRESS,
          summary="The invitation's onboarding trail", tag=TAG, response=service.Trail, problems=READ,
          description="What happened to the invitation, in order with times: created, emailed, delivered (or "
                      "deliveryFailed, with the report's status and advice), resent (with the superseded email's report), "
                      "reminded (and reminderDelivered / reminderDeliveryFailed), opened (the invitee pressed sign-in "
                      "or create-account; opening the link alone never counts), signedIn, wrongAccount (another account "
                      "was tried), accepted, relationshipConsented (the relationship its acceptance consented to), "
                      "agreementAccepted (the customer's agreement accepted after the invitation was made, with how), "
                      "replaced, revoked, expired. `{id}` as for the invitation.")
def invitation_trail(call: Call) -> service.Trail:
    return service.trail(call.ctx, call.partner, call.param("id"))


@endpoint(bp, "invitations/{id}/draft-email", "GET", action=Action.MANAGE_INVITATIONS,
          summary="The invitation's email as a draft", tag=TAG, query=DraftQuery,
          response=DraftEmail, problems=(400, 401, 403, 404),
          description="The partner reviews, edits or copies the email; it keeps the personalised URL. Needs the link id.")
def draft_invitation_email(call: Call) -> DraftEmail:
    return service.draft_email(call.ctx, call.partner, call.param("id"), call.query.language)


@endpoint(bp, "invitations/{id}/resend", "POST", action=Action.MANAGE_INVITATIONS,
          summary="Resend an invitation", tag=TAG, response=InvitationOut, problems=WRITE,
          description="Same link, new expiry (60 days at most).")
def resend_invitation(call: Call) -> InvitationOut:
    return service.resend(call.ctx, call.partner, call.param("id"))


@endpoint(bp, "invitations/{id}/revoke", "POST", action=Action.MANAGE_INVITATIONS,
          summary="Revoke an invitation", tag=TAG, response=InvitationOut, problems=WRITE)
def revoke_invitation(call: Call) -> InvitationOut:
    return service.revoke(call.ctx, call.partner, call.param("id"))


def _resend_limits(call: Call) -> None:
    service.limit_resend_requests(call.ctx, client_ip(call.request), call.body)


@endpoint(bp, "invitations/resend-request", "POST", action=Action.REQUEST_RESEND,
          summary="Ask for the invitation again (purchasing account manager)", tag=TAG,
          auth=ANONYMOUS, body=ResendRequest, response=ResendRequestAnswer, status=202, problems=(400, 409, 422, 429),
          idempotency_scope="anonymous-resend", guard=_resend_limits,
          description="Resent only when the email is the designated purchasing account manager of that agreement; "
                      "the answer is the same either way.")
def request_invitation_resend(call: Call) -> ResendRequestAnswer:
    return service.request_resend(call.ctx, call.body)


@bp.timer_trigger(arg_name="timer", schedule="%EXPIRE_SCHEDULE%", run_on_startup=False, use_monitor=True)
@runs_as(Action.SCHEDULED)
@telemetry.traced
def expire_invitations(timer: func.TimerRequest) -> None:
    """Marks pending invitations past their expiry as Expired (hourly by default, EXPIRE_SCHEDULE).

    A late (past_due) run does the same work: the sweep reads everything due up to now, so nothing is missed.
    """
    if timer.past_due:
        log.warning("expiry timer is running late (past_due)")
    result = expiry.sweep(request_context())
    log.info("expiry sweep: %s partners, %s due, %s expired", result.partners, result.due, result.expired)


@bp.timer_trigger(arg_name="timer", schedule="%REMIND_SCHEDULE%", run_on_startup=False, use_monitor=True)
@runs_as(Action.SCHEDULED)
@telemetry.traced
def remind_invitations(timer: func.TimerRequest) -> None:
    """Claims and queues the reminders now due (hourly by default, REMIND_SCHEDULE), and re-queues any claimed one not
    sent in time. A late (past_due) run does the same work: it reads everything due up to now.
    """
    if timer.past_due:
        log.warning("reminder timer is running late (past_due)")
    result = reminders.sweep(request_context())
    log.info("reminder sweep: %s partners, %s due, %s reminded, %s requeued, %s failed",
             result.partners, result.due, result.reminded, result.requeued, result.failed)
