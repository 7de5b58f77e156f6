"""The views of managing a company's users: the users page (users, their roles, the company's pending invitations) and
its forms (change roles, remove, resend or revoke an invitation), and the page a removed user meets.

Everyone of the company sees the users; a User administrator or Account manager also gets the forms. The rules are in
`accept_invite.company_users` (roles, last administrators, stale forms) and `invite_user.service` (resend, revoke).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from accept_invite import company_users, pages, roles
from accept_invite.company_users import Admin, UserChangeRefused
from accept_invite.views import Reply, Visitor, csrf_ok, error
from attest_agreement.customers import CompanyUser, Customer, RemovedUser, member
from attest_agreement.repository import CustomerStore
from attest_agreement.service import CustomerAdmin, may_manage_partners
from company_domains.domains import may_manage
from invite_user import company_invitations
from shared.authorization import Action, holds
from shared.context import Context
from shared.errors import Conflict, Forbidden, NotFound


def _admin(visitor: Visitor) -> Admin | None:
    p = visitor.person
    return Admin(email=p.email, subject=p.subject, name=p.name) if p else None


def company_member(ctx: Context, visitor: Visitor, customer_id: str) -> tuple[Customer | None, CompanyUser | None, Reply | None]:
    """The company and the signed-in person as one of its users, or the reply for a stranger (or a removed user).

    Checked on every request of the company's pages: a user is recognised by the account's subject once bound, by
    verified email only before the first sign-in bound it; a session names a person, never a membership.
    """
    person = visitor.person
    if person is None:
        return None, None, error("session", visitor, status=401)
    customers = ctx.store(CustomerStore)
    company = customers.customer(customer_id) if re.fullmatch(r"[A-Za-z0-9._-]{1,100}", customer_id or "") else None
    user = member(customers.users_of(customer_id), person.email, person.subject) if company else None
    if company is None:
        return None, None, error("forbidden", visitor, status=403)
    if user is None:
        gone = company_users.removed_as(ctx, customer_id, person.email, person.subject)
        return None, None, removed_page(company, gone, visitor) if gone else error("forbidden", visitor, status=403)
    return company, user, None


def company_administrator(ctx: Context, visitor: Visitor, customer_id: str,
                          action: Action = Action.MANAGE_USERS) -> tuple[Customer | None, CompanyUser | None, Reply | None]:
    """`company_member`, who must also hold a company role of the policy's row for `action` (the users' or domains' forms)."""
    company, user, reply = company_member(ctx, visitor, customer_id)
    if reply is not None:
        return None, None, reply
    assert company is not None and user is not None
    if not holds(action, user.roles):
        return None, None, error("forbidden", visitor, status=403, language=visitor.language(user.language))
    return company, user, None


def removed_page(company: Customer, gone: RemovedUser, visitor: Visitor) -> Reply:
    """A removed user's next request: no access, whom to ask, in their language (their session opens nothing)."""
    return Reply(403, "removed.html", {"company": company, "gone": gone}, visitor.language(gone.language), session=visitor.session)


def users_page(ctx: Context, visitor: Visitor, company: Customer, user: CompanyUser, *, notice: Mapping[str, Any] | None = None,
               status: int = 200) -> Reply:
    """GET /api/companies/{id}/users: who is there; for administrators also their forms and the pending invitations."""
    language = visitor.language(user.language)
    base = f"/api/companies/{company.id}"
    customers = ctx.store(CustomerStore)
    users = sorted(customers.users_of(company.id), key=lambda u: (u.last_name.casefold(), u.first_name.casefold(), u.email_normalized))
    manage = holds(Action.MANAGE_USERS, user.roles)
    grantable = [r.value for r in roles.grantable(user.roles)] if manage else []
    pending = []
    if manage:
        partner_ids = [r.partner_id for r in customers.relationships_of(company.id)]
        now = ctx.now()
        pending = [{"inv": inv, "status": inv.effective_status(now).value}
                   for inv in company_invitations.company_invitations(ctx, partner_ids, company.id)]
    person = visitor.person
    assert person is not None
    return Reply(status, "users.html", {
        "company": company, "user": user, "base": base, "users": [{"u": u, "version": company_users.version_of(u)} for u in users],
        "may_invite": roles.may_invite(user.roles), "may_manage_domains": may_manage(user.roles), "manage": manage, "grantable": grantable,
        "all_roles": [r.value for r in roles.COLUMNS], "pending": pending, "notice": dict(notice or {}),
        "may_manage_partners": may_manage_partners(company, users, CustomerAdmin(person.email, person.subject, person.name)),
    }, language, path=f"{base}/users", session=visitor.session)


def change(ctx: Context, visitor: Visitor, customer_id: str, what: str, data: Mapping[str, Any]) -> Reply:
    """The users page's forms (session + CSRF): roles, remove, resend, revoke. Answers the users page with what happened."""
    if not csrf_ok(visitor, data.get("csrf")):
        return error("session", visitor, status=403)
    company, user, reply = company_administrator(ctx, visitor, customer_id)
    if reply is not None:
        return reply
    assert company is not None and user is not None
    admin = _admin(visitor)
    assert admin is not None
    email, version = str(data.get("email") or "")[:320], str(data.get("version") or "")[:64]
    reference = str(data.get("reference") or "")[:80]
    by = {"name": admin.name or user.email, "email": user.email, "subject": admin.subject}
    try:
        if what == "roles":
            wanted = data.get("roles") or []
            changed = company_users.change_roles(ctx, customer_id, admin, email, wanted if isinstance(wanted, list) else [wanted], version)
            notice: dict[str, Any] = {"kind": "roles_changed", "email": changed.email}
        elif what == "remove":
            gone = company_users.remove_user(ctx, customer_id, admin, email, version)
            if gone.email_normalized == user.email_normalized:
                return removed_page(company, gone, visitor)  # removed themselves: the company's pages are closed now
            notice = {"kind": "removed", "email": gone.email}
        elif what == "resend":
            sent = company_invitations.resend_for_company(ctx, customer_id, reference, by)
            notice = {"kind": "resent", "email": str(sent.email)}
        else:
            revoked = company_invitations.revoke_for_company(ctx, customer_id, reference, by)
            notice = {"kind": "revoked", "email": str(revoked.email)}
    except UserChangeRefused as exc:
        values = dict(exc.values)
        if "role" in values:
            values["role"] = pages.role_label(values["role"], visitor.language(user.language))
        if "roles" in values:
            values["roles"] = ", ".join(pages.role_label(r, visitor.language(user.language)) for r in values["roles"].split(","))
        status = 409 if exc.reason in ("stale", "gone", "last_role") else 403 if exc.reason == "not_grantable" else 422
        return users_page(ctx, visitor, company, user, notice={"kind": exc.reason, "error": True, **values}, status=status)
    except (NotFound, Conflict) as exc:
        # An invitation of another company, or one no longer pending (accepted, revoked, expired meanwhile).
        return users_page(ctx, visitor, company, user, notice={"kind": "invitation_gone", "error": True},
                          status=404 if isinstance(exc, NotFound) else 409)
    except Forbidden:
        return error("forbidden", visitor, status=403, language=visitor.language(user.language))
    return users_page(ctx, visitor, company, user, notice=notice)
