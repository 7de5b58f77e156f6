"""Trigger functions of customers, agreements and relationships (the partner API), and the confirmation outbox timer."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import azure.functions as func

from invite_user.trail import provide_customer_steps
from notifications import queue
from shared import telemetry
from shared.authorization import Action, provide_standing, runs_as
from shared.context import request_context
from shared.endpoints import Call, Reply, endpoint
from shared.lazy import on_first_use, provided_by

if TYPE_CHECKING:
    from attest_agreement import notices, service
    from attest_agreement.api_models import (
        AgreementView,
        AuditPage,
        CustomerCreated,
        CustomerPage,
        DirectSigningStatus,
        PurchaseEligibility,
        RelationshipRequestOut,
    )
    from attest_agreement.attestation_models import (
        AttestationCreated,
        AttestationOut,
        PipelinePage,
    )
    from attest_agreement.company_user_models import CompanyUserList
    from attest_agreement.customers import ResellerRelationship
    from invite_user.api_models import InvitationOut
else:  # this feature's route modules, imported on a route's first call (cold start: shared/lazy.py)
    notices, service = on_first_use("attest_agreement.notices", "attest_agreement.service")

# Modules of this feature that register with others at their import, but load on first use: named here, each registry
# imports them before it is first read (shared/lazy.py), whatever a fresh instance's first call or message is.
provided_by(queue.register, "attest_agreement.notices", "attest_agreement.receipts", "attest_agreement.partner_rights")
provided_by(provide_standing, "attest_agreement.relationships_service")
provided_by(provide_customer_steps, "attest_agreement.relationships_service")

log = logging.getLogger(__name__)

bp = func.Blueprint()

CUSTOMERS, AGREEMENTS, RELATIONSHIPS, AUDIT = "Customers", "Agreements", "Relationships", "Audit"
WRITE = (400, 401, 403, 404, 409, 422)
READ = (401, 403, 404)


@endpoint(bp, "customers", "POST", action=Action.CREATE_CUSTOMER,
          summary="Create a customer", tag=CUSTOMERS, body="attest_agreement.api_models:NewCustomer",
          response="attest_agreement.api_models:CustomerCreated", status=201,
          problems=WRITE,
          description="A new customer with an active relationship (DAP, optional GDAP) to the calling partner, and to the "
                      "reseller's indirect provider. With `agreement`, the partner attests acceptance of the Microsoft Customer "
                      "Agreement in the same transaction (indirect resellers: 403); with `askToAcceptDirectly`, an "
                      "AgreementAcceptance invitation goes to the primary contact instead.")
def create_customer(call: Call) -> CustomerCreated:
    return service.create_customer(call.ctx, call.partner, call.body, call.idempotency_key)


@endpoint(bp, "customers", "GET", action=Action.LIST_CUSTOMERS,
          summary="The partner's customers", tag=CUSTOMERS, query="attest_agreement.api_models:PageQuery",
          response="attest_agreement.api_models:CustomerPage",
          problems=(400, 401, 403), description="Customers with an active relationship to the calling partner, paged.")
def list_customers(call: Call) -> CustomerPage:
    return service.list_customers(call.ctx, call.partner, call.query)


@endpoint(bp, "customers/{customerId}", "GET", action=Action.READ_CUSTOMER,
          summary="Read a customer", tag=CUSTOMERS, response="attest_agreement.api_models:CustomerDetail", problems=READ, etag=True,
          description="`ETag` is the version of `customer` (not of the relationship or agreement beside it): send it as "
                      "If-Match to change the customer.")
def get_customer(call: Call) -> Reply:
    detail, etag = service.get_customer(call.ctx, call.partner, call.param("customerId"))
    return Reply(detail, headers={"ETag": etag})


@endpoint(bp, "customers/{customerId}/users", "GET", action=Action.READ_COMPANY_USERS,
          summary="The customer's users", tag=CUSTOMERS, response="attest_agreement.company_user_models:CompanyUserList", problems=READ,
          description="Who works at the customer (names, emails, Business Center roles), for the partner that manages it: an "
                      "AdminAgent whose active relationship holds delegated admin rights (DAP). 404 for any other partner, "
                      "also when the customer removed the caller's DAP or ended the relationship.")
def list_customer_users(call: Call) -> CompanyUserList:
    return service.company_users(call.ctx, call.partner, call.param("customerId"))


@endpoint(bp, "customers/{customerId}/primary-contact", "PATCH", action=Action.UPDATE_PRIMARY_CONTACT,
          summary="Update the customer's primary contact", tag=CUSTOMERS, body="attest_agreement.api_models:ContactIn",
          response="attest_agreement.customers:Customer", problems=WRITE,
          idempotent=True, if_match=True,
          description="Correct the primary contact (firstName, lastName, email, optional phoneNumber and language), validated as an "
                      "attestation's contact. For the same person (email) a left-out phoneNumber or language is kept, null "
                      "removes it. Needs an active relationship (404 otherwise, also for a removed one) and If-Match with the "
                      "customer's ETag from GET /customers/{customerId} (428 without, 412 when the customer changed since; `*` "
                      "replaces whatever is there). Sending the contact the customer has already answers 200 and writes "
                      "nothing, whatever the If-Match. Audited (before and after); every partner with an active relationship "
                      "hears `customer.primaryContactUpdated`. An attestation confirmation not sent yet goes to the new contact; "
                      "one that failed for good is sent again, to the new contact. The answer carries the new ETag.")
def update_primary_contact(call: Call) -> Reply:
    customer, etag = service.update_primary_contact(call.ctx, call.partner, call.param("customerId"), call.body, call.if_match)
    return Reply(customer, headers={"ETag": etag})


@endpoint(bp, "customers/{customerId}/agreements", "POST", action=Action.ATTEST,
          summary="Attest that the customer accepted the agreement", tag=AGREEMENTS,
          body="attest_agreement.api_models:AttestationIn", response="attest_agreement.api_models:AgreementView", status=201, problems=(*WRITE, 412,
          428),
          description="Without the row's role or partner type 403 (an indirect reseller: type indirect-reseller-cannot-attest); "
                      "without an active relationship 404; dateAgreed not in the future (400, type date-agreed-in-future); "
                      "once only (409, type agreement-accepted-already). A different primaryContact replaces the customer's "
                      "as PATCH .../primary-contact does: only with If-Match naming the customer's ETag (428 without, 412 when stale), "
                      "audited, and every partner with an active relationship hears customer.primaryContactUpdated. "
                      "The primary contact is emailed a confirmation within 30 minutes unless the customer was "
                      "asked to accept directly. With `attestationId` (an attestation the customer accepted on its personal "
                      "link) the agreement is created from what the customer accepted (how: CustomerConfirmed; no "
                      "confirmation email, the customer had its receipt): 409 attestation-not-accepted while the attestation is "
                      "not Accepted, 404 attestation-not-found for an id that is not your attestation for this customer.")
def attest_customer_agreement(call: Call) -> AgreementView:
    return service.attest(call.ctx, call.partner, call.param("customerId"), call.body, call.if_match or None)


@endpoint(bp, "customers/{customerId}/agreements", "GET", action=Action.READ_CUSTOMER, summary="Verify acceptance of the agreement", tag=AGREEMENTS,
          response="attest_agreement.api_models:AgreementView", problems=READ,
          description="acceptance Provided or NotProvided; how, when, by whom, and the contact who accepted.")
def get_customer_agreement(call: Call) -> AgreementView:
    return service.get_agreement(call.ctx, call.partner, call.param("customerId"))


@endpoint(bp, "customers/{customerId}/agreement-attestations", "POST", action=Action.ATTEST,
          summary="Ask the customer to confirm the agreement itself", tag=AGREEMENTS, body="attest_agreement.attestation_models:AttestationRequestIn",
          response="attest_agreement.attestation_models:AttestationCreated", status=201, problems=WRITE,
          description="Partner Center's enhanced attestation: an attestation for the customer's contact with a personal link "
                      "(`acceptanceUrl`, shown only now) that works for validityDays (1 to 60, default 30). The contact opens it "
                      "(no sign-in), reviews the agreement, types their name and accepts on behalf of the company; then create "
                      "the agreement with POST /customers/{customerId}/agreements and `attestationId`. Emailed to the contact "
                      "in its language unless sendEmail is false. One pending attestation per customer: a new one replaces "
                      "the pending one (its link stops working). Same rules as attesting: an active relationship (404), not "
                      "an indirect reseller (403), 409 agreement-accepted-already once the agreement exists.")
def request_agreement_attestation(call: Call) -> AttestationCreated:
    return service.request_attestation(call.ctx, call.partner, call.param("customerId"), call.body)


@endpoint(bp, "customers/{customerId}/agreement-attestations/{attestationId}", "GET", action=Action.READ_CUSTOMER,
          summary="An attestation the customer confirms itself", tag=AGREEMENTS, response="attest_agreement.attestation_models:AttestationOut",
          problems=READ,
          description="Pending, Accepted, Expired, Replaced or Finalized, with its times. Only the partner that created it "
                      "reads it (404 attestation-not-found otherwise).")
def get_agreement_attestation(call: Call) -> AttestationOut:
    return service.get_attestation(call.ctx, call.partner, call.param("customerId"), call.param("attestationId"))


@endpoint(bp, "agreement-attestations", "GET", action=Action.LIST_CUSTOMERS,
          summary="The partner's agreement pipeline", tag=AGREEMENTS, query="attest_agreement.attestation_models:PipelineQuery",
          response="attest_agreement.attestation_models:PipelinePage",
          problems=(400, 401, 403),
          description="The partner's customers (active relationships) at one stage: Required (no acceptance, no attestation of "
                      "yours on the way), Pending (the link is out), Expired (it expired unused: ask again), ReadyToFinalize "
                      "(the customer accepted: create the agreement). In customer id order, paged; follow continuationToken "
                      "(a page may hold fewer items than pageSize).")
def agreement_pipeline(call: Call) -> PipelinePage:
    return service.agreement_pipeline(call.ctx, call.partner, call.query)


@endpoint(bp, "customers/{customerId}/agreement-invitations", "POST", action=Action.ASK_DIRECT_ACCEPTANCE,
          summary="Invite the customer to accept the agreement directly",
          tag=AGREEMENTS, body="attest_agreement.api_models:AgreementInvitationIn", optional_body=True,
          response="invite_user.api_models:InvitationOut", status=201, problems=WRITE,
          description="An AgreementAcceptance invitation (to the primary contact unless another person is given). The "
                      "customer then counts as asked to accept directly: no attestation confirmation email is sent to it.")
def invite_to_accept_agreement(call: Call) -> InvitationOut:
    return service.request_direct_acceptance(call.ctx, call.partner, call.param("customerId"), call.body)


@endpoint(bp, "customers/{customerId}/direct-signing-status", "GET", action=Action.READ_CUSTOMER, summary="Direct signing status", tag=AGREEMENTS,
          response="attest_agreement.api_models:DirectSigningStatus", problems=READ)
def direct_signing_status(call: Call) -> DirectSigningStatus:
    return service.direct_signing_status(call.ctx, call.partner, call.param("customerId"))


@endpoint(bp, "customers/{customerId}/purchase-eligibility", "GET", action=Action.READ_CUSTOMER, summary="May the customer buy now?", tag=AGREEMENTS,
          query="attest_agreement.api_models:EligibilityQuery", response="attest_agreement.api_models:PurchaseEligibility", problems=(400, 401, 403,
          404),
          description="New purchases need an accepted agreement; otherwise the answer carries the customer-facing message and "
                      "the partner's action (attest). Auto-renewals are never blocked.")
def purchase_eligibility(call: Call) -> PurchaseEligibility:
    return service.purchase_eligibility(call.ctx, call.partner, call.param("customerId"), call.query)


@endpoint(bp, "customers/{customerId}/relationship-requests", "POST", action=Action.REQUEST_RELATIONSHIP,
          summary="Request a reseller relationship", tag=RELATIONSHIPS,
          body="attest_agreement.api_models:RelationshipRequestIn", optional_body=True,
          response="attest_agreement.api_models:RelationshipRequestOut", status=201, problems=WRITE,
          description="A ResellerRelationship invitation for an existing customer (optionally with an indirect provider, "
                      "optionally asking to accept the agreement too) and its draft email with the personalised URL, for the "
                      "partner to review and send. The partner names the person it asks (email, firstName, lastName, "
                      "countryRegion) and the company as it knows it (companyName): nothing of the customer's own data is "
                      "shown and nothing is written to it. Only the customer's account administrator or primary contact, "
                      "signed in as themselves, can accept.")
def request_reseller_relationship(call: Call) -> RelationshipRequestOut:
    return service.request_relationship(call.ctx, call.partner, call.param("customerId"), call.body)


@endpoint(bp, "customers/{customerId}/relationship", "GET", action=Action.READ_RELATIONSHIP, summary="The partner's relationship with the customer",
          tag=RELATIONSHIPS, response="attest_agreement.customers:ResellerRelationship", problems=READ,
          description="Also after removal: status Removed, `dap.active` false, `gdap` as it was.")
def get_reseller_relationship(call: Call) -> ResellerRelationship:
    return service.get_relationship(call.ctx, call.partner, call.param("customerId"))


@endpoint(bp, "customers/{customerId}/relationship", "DELETE", action=Action.REMOVE_RELATIONSHIP,
          summary="Remove the reseller relationship", tag=RELATIONSHIPS,
          body="attest_agreement.api_models:RemoveRelationshipIn", response="attest_agreement.customers:ResellerRelationship", problems=(400, 401,
          403, 404, 422),
          description="Needs goodFaithDeclaration: true (400 otherwise). The customer leaves the partner's list; DAP is removed, "
                      "GDAP stays; nobody is notified; the removal is audited.")
def remove_reseller_relationship(call: Call) -> ResellerRelationship:
    return service.remove_relationship(call.ctx, call.partner, call.param("customerId"), call.body)


@endpoint(bp, "customers/{customerId}/audit", "GET", action=Action.READ_AUDIT, summary="The customer's audit trail", tag=AUDIT,
          query="attest_agreement.api_models:PageQuery",
          response="attest_agreement.api_models:AuditPage", problems=(400, 401, 403, 404),
          description="Who changed what and when, before and after: the customer's records merged with the calling partner's "
                      "invitation records about the customer, newest first.")
def customer_audit(call: Call) -> AuditPage:
    return service.audit_trail(call.ctx, call.partner, call.param("customerId"), call.query)


@bp.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=False, use_monitor=True)
@runs_as(Action.SCHEDULED)
@telemetry.traced
def send_pending_attestation_notices(timer: func.TimerRequest) -> None:
    """Queues attestation confirmations whose request stopped between its commit and queueing the email.

    Every five minutes (fixed: it is a safety net for the promise of a confirmation within 30 minutes, not a knob).
    A late (past_due) run does the same work: it reads every outbox row left behind.
    """
    if timer.past_due:
        log.warning("attestation notice sweep is running late (past_due)")
    log.info("attestation notice sweep: %s", notices.sweep(request_context()))


@bp.timer_trigger(arg_name="timer", schedule="%ATTESTATION_EXPIRE_SCHEDULE%", run_on_startup=False, use_monitor=True)
@runs_as(Action.SCHEDULED)
@telemetry.traced
def expire_agreement_attestations(timer: func.TimerRequest) -> None:
    """Marks pending attestation links past their expiry as Expired (hourly by default, ATTESTATION_EXPIRE_SCHEDULE).

    A late (past_due) run does the same work: it reads the expiry index up to now, so nothing is missed.
    """
    if timer.past_due:
        log.warning("attestation expiry timer is running late (past_due)")
    log.info("attestation expiry sweep: %s", service.expire_attestations(request_context()))
