"""Trigger functions of accept_invite (thin: parse, call one view or service, map errors).

Every route here is anonymous at the platform level: people arrive from an emailed link with a browser,
so the pages authenticate with their own sign-in and session cookie (and partners with their bearer token).
"""

from __future__ import annotations

import azure.functions as func

from accept_invite import colleagues, pages, views
from accept_invite.web import form_of, page, respond, visitor_of
from invite_user import service as invitations
from shared.http import answer, api, client_ip, parse_json
from shared.idempotency import run_once
from shared.partner_auth import authenticate
from shared.problems import Problem
from shared.rate_limit import hit
from shared.storage import get_storage

bp = func.Blueprint()
ANONYMOUS = func.AuthLevel.ANONYMOUS


@bp.route(route="InviteUser", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
@page
def redeem_invitation_link(req: func.HttpRequest) -> func.HttpResponse:
    """The emailed link. Shows a page for every state of the invitation; never changes anything (mail scanners open it)."""
    visitor = visitor_of(req)
    return respond(views.landing(get_storage(), visitor, req.params.get("invitationId")), visitor)


@bp.route(route="InviteUser/resend-request", methods=["POST"], auth_level=ANONYMOUS)
@page
def request_resend_from_page(req: func.HttpRequest) -> func.HttpResponse:
    visitor, storage = visitor_of(req), get_storage()
    hit(storage, f"resend-ip|{client_ip(req)}", limit=20, window_seconds=3600)
    return respond(views.resend_request(visitor, form_of(req), lambda body: invitations.request_resend(storage, body)), visitor)


@bp.route(route="auth/signin", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
@page
def start_sign_in(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    reply = views.sign_in(get_storage(), visitor, req.params.get("invitationId"), req.params.get("mode"), head=req.method == "HEAD")
    return respond(reply, visitor)


@bp.route(route="auth/callback", methods=["GET"], auth_level=ANONYMOUS)
@page
def finish_sign_in(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(views.callback(get_storage(), visitor, dict(req.params)), visitor)


@bp.route(route="auth/signout", methods=["POST"], auth_level=ANONYMOUS)
@page
def sign_out(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(views.sign_out(visitor, form_of(req).get("csrf")), visitor)


@bp.route(route="companies/new", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
@page
def new_company_form(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(views.company_form_page(get_storage(), visitor, req.params.get("invitationId")), visitor)


@bp.route(route="companies/validate", methods=["POST"], auth_level=ANONYMOUS)
@page
def validate_company(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(views.validate_company(visitor, form_of(req)), visitor)


@bp.route(route="companies", methods=["POST"], auth_level=ANONYMOUS)
@page
def create_company(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(views.create_company(get_storage(), visitor, form_of(req)), visitor)


@bp.route(route="companies/accept", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
@page
def confirm_invitation(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(views.confirm_page(get_storage(), visitor, req.params.get("invitationId")), visitor)


@bp.route(route="companies/accept", methods=["POST"], auth_level=ANONYMOUS)
@page
def accept_invitation(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(views.accept(get_storage(), visitor, form_of(req)), visitor)


@bp.route(route="companies/{companyId}/{page:regex(^(welcome|profile|users|agreements)$)}", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
@page
def company_page(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(views.company_page(get_storage(), visitor, req.route_params["companyId"], req.route_params["page"]), visitor)


@bp.route(route="companies/{companyId}/invitations/new", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
@page
def colleague_invitation_form(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(views.colleague_form_page(get_storage(), visitor, req.route_params["companyId"]), visitor)


@bp.route(route="companies/{companyId}/invitations", methods=["POST"], auth_level=ANONYMOUS)
def invite_colleague(req: func.HttpRequest) -> func.HttpResponse:
    """A colleague invitation: a partner's bearer token or a session with JSON get problem+json; the page's form gets pages."""
    if req.headers.get("authorization") or (req.headers.get("content-type") or "").startswith("application/json"):
        return _invite_colleague_api(req)
    return _invite_colleague_page(req)


@page
def _invite_colleague_page(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    data = form_of(req)
    storage = get_storage()
    customer_id = req.route_params["companyId"]

    def work() -> tuple[int, dict, dict]:
        reply = views.invite_colleague(storage, visitor, customer_id, data)
        if reply.status != 201:
            raise _Rendered(reply)
        return 201, {"email": reply.context["email"], "expiresAt": reply.context["expires_at"].isoformat()}, {}

    try:
        # A double-click sends the form twice with the same submission id: one invitation, the same page twice.
        (_, body, _), _ = run_once(storage, f"colleague-form|{customer_id}", data.get("submissionId"), sorted(data.items()), work)
    except _Rendered as rendered:
        return respond(rendered.reply, visitor)
    except Problem as problem:
        if problem.status == 409:
            return respond(views.redirect(f"/api/companies/{customer_id}/users"), visitor)
        raise
    return respond(views.colleague_sent(storage, visitor, customer_id, body), visitor)


class _Rendered(Exception):
    def __init__(self, reply: views.Reply) -> None:
        super().__init__(reply.template)
        self.reply = reply


@api
def _invite_colleague_api(req: func.HttpRequest) -> func.HttpResponse:
    storage = get_storage()
    customer_id = req.route_params["companyId"]
    try:
        if req.headers.get("authorization"):
            customer, inviter = colleagues.partner_inviter(storage, customer_id, authenticate(req.headers.get("authorization")))
        else:
            customer, inviter = colleagues.session_inviter(storage, customer_id, visitor_of(req).session, req.headers.get("x-csrf-token"))
        body = parse_json(req, colleagues.ColleagueInvitation)
        scope = f"colleague|{customer_id}|{inviter.email.casefold()}"
        fingerprint = [req.method, req.url.split("?")[0], (req.get_body() or b"").decode("utf-8", "replace")]
        (status, result, headers), replayed = run_once(storage, scope, req.headers.get("idempotency-key"), fingerprint,
                                                       lambda: (201, colleagues.invite(storage, customer, inviter, body), {}))
    except colleagues.ColleagueError as exc:
        raise Problem(exc.status, exc.code, "Invitation not sent", str(exc), extra={"roles": exc.roles} if exc.roles else None) from exc
    return answer(status, result, {**headers, **({"Idempotent-Replayed": "true"} if replayed else {})})


@bp.route(route="assets/{name}", methods=["GET", "HEAD"], auth_level=ANONYMOUS)
def page_asset(req: func.HttpRequest) -> func.HttpResponse:
    """The pages' stylesheet and script: files, so the Content-Security-Policy needs no inline code."""
    found = pages.asset(req.route_params.get("name", ""))
    if found is None:
        return func.HttpResponse("Not found", status_code=404, headers=dict(pages.PAGE_HEADERS))
    content, mimetype = found
    headers = {**pages.PAGE_HEADERS, "Cache-Control": "public, max-age=3600"}
    return func.HttpResponse(content, status_code=200, headers=headers, mimetype=mimetype, charset="utf-8")
