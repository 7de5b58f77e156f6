"""The views of creating or joining a company with an invitation, and of the company's own pages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from accept_invite import companies, company_form, pages, user_views
from accept_invite.user_views import company_member
from accept_invite.views import (
    AGREEMENT_STEP,
    Reply,
    Visitor,
    csrf_ok,
    error,
    next_step,
    not_found,
    redirect,
    resolve,
    signin_url,
    status_page,
    wrong_account,
)
from attest_agreement.agreements import AlreadyAccepted
from attest_agreement.repository import CustomerStore
from attest_agreement.service import CustomerAdmin, accept_directly, may_consent, may_manage_partners
from invite_user.invitations import BusinessCenterRole, Invitation, InvitationKind, InvitationStatus
from shared.context import Context


def _invitation_for(ctx: Context, visitor: Visitor, handle: str | None) -> tuple[Invitation | None, Reply | None, str]:
    """The invitation of a signed-in, matching person, or the reply that explains why not."""
    read, reply, h = _read_for(ctx, visitor, handle)
    return (read[1] if read is not None else None), reply, h


def _read_for(ctx: Context, visitor: Visitor, handle: str | None) -> tuple[companies.Loaded | None, Reply | None, str]:
    """`_invitation_for`, with the unit of work that read it (a POST goes on with it: one read of the invitation)."""
    h = resolve(handle)
    if h is None:
        return None, not_found(visitor), ""
    person = visitor.person
    if person is None:
        return None, redirect(signin_url(h)), h
    try:
        read = companies.load_for(ctx, h, person)
    except companies.InvitationNotFound:
        return None, not_found(visitor), h
    except companies.WrongAccount as exc:
        return None, wrong_account(exc.invitation, person.email, h, visitor), h
    return read, None, h


def _form_fields(values: Mapping[str, str], reasons: Mapping[str, company_form.Reason], language: str) -> list[dict[str, Any]]:
    options = pages.country_options(language)
    return [{
        "name": f.name, "label": pages.field_label(f.name, language), "value": values.get(f.name, ""), "required": f.required,
        "max_length": f.max_length, "autocomplete": f.autocomplete, "type": f.input_type,
        "options": options if f.input_type == "select" else [],
        "reason": pages.reason_text(reasons[f.name], language) if f.name in reasons else "",
    } for f in company_form.FIELDS]


def _form_reply(inv: Invitation, visitor: Visitor, handle: str, values: Mapping[str, str], reasons: Mapping[str, company_form.Reason],
                *, submitted: bool, status: int = 200) -> Reply:
    language = visitor.language(inv.language)
    return Reply(status, "company_form.html", {
        "inv": inv, "handle": handle, "fields": _form_fields(values, reasons, language), "valid": not reasons, "submitted": submitted,
    }, language, path="/api/companies/new", params={"invitationId": handle}, session=visitor.session)


def _pending_for(ctx: Context, visitor: Visitor, handle: str | None, path: str, now: Any) -> tuple[Any, str, Reply | None]:
    """The signed-in invitee's invitation while it is pending; otherwise the page (or redirect) of its state."""
    inv, reply, h = _invitation_for(ctx, visitor, handle)
    if reply is not None:
        return None, h or "", reply
    assert inv is not None and h is not None  # an invitation was found, so by its handle
    status = inv.effective_status(now or ctx.now())
    if status == InvitationStatus.ACCEPTED and inv.customer_id:
        return None, h, redirect(f"/api/companies/{inv.customer_id}/welcome")
    if status != InvitationStatus.PENDING:
        return None, h, status_page(inv, status, visitor, h, path=path, params={"invitationId": h})
    return inv, h, None


def company_form_page(ctx: Context, visitor: Visitor, handle: str | None, now: Any = None) -> Reply:
    """GET /api/companies/new: what the seller registered, editable, with the reasons for what must change."""
    inv, h, reply = _pending_for(ctx, visitor, handle, "/api/companies/new", now)
    if reply is not None:
        return reply
    if not companies.needs_company_form(inv):
        return redirect(next_step(inv, h))
    values = company_form.prefill(inv.company, inv.country_region)
    _, reasons = company_form.check(values)
    return _form_reply(inv, visitor, h, values, reasons, submitted=False)


def validate_company(visitor: Visitor, data: Mapping[str, str]) -> Reply:
    """POST /api/companies/validate: the same rules as the real POST, answered per field in the page's language."""
    language = visitor.language()
    _, reasons = company_form.check(data)
    return Reply(200, data={"valid": not reasons, "errors": {k: pages.reason_text(r, language) for k, r in reasons.items()}})


def _invitation_for_post(ctx: Context, visitor: Visitor, data: Mapping[str, str]) -> tuple[Any, Any, Reply | None]:
    """A form POST's invitation: only with the session's CSRF token, then as for any page of the invitee."""
    read, h, reply = _read_for_post(ctx, visitor, data)
    return (read[1] if read is not None else None), h, reply


def _read_for_post(ctx: Context, visitor: Visitor, data: Mapping[str, str]) -> tuple[companies.Loaded | None, Any, Reply | None]:
    if not csrf_ok(visitor, data.get("csrf")):
        h = resolve(data.get("invitationId"))
        return None, h, error("session", visitor, status=403, retry_url=signin_url(h) if h else None)
    read, reply, h = _read_for(ctx, visitor, data.get("invitationId"))
    return read, h, reply


def create_company(ctx: Context, visitor: Visitor, data: Mapping[str, str]) -> Reply:
    """POST /api/companies: validate, then create once; every repeat lands on the same company."""
    read, h, reply = _read_for_post(ctx, visitor, data)
    if reply is not None:
        return reply
    assert read is not None and visitor.person is not None
    inv = read[1]
    form, reasons = company_form.check(data)
    if form is None:
        if inv.effective_status(ctx.now()) == InvitationStatus.PENDING:
            values = {name: str(data.get(name) or "") for name in company_form.FIELD_NAMES}
            return _form_reply(inv, visitor, h, values, reasons, submitted=True, status=422)
        return _accept_error(companies.NotPending(inv, inv.effective_status(ctx.now())), visitor, h)
    try:
        customer_id = companies.create_company(ctx, h, visitor.person, form, read=read)
    except companies.AcceptError as exc:
        return _accept_error(exc, visitor, h)
    return redirect(f"/api/companies/{customer_id}/welcome")


def _accept_error(exc: companies.AcceptError, visitor: Visitor, h: str) -> Reply:
    if isinstance(exc, companies.NotPending):
        inv = exc.invitation
        if exc.status == InvitationStatus.ACCEPTED and inv.customer_id:
            return redirect(f"/api/companies/{inv.customer_id}/welcome")
        return status_page(inv, exc.status, visitor, h, path="/api/companies/new", params={"invitationId": h})
    if isinstance(exc, companies.WrongAccount):
        return wrong_account(exc.invitation, exc.signed_in_as, h, visitor)
    if isinstance(exc, companies.NotAllowed):
        # Whom to ask, in the invitee's language: the invitation is still open (nothing was accepted or written).
        return Reply(403, "not_allowed.html", {"inv": exc.invitation}, visitor.language(exc.invitation.language), session=visitor.session)
    if isinstance(exc, companies.InvitationNotFound):
        return not_found(visitor)
    if isinstance(exc, companies.CompanyGone):
        return error("company_gone", visitor, status=404)
    if isinstance(exc, companies.OtherStep):
        return redirect(f"{AGREEMENT_STEP}?{urlencode({'invitationId': h})}")
    return error("unavailable", visitor, status=503, retry_url=f"/api/companies/new?{urlencode({'invitationId': h})}")


def confirm_page(ctx: Context, visitor: Visitor, handle: str | None, now: Any = None) -> Reply:
    """GET /api/companies/accept: "Accept the relationship with …" / "Join …" for an existing company."""
    inv, h, reply = _pending_for(ctx, visitor, handle, "/api/companies/accept", now)
    if reply is not None:
        return reply
    if companies.needs_company_form(inv) or inv.kind == InvitationKind.AGREEMENT_ACCEPTANCE:
        return redirect(next_step(inv, h))
    person = visitor.person
    assert person is not None
    if inv.kind == InvitationKind.RESELLER_RELATIONSHIP and not may_consent(ctx, str(inv.customer_id), person.email, person.subject):
        # Only the customer's administrator may see what it would consent to: the partner chose the address, not the customer.
        return Reply(403, "not_allowed.html", {"inv": inv}, visitor.language(inv.language), session=visitor.session)
    company = ctx.store(CustomerStore).customer(str(inv.customer_id))
    if company is None:
        return error("company_gone", visitor, status=404, language=visitor.language(inv.language))
    roles_shown = [r.value for r in inv.roles] or [BusinessCenterRole.ACCOUNT_VIEWER.value]
    return Reply(200, "confirm.html", {"inv": inv, "company": company, "handle": h, "roles": roles_shown},
                 visitor.language(inv.language), path="/api/companies/accept", params={"invitationId": h}, session=visitor.session)


def accept(ctx: Context, visitor: Visitor, data: Mapping[str, str]) -> Reply:
    """POST /api/companies/accept: join the company / accept the relationship, once."""
    inv, h, reply = _invitation_for_post(ctx, visitor, data)
    if reply is not None:
        return reply
    assert visitor.person is not None
    try:
        customer_id = companies.accept_existing(ctx, h, visitor.person)
    except companies.AcceptError as exc:
        return _accept_error(exc, visitor, h)
    if inv.kind == InvitationKind.RESELLER_RELATIONSHIP and inv.ask_agreement_acceptance:
        # A new relationship that carries the customer agreement: the confirmation page said one step accepts both.
        try:
            accept_directly(ctx, customer_id, visitor.person.actor(), invitation=inv)
        except AlreadyAccepted:
            pass
    return redirect(f"/api/companies/{customer_id}/welcome")


# -- the company's pages ----------------------------------------------------------------------------


def company_page(ctx: Context, visitor: Visitor, customer_id: str, page: str) -> Reply:
    """GET /api/companies/{id}/welcome|profile|users|agreements, for the company's own users."""
    company, user, reply = company_member(ctx, visitor, customer_id)
    if reply is not None:
        return reply
    assert company is not None and user is not None
    language = visitor.language(user.language)
    base = f"/api/companies/{customer_id}"
    context: dict[str, Any] = {"company": company, "user": user, "base": base}
    customers = ctx.store(CustomerStore)
    if page == "welcome":
        context["partners"] = [r for r in customers.relationships_of(customer_id) if r.serving]
        person = visitor.person
        assert person is not None
        # The signed-in user was read already (company_member): they are the only user the rule needs to look at.
        context["may_manage_partners"] = may_manage_partners(company, [user], CustomerAdmin(person.email, person.subject, person.name))
    elif page == "profile":
        context["rows"] = _profile_rows(company, language)
    elif page == "users":
        return user_views.users_page(ctx, visitor, company, user)
    elif page == "agreements":
        context["acceptance"] = customers.acceptance(customer_id)
    else:
        return error("not_found", visitor, status=404, language=language)
    return Reply(200, f"{page}.html", context, language, path=f"{base}/{page}", session=visitor.session)


def _profile_rows(company: Any, language: str) -> list[tuple[str, str]]:
    address = company.address or {}
    values = {
        "name": company.name, "country": pages.country_name(company.country, language), "line1": address.get("line1"),
        "line2": address.get("line2"), "postalCode": address.get("postalCode"), "city": address.get("city"),
        "region": address.get("region"), "vatNumber": company.vat_number, "registrationNumber": company.registration_number,
        "phone": company.phone, "website": company.website, "domain": company.domain,
    }
    rows = [(pages.field_label(f.name, language), str(values[f.name])) for f in company_form.FIELDS if values.get(f.name)]
    contact = company.primary_contact
    contact_name = pages.full_name(contact.first_name, contact.last_name, language)
    rows.append((pages.field_label("primaryContact", language), f"{contact_name} <{contact.email}>"))
    return rows
