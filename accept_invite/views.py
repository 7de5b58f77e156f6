"""What every customer page view shares: the visitor, the reply, and the replies all views give.

A view is a plain function from (storage, visitor, inputs) to a `Reply`; the views live by what they are for
(`link_views`: the emailed link, sign-in and resend; `company_views`: creating or joining a company and its
pages; `colleague_views`: inviting colleagues). GET and HEAD views never change an invitation or a company:
the only writes they may cause are a waiting sign-in flow and cookies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from accept_invite import sessions
from accept_invite.invitation_company import Person, needs_company_form
from accept_invite.sessions import Session
from invite_user.invitations import Invitation, InvitationKind, InvitationStatus, link_key, parse_invitation_id
from shared import i18n
from shared.clock import utc_now

# Where an AgreementAcceptance invitation continues after sign-in (accept_invite.agreement_page).
AGREEMENT_STEP = "/api/agreements/accept"


@dataclass
class Visitor:
    """What the request tells about the browser: its session and its language preferences."""

    session: Session | None = None
    lang_query: str | None = None
    lang_cookie: str | None = None
    accept: list[str] = field(default_factory=list)
    signin_binding: str | None = None  # the sign-in binding cookie (login CSRF), read only by the callback
    client: str = "unknown"  # the client's address as the front end saw it (per-client limits)

    def language(self, preferred: str | None = None) -> str:
        """The switcher's choice, then the invitation's (or user's) language, then Accept-Language, then English."""
        return i18n.negotiate([self.lang_query, self.lang_cookie, preferred, *self.accept])

    @property
    def person(self) -> Person | None:
        s = self.session
        return Person(email=s.email, name=s.name or "", subject=s.subject or "") if s and s.email else None


@dataclass
class Reply:
    """A view's answer: the page (template, context, language) or a redirect, with its cookies."""

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


def not_found(visitor: Visitor, language: str | None = None) -> Reply:
    return Reply(404, "not_found.html", language=language or visitor.language(), session=visitor.session)


def wrong_account(inv: Invitation, signed_in_as: str, handle: str, visitor: Visitor) -> Reply:
    """Signed in with another account than the invitation names: no session for it, and the invitation stays as it is."""
    return Reply(403, "wrong_account.html", {"inv": inv, "signed_in_as": signed_in_as, "another_url": signin_url(handle, "another")},
                 visitor.language(inv.language), session=visitor.session)


def resolve(handle: str | None) -> str | None:
    """The link key behind a handle: the link id from the email, the key the journey carries after sign-in
    (the partner's tag and the link hash: one read), or a bare reference (the link hash: a pointer read first)."""
    raw = parse_invitation_id(handle)
    if raw:
        return link_key(raw)
    h = (handle or "").strip().lower()
    return h if re.fullmatch(r"[0-9a-f]{64}|[0-9a-f]{76}", h) else None


def signin_url(handle: str, mode: str = "signin") -> str:
    return "/api/auth/signin?" + urlencode({"invitationId": handle, "mode": mode})


def csrf_ok(visitor: Visitor, token: str | None) -> bool:
    return visitor.session is not None and visitor.session.signed_in and visitor.session.check_csrf(token)


def _contact(who: dict[str, str] | None) -> str | None:
    email = (who or {}).get("email") or ""
    return email if "@" in email and not any(c in email for c in "<>\"' ") else None


def status_page(inv: Invitation, status: InvitationStatus, visitor: Visitor, handle: str, *, path: str, params: dict[str, str]) -> Reply:
    """The page for an invitation that cannot be accepted now (expired, revoked, replaced, used)."""
    language = visitor.language(inv.language)
    common = {"inv": inv, "contact_email": _contact(inv.created_by)}
    if status == InvitationStatus.EXPIRED:
        session = visitor.session or Session()
        return Reply(410, "expired.html", {**common, "anonymous_csrf": session.csrf}, language, path=path, params=params,
                     session=session, cookies=[] if visitor.session else [sessions.set_cookie(session)])
    if status == InvitationStatus.REVOKED:
        return Reply(410, "revoked.html", common, language, path=path, params=params, session=visitor.session)
    if status == InvitationStatus.REPLACED:
        # Whom to ask: the agent who replaced it (the new invitation may be for someone else; this page never says who).
        changer = inv.changed_by or inv.created_by or {}
        return Reply(410, "replaced.html", {"inv": inv, "contact_email": _contact(changer),
                                            "contact_name": changer.get("name") or inv.inviter_name},
                     language, path=path, params=params, session=visitor.session)
    return Reply(200, "accepted.html", {**common, "signin_url": signin_url(handle)}, language, path=path, params=params,
                 session=visitor.session)


def next_step(inv: Invitation, handle: str, now: Any = None) -> str:
    """Where a signed-in invitee continues: the page of the invitation's state or kind."""
    status = inv.effective_status(now or utc_now())
    query = urlencode({"invitationId": handle})
    if status == InvitationStatus.ACCEPTED and inv.customer_id:
        return f"/api/companies/{inv.customer_id}/welcome"
    if status != InvitationStatus.PENDING:
        return f"/api/companies/new?{query}"  # shows the page of that state
    if inv.kind == InvitationKind.AGREEMENT_ACCEPTANCE:
        return f"{AGREEMENT_STEP}?{query}"
    if needs_company_form(inv):
        return f"/api/companies/new?{query}"
    return f"/api/companies/accept?{query}"
