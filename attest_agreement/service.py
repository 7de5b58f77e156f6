"""Customers, agreement acceptance and reseller relationships: the services behind the partner API and the sign-in pages.

Every change to a customer is one transaction on its partition with its audit records; the partners'
customer lists (an index) and the confirmation email follow the commit and are safe to repeat.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from pydantic import ValidationError

from attest_agreement import agreements, notices, relationships
from attest_agreement.agreements import AgreementError, AlreadyAccepted, CustomerNotFound, NotAllowedToAccept
from attest_agreement.api_models import (
    AgreementInvitationIn,
    AttestationIn,
    ContactIn,
    EligibilityQuery,
    GdapIn,
    InvitationOptions,
    NewCustomer,
    PageQuery,
    RelationshipRequestIn,
    RemoveRelationshipIn,
)
from attest_agreement.eligibility import evaluate
from invite_user import service as invitations
from invite_user.api_models import NewInvitation
from invite_user.invitations import Invitation, InvitationKind, InvitationStateError, InvitationStatus
from invite_user.repository import InvitationStore, invitation_row_key, partner_partition
from shared import telemetry
from shared.audit import AuditRecord, audit
from shared.clock import utc_now
from shared.customers import (
    AcceptanceHow,
    AgreementAcceptance,
    Contact,
    Customer,
    CustomerStore,
    GranularDelegatedAdminPrivileges,
    RelationshipRole,
    RelationshipStatus,
    ResellerRelationship,
    customer_partition,
)
from shared.partner_auth import Caller
from shared.partners import Partner
from shared.problems import Problem, conflict, forbidden, pydantic_errors, validation_problem
from shared.storage import ConcurrencyConflict, Op, Storage, decode_token, encode_token

log = logging.getLogger(__name__)

MCA = agreements.MICROSOFT_CUSTOMER_AGREEMENT
ATTEMPTS = 5
GDAP_MAX_DAYS = 730  # a GDAP relationship lasts at most two years
_CUSTOMER_IDS = uuid.UUID("8d3c1f0e-6a2b-4e9d-b7c5-0f1e2d3c4b5a")


# -- errors as problems --------------------------------------------------------------------------


def no_relationship(customer_id: str) -> Problem:
    # Whether a customer exists is nobody's business without a relationship: one answer for both cases.
    return Problem(404, "no-active-relationship", "Not found",
                   f"No customer {customer_id} with an active reseller relationship to your partner account.")


def _problem(exc: AgreementError, field: str | None = None) -> Problem:
    if isinstance(exc, agreements.IndirectResellerCannotAttest):
        return forbidden(str(exc), type_=exc.code)
    if isinstance(exc, agreements.DateAgreedInFuture):
        return Problem(400, exc.code, "Date of acceptance in the future", str(exc),
                       errors=[{"field": field or "dateAgreed", "message": str(exc), "code": exc.code}],
                       extra={"latestDateAgreed": exc.latest.isoformat()})
    if isinstance(exc, agreements.InvalidPhoneNumber):
        return validation_problem([{"field": field or "primaryContact.phoneNumber", "message": str(exc), "code": exc.code}])
    if isinstance(exc, AlreadyAccepted):
        problem = conflict(exc.code, str(exc))
        problem.title = "Agreement accepted already"
        problem.extra = {"agreement": _view(exc.acceptance.customer_id, exc.acceptance, False)}
        return problem
    return Problem(400, exc.code, "Not allowed", str(exc))


# -- shared steps ------------------------------------------------------------------------------------


def _by(caller: Caller, partner: Partner) -> dict[str, str]:
    return {**invitations.actor(caller), "partnerName": partner.name}


def _active(store: CustomerStore, customer_id: str, partner_id: str) -> tuple[Customer, ResellerRelationship]:
    rel = store.relationship(customer_id, partner_id)
    customer = store.customer(customer_id) if relationships.is_active(rel) else None
    if customer is None or rel is None:
        raise no_relationship(customer_id)
    return customer, rel


def _contact(body: ContactIn, country: str, previous: Contact | None = None) -> Contact:
    try:
        phone = agreements.normalize_phone(body.phone_number, country)
    except agreements.InvalidPhoneNumber as exc:
        raise _problem(exc) from exc
    language = body.language
    if previous is not None and previous.email.casefold() == str(body.email).casefold():
        # Optional fields left out for the same person keep what we know; they are not erased.
        language = language or previous.language
        phone = phone or previous.phone_number
    return Contact(first_name=body.first_name, last_name=body.last_name, email=str(body.email), phone_number=phone, language=language)


def _index(store: CustomerStore, rel: ResellerRelationship, name: str) -> None:
    """Put the customer on (or take it off) the partner's list; repeating it is harmless."""
    try:
        store.index_relationship(rel, name)
    except ResourceNotFoundError:
        pass  # off the list already


def _view(customer_id: str, acceptance: AgreementAcceptance | None, asked_directly: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"customerId": customer_id, "type": MCA, "acceptance": "NotProvided", "askedToAcceptDirectly": asked_directly}
    if acceptance is not None:
        out |= {
            "type": acceptance.type, "acceptance": "Provided", "how": acceptance.how.value,
            "dateAgreed": acceptance.date_agreed.isoformat(), "recordedAt": acceptance.recorded_at.isoformat(),
            "recordedBy": acceptance.by, "contact": acceptance.contact.model_dump(mode="json", by_alias=True, exclude_none=True),
        }
    return out


def agreement_view(customer: Customer, acceptance: AgreementAcceptance | None) -> dict[str, Any]:
    return _view(customer.id, acceptance, customer.asked_to_accept_directly)


def _dump(row: Any) -> dict[str, Any]:
    return row.model_dump(mode="json", by_alias=True, exclude_none=True)


def _notify(storage: Storage, customer: Customer, acceptance: AgreementAcceptance, notice: notices.PendingNotice | None = None) -> None:
    """Queue the confirmation once the attestation is committed; its outbox row was written before the commit.

    Without `notice` (finishing an earlier attempt), whatever outbox rows of this acceptance are left are used.
    """
    rows = [notice] if notice is not None else notices.pending(storage, acceptance)
    if rows and notices.dispatch(storage, rows[0], notices.confirmation_email(customer, acceptance)):
        for extra in rows[1:]:
            notices.forget(storage, extra)


# -- creating a customer -----------------------------------------------------------------------------


def _gdap(body: GdapIn | None, now: datetime) -> GranularDelegatedAdminPrivileges | None:
    if body is None:
        return None
    today = now.date()
    if not today < body.end_date <= today + timedelta(days=GDAP_MAX_DAYS):
        raise validation_problem([{"field": "gdap.endDate", "code": "out_of_range",
                                   "message": f"must be after {today.isoformat()} and at most {GDAP_MAX_DAYS} days ahead"}])
    return GranularDelegatedAdminPrivileges(roles=body.roles, end_date=body.end_date)


def create_customer(storage: Storage, caller: Caller, body: NewCustomer, request_key: str | None = None) -> dict[str, Any]:
    """A new customer with an active relationship to the caller (and the reseller's indirect provider), and,
    in the same transaction, the partner's attestation when `agreement` is given. With an Idempotency-Key the
    customer's id comes from the key, so a retry after a failure finds the customer instead of making another."""
    partner = invitations.partner_of(storage, caller)
    if body.agreement is not None:
        try:
            agreements.check_may_attest(partner)
        except AgreementError as exc:
            raise _problem(exc) from exc
    provider = invitations.resolve_provider(storage, partner, body.indirect_provider_id)
    now = utc_now()
    store = CustomerStore(storage)
    customer_id = str(uuid.uuid5(_CUSTOMER_IDS, f"{partner.id}|{request_key}")) if request_key else str(uuid.uuid4())
    if request_key and store.customer(customer_id) is not None:
        return _resume_create(storage, caller, partner, customer_id)

    contact = _contact(body.primary_contact, body.country)
    try:
        company_phone = agreements.normalize_phone(body.phone, body.country)
    except agreements.InvalidPhoneNumber as exc:
        raise _problem(exc, "phone") from exc
    gdap = _gdap(body.gdap, now)
    by = _by(caller, partner)
    customer = Customer(
        id=customer_id, name=body.name, address=body.address.model_dump(mode="json", by_alias=True, exclude_none=True) if body.address else None,
        country=body.country, vat_number=body.vat_number, registration_number=body.registration_number, phone=company_phone,
        website=body.website, domain=body.domain, primary_contact=contact, language=body.language,
        asked_to_accept_directly=body.ask_to_accept_directly, created_at=now, created_by=by,
    )
    rels = [relationships.open_relationship(customer_id, partner, caller.display, now, gdap=gdap)]
    if provider is not None and provider.id != partner.id:
        rels.append(relationships.open_relationship(customer_id, provider, caller.display, now, role=RelationshipRole.INDIRECT_PROVIDER))
    acceptance = None
    if body.agreement is not None:
        try:
            acceptance = agreements.attestation(customer, contact, body.agreement.date_agreed, by, now)
        except AgreementError as exc:
            raise _problem(exc, "agreement.dateAgreed") from exc

    partition = customer_partition(customer_id)
    ops: list[Op] = [Op("create", customer), Op("create", audit(partition, "customer.created", caller.display, after=customer,
                                                                  customer_id=customer_id))]
    for rel in rels:
        ops += [Op("create", rel), Op("create", audit(partition, "relationship.created", caller.display, after=rel, customer_id=customer_id))]
    notify = acceptance is not None and agreements.sends_confirmation(customer, acceptance)
    notice = None
    if acceptance is not None:
        ops += [Op("create", acceptance), Op("create", audit(partition, "agreement.attested", caller.display, after=acceptance,
                                                               customer_id=customer_id))]
        if notify:
            notice = notices.remember(storage, customer, acceptance)
    try:
        store.commit(ops)
    except ConcurrencyConflict:
        if notice is not None:
            notices.forget(storage, notice)
        if request_key and store.customer(customer_id) is not None:
            return _resume_create(storage, caller, partner, customer_id)  # a parallel retry of this very request won
        raise
    for rel in rels:
        _index(store, rel, customer.name)
    if notice is not None and acceptance is not None:
        _notify(storage, customer, acceptance, notice)
    invitation = _invite_to_accept(storage, caller, customer, AgreementInvitationIn()) if body.ask_to_accept_directly else None
    return _created(customer, rels, acceptance, invitation)


def _resume_create(storage: Storage, caller: Caller, partner: Partner, customer_id: str) -> dict[str, Any]:
    """The customer of this Idempotency-Key exists: finish what the first attempt may have left undone."""
    store = CustomerStore(storage)
    customer = store.customer(customer_id)
    if customer is None or customer.created_by.get("partnerId") != partner.id:
        raise conflict("customer-exists", "A customer was created with this Idempotency-Key by someone else; use a new key.")
    rels = [r for r in store.relationships_of(customer_id) if r.status == RelationshipStatus.ACTIVE]
    for rel in rels:
        _index(store, rel, customer.name)
    acceptance = store.acceptance(customer_id)
    if acceptance is not None and agreements.sends_confirmation(customer, acceptance):
        _notify(storage, customer, acceptance)
    invitation = None
    if customer.asked_to_accept_directly:
        sent = InvitationStore(storage).list_page(partner.id, kind=InvitationKind.AGREEMENT_ACCEPTANCE.value, customer_id=customer_id,
                                                  page_size=1)
        if not sent.items:
            invitation = _invite_to_accept(storage, caller, customer, AgreementInvitationIn())
    return _created(customer, rels, acceptance, invitation)


def _created(customer: Customer, rels: list[ResellerRelationship], acceptance: AgreementAcceptance | None,
             invitation: dict[str, Any] | None) -> dict[str, Any]:
    out = {"customer": _dump(customer), "relationships": [_dump(r) for r in rels], "agreement": agreement_view(customer, acceptance)}
    if invitation is not None:
        out["agreementInvitation"] = invitation
    return out


# -- attestation -------------------------------------------------------------------------------------


def attest(storage: Storage, caller: Caller, customer_id: str, body: AttestationIn) -> dict[str, Any]:
    """Seed 004: a partner confirms the customer accepted the agreement; the primary contact may be corrected and is told by email."""
    partner = invitations.partner_of(storage, caller)
    try:
        agreements.check_may_attest(partner)
    except AgreementError as exc:
        raise _problem(exc) from exc
    store = CustomerStore(storage)
    by = _by(caller, partner)
    for _ in range(ATTEMPTS):
        customer, _rel = _active(store, customer_id, partner.id)
        contact = _contact(body.primary_contact, customer.country, customer.primary_contact)
        existing = store.acceptance(customer_id, body.type)
        if existing is not None:
            # Also when an earlier try of this very request committed and then failed: its email is in the outbox,
            # which the sweep sends; a parallel request cannot be told apart from such a retry, so no "resume" here.
            raise _problem(AlreadyAccepted(existing))
        now = utc_now()
        try:
            acceptance = agreements.attestation(customer, contact, body.date_agreed, by, now, body.type)
        except AgreementError as exc:
            raise _problem(exc) from exc
        partition = customer_partition(customer_id)
        ops = [Op("create", acceptance), Op("create", audit(partition, "agreement.attested", caller.display, after=acceptance,
                                                              customer_id=customer_id))]
        if not agreements.same_person(customer.primary_contact, contact) or customer.primary_contact.language != contact.language:
            before = customer.primary_contact
            customer.primary_contact = contact
            ops += [Op("update", customer), Op("create", audit(partition, "customer.primaryContactUpdated", caller.display,
                                                                 before=before, after=contact, customer_id=customer_id))]
        notify = agreements.sends_confirmation(customer, acceptance)
        notice = None
        if notify:
            notice = notices.remember(storage, customer, acceptance)
        try:
            store.commit(ops)
        except ConcurrencyConflict:
            if notice is not None:
                notices.forget(storage, notice)
            continue  # attested or edited meanwhile: read again (and answer 409 if it was attested)
        if notice is not None:
            _notify(storage, customer, acceptance, notice)
        return agreement_view(customer, acceptance)
    raise Problem(503, "busy", "Customer busy", "The customer is changing right now; retry.", headers={"Retry-After": "1"})


def get_agreement(storage: Storage, caller: Caller, customer_id: str) -> dict[str, Any]:
    store = CustomerStore(storage)
    customer, _ = _active(store, customer_id, caller.partner_id)
    return agreement_view(customer, store.acceptance(customer_id))


def agreement_status(storage: Storage, customer_id: str) -> dict[str, Any]:
    """What the customer's own Account page shows (no partner involved): Provided or NotProvided, how, when, by whom."""
    store = CustomerStore(storage)
    customer = store.customer(customer_id)
    if customer is None:
        raise CustomerNotFound(customer_id)
    return agreement_view(customer, store.acceptance(customer_id))


# -- direct acceptance -------------------------------------------------------------------------------


def request_direct_acceptance(storage: Storage, caller: Caller, customer_id: str, body: AgreementInvitationIn) -> dict[str, Any]:
    """An AgreementAcceptance invitation to the primary contact (or the person given); the customer counts as asked to accept."""
    store = CustomerStore(storage)
    customer, _ = _active(store, customer_id, caller.partner_id)
    existing = store.acceptance(customer_id)
    if existing is not None:
        raise _problem(AlreadyAccepted(existing))
    customer = _mark_asked_directly(store, customer, caller.display)
    return _invite_to_accept(storage, caller, customer, body)


def _mark_asked_directly(store: CustomerStore, customer: Customer, actor: str) -> Customer:
    """Seed 004: no attestation email ever goes to a customer invited to accept directly; remember that it was."""
    for _ in range(ATTEMPTS):
        if customer.asked_to_accept_directly:
            return customer
        customer.asked_to_accept_directly = True
        try:
            store.commit([Op("update", customer), Op("create", audit(
                customer_partition(customer.id), "agreement.directAcceptanceRequested", actor,
                before={"askedToAcceptDirectly": False}, after={"askedToAcceptDirectly": True}, customer_id=customer.id))])
            return customer
        except ConcurrencyConflict:
            fresh = store.customer(customer.id)
            if fresh is None:
                raise no_relationship(customer.id) from None
            customer = fresh
    raise Problem(503, "busy", "Customer busy", "The customer is changing right now; retry.", headers={"Retry-After": "1"})


def _new_invitation(customer: Customer, kind: InvitationKind, body: InvitationOptions, **extra: Any) -> NewInvitation:
    contact = customer.primary_contact
    data = {
        "kind": kind.value, "customerId": customer.id,
        "email": str(body.email or contact.email), "firstName": body.first_name or contact.first_name,
        "lastName": body.last_name or contact.last_name,
        "language": body.language or (contact.language if not body.email else None) or customer.language,
        "countryRegion": customer.country, "company": {"name": customer.name, "country": customer.country},
        "message": body.message, "expiresInDays": body.expires_in_days, **extra,
    }
    try:
        return NewInvitation.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as exc:
        raise validation_problem(pydantic_errors(exc), "The invitation cannot be made from the customer's data; see `errors`.") from exc


def _invite_to_accept(storage: Storage, caller: Caller, customer: Customer, body: AgreementInvitationIn) -> dict[str, Any]:
    new = _new_invitation(customer, InvitationKind.AGREEMENT_ACCEPTANCE, body, askAgreementAcceptance=True, sendEmail=body.send_email)
    return invitations.create(storage, caller, new)


def accept_directly(storage: Storage, customer_id: str, signed_in_user: Mapping[str, Any], contact: Contact | None = None, *,
                    invitation: Invitation | None = None, agreement_type: str = MCA) -> AgreementAcceptance:
    """The customer's signed-in user ticked "I accept" (seed 004, direct acceptance). Returns the acceptance.

    `signed_in_user`: the ID token claims (or at least email/preferred_username, name, sub/oid/subject).
    `contact`: the person who accepted, as confirmed on the page; by default the signed-in user.
    `invitation`: the AgreementAcceptance invitation that led here, marked Accepted here (or a ResellerRelationship
    invitation asking for the agreement too, which the relationship step marks). Without one, the user must be the
    customer's primary contact or a company user with role AccountManager or AccountAdministrator.
    No confirmation email is sent. Raises CustomerNotFound, NotAllowedToAccept, AlreadyAccepted, InvalidPhoneNumber.
    """
    store = CustomerStore(storage)
    customer = store.customer(customer_id)
    if customer is None:
        raise CustomerNotFound(f"No customer {customer_id}.")
    email = agreements.signed_in_email(signed_in_user)
    now = utc_now()
    _check_may_accept(store, customer, email, invitation, now)
    by = agreements.signed_in_actor(signed_in_user)
    for _ in range(ATTEMPTS):
        existing = store.acceptance(customer_id, agreement_type)
        if existing is not None:
            if existing.how == AcceptanceHow.DIRECT_ACCEPTANCE and existing.by.get("email", "").casefold() == email.casefold():
                _complete_invitation(storage, invitation, by, now)  # a double submit, or a retry after a failure
                return existing
            raise AlreadyAccepted(existing)
        who = contact or agreements.contact_from_sign_in(signed_in_user, customer.primary_contact.language or customer.language)
        if who.phone_number:
            who = who.model_copy(update={"phone_number": agreements.normalize_phone(who.phone_number, customer.country)})
        acceptance = agreements.direct_acceptance(customer, who, by, now, agreement_type)
        try:
            store.commit([Op("create", acceptance), Op("create", audit(customer_partition(customer_id), "agreement.acceptedDirectly",
                                                                        email, after=acceptance, customer_id=customer_id))])
        except ConcurrencyConflict:
            continue
        _complete_invitation(storage, invitation, by, now)
        return acceptance
    raise ConcurrencyConflict("the agreement acceptance kept changing; retry")


def _check_may_accept(store: CustomerStore, customer: Customer, email: str, invitation: Invitation | None, now: datetime) -> None:
    if not email:
        raise NotAllowedToAccept("The signed-in account has no email address; sign in with a work account.")
    if invitation is not None:
        asks = invitation.kind == InvitationKind.AGREEMENT_ACCEPTANCE or (
            invitation.kind == InvitationKind.RESELLER_RELATIONSHIP and invitation.ask_agreement_acceptance)
        if not asks or invitation.customer_id not in (None, customer.id) or not invitation.is_for(email):
            raise NotAllowedToAccept("This invitation does not ask you to accept the agreement for this company.")
        if invitation.kind == InvitationKind.AGREEMENT_ACCEPTANCE and invitation.effective_status(now) not in (
                InvitationStatus.PENDING, InvitationStatus.ACCEPTED):
            raise NotAllowedToAccept(f"The invitation is {invitation.effective_status(now)}; ask your partner to send a new one.")
        return
    if customer.primary_contact.email.casefold() == email.casefold():
        return
    from invite_user.invitations import normalize_email

    user = store.user(customer.id, normalize_email(email))
    if user is None or not set(user.roles) & agreements.ACCEPTING_COMPANY_ROLES:
        raise NotAllowedToAccept("Only the primary contact, an Account manager or an Account administrator of the company can accept the agreement.")


def _complete_invitation(storage: Storage, invitation: Invitation | None, by: dict[str, str], now: datetime) -> None:
    """Mark an AgreementAcceptance invitation Accepted (a relationship invitation is marked by its own step)."""
    if invitation is None or invitation.kind != InvitationKind.AGREEMENT_ACCEPTANCE:
        return
    store = InvitationStore(storage)
    inv: Invitation | None = invitation
    for _ in range(ATTEMPTS):
        if inv is None or inv.status == InvitationStatus.ACCEPTED:
            return
        before = {"status": inv.status, "expiresAt": inv.expires_at.isoformat()}
        was_pending_until = inv.expires_at if inv.status == InvitationStatus.PENDING else None
        try:
            inv.accept(now, by)
        except InvitationStateError:
            log.warning("agreement accepted, but invitation %s is %s and stays so", inv.reference, inv.status)
            return
        record = audit(partner_partition(inv.partner_id), "invitation.accepted", by.get("email", ""), before=before,
                       after={"status": inv.status, "reference": inv.reference, "customerId": inv.customer_id}, customer_id=inv.customer_id)
        try:
            store.save(inv, was_pending_until=was_pending_until, record=record)
            telemetry.count("invitations.redeemed", partner_id=inv.partner_id, kind=inv.kind.value, reference=inv.reference,  # telemetry
                            customer_id=inv.customer_id)  # telemetry
            return
        except ConcurrencyConflict:
            inv = store.get(invitation.partner_id, invitation_row_key(invitation))
    log.warning("invitation %s kept changing; left as it is", invitation.reference)


def direct_signing_status(storage: Storage, caller: Caller, customer_id: str) -> dict[str, Any]:
    store = CustomerStore(storage)
    _active(store, customer_id, caller.partner_id)
    acceptance = store.acceptance(customer_id)
    return {"isSigned": acceptance is not None and acceptance.how == AcceptanceHow.DIRECT_ACCEPTANCE}


def purchase_eligibility(storage: Storage, caller: Caller, customer_id: str, query: EligibilityQuery) -> dict[str, Any]:
    store = CustomerStore(storage)
    _active(store, customer_id, caller.partner_id)
    return evaluate(customer_id, store.acceptance(customer_id), query.purchase_type, invitations.partner_of(storage, caller))


# -- customers and relationships ------------------------------------------------------------------------


def list_customers(storage: Storage, caller: Caller, query: PageQuery) -> dict[str, Any]:
    try:
        page = CustomerStore(storage).customers_of_partner(caller.partner_id, page_size=query.page_size,
                                                           continuation_token=query.continuation_token)
    except ValueError as exc:
        raise validation_problem([{"field": "continuationToken", "message": str(exc), "code": "invalid"}]) from exc
    return {
        "items": [{"customerId": e.customer_id, "name": e.name, "role": e.role.value, "since": e.since.isoformat()} for e in page.items],
        "continuationToken": page.continuation_token,
    }


def get_customer(storage: Storage, caller: Caller, customer_id: str) -> dict[str, Any]:
    store = CustomerStore(storage)
    customer, rel = _active(store, customer_id, caller.partner_id)
    return {"customer": _dump(customer), "relationship": _dump(rel), "agreement": agreement_view(customer, store.acceptance(customer_id))}


def get_relationship(storage: Storage, caller: Caller, customer_id: str) -> dict[str, Any]:
    """The caller's relationship with the customer, removed ones included (DAP gone, GDAP kept is visible)."""
    rel = CustomerStore(storage).relationship(customer_id, caller.partner_id)
    if rel is None:
        raise Problem(404, "no-relationship", "Not found", f"Your partner account has no relationship with customer {customer_id}.")
    return _dump(rel)


def partners_of_customer(storage: Storage, customer_id: str) -> list[dict[str, Any]]:
    """The partners the customer works with (seed 004: what the customer sees after accepting a relationship)."""
    return [{"partnerId": r.partner_id, "partnerName": r.partner_name, "role": r.role.value, "since": r.created_at.isoformat()}
            for r in CustomerStore(storage).relationships_of(customer_id) if r.status == RelationshipStatus.ACTIVE]


def request_relationship(storage: Storage, caller: Caller, customer_id: str, body: RelationshipRequestIn) -> dict[str, Any]:
    """Seed 002: a ResellerRelationship invitation to an existing customer and the draft email with its personalised URL."""
    store = CustomerStore(storage)
    customer = store.customer(customer_id)
    if customer is None:
        raise Problem(404, "not-found", "Not found", f"No customer {customer_id}.")
    if relationships.is_active(store.relationship(customer_id, caller.partner_id)):
        raise conflict("relationship-exists", f"Your partner account has an active relationship with customer {customer_id} already.")
    if body.ask_agreement_acceptance:
        if store.acceptance(customer_id) is None:
            customer = _mark_asked_directly(store, customer, caller.display)
    new = _new_invitation(customer, InvitationKind.RESELLER_RELATIONSHIP, body, indirectProviderId=body.indirect_provider_id,
                          askAgreementAcceptance=body.ask_agreement_acceptance, sendEmail=body.send_email)
    created = invitations.create(storage, caller, new)
    draft = invitations.draft_email(storage, caller, created["id"], body.language)
    return {"invitation": created, "draftEmail": draft}


def remove_relationship(storage: Storage, caller: Caller, customer_id: str, body: RemoveRelationshipIn) -> dict[str, Any]:
    """Seed 002: off the partner's list, DAP removed, GDAP kept, nobody notified, audited."""
    if body.good_faith_declaration is not True:
        exc = relationships.GoodFaithDeclarationMissing(
            "Removing a reseller relationship needs goodFaithDeclaration: true, declaring that the removal is made in good faith.")
        raise Problem(400, exc.code, "Good faith declaration required", str(exc),
                      errors=[{"field": "goodFaithDeclaration", "message": "must be true", "code": exc.code}])
    store = CustomerStore(storage)
    for _ in range(ATTEMPTS):
        rel = store.relationship(customer_id, caller.partner_id)
        customer = store.customer(customer_id)
        if rel is None or customer is None:
            raise no_relationship(customer_id)
        if rel.status != RelationshipStatus.ACTIVE:
            _index(store, rel, customer.name)  # an earlier removal may have stopped before the list was updated
            raise no_relationship(customer_id)
        before = _dump(rel)
        relationships.remove_relationship(rel, True, caller.display, utc_now())
        try:
            store.commit([Op("update", rel), Op("create", audit(customer_partition(customer_id), "relationship.removed", caller.display,
                                                                 before=before, after=rel, customer_id=customer_id))])
        except ConcurrencyConflict:
            continue
        _index(store, rel, customer.name)
        return _dump(rel)
    raise Problem(503, "busy", "Customer busy", "The customer is changing right now; retry.", headers={"Retry-After": "1"})


# -- audit ---------------------------------------------------------------------------------------------


def audit_trail(storage: Storage, caller: Caller, customer_id: str, query: PageQuery) -> dict[str, Any]:
    """The customer's audit records merged with the caller's invitation records about it, newest first.

    Both are keyed `a|<newest-first ticks>|<id>`, so the merge is by row key and the continuation token is
    the last key shown. Other partners' relationship records are left out: they are those partners' business.
    """
    store = CustomerStore(storage)
    if store.relationship(customer_id, caller.partner_id) is None:
        raise no_relationship(customer_id)
    try:
        cursor = (decode_token(query.continuation_token) or {}).get("after", "a|")
    except ValueError as exc:
        raise validation_problem([{"field": "continuationToken", "message": str(exc), "code": "invalid"}]) from exc
    size = query.page_size
    out: list[dict[str, Any]] = []
    exhausted = False
    while len(out) < size and not exhausted:
        mine = store.audit.query_page("PartitionKey eq @pk and RowKey gt @after and RowKey lt 'a}'",
                                      {"pk": customer_partition(customer_id), "after": cursor}, page_size=size)
        theirs = InvitationStore(storage).audit.query_page(
            "PartitionKey eq @pk and RowKey gt @after and RowKey lt 'a}' and customer_id eq @customer",
            {"pk": partner_partition(caller.partner_id), "after": cursor, "customer": customer_id}, page_size=size)
        more = any(p.continuation_token or len(p.items) >= size for p in (mine, theirs))
        # Each source gave its first `size` rows after the cursor, so the first `size` of the union are in order.
        merged = sorted([(r, "customer") for r in mine.items] + [(r, "invitations") for r in theirs.items], key=lambda p: p[0].row_key)
        taken = merged[:size]
        more = more or len(merged) > len(taken)
        for i, (record, source) in enumerate(taken):
            cursor = record.row_key
            if _visible(record, caller.partner_id):
                out.append(_entry(record, source))
            if len(out) == size:
                more = more or i < len(taken) - 1
                break
        exhausted = not more
    token = None if exhausted else encode_token({"after": cursor})
    return {"items": out, "continuationToken": token}


def _visible(record: AuditRecord, partner_id: str) -> bool:
    if not record.action.startswith("relationship."):
        return True
    subject = record.after or record.before or {}
    return subject.get("partnerId") in (None, partner_id)


def _entry(record: AuditRecord, source: str) -> dict[str, Any]:
    out = {"id": record.id, "at": record.at.isoformat(), "action": record.action, "actor": record.actor, "source": source,
           "customerId": record.customer_id, "before": record.before, "after": record.after}
    return {k: v for k, v in out.items() if v is not None}
