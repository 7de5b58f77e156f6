"""What each customer page shows: plain functions from (storage, visitor, inputs) to a `Reply`.

They read invitations and companies, call the accept rules (`companies`, `colleagues`, `signin`) and pick
the template, status and context. GET and HEAD views never change an invitation or a company: the only
writes they may cause are a waiting sign-in flow (`sign_in`) and cookies.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError

from accept_invite import colleagues, companies, company_form, pages, roles, sessions, signin
from accept_invite.companies import Person
from accept_invite.sessions import Session
from invite_user.api_models import ResendRequest
from invite_user.invitations import BusinessCenterRole, Invitation, InvitationKind, InvitationStatus, link_hash, normalize_email, parse_invitation_id
from invite_user.repository import InvitationStore
from shared import i18n
from shared.clock import utc_now
from shared.customers import CustomerStore, RelationshipStatus
from shared.storage import Storage

# Where an AgreementAcceptance invitation continues after sign-in (the customer agreement feature owns that page).
AGREEMENT_STEP = "/api/agreements/accept"


@dataclass
class Visitor:
    """What the request tells about the browser: its session and its language preferences."""

    session: Session | None = None
    lang_query: str | None = None
    lang_cookie: str | None = None
    accept: list[str] = field(default_factory=list)

    def language(self, preferred: str | None = None) -> str:
        """The switcher's choice, then the invitation's (or user's) language, then Accept-Language, then English."""
        return i18n.negotiate([self.lang_query, self.lang_cookie, preferred, *self.accept])

    @property
    def person(self) -> Person | None:
        s = self.session
        return Person(email=s.email, name=s.name or "", subject=s.subject or "") if s and s.email else None


@dataclass
class Reply:
    status: int = 200
    template: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    language: str = i18n.DEFAULT_LANGUAGE
    location: str | None = None
    cookies: list[str] = field(default_factory=list)
    data: Any = None
    path: str = "/api/InviteUser"
    params: dict[str, str] = field(default_factory=dict)
    session: Session | None = None  # the session the page's forms use (a fresh anonymous one if needed)


def redirect(location: str, *, status: int = 303, cookies: list[str] | None = None) -> Reply:
    return Reply(status=status, location=location, cookies=cookies or [])


def error(kind: str, visitor: Visitor, *, status: int, retry_url: str | None = None, language: str | None = None) -> Reply:
    return Reply(status=status, template="error.html", context={"kind": kind, "retry_url": retry_url},
                 language=language or visitor.language(), session=visitor.session)


def resolve(handle: str | None) -> str | None:
    """The link hash behind a handle: the link id from the email, or (after sign-in) the invitation's reference."""
    raw = parse_invitation_id(handle)
    if raw:
        return link_hash(raw)
    h = (handle or "").strip().lower()
    return h if re.fullmatch(r"[0-9a-f]{64}", h) else None


def signin_url(handle: str, mode: str = "signin") -> str:
    return "/api/auth/signin?" + urlencode({"invitationId": handle, "mode": mode})


def _contact(inv: Invitation) -> str | None:
    email = (inv.created_by or {}).get("email") or ""
    return email if "@" in email and not any(c in email for c in "<>\"' ") else None


def _status_page(inv: Invitation, status: InvitationStatus, visitor: Visitor, handle: str, *, path: str, params: dict[str, str]) -> Reply:
    """The page for an invitation that cannot be accepted now (expired, revoked, used)."""
    language = visitor.language(inv.language)
    common = {"inv": inv, "contact_email": _contact(inv)}
    if status == InvitationStatus.EXPIRED:
        session = visitor.session or Session()
        return Reply(410, "expired.html", {**common, "anonymous_csrf": session.csrf}, language, path=path, params=params,
                     session=session, cookies=[] if visitor.session else [sessions.set_cookie(session)])
    if status == InvitationStatus.REVOKED:
        return Reply(410, "revoked.html", common, language, path=path, params=params, session=visitor.session)
    return Reply(200, "accepted.html", {**common, "signin_url": signin_url(handle)}, language, path=path, params=params,
                 session=visitor.session)


# -- the link ----------------------------------------------------------------------------------


def landing(storage: Storage, visitor: Visitor, raw: str | None, now: Any = None) -> Reply:
    """GET /api/InviteUser?invitationId=: a page for every state of the invitation, never a change."""
    now = now or utc_now()
    invitation_id = parse_invitation_id(raw)
    inv = InvitationStore(storage).find_by_link(link_hash(invitation_id)) if invitation_id else None
    if inv is None:
        return Reply(404, "not_found.html", language=visitor.language(), params={"invitationId": raw or ""}, session=visitor.session)
    params = {"invitationId": invitation_id or ""}
    status = inv.effective_status(now)
    if status != InvitationStatus.PENDING:
        return _status_page(inv, status, visitor, invitation_id or "", path="/api/InviteUser", params=params)
    return Reply(200, "landing.html", {
        "inv": inv, "signin_url": signin_url(invitation_id or ""), "create_url": signin_url(invitation_id or "", "create"),
    }, visitor.language(inv.language), params=params, session=visitor.session)


# -- sign-in -------------------------------------------------------------------------------------


def sign_in(storage: Storage, visitor: Visitor, handle: str | None, mode: str | None, *, head: bool = False) -> Reply:
    """GET /api/auth/signin: off to the identity provider, with a flow waiting for the answer."""
    h = resolve(handle)
    inv = InvitationStore(storage).find_by_link(h) if h else None
    if inv is None or h is None:
        return Reply(404, "not_found.html", language=visitor.language(), session=visitor.session)
    if head:
        return Reply(200)  # a HEAD (link scanner) starts no sign-in
    language = visitor.language(inv.language)
    try:
        url = signin.start(storage, link_hash=h, login_hint=str(inv.email), mode=mode or "signin", language=language)
    except signin.SignInUnavailable:
        return error("unavailable", visitor, status=503, language=language, retry_url=signin_url(handle or "", mode or "signin"))
    return redirect(url, status=302)


def callback(storage: Storage, visitor: Visitor, params: Mapping[str, str]) -> Reply:
    """GET /api/auth/callback: the provider's answer. The right account gets a session and the next step."""
    try:
        who = signin.finish(storage, dict(params))
    except signin.SignInError as exc:
        retry = signin_url(exc.link_hash) if exc.link_hash else None
        return Reply(400 if exc.reason != "cancelled" else 200, "signin_error.html", {"reason": exc.reason, "retry_url": retry},
                     visitor.language(exc.language), session=visitor.session)
    except signin.SignInUnavailable:
        return error("unavailable", visitor, status=503)
    inv = InvitationStore(storage).find_by_link(who.link_hash)
    if inv is None:
        return Reply(404, "not_found.html", language=visitor.language(who.language), session=visitor.session)
    language = visitor.language(inv.language)
    if not inv.is_for(who.email):
        # No session for the wrong account, and the invitation stays as it is.
        return Reply(403, "wrong_account.html", {"inv": inv, "signed_in_as": who.email,
                                                  "another_url": signin_url(who.link_hash, "another")}, language, session=visitor.session)
    session = Session(email=who.email, name=who.name, subject=who.subject)
    return redirect(next_step(inv, who.link_hash), cookies=[sessions.set_cookie(session)])


def next_step(inv: Invitation, handle: str, now: Any = None) -> str:
    status = inv.effective_status(now or utc_now())
    query = urlencode({"invitationId": handle})
    if status == InvitationStatus.ACCEPTED and inv.customer_id:
        return f"/api/companies/{inv.customer_id}/welcome"
    if status != InvitationStatus.PENDING:
        return f"/api/companies/new?{query}"  # shows the page of that state
    if inv.kind == InvitationKind.AGREEMENT_ACCEPTANCE:
        return f"{AGREEMENT_STEP}?{query}"
    if companies.needs_company_form(inv):
        return f"/api/companies/new?{query}"
    return f"/api/companies/accept?{query}"


def sign_out(visitor: Visitor, csrf: str | None) -> Reply:
    if visitor.session and not visitor.session.check_csrf(csrf):
        return error("session", visitor, status=403)
    return Reply(200, "signed_out.html", language=visitor.language(), cookies=[sessions.clear_cookie()])


# -- the signed-in person and their invitation ------------------------------------------------------


def _invitation_for(storage: Storage, visitor: Visitor, handle: str | None) -> tuple[Invitation | None, Reply | None, str]:
    """The invitation of a signed-in, matching person, or the reply that explains why not."""
    h = resolve(handle)
    if h is None:
        return None, Reply(404, "not_found.html", language=visitor.language(), session=visitor.session), ""
    person = visitor.person
    if person is None:
        return None, redirect(signin_url(h)), h
    try:
        inv = companies.load(storage, h, person)
    except companies.InvitationNotFound:
        return None, Reply(404, "not_found.html", language=visitor.language(), session=visitor.session), h
    except companies.WrongAccount as exc:
        return None, Reply(403, "wrong_account.html", {"inv": exc.invitation, "signed_in_as": person.email,
                                                        "another_url": signin_url(h, "another")},
                           visitor.language(exc.invitation.language), session=visitor.session), h
    return inv, None, h


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


def _pending_for(storage: Storage, visitor: Visitor, handle: str | None, path: str, now: Any) -> tuple[Any, str | None, Reply | None]:
    """The signed-in invitee's invitation while it is pending; otherwise the page (or redirect) of its state."""
    inv, reply, h = _invitation_for(storage, visitor, handle)
    if reply is not None:
        return None, h, reply
    assert inv is not None
    status = inv.effective_status(now or utc_now())
    if status == InvitationStatus.ACCEPTED and inv.customer_id:
        return None, h, redirect(f"/api/companies/{inv.customer_id}/welcome")
    if status != InvitationStatus.PENDING:
        return None, h, _status_page(inv, status, visitor, h, path=path, params={"invitationId": h})
    return inv, h, None


def company_form_page(storage: Storage, visitor: Visitor, handle: str | None, now: Any = None) -> Reply:
    """GET /api/companies/new: what the seller registered, editable, with the reasons for what must change."""
    inv, h, reply = _pending_for(storage, visitor, handle, "/api/companies/new", now)
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


def _csrf_ok(visitor: Visitor, token: str | None) -> bool:
    return visitor.session is not None and visitor.session.signed_in and visitor.session.check_csrf(token)


def _invitation_for_post(storage: Storage, visitor: Visitor, data: Mapping[str, str]) -> tuple[Any, Any, Reply | None]:
    """A form POST's invitation: only with the session's CSRF token, then as for any page of the invitee."""
    if not _csrf_ok(visitor, data.get("csrf")):
        h = resolve(data.get("invitationId"))
        return None, h, error("session", visitor, status=403, retry_url=signin_url(h) if h else None)
    inv, reply, h = _invitation_for(storage, visitor, data.get("invitationId"))
    return inv, h, reply


def create_company(storage: Storage, visitor: Visitor, data: Mapping[str, str]) -> Reply:
    """POST /api/companies: validate, then create once; every repeat lands on the same company."""
    inv, h, reply = _invitation_for_post(storage, visitor, data)
    if reply is not None:
        return reply
    assert inv is not None and visitor.person is not None
    form, reasons = company_form.check(data)
    if form is None:
        if inv.effective_status(utc_now()) == InvitationStatus.PENDING:
            values = {name: str(data.get(name) or "") for name in company_form.FIELD_NAMES}
            return _form_reply(inv, visitor, h, values, reasons, submitted=True, status=422)
        return _accept_error(companies.NotPending(inv, inv.effective_status(utc_now())), visitor, h)
    try:
        customer_id = companies.create_company(storage, h, visitor.person, form)
    except companies.AcceptError as exc:
        return _accept_error(exc, visitor, h)
    return redirect(f"/api/companies/{customer_id}/welcome")


def _accept_error(exc: companies.AcceptError, visitor: Visitor, h: str) -> Reply:
    if isinstance(exc, companies.NotPending):
        inv = exc.invitation
        if exc.status == InvitationStatus.ACCEPTED and inv.customer_id:
            return redirect(f"/api/companies/{inv.customer_id}/welcome")
        return _status_page(inv, exc.status, visitor, h, path="/api/companies/new", params={"invitationId": h})
    if isinstance(exc, companies.WrongAccount):
        return Reply(403, "wrong_account.html", {"inv": exc.invitation, "signed_in_as": exc.signed_in_as,
                                                  "another_url": signin_url(h, "another")},
                     visitor.language(exc.invitation.language), session=visitor.session)
    if isinstance(exc, companies.InvitationNotFound):
        return Reply(404, "not_found.html", language=visitor.language(), session=visitor.session)
    if isinstance(exc, companies.CompanyGone):
        return error("company_gone", visitor, status=404)
    if isinstance(exc, companies.OtherStep):
        return redirect(f"{AGREEMENT_STEP}?{urlencode({'invitationId': h})}")
    return error("unavailable", visitor, status=503, retry_url=f"/api/companies/new?{urlencode({'invitationId': h})}")


def confirm_page(storage: Storage, visitor: Visitor, handle: str | None, now: Any = None) -> Reply:
    """GET /api/companies/accept: "Accept the relationship with …" / "Join …" for an existing company."""
    inv, h, reply = _pending_for(storage, visitor, handle, "/api/companies/accept", now)
    if reply is not None:
        return reply
    if companies.needs_company_form(inv) or inv.kind == InvitationKind.AGREEMENT_ACCEPTANCE:
        return redirect(next_step(inv, h))
    company = CustomerStore(storage).customer(str(inv.customer_id))
    if company is None:
        return error("company_gone", visitor, status=404, language=visitor.language(inv.language))
    roles_shown = [r.value for r in inv.roles] or [BusinessCenterRole.ACCOUNT_VIEWER.value]
    return Reply(200, "confirm.html", {"inv": inv, "company": company, "handle": h, "roles": roles_shown},
                 visitor.language(inv.language), path="/api/companies/accept", params={"invitationId": h}, session=visitor.session)


def accept(storage: Storage, visitor: Visitor, data: Mapping[str, str]) -> Reply:
    """POST /api/companies/accept: join the company / accept the relationship, once."""
    inv, h, reply = _invitation_for_post(storage, visitor, data)
    if reply is not None:
        return reply
    assert visitor.person is not None
    try:
        customer_id = companies.accept_existing(storage, h, visitor.person)
    except companies.AcceptError as exc:
        return _accept_error(exc, visitor, h)
    if inv.kind == InvitationKind.RESELLER_RELATIONSHIP and inv.ask_agreement_acceptance:
        # "New relationship" carrying the agreement (seed 004): one step accepts both; the page said so.
        from attest_agreement.service import AlreadyAccepted, accept_directly

        try:
            accept_directly(storage, customer_id, visitor.person.actor(), invitation=inv)
        except AlreadyAccepted:
            pass
    return redirect(f"/api/companies/{customer_id}/welcome")


# -- the company's pages ----------------------------------------------------------------------------


def _member(storage: Storage, visitor: Visitor, customer_id: str) -> tuple[Any, Any, Reply | None]:
    person = visitor.person
    if person is None:
        return None, None, error("session", visitor, status=401)
    customers = CustomerStore(storage)
    company = customers.customer(customer_id) if re.fullmatch(r"[A-Za-z0-9._-]{1,100}", customer_id or "") else None
    user = customers.user(customer_id, normalize_email(person.email)) if company else None
    if company is None or user is None:
        return None, None, error("forbidden", visitor, status=403)
    return company, user, None


def company_page(storage: Storage, visitor: Visitor, customer_id: str, page: str) -> Reply:
    """GET /api/companies/{id}/welcome|profile|users|agreements, for the company's own users."""
    company, user, reply = _member(storage, visitor, customer_id)
    if reply is not None:
        return reply
    language = visitor.language(user.language)
    base = f"/api/companies/{customer_id}"
    context: dict[str, Any] = {"company": company, "user": user, "base": base}
    customers = CustomerStore(storage)
    if page == "welcome":
        context["partners"] = [r for r in customers.relationships_of(customer_id) if r.status == RelationshipStatus.ACTIVE]
    elif page == "profile":
        context["rows"] = _profile_rows(company, language)
    elif page == "users":
        context["users"] = customers.users_of(customer_id)
        context["may_invite"] = roles.may_invite(user.roles)
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


# -- inviting colleagues -------------------------------------------------------------------------------

_COLLEAGUE_FIELDS = (
    ("email", 320, "email"),
    ("firstName", 100, "text"),
    ("lastName", 100, "text"),
    ("language", 35, "select"),
    ("countryRegion", 2, "select"),
)
_COLLEAGUE_REASONS = {
    "email": "email", "firstName": "required", "lastName": "required", "language": "language", "countryRegion": "country", "roles": "roles",
}


def _colleague_form(company: Any, user: Any, visitor: Visitor, values: Mapping[str, Any], errors: Mapping[str, str], status: int = 200) -> Reply:
    language = visitor.language(user.language)
    base = f"/api/companies/{company.id}"
    language_options = [(code, pages.language_name(code)) for code in i18n.SUPPORTED_LANGUAGES]
    fields = [{
        "name": name, "label": pages.field_label(name, language), "value": str(values.get(name) or ""), "required": True,
        "max_length": max_length, "autocomplete": "off", "type": kind, "reason": errors.get(name, ""),
        "options": language_options if name == "language" else pages.country_options(language) if name == "countryRegion" else [],
    } for name, max_length, kind in _COLLEAGUE_FIELDS]
    return Reply(status, "invite_colleague.html", {
        "company": company, "base": base, "fields": fields, "errors": errors, "all_roles": list(roles.COLUMNS),
        "grantable": roles.grantable(user.roles), "chosen_roles": list(values.get("roles") or []), "submission_id": uuid.uuid4().hex,
    }, language, path=f"{base}/invitations/new", session=visitor.session)


def colleague_form_page(storage: Storage, visitor: Visitor, customer_id: str) -> Reply:
    company, user, reply = _member(storage, visitor, customer_id)
    if reply is not None:
        return reply
    if not roles.may_invite(user.roles):
        return error("forbidden", visitor, status=403, language=visitor.language(user.language))
    defaults = {"language": user.language, "countryRegion": user.country_region or company.country}
    return _colleague_form(company, user, visitor, defaults, {})


def invite_colleague(storage: Storage, visitor: Visitor, customer_id: str, data: Mapping[str, Any]) -> Reply:
    """POST /api/companies/{id}/invitations from the page (session + CSRF)."""
    if not _csrf_ok(visitor, data.get("csrf")):
        return error("session", visitor, status=403)
    company, user, reply = _member(storage, visitor, customer_id)
    if reply is not None:
        return reply
    person = visitor.person
    assert person is not None
    language = visitor.language(user.language)
    try:
        body = colleagues.ColleagueInvitation.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors(include_url=False):
            name = str(err["loc"][0]) if err.get("loc") else "email"
            name = {"first_name": "firstName", "last_name": "lastName", "country_region": "countryRegion"}.get(name, name)
            errors.setdefault(name, pages.reason_text(company_form.Reason(_COLLEAGUE_REASONS.get(name, "required"), {}), language))
        return _colleague_form(company, user, visitor, data, errors, status=422)
    try:
        _, inviter = colleagues.company_user_inviter(storage, customer_id, person.email, person.name, person.subject)
        result = colleagues.invite(storage, company, inviter, body)
    except colleagues.ColleagueError as exc:
        if exc.code == "role-not-grantable":
            names = ", ".join(pages.role_label(r, language) for r in exc.roles)
            return _colleague_form(company, user, visitor, data,
                                   {"roles": pages.reason_text(company_form.Reason("role_not_grantable", {"roles": names}), language)},
                                   status=403)
        if exc.code == "already-a-user":
            return _colleague_form(company, user, visitor, data, {
                "email": pages.reason_text(company_form.Reason("already_a_user", {"email": str(body.email)}), language)}, status=409)
        return error("forbidden" if exc.status == 403 else "company_gone" if exc.status == 404 else "internal", visitor,
                     status=exc.status, language=language)
    return Reply(201, "invited.html", {"company": company, "base": f"/api/companies/{customer_id}", "email": str(body.email),
                                       "expires_at": datetime.fromisoformat(result["expiresAt"])}, language,
                 path=f"/api/companies/{customer_id}/users", session=visitor.session)


def colleague_sent(storage: Storage, visitor: Visitor, customer_id: str, result: Mapping[str, Any]) -> Reply:
    """The page after an invitation was sent (also for a repeated submission of the same form)."""
    company, user, reply = _member(storage, visitor, customer_id)
    if reply is not None:
        return reply
    return Reply(201, "invited.html", {"company": company, "base": f"/api/companies/{customer_id}", "email": result["email"],
                                       "expires_at": datetime.fromisoformat(result["expiresAt"])}, visitor.language(user.language),
                 path=f"/api/companies/{customer_id}/users", session=visitor.session)


# -- the resend request (expired page) --------------------------------------------------------------


def resend_request(visitor: Visitor, data: Mapping[str, str], ask: Any) -> Reply:
    """POST /api/InviteUser/resend-request: the same answer whether anything matched or not."""
    language = visitor.language()
    if visitor.session is None or not visitor.session.check_csrf(data.get("csrf")):
        return error("session", visitor, status=403, language=language)
    try:
        body = ResendRequest.model_validate({k: data.get(k) for k in ("email", "agreementNumber", "purchasingAccountNumber")})
    except ValidationError:
        return Reply(422, "resend_received.html", {"invalid": True}, language, session=visitor.session)
    ask(body)
    return Reply(200, "resend_received.html", {"invalid": False}, language, session=visitor.session)
