"""The customer's agreement page (direct acceptance): after sign-in, read the agreement, tick the box, submit.

The sign-in, the session cookie, the page frame and the renderer are the rest of the journey's
(`accept_invite.views.next_step` sends AgreementAcceptance invitations here after sign-in; `web.respond` renders
its replies like every page's, keeping the language switcher's choice). This page only adds the agreement step;
its template is in `agreement_templates/`, its strings are the "agreements" gettext domain.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from accept_invite.views import Reply, Visitor, error, not_found, redirect, resolve, signin_url, wrong_account
from attest_agreement.agreements import AgreementError, AlreadyAccepted, NotAllowedToAccept
from attest_agreement.customers import Contact
from attest_agreement.repository import CustomerStore
from attest_agreement.service import accept_directly
from invite_user import service as invitations
from invite_user.invitations import Invitation, InvitationKind, InvitationStatus
from shared.context import Context

if TYPE_CHECKING:  # Jinja loads with the first page or email rendered (i18n.template_environment), not at start
    pass

PATH = "/api/agreements/accept"
TEMPLATE = "agreement_accept.html"
AGREEMENT_URL = "https://www.microsoft.com/licensing/docs/customeragreement"


def _load(ctx: Context, visitor: Visitor, handle: str | None, now: datetime) -> tuple[Any, Reply | None]:
    """The invitation and customer of a signed-in invitee, or the reply that explains why not."""
    h = resolve(handle)
    if h is None:
        return None, not_found(visitor)
    person = visitor.person
    if person is None:
        return None, redirect(signin_url(h))
    inv = invitations.find(ctx, h)
    if inv is None:
        return None, not_found(visitor)
    language = visitor.language(inv.language)
    if not inv.is_for(person.email):
        return None, wrong_account(inv, person.email, h, visitor)
    if inv.kind != InvitationKind.AGREEMENT_ACCEPTANCE or not inv.customer_id:
        return None, redirect(f"/api/companies/accept?{urlencode({'invitationId': h})}")
    customer = ctx.store(CustomerStore).customer(inv.customer_id)
    if customer is None:
        return None, error("company_gone", visitor, status=404, language=language)
    return (h, inv, customer, language), None


def show(ctx: Context, visitor: Visitor, handle: str | None, *, missing: bool = False, now: datetime | None = None) -> Reply:
    """GET: the agreement with its checkbox, or, once accepted, who accepted and when."""
    now = now or ctx.now()
    loaded, reply = _load(ctx, visitor, handle, now)
    if reply is not None:
        return reply
    h, inv, customer, language = loaded
    acceptance = ctx.store(CustomerStore).acceptance(customer.id)
    if acceptance is None and inv.effective_status(now) != InvitationStatus.PENDING:
        return redirect(f"/api/companies/new?{urlencode({'invitationId': h})}")  # the page of that state (expired, revoked)
    context = {"inv": inv, "company": customer, "acceptance": acceptance, "handle": h, "action": PATH, "agreement_url": AGREEMENT_URL,
               "missing": missing}
    return Reply(400 if missing else 200, TEMPLATE, context, language, path=PATH, params={"invitationId": h}, session=visitor.session)


def submit(ctx: Context, visitor: Visitor, data: dict[str, Any], now: datetime | None = None) -> Reply:
    """POST: with the session's CSRF token and the box ticked, the agreement is accepted (once), then the page shows it."""
    now = now or ctx.now()
    handle = data.get("invitationId")
    session = visitor.session
    if session is None or not session.signed_in or not session.check_csrf(data.get("csrf")):
        h = resolve(handle)
        return error("session", visitor, status=403, retry_url=signin_url(h) if h else None)
    loaded, reply = _load(ctx, visitor, handle, now)
    if reply is not None:
        return reply
    h, inv, customer, language = loaded
    if data.get("accept") != "yes":
        return show(ctx, visitor, h, missing=True, now=now)
    person = visitor.person
    assert person is not None
    try:
        accept_directly(ctx, customer.id, person.actor(), _contact(inv, person.email), invitation=inv)
    except AlreadyAccepted:
        pass  # shown as accepted, with who and when
    except NotAllowedToAccept:
        return redirect(f"/api/companies/new?{urlencode({'invitationId': h})}")  # the invitation is no longer pending: its page says so
    except AgreementError:
        return error("internal", visitor, status=400, language=language)
    return redirect(f"{PATH}?{urlencode({'invitationId': h})}")


def _contact(inv: Invitation, email: str) -> Contact:
    """The person who accepted: the invitee, as the partner named them, with the account they signed in with."""
    return Contact(first_name=inv.first_name, last_name=inv.last_name, email=email, language=inv.language)


