"""The views of inviting colleagues from the company's pages: the form, its answer, and the page after sending."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from accept_invite import colleagues, company_form, pages, roles
from accept_invite.company_views import company_member
from accept_invite.views import Reply, Visitor, csrf_ok, error
from attest_agreement.customers import CompanyUser, Customer
from shared import i18n
from shared.context import Context
from shared.errors import DomainError
from shared.http import problem_of

_FIELDS = (
    ("email", 320, "email"),
    ("firstName", 100, "text"),
    ("lastName", 100, "text"),
    ("language", 35, "select"),
    ("countryRegion", 2, "select"),
)
_REASONS = {
    "email": "email", "firstName": "required", "lastName": "required", "language": "language", "countryRegion": "country", "roles": "roles",
}
_WIRE_NAMES = {"first_name": "firstName", "last_name": "lastName", "country_region": "countryRegion"}


def _form(company: Customer, user: CompanyUser, visitor: Visitor, values: Mapping[str, Any], errors: Mapping[str, str],
          status: int = 200) -> Reply:
    language = visitor.language(user.language)
    base = f"/api/companies/{company.id}"
    language_options = [(code, pages.language_name(code)) for code in i18n.SUPPORTED_LANGUAGES]
    fields = [{
        "name": name, "label": pages.field_label(name, language), "value": str(values.get(name) or ""), "required": True,
        "max_length": max_length, "autocomplete": "off", "type": kind, "reason": errors.get(name, ""),
        "options": language_options if name == "language" else pages.country_options(language) if name == "countryRegion" else [],
    } for name, max_length, kind in _FIELDS]
    return Reply(status, "invite_colleague.html", {
        "company": company, "base": base, "fields": fields, "errors": errors, "all_roles": list(roles.COLUMNS),
        "grantable": roles.grantable(user.roles), "chosen_roles": list(values.get("roles") or []), "submission_id": uuid.uuid4().hex,
    }, language, path=f"{base}/invitations/new", session=visitor.session)


def form_page(ctx: Context, visitor: Visitor, customer_id: str) -> Reply:
    """GET /api/companies/{id}/invitations/new: the form, with the roles this user may give."""
    company, user, reply = company_member(ctx, visitor, customer_id)
    if reply is not None:
        return reply
    assert company is not None and user is not None
    if not roles.may_invite(user.roles):
        return error("forbidden", visitor, status=403, language=visitor.language(user.language))
    defaults = {"language": user.language, "countryRegion": user.country_region or company.country}
    return _form(company, user, visitor, defaults, {})


def invite(ctx: Context, visitor: Visitor, customer_id: str, data: Mapping[str, Any]) -> Reply:
    """POST /api/companies/{id}/invitations from the page (session + CSRF)."""
    if not csrf_ok(visitor, data.get("csrf")):
        return error("session", visitor, status=403)
    company, user, reply = company_member(ctx, visitor, customer_id)
    if reply is not None:
        return reply
    assert company is not None and user is not None
    person = visitor.person
    assert person is not None
    language = visitor.language(user.language)
    try:
        body = colleagues.ColleagueInvitation.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors(include_url=False):
            name = str(err["loc"][0]) if err.get("loc") else "email"
            name = _WIRE_NAMES.get(name, name)
            errors.setdefault(name, pages.reason_text(company_form.Reason(_REASONS.get(name, "required"), {}), language))
        return _form(company, user, visitor, data, errors, status=422)
    try:
        _, inviter = colleagues.company_user_inviter(ctx, customer_id, person.email, person.name, person.subject)
        result = colleagues.invite(ctx, company, inviter, body)
    except DomainError as exc:
        status = problem_of(exc).status
        if exc.code == "role-not-grantable":
            names = ", ".join(pages.role_label(r, language) for r in exc.extra.get("roles", []))
            return _form(company, user, visitor, data,
                         {"roles": pages.reason_text(company_form.Reason("role_not_grantable", {"roles": names}), language)}, status=403)
        if exc.code == "already-a-user":
            return _form(company, user, visitor, data, {
                "email": pages.reason_text(company_form.Reason("already_a_user", {"email": str(body.email)}), language)}, status=409)
        return error("forbidden" if status == 403 else "company_gone" if status == 404 else "internal", visitor,
                     status=status, language=language)
    return _sent(company, visitor, language, str(body.email), result["expiresAt"])


def sent(ctx: Context, visitor: Visitor, customer_id: str, result: Mapping[str, Any]) -> Reply:
    """The page after an invitation was sent (also for a repeated submission of the same form)."""
    company, user, reply = company_member(ctx, visitor, customer_id)
    if reply is not None:
        return reply
    assert company is not None and user is not None
    return _sent(company, visitor, visitor.language(user.language), result["email"], result["expiresAt"])


def _sent(company: Customer, visitor: Visitor, language: str, email: str, expires_at: str) -> Reply:
    base = f"/api/companies/{company.id}"
    return Reply(201, "invited.html", {"company": company, "base": base, "email": email, "expires_at": datetime.fromisoformat(expires_at)},
                 language, path=f"{base}/users", session=visitor.session)
