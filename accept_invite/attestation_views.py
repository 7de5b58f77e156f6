"""The page where a customer's contact accepts the agreement on its personal link (no sign-in).

GET and HEAD only show (mail scanners open links): the agreement, the company, the partner, and a form; accepting is a
POST with the page's CSRF token (an anonymous session, as the resend form's), the name typed and the box ticked. A link
that is expired, used, replaced or unknown gets its own page in the person's language.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from accept_invite import sessions
from accept_invite.sessions import Session
from accept_invite.views import Reply, Visitor
from attest_agreement import attestations
from attest_agreement import service as customers
from attest_agreement.attestations import NameMismatch, NameMissing, NotPending, UnknownLink
from attest_agreement.customers import AgreementAttestation, AttestationStatus
from shared.context import Context

PATH = "/api/agreements/attestation"
AGREEMENT = {"name": attestations.AGREEMENT_NAME, "version": attestations.AGREEMENT_VERSION, "url": attestations.AGREEMENT_URL}


def show(ctx: Context, visitor: Visitor, link: str | None) -> Reply:
    """The page of the link's state; changes nothing stored (a session cookie for the form's CSRF token at most)."""
    att = customers.open_attestation_link(ctx, link)
    if att is None:
        return _unknown(visitor)
    return _page_of(att, str(link), visitor, ctx.now())


def submit(ctx: Context, visitor: Visitor, form: dict[str, Any], client_address: str, user_agent: str) -> Reply:
    """POST: with the page's CSRF token, the name typed and the box ticked, the contact accepts (once)."""
    link = str(form.get("link") or "")
    att = customers.open_attestation_link(ctx, link)
    if att is None:
        return _unknown(visitor)
    if attestations.effective_status(att, ctx.now()) != AttestationStatus.PENDING:
        return _page_of(att, link, visitor, ctx.now())
    typed = str(form.get("name") or "")
    if visitor.session is None or not visitor.session.check_csrf(form.get("csrf")):
        return _form(att, link, visitor, status=403, problem="stale", typed=typed)
    if form.get("accept") != "yes":
        return _form(att, link, visitor, status=400, problem="unticked", typed=typed)
    try:
        accepted = customers.accept_attestation(ctx, link, typed, client_address, user_agent)
    except NameMissing:
        return _form(att, link, visitor, status=400, problem="name_missing", typed=typed)
    except NameMismatch:
        return _form(att, link, visitor, status=400, problem="name_mismatch", typed=typed)
    except NotPending:
        # Used in another tab a moment ago (or expired, or replaced meanwhile): the page of what it is now.
        return show(ctx, visitor, link)
    except UnknownLink:
        return _unknown(visitor)
    return _page_of(accepted, link, visitor, ctx.now())


def _page_of(att: AgreementAttestation, link: str, visitor: Visitor, now: datetime) -> Reply:
    status = attestations.effective_status(att, now)
    if status == AttestationStatus.PENDING:
        return _form(att, link, visitor)
    language = visitor.language(att.language)
    context = {"att": att, "agreement": AGREEMENT}
    if status in (AttestationStatus.ACCEPTED, AttestationStatus.FINALIZED):
        return Reply(200, "attestation_done.html", context, language, path=PATH, params={"link": link}, session=visitor.session)
    kind = "expired" if status == AttestationStatus.EXPIRED else "replaced"
    return Reply(410, "attestation_closed.html", {**context, "kind": kind}, language, path=PATH, params={"link": link},
                 session=visitor.session)


def _form(att: AgreementAttestation, link: str, visitor: Visitor, *, status: int = 200, problem: str | None = None,
          typed: str = "") -> Reply:
    # The form's CSRF token lives in an anonymous session (the contact never signs in); a stale one gets a fresh token.
    fresh = visitor.session is None or problem == "stale"
    session = Session() if fresh else visitor.session
    return Reply(status, "attestation.html", {"att": att, "agreement": AGREEMENT, "link": link, "problem": problem, "typed": typed,
                                              "form_csrf": session.csrf if session else ""},
                 visitor.language(att.language), path=PATH, params={"link": link}, session=session,
                 cookies=[sessions.set_cookie(session)] if fresh and session else [])


def _unknown(visitor: Visitor) -> Reply:
    return Reply(404, "attestation_closed.html", {"kind": "unknown"}, visitor.language(), path=PATH, session=visitor.session)
