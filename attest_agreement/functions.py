"""Trigger functions of attest_agreement (thin: parse, call one service, map errors), and the API's OpenAPI document."""

from __future__ import annotations

import logging

import azure.functions as func

from accept_invite.web import form_of, page, visitor_of
from attest_agreement import acceptance_page, notices, service
from attest_agreement.api_models import (
    AgreementInvitationIn,
    AttestationIn,
    EligibilityQuery,
    NewCustomer,
    PageQuery,
    RelationshipRequestIn,
    RemoveRelationshipIn,
)
from shared import telemetry
from shared.http import api, idempotent, json_response, parse_json, parse_query
from shared.partner_auth import authenticate
from shared.storage import get_storage

log = logging.getLogger(__name__)

bp = func.Blueprint()


def _customer_id(req: func.HttpRequest) -> str:
    return req.route_params["customerId"]


@bp.route(route="customers", methods=["POST"])
@api
def create_customer(req: func.HttpRequest) -> func.HttpResponse:
    caller = authenticate(req.headers.get("authorization"))
    body = parse_json(req, NewCustomer)
    key = req.headers.get("idempotency-key")
    return idempotent(req, caller.partner_id, lambda: (201, service.create_customer(get_storage(), caller, body, key), {}))


@bp.route(route="customers", methods=["GET"])
@api
def list_customers(req: func.HttpRequest) -> func.HttpResponse:
    caller = authenticate(req.headers.get("authorization"))
    return json_response(service.list_customers(get_storage(), caller, parse_query(req, PageQuery)))


@bp.route(route="customers/{customerId}", methods=["GET"])
@api
def get_customer(req: func.HttpRequest) -> func.HttpResponse:
    caller = authenticate(req.headers.get("authorization"))
    return json_response(service.get_customer(get_storage(), caller, _customer_id(req)))


@bp.route(route="customers/{customerId}/agreements", methods=["POST"])
@api
def attest_customer_agreement(req: func.HttpRequest) -> func.HttpResponse:
    caller = authenticate(req.headers.get("authorization"))
    body = parse_json(req, AttestationIn)
    return idempotent(req, caller.partner_id, lambda: (201, service.attest(get_storage(), caller, _customer_id(req), body), {}))


@bp.route(route="customers/{customerId}/agreements", methods=["GET"])
@api
def get_customer_agreement(req: func.HttpRequest) -> func.HttpResponse:
    caller = authenticate(req.headers.get("authorization"))
    return json_response(service.get_agreement(get_storage(), caller, _customer_id(req)))


@bp.route(route="customers/{customerId}/agreement-invitations", methods=["POST"])
@api
def invite_to_accept_agreement(req: func.HttpRequest) -> func.HttpResponse:
    caller = authenticate(req.headers.get("authorization"))
    body = parse_json(req, AgreementInvitationIn) if (req.get_body() or b"").strip() else AgreementInvitationIn()
    return idempotent(req, caller.partner_id,
                      lambda: (201, service.request_direct_acceptance(get_storage(), caller, _customer_id(req), body), {}))


@bp.route(route="customers/{customerId}/direct-signing-status", methods=["GET"])
@api
def direct_signing_status(req: func.HttpRequest) -> func.HttpResponse:
    caller = authenticate(req.headers.get("authorization"))
    return json_response(service.direct_signing_status(get_storage(), caller, _customer_id(req)))


@bp.route(route="customers/{customerId}/purchase-eligibility", methods=["GET"])
@api
def purchase_eligibility(req: func.HttpRequest) -> func.HttpResponse:
    caller = authenticate(req.headers.get("authorization"))
    query = parse_query(req, EligibilityQuery)
    return json_response(service.purchase_eligibility(get_storage(), caller, _customer_id(req), query))


@bp.route(route="customers/{customerId}/relationship-requests", methods=["POST"])
@api
def request_reseller_relationship(req: func.HttpRequest) -> func.HttpResponse:
    caller = authenticate(req.headers.get("authorization"))
    body = parse_json(req, RelationshipRequestIn) if (req.get_body() or b"").strip() else RelationshipRequestIn()
    return idempotent(req, caller.partner_id,
                      lambda: (201, service.request_relationship(get_storage(), caller, _customer_id(req), body), {}))


@bp.route(route="customers/{customerId}/relationship", methods=["GET"])
@api
def get_reseller_relationship(req: func.HttpRequest) -> func.HttpResponse:
    caller = authenticate(req.headers.get("authorization"))
    return json_response(service.get_relationship(get_storage(), caller, _customer_id(req)))


@bp.route(route="customers/{customerId}/relationship", methods=["DELETE"])
@api
def remove_reseller_relationship(req: func.HttpRequest) -> func.HttpResponse:
    caller = authenticate(req.headers.get("authorization"))
    body = parse_json(req, RemoveRelationshipIn)
    return idempotent(req, caller.partner_id,
                      lambda: (200, service.remove_relationship(get_storage(), caller, _customer_id(req), body), {}))


@bp.route(route="customers/{customerId}/audit", methods=["GET"])
@api
def customer_audit(req: func.HttpRequest) -> func.HttpResponse:
    caller = authenticate(req.headers.get("authorization"))
    return json_response(service.audit_trail(get_storage(), caller, _customer_id(req), parse_query(req, PageQuery)))


@bp.route(route="agreements/accept", methods=["GET", "HEAD"], auth_level=func.AuthLevel.ANONYMOUS)
@page
def agreement_page(req: func.HttpRequest) -> func.HttpResponse:
    """The invited customer's page after sign-in: the agreement and its checkbox (seed 004, direct acceptance)."""
    visitor = visitor_of(req)
    return acceptance_page.respond(acceptance_page.show(get_storage(), visitor, req.params.get("invitationId")), visitor)


@bp.route(route="agreements/accept", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@page
def accept_agreement(req: func.HttpRequest) -> func.HttpResponse:
    """The ticked box, with the session's CSRF token: accepted once, then the page shows who accepted and when."""
    visitor = visitor_of(req)
    return acceptance_page.respond(acceptance_page.submit(get_storage(), visitor, form_of(req)), visitor)


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@api
def openapi_document(req: func.HttpRequest) -> func.HttpResponse:
    from shared.openapi import document

    return json_response(document(), headers={"Cache-Control": "public, max-age=300"})


@bp.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=False, use_monitor=True)
@telemetry.traced  # telemetry
def send_pending_attestation_notices(timer: func.TimerRequest) -> None:
    """Queues attestation confirmations whose request stopped between its commit and queueing the email.

    Every five minutes (fixed: it is a safety net for the 30-minute promise of seed 004, not a knob). A late
    (past_due) run does the same work: it reads every outbox row left behind.
    """
    if timer.past_due:
        log.warning("attestation notice sweep is running late (past_due)")
    log.info("attestation notice sweep: %s", notices.sweep(get_storage()))
