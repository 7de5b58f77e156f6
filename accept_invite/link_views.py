"""The views of the emailed link: its landing page, sign-in and sign-out, and the resend request of an expired link."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from accept_invite import sessions, signin
from accept_invite.sessions import Session
from accept_invite.views import Reply, Visitor, error, next_step, not_found, redirect, resolve, signin_url, status_page, wrong_account
from invite_user import service as invitations
from invite_user.api_models import ResendRequest
from invite_user.invitations import Invitation, InvitationStatus, link_key, parse_invitation_id
from shared import session_epochs
from shared.context import Context

# The landing page is the customer's first click after idle: the model it reads is built here, at import, never on that
# click (every other model is built on its first use: shared/models.py).
Invitation.model_rebuild()


def landing(ctx: Context, visitor: Visitor, raw: str | None, now: Any = None) -> Reply:
    """GET /api/InviteUser?invitationId=: a page for every state of the invitation, never a change."""
    now = now or ctx.now()
    invitation_id = parse_invitation_id(raw)
    inv = invitations.find(ctx, link_key(invitation_id)) if invitation_id else None
    if inv is None:
        return Reply(404, "not_found.html", language=visitor.language(), params={"invitationId": raw or ""}, session=visitor.session)
    params = {"invitationId": invitation_id or ""}
    status = inv.effective_status(now)
    if status != InvitationStatus.PENDING:
        return status_page(inv, status, visitor, invitation_id or "", path="/api/InviteUser", params=params)
    return Reply(200, "landing.html", {
        "inv": inv, "signin_url": signin_url(invitation_id or ""), "create_url": signin_url(invitation_id or "", "create"),
        "invitation_id": invitation_id or "",
    }, visitor.language(inv.language), params=params, session=visitor.session)


def sign_in(ctx: Context, visitor: Visitor, handle: str | None, mode: str | None, *, head: bool = False) -> Reply:
    """GET /api/auth/signin: off to the identity provider, with a flow waiting for the answer."""
    h = resolve(handle)
    inv = invitations.find(ctx, h) if h else None
    if inv is None or h is None:
        return not_found(visitor)
    if head:
        return Reply(200)  # a HEAD (link scanner) starts no sign-in
    language = visitor.language(inv.language)
    # The invitee's address goes to the provider as a hint only for the holder of the emailed link id: the reference
    # (and the link key, the partner's tag before it) travel in webhooks and the feed and must never yield the address.
    hint = str(inv.email) if parse_invitation_id(handle) else ""
    try:
        url, binding = signin.start(ctx, link_hash=h, login_hint=hint, mode=mode or "signin", language=language,
                                    address=visitor.client)
    except signin.SignInUnavailable:
        return error("unavailable", visitor, status=503, language=language, retry_url=signin_url(handle or "", mode or "signin"))
    return redirect(url, status=302, cookies=[sessions.binding_cookie(binding, int(signin.FLOW_LIFETIME.total_seconds()))])


def opened(ctx: Context, handle: str | None) -> Reply:
    """POST /api/auth/opened: the invitee pressed sign-in or create-account (the page's beacon). Recorded the first time
    only; a GET of the link never gets here, so a mail scanner opening it does not count."""
    h = resolve(handle)
    if h is not None:
        invitations.mark_journey(ctx, h, "opened")
    return Reply(204)


def callback(ctx: Context, visitor: Visitor, params: Mapping[str, str]) -> Reply:
    """GET /api/auth/callback: the provider's answer. The right account gets a session and the next step."""
    try:
        who = signin.finish(ctx, dict(params), binding=visitor.signin_binding)
    except signin.SignInError as exc:
        retry = signin_url(exc.link_hash) if exc.link_hash else None
        return Reply(400 if exc.reason != "cancelled" else 200, "signin_error.html", {"reason": exc.reason, "retry_url": retry},
                     visitor.language(exc.language), session=visitor.session)
    except signin.SignInUnavailable:
        return error("unavailable", visitor, status=503)
    if who.next_page and not who.link_hash:
        # A sign-in without an invitation (joining through a verified domain): whoever signed in, with a verified email.
        session = Session(email=who.email, name=who.name, subject=who.subject, epoch=session_epochs.current(ctx, who.subject))
        return redirect(who.next_page, cookies=[sessions.set_cookie(session), sessions.binding_cookie("", 0)])
    # Read once, and the first sign-in (or a wrong account tried) written for the trail in the same unit of work.
    inv = invitations.mark_journey(ctx, who.link_hash, lambda inv: "signedIn" if inv.is_for(who.email) else "wrongAccount",
                                   let_go=True)
    if inv is None:
        return not_found(visitor, visitor.language(who.language))
    if not inv.is_for(who.email):
        return wrong_account(inv, who.email, who.link_hash, visitor)
    session = Session(email=who.email, name=who.name, subject=who.subject, epoch=session_epochs.current(ctx, who.subject))
    return redirect(next_step(inv, who.link_hash), cookies=[sessions.set_cookie(session), sessions.binding_cookie("", 0)])


def sign_out(ctx: Context, visitor: Visitor, csrf: str | None) -> Reply:
    """Ends every session of the person, not only this browser's cookie: copies of it stop working at once."""
    if visitor.session and not visitor.session.check_csrf(csrf):
        return error("session", visitor, status=403)
    if visitor.session and visitor.session.subject:
        session_epochs.end_every_session(ctx, visitor.session.subject)
    return Reply(200, "signed_out.html", language=visitor.language(), cookies=[sessions.clear_cookie()])


def resend_request(visitor: Visitor, data: Mapping[str, str], ask: Callable[[ResendRequest], Any]) -> Reply:
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
