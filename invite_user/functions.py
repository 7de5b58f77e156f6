"""Trigger functions of invitations: the partner API, the email queue and the expiry timer (thin)."""

from __future__ import annotations

import json
import logging

import azure.functions as func

from invite_user import delivery, expiry, service
from invite_user.api_models import BulkRequest, ListQuery, NewInvitation, ResendRequest
from shared import telemetry
from shared.http import api, client_ip, idempotent, json_response, parse_json, parse_query
from shared.partner_auth import PLATFORM_ADMIN, authenticate
from shared.partners import Partner, PartnerRepository
from shared.problems import conflict, not_found
from shared.rate_limit import hit
from shared.storage import get_storage

log = logging.getLogger(__name__)

bp = func.Blueprint()


@bp.route(route="invitations", methods=["POST"])
@api
def create_invitation(req: func.HttpRequest) -> func.HttpResponse:
    caller = authenticate(req.headers.get("authorization"))
    body = parse_json(req, NewInvitation)
    return idempotent(req, caller.partner_id, lambda: (201, service.create(get_storage(), caller, body), {}))


@bp.route(route="invitations/bulk", methods=["POST"])
@api
def create_invitations_bulk(req: func.HttpRequest) -> func.HttpResponse:
    caller = authenticate(req.headers.get("authorization"))
    body = parse_json(req, BulkRequest)
    return idempotent(req, caller.partner_id, lambda: (200, service.create_bulk(get_storage(), caller, body.invitations), {}))


@bp.route(route="invitations", methods=["GET"])
@api
def list_invitations(req: func.HttpRequest) -> func.HttpResponse:
    caller = authenticate(req.headers.get("authorization"))
    return json_response(service.list_page(get_storage(), caller, parse_query(req, ListQuery)))


@bp.route(route="invitations/{id}", methods=["GET"])
@api
def get_invitation(req: func.HttpRequest) -> func.HttpResponse:
    caller = authenticate(req.headers.get("authorization"))
    return json_response(service.get(get_storage(), caller, req.route_params["id"]))


@bp.route(route="invitations/{id}/draft-email", methods=["GET"])
@api
def draft_invitation_email(req: func.HttpRequest) -> func.HttpResponse:
    caller = authenticate(req.headers.get("authorization"))
    return json_response(service.draft_email(get_storage(), caller, req.route_params["id"], req.params.get("language")))


@bp.route(route="invitations/{id}/resend", methods=["POST"])
@api
def resend_invitation(req: func.HttpRequest) -> func.HttpResponse:
    caller = authenticate(req.headers.get("authorization"))
    return idempotent(req, caller.partner_id, lambda: (200, service.resend(get_storage(), caller, req.route_params["id"]), {}))


@bp.route(route="invitations/{id}/revoke", methods=["POST"])
@api
def revoke_invitation(req: func.HttpRequest) -> func.HttpResponse:
    caller = authenticate(req.headers.get("authorization"))
    return idempotent(req, caller.partner_id, lambda: (200, service.revoke(get_storage(), caller, req.route_params["id"]), {}))


RESEND_REQUEST_ANSWER = {
    "status": "received",
    "detail": "If the email is the purchasing account manager of that agreement, the invitation is on its way. "
              "Check your inbox (and spam folder) in a few minutes.",
}


@bp.route(route="invitations/resend-request", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@api
def request_invitation_resend(req: func.HttpRequest) -> func.HttpResponse:
    body = parse_json(req, ResendRequest)
    storage = get_storage()
    hit(storage, f"resend-ip|{client_ip(req)}", limit=20, window_seconds=3600)
    hit(storage, f"resend-email|{body.email.casefold()}", limit=5, window_seconds=3600)

    def work() -> tuple[int, dict, dict]:
        service.request_resend(storage, body)
        return 202, RESEND_REQUEST_ANSWER, {}

    return idempotent(req, "anonymous-resend", work)


@bp.route(route="partners", methods=["POST"])
@api
def register_partner(req: func.HttpRequest) -> func.HttpResponse:
    authenticate(req.headers.get("authorization"), any_of=frozenset({PLATFORM_ADMIN}))
    partner = parse_json(req, Partner)
    repo = PartnerRepository(get_storage())

    def work() -> tuple[int, dict, dict]:
        if repo.get(repo.PARTITION, partner.id) is not None:
            raise conflict("partner-exists", f"Partner {partner.id} is registered already.")
        from shared.clock import utc_now

        partner.created_at = utc_now()
        if partner.indirect_provider_id:
            provider = repo.find(partner.indirect_provider_id)
            if provider is None or provider.type != "IndirectProvider":
                raise not_found("indirect provider")
        repo.save(partner)
        return 201, partner.model_dump(mode="json", by_alias=True, exclude_none=True), {}

    return idempotent(req, "platform-admin", work)


@bp.route(route="partners", methods=["GET"])
@api
def list_partners(req: func.HttpRequest) -> func.HttpResponse:
    authenticate(req.headers.get("authorization"), any_of=frozenset({PLATFORM_ADMIN}))
    page = PartnerRepository(get_storage()).list_page(continuation_token=req.params.get("continuationToken"))
    return json_response({"items": [p.model_dump(mode="json", by_alias=True, exclude_none=True) for p in page.items],
                          "continuationToken": page.continuation_token})


@bp.queue_trigger(arg_name="msg", queue_name="%EMAIL_QUEUE%", connection="AzureWebJobsStorage")
@telemetry.traced  # telemetry
def send_queued_email(msg: func.QueueMessage) -> None:
    """Sends queued emails. Raising lets the host retry (and poison the message after 5 attempts)."""
    from shared.email import get_sender
    from shared.settings import get_settings

    counts = delivery.deliver(get_storage(), get_sender(get_settings()), json.loads(msg.get_body()))
    log.info("email message %s (attempt %s): %s", msg.id, msg.dequeue_count, counts)


@bp.queue_trigger(arg_name="msg", queue_name="%EMAIL_QUEUE%-poison", connection="AzureWebJobsStorage")
@telemetry.traced  # telemetry
def record_failed_email(msg: func.QueueMessage) -> None:
    """Emails that failed five times: marked Failed on their invitations so partners see it and can resend."""
    marked = delivery.mark_poisoned(get_storage(), json.loads(msg.get_body()))
    log.error("poisoned email message %s: %s invitation(s) marked Failed", msg.id, marked)


@bp.timer_trigger(arg_name="timer", schedule="%EXPIRE_SCHEDULE%", run_on_startup=False, use_monitor=True)
@telemetry.traced  # telemetry
def expire_invitations(timer: func.TimerRequest) -> None:
    """Marks pending invitations past their expiry as Expired (hourly by default, EXPIRE_SCHEDULE).

    A late (past_due) run does the same work: the sweep reads everything due up to now, so nothing is missed.
    """
    if timer.past_due:
        log.warning("expiry timer is running late (past_due)")
    from accept_invite.signin import delete_stale_flows

    storage = get_storage()
    result = expiry.sweep(storage)
    # The same clean-up round removes sign-in flows nobody finished (they live ten minutes).
    flows = delete_stale_flows(storage)
    log.info("expiry sweep: %s partners, %s due, %s expired; %s stale sign-in flows deleted",
             result.partners, result.due, result.expired, flows)
