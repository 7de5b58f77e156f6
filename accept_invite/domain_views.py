"""The views of verified domains: the company's domains page (add, verify, remove, joining, requests) and the join page.

The company's administrators (User administrator, Account manager) reach `/api/companies/{id}/domains` from the users
page; a person without an invitation reaches `/api/companies/join` from the signed-out and not-found pages, signs in
there, and asks to join the company whose verified domain their verified address is at.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accept_invite import sessions, signin
from accept_invite.user_views import company_administrator
from accept_invite.views import Reply, Visitor, csrf_ok, error, redirect
from company_domains import service as domains
from shared.authorization import Action
from shared.context import Context
from shared.errors import Conflict, DomainError, Forbidden, NotFound

JOIN_PAGE = "/api/companies/join"


def _person(visitor: Visitor) -> domains.Person | None:
    p = visitor.person
    return domains.Person(email=p.email, subject=p.subject, name=p.name) if p else None


def domains_page(ctx: Context, visitor: Visitor, customer_id: str, *, notice: Mapping[str, Any] | None = None,
                 entered: str = "", status: int = 200) -> Reply:
    """GET /api/companies/{id}/domains: the domains with their TXT records, the joining setting, the waiting requests."""
    company, user, reply = company_administrator(ctx, visitor, customer_id, Action.MANAGE_DOMAINS)
    if reply is not None:
        return reply
    person = _person(visitor)
    assert person is not None and user is not None
    seen = domains.overview(ctx, customer_id, person)
    base = f"/api/companies/{customer_id}"
    return Reply(status, "domains.html", {
        "company": company, "base": base, "domains": seen.domains, "requests": seen.pending,
        "join_automatically": seen.join_automatically, "notice": dict(notice or {}), "entered": entered,
    }, visitor.language(user.language), path=f"{base}/domains", session=visitor.session)


def change(ctx: Context, visitor: Visitor, customer_id: str, what: str, data: Mapping[str, Any]) -> Reply:
    """The domains page's forms (session + CSRF): add, verify, remove, joining, approve / decline. Answers the page."""
    if not csrf_ok(visitor, data.get("csrf")):
        return error("session", visitor, status=403)
    _, _, reply = company_administrator(ctx, visitor, customer_id, Action.MANAGE_DOMAINS)
    if reply is not None:
        return reply
    person = _person(visitor)
    assert person is not None
    domain = str(data.get("domain") or "").strip()
    try:
        if what == "add":
            row = domains.add_domain(ctx, customer_id, person, domain)
            notice = {"kind": "verified" if row.status == "Verified" else "added", "domain": row.domain}
        elif what == "verify":
            row = domains.verify_domain(ctx, customer_id, person, domain)
            notice = {"kind": "verified", "domain": row.domain}
        elif what == "remove":
            domains.remove_domain(ctx, customer_id, person, domain)
            notice = {"kind": "removed_domain", "domain": domain}
        elif what == "joining":
            on = domains.set_joining(ctx, customer_id, person, str(data.get("joinAutomatically") or "") == "yes")
            notice = {"kind": "joining_on" if on else "joining_off"}
        else:
            email, decision = str(data.get("email") or ""), str(data.get("decision") or "")
            if decision not in ("approve", "decline"):
                return domains_page(ctx, visitor, customer_id, notice={"kind": "stale", "error": True}, status=422)
            approve = decision == "approve"
            domains.decide(ctx, customer_id, person, email, approve)
            notice = {"kind": "approved" if approve else "declined", "email": email}
    except domains.DomainRefused as exc:
        return domains_page(ctx, visitor, customer_id, notice={"kind": exc.reason, "error": True, **exc.values},
                            entered=domain if what == "add" else "", status=422)
    except (NotFound, Conflict) as exc:
        return domains_page(ctx, visitor, customer_id, notice={"kind": "stale", "error": True}, status=_status(exc))
    return domains_page(ctx, visitor, customer_id, notice=notice)


def _status(exc: DomainError) -> int:
    return 404 if isinstance(exc, NotFound) else 409


# -- joining without an invitation ------------------------------------------------------------------------


def join_page(ctx: Context, visitor: Visitor) -> Reply:
    """GET /api/companies/join: sign in first; then the company of the person's verified domain and what they may do."""
    person = _person(visitor)
    language = visitor.language()
    if person is None:
        return Reply(200, "join.html", {"option": None, "signed_in": False}, language, path=JOIN_PAGE, session=visitor.session)
    option = domains.join_option(ctx, person)
    return Reply(200, "join.html", {"option": option, "signed_in": True, "email": person.email}, language, path=JOIN_PAGE,
                 session=visitor.session)


def join_sign_in(ctx: Context, visitor: Visitor, *, head: bool = False) -> Reply:
    """GET /api/companies/join/signin: off to the identity provider; back on the join page, signed in."""
    if head:
        return Reply(200)  # a HEAD (link scanner) starts no sign-in
    language = visitor.language()
    try:
        url, binding = signin.start(ctx, link_hash="", login_hint="", mode="signin", language=language, next_page=JOIN_PAGE,
                                    address=visitor.client)
    except signin.SignInUnavailable:
        return error("unavailable", visitor, status=503, language=language, retry_url=f"{JOIN_PAGE}/signin")
    # 303 (See Other), as the contract documents the pages' redirects; a browser follows it like a 302.
    return redirect(url, status=303, cookies=[sessions.binding_cookie(binding, int(signin.FLOW_LIFETIME.total_seconds()))])


def ask_to_join(ctx: Context, visitor: Visitor, data: Mapping[str, Any]) -> Reply:
    """POST /api/companies/join: join at once (the company allows it) or ask; the join page then says which."""
    if not csrf_ok(visitor, data.get("csrf")):
        return error("session", visitor, status=403)
    person = _person(visitor)
    assert person is not None
    customer_id = str(data.get("companyId") or "")
    try:
        outcome = domains.join(ctx, customer_id, person)
    except Forbidden:
        return error("forbidden", visitor, status=403)
    except Conflict:
        return error("forbidden", visitor, status=409)
    if outcome in ("joined", "member"):
        return redirect(f"/api/companies/{customer_id}/welcome")
    return redirect(JOIN_PAGE)
