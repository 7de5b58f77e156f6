"""Trigger functions of the customer's journey (thin: who is visiting, one view, one page).

Every route here is anonymous at the platform level: people arrive from an emailed link with a browser,
so the pages authenticate with their own sign-in and session cookie (and partners with their bearer token).
Each route declares its contract once (`shared.endpoints.endpoint`, `raw=True`: the handler answers pages).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import azure.functions as func

from accept_invite import link_views, pages, signin
from accept_invite.company_form import FIELD_NAMES
from accept_invite.views import Reply, redirect
from accept_invite.web import PagesQuery, SignInQuery, company_route, form_of, page, respond, visitor_of
from invite_user import service as invitations
from shared import telemetry
from shared.authorization import Action, runs_as, who_may
from shared.context import Context, request_context
from shared.endpoints import ANONYMOUS, SESSION, SESSION_OR_PARTNER, Call, endpoint
from shared.http import client_ip
from shared.idempotency import run_once
from shared.lazy import on_first_use
from shared.partner_auth import Caller
from shared.problems import Problem

if TYPE_CHECKING:
    from accept_invite import agreement_page as agreement_step
    from accept_invite import colleague_views, colleagues, company_views
    from attest_agreement.customers import Customer
    from invite_user.api_models import ResendRequest
else:  # this feature's route modules, imported on a route's first call (cold start: shared/lazy.py)
    agreement_step, colleague_views, colleagues, company_views = on_first_use(
        "accept_invite.agreement_page", "accept_invite.colleague_views", "accept_invite.colleagues", "accept_invite.company_views")

log = logging.getLogger(__name__)

bp = func.Blueprint()

TAG = "Customer pages"
HTML = "text/html"
COMPANY_FORM = ("csrf", "invitationId", *FIELD_NAMES)


# -- the emailed link, sign-in, the resend request --------------------------------------------------


@endpoint(bp, "InviteUser", "GET", action=Action.PUBLIC,
          summary="The personal link from the invitation email", tag=TAG, auth=ANONYMOUS, raw=True, head=True,
          content=HTML, query=PagesQuery,
          description="A page for every state of the invitation; opening it changes nothing (mail scanners open it).")
@page
def redeem_invitation_link(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(link_views.landing(request_context(), visitor, req.params.get("invitationId")), visitor)


@endpoint(bp, "InviteUser/resend-request", "POST", action=Action.REQUEST_RESEND,
          summary="Ask for the invitation again (page form)", tag=TAG, auth=ANONYMOUS, raw=True,
          content=HTML, form=("csrf", "email", "agreementNumber", "purchasingAccountNumber"),
          description="The sign-in page's \"Haven't received an invitation email yet?\" form: the designated purchasing account "
                      "manager of an agreement gets the invitation sent again; everyone gets the same answer.")
@page
def request_resend_from_page(req: func.HttpRequest) -> func.HttpResponse:
    visitor, ctx, form, client = visitor_of(req), request_context(), form_of(req), client_ip(req)

    def ask(body: ResendRequest) -> None:
        # The same limits as the API's, on the validated address (a page must not be the way around them).
        invitations.limit_resend_requests(ctx, client, body)
        invitations.request_resend(ctx, body)

    return respond(link_views.resend_request(visitor, form, ask), visitor)


@endpoint(bp, "auth/signin", "GET", action=Action.SIGN_IN,
          summary="Start Microsoft sign-in", tag=TAG, auth=ANONYMOUS, raw=True, head=True, content=HTML,
          query=SignInQuery,
          description="Redirects to the identity provider (mode=create: create a Microsoft account first, for an invitee who has none).")
@page
def start_sign_in(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    reply = link_views.sign_in(request_context(), visitor, req.params.get("invitationId"), req.params.get("mode"), head=req.method == "HEAD")
    return respond(reply, visitor)


@endpoint(bp, "auth/opened", "POST", action=Action.SIGN_IN, status=204,
          summary="The invitee pressed sign-in or create-account", tag=TAG, auth=ANONYMOUS, raw=True, content=HTML,
          form=("invitationId",),
          description="Sent by the link's page (a beacon) when the invitee presses sign-in or create-account: the first one is "
                      "the invitation's `opened` (trail, funnel, invitation.opened). Answers 204; opening the link never counts.")
@page
def invitation_opened(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(link_views.opened(request_context(), form_of(req).get("invitationId")), visitor)


@endpoint(bp, "auth/callback", "GET", action=Action.SIGN_IN, summary="Finish sign-in", tag=TAG, auth=ANONYMOUS, raw=True, content=HTML,
          description="The identity provider's answer (code, state); the invited account gets a session cookie and the next step.")
@page
def finish_sign_in(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(link_views.callback(request_context(), visitor, dict(req.params)), visitor)


@endpoint(bp, "auth/signout", "POST", action=Action.SIGN_IN, summary="Sign out", tag=TAG, auth=SESSION, raw=True, content=HTML, form=("csrf",))
@page
def sign_out(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(link_views.sign_out(request_context(), visitor, form_of(req).get("csrf")), visitor)


# -- creating or joining a company, and its pages -----------------------------------------------------


@endpoint(bp, "companies/new", "GET", action=Action.ACCEPT_INVITATION,
          summary="The company data the seller registered (CREATE COMPANY)", tag=TAG, auth=SESSION, raw=True,
          head=True, content=HTML, query=PagesQuery)
@page
def new_company_form(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(company_views.company_form_page(request_context(), visitor, req.params.get("invitationId")), visitor)


@endpoint(bp, "companies/validate", "POST", action=Action.ACCEPT_INVITATION,
          summary="Check the company form", tag=TAG, auth=SESSION, raw=True, form=COMPANY_FORM,
          description="Answers {valid, errors} per field in the page's language: the button turns active when valid.")
@page
def validate_company(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(company_views.validate_company(visitor, form_of(req)), visitor)


@endpoint(bp, "companies", "POST", action=Action.ACCEPT_INVITATION,
          summary="Create the company", tag=TAG, auth=SESSION, raw=True, content=HTML, form=COMPANY_FORM,
          description="Creates the company once (profile, first user, relationships), then shows its welcome page.")
@page
def create_company(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(company_views.create_company(request_context(), visitor, form_of(req)), visitor)


@endpoint(bp, "companies/accept", "GET", action=Action.ACCEPT_INVITATION,
          summary="Confirm joining a company or accepting a relationship", tag=TAG, auth=SESSION, raw=True,
          head=True, content=HTML, query=PagesQuery)
@page
def confirm_invitation(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(company_views.confirm_page(request_context(), visitor, req.params.get("invitationId")), visitor)


@endpoint(bp, "companies/accept", "POST", action=Action.ACCEPT_INVITATION,
          summary="Join the company / accept the reseller relationship", tag=TAG, auth=SESSION, raw=True,
          content=HTML, form=("csrf", "invitationId"))
@page
def accept_invitation(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(company_views.accept(request_context(), visitor, form_of(req)), visitor)


@endpoint(bp, "companies/{companyId}/{page}", "GET", action=Action.VIEW_COMPANY,
          summary="The company's pages: welcome, profile, users, agreements", tag=TAG,
          auth=SESSION, raw=True, head=True, content=HTML, path_enums={"page": ["welcome", "profile", "users", "agreements"]},
          route="companies/{companyId}/{page:regex(^(welcome|profile|users|agreements)$)}",
          description="For the company's own users; `agreements` shows the customer agreement as Provided or Not provided.")
@page
def company_page(req: func.HttpRequest) -> func.HttpResponse:
    return company_route(req, company_views.company_page, req.route_params["page"])


# -- inviting colleagues -------------------------------------------------------------------------------


@endpoint(bp, "companies/{companyId}/invitations/new", "GET", action=Action.INVITE_COLLEAGUE,
          summary="Invite a colleague (form)", tag=TAG, auth=SESSION, raw=True,
          head=True, content=HTML)
@page
def colleague_invitation_form(req: func.HttpRequest) -> func.HttpResponse:
    return company_route(req, colleague_views.form_page)


def _colleague_inviter(req: func.HttpRequest, caller: Caller | None, ctx: Context) -> tuple[Customer, colleagues.Inviter]:
    """The company and who invites into it: the partner with its standing, or the signed-in company user (401 / 403 / 404
    before the body is read)."""
    customer_id = req.route_params["companyId"]
    if caller is not None:
        return colleagues.partner_inviter(ctx, customer_id, caller)
    return colleagues.session_inviter(ctx, customer_id, visitor_of(req).session, req.headers.get("x-csrf-token"))


def _colleague_scope(call: Call) -> str:
    """A keyed request is the inviter's own: the partner agent's, or the signed-in person's."""
    _, inviter = call.resolved
    return f"colleague|{call.param('companyId')}|{inviter.email.casefold()}"


@page
def _invite_colleague_page(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    data = form_of(req)
    ctx = request_context()
    customer_id = req.route_params["companyId"]

    def work() -> tuple[int, dict, dict]:
        reply = colleague_views.invite(ctx, visitor, customer_id, data)
        if reply.status != 201:
            raise _Rendered(reply)
        return 201, {"email": reply.context["email"], "expiresAt": reply.context["expires_at"].isoformat()}, {}

    try:
        # A double-click sends the form twice with the same submission id: one invitation, the same page twice.
        (_, body, _), _ = run_once(ctx, f"colleague-form|{customer_id}", data.get("submissionId"), sorted(data.items()), work)
    except _Rendered as rendered:
        return respond(rendered.reply, visitor)
    except Problem as problem:
        if problem.status == 409:
            return respond(redirect(f"/api/companies/{customer_id}/users"), visitor)
        raise
    return respond(colleague_views.sent(ctx, visitor, customer_id, body), visitor)


class _Rendered(Exception):
    """A page that is the answer (a form with its reasons): not remembered for the submission id, so it can be sent again."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.template)
        self.reply = reply


@endpoint(bp, "companies/{companyId}/invitations", "POST", action=Action.INVITE_COLLEAGUE,
          summary="Invite a colleague", tag=TAG, auth=SESSION_OR_PARTNER, forms=_invite_colleague_page,
          body="accept_invite.colleague_invitation:ColleagueInvitation", response="invite_user.api_models:InvitationOut",
          status=201, problems=(400, 401, 403, 404, 409, 422),
          idempotent=True, idempotency_scope=_colleague_scope, resolve=_colleague_inviter,
          form=("csrf", "submissionId", "email", "firstName", "lastName", "language", "countryRegion", "roles"),
          description="A company user whose roles may invite, or a partner agent as for invite-company-user, invites a "
                      "colleague. JSON (partner token, or session with X-CSRF-Token) answers problem+json; the page's form "
                      "answers pages. A partner agent: " + who_may(Action.INVITE_COMPANY_USER))
def invite_colleague(call: Call) -> dict[str, Any]:
    """A partner's bearer token or a session with JSON get JSON and problem+json; the page's form gets pages (`forms`)."""
    customer, inviter = call.resolved
    return colleagues.invite(call.ctx, customer, inviter, call.body)


# -- the agreement step ---------------------------------------------------------------------------------


@endpoint(bp, "agreements/accept", "GET", action=Action.ACCEPT_DIRECTLY,
          summary="Accept the customer agreement (page)", tag=TAG, auth=SESSION, raw=True, head=True,
          content=HTML, query=PagesQuery,
          description="Direct acceptance: after sign-in the invitee reads the agreement and ticks the box; once accepted, the page "
                      "shows who accepted and when.")
@page
def agreement_page(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(agreement_step.show(request_context(), visitor, req.params.get("invitationId")), visitor)


@endpoint(bp, "agreements/accept", "POST", action=Action.ACCEPT_DIRECTLY,
          summary="Accept the customer agreement", tag=TAG, auth=SESSION, raw=True, content=HTML,
          form=("csrf", "invitationId", "accept"),
          description="accept=yes with the session's CSRF token: recorded once as DirectAcceptance, no email sent.")
@page
def accept_agreement(req: func.HttpRequest) -> func.HttpResponse:
    """The ticked box, with the session's CSRF token: accepted once, then the page shows who accepted and when."""
    visitor = visitor_of(req)
    return respond(agreement_step.submit(request_context(), visitor, form_of(req)), visitor)


# -- the pages' files and the clean-up ----------------------------------------------------------------------


@endpoint(bp, "assets/{name}", "GET", action=Action.PUBLIC, summary="The pages' stylesheet and script", tag=TAG, auth=ANONYMOUS, raw=True, head=True,
          content="text/css, text/javascript", path_enums={"name": ["pages.css", "pages.js"]})
def page_asset(req: func.HttpRequest) -> func.HttpResponse:
    """The pages' stylesheet and script: files, so the Content-Security-Policy needs no inline code."""
    found = pages.asset(req.route_params.get("name", ""))
    if found is None:
        return func.HttpResponse("<!doctype html><title>Not found</title>", status_code=404, mimetype="text/html",
                                 headers=dict(pages.PAGE_HEADERS))
    content, mimetype = found
    headers = {**pages.PAGE_HEADERS, "Cache-Control": "public, max-age=3600"}
    return func.HttpResponse(content, status_code=200, headers=headers, mimetype=mimetype, charset="utf-8")


@bp.timer_trigger(arg_name="timer", schedule="0 30 * * * *", run_on_startup=False, use_monitor=True)
@runs_as(Action.SCHEDULED)
@telemetry.traced
def delete_stale_sign_in_flows(timer: func.TimerRequest) -> None:
    """Deletes sign-in flows nobody finished (each lives ten minutes), every hour at half past.

    A late (past_due) run does the same work: it deletes every flow past its time, however old.
    """
    if timer.past_due:
        log.warning("sign-in flow clean-up is running late (past_due)")
    log.info("%s stale sign-in flows deleted", signin.delete_stale_flows(request_context()))
