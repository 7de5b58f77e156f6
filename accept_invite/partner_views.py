"""The views of the company's partners page: each partner's relationship and rights, and taking them back.

For the customer's account administrators and primary contact (`attest_agreement.partner_rights`, who also consent to
relationships). Taking back is one of two forms per partner: remove the admin rights (DAP) or end the relationship.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accept_invite.user_views import company_member
from accept_invite.views import Reply, Visitor, csrf_ok, error
from attest_agreement import service as customers
from attest_agreement.customers import member
from attest_agreement.service import CustomerAdmin, PartnerChangeRefused
from shared.context import Context
from shared.errors import Forbidden, NotFound


def _person(visitor: Visitor) -> CustomerAdmin | None:
    p = visitor.person
    return CustomerAdmin(email=p.email, subject=p.subject, name=p.name) if p else None


def partners_page(ctx: Context, visitor: Visitor, customer_id: str, *, notice: Mapping[str, Any] | None = None,
                  status: int = 200) -> Reply:
    """GET /api/companies/{id}/partners: every partner with its relationship, DAP, GDAP and since when."""
    person = _person(visitor)
    if person is None:
        return error("session", visitor, status=401)
    try:
        company, users, rels = customers.partners_of(ctx, customer_id, person)
    except (Forbidden, NotFound):
        # Not theirs to manage: a user without the role, a removed user (whom to ask), a stranger: the page company_member gives.
        _, user, reply = company_member(ctx, visitor, customer_id)
        return reply or error("forbidden", visitor, status=403, language=visitor.language(user.language if user else None))
    user = member(users, person.email, person.subject)
    base = f"/api/companies/{customer_id}"
    return Reply(status, "partners.html", {
        "company": company, "base": base, "notice": dict(notice or {}),
        "partners": [{"rel": r, "version": customers.relationship_version(r)} for r in rels],
    }, visitor.language(user.language if user else company.language), path=f"{base}/partners", session=visitor.session)


def take_back(ctx: Context, visitor: Visitor, customer_id: str, what: str, data: Mapping[str, Any]) -> Reply:
    """POST .../partners/remove-admin-rights or .../partners/end (session + CSRF); answers the partners page."""
    if not csrf_ok(visitor, data.get("csrf")):
        return error("session", visitor, status=403)
    person = _person(visitor)
    assert person is not None
    partner_id, version = str(data.get("partnerId") or "")[:100], str(data.get("version") or "")[:64]
    try:
        rel = customers.take_back(ctx, customer_id, person, partner_id, what, version)
    except PartnerChangeRefused as exc:
        return partners_page(ctx, visitor, customer_id, notice={"kind": exc.reason, "error": True, **exc.values}, status=409)
    except (Forbidden, NotFound):
        return partners_page(ctx, visitor, customer_id)  # the page says who may (or that this is no company of theirs)
    return partners_page(ctx, visitor, customer_id, notice={"kind": what, "partner": rel.partner_name})
