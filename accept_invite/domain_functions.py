"""Trigger functions of verified domains: the company's domains page and its forms, and joining without an invitation.

Pages like the rest of the customer's journey (session cookie, CSRF on every form, errors as pages); the rules are in
`company_domains`. A blueprint of its own keeps `accept_invite.functions` within its size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

from accept_invite.web import company_route, form_of, page, respond, visitor_of
from shared.authorization import Action
from shared.context import request_context
from shared.endpoints import ANONYMOUS, SESSION, endpoint
from shared.lazy import on_first_use

if TYPE_CHECKING:
    from accept_invite import domain_views
else:  # this feature's route modules, imported on a route's first call (cold start: shared/lazy.py)
    domain_views = on_first_use("accept_invite.domain_views")

bp = func.Blueprint()

TAG = "Customer pages"
HTML = "text/html"
DOMAIN_FORM = ("csrf", "domain")


@endpoint(bp, "companies/{companyId}/domains", "GET", action=Action.MANAGE_DOMAINS,
          summary="The company's verified domains (page)", tag=TAG, auth=SESSION, raw=True, head=True, content=HTML,
          description="For a User administrator or Account manager: each domain with the TXT record that proves it, the joining "
                      "setting, and the requests to join waiting for a decision.")
@page
def domains_page(req: func.HttpRequest) -> func.HttpResponse:
    return company_route(req, domain_views.domains_page)


def _change(req: func.HttpRequest, what: str) -> func.HttpResponse:
    return company_route(req, domain_views.change, what, form_of(req))


@endpoint(bp, "companies/{companyId}/domains", "POST", action=Action.MANAGE_DOMAINS,
          summary="Add a domain", tag=TAG, auth=SESSION, raw=True, content=HTML, form=DOMAIN_FORM,
          description="Adds the domain (pending, with its TXT record); verified at once when the admin's own verified address is at it.")
@page
def add_domain(req: func.HttpRequest) -> func.HttpResponse:
    return _change(req, "add")


@endpoint(bp, "companies/{companyId}/domains/verify", "POST", action=Action.MANAGE_DOMAINS,
          summary="Verify a domain", tag=TAG, auth=SESSION, raw=True, content=HTML, form=DOMAIN_FORM,
          description="Looks up the domain's TXT records; verified when one carries the page's token and no other company has the "
                      "domain. Otherwise the page says what was found and what to do.")
@page
def verify_domain(req: func.HttpRequest) -> func.HttpResponse:
    return _change(req, "verify")


@endpoint(bp, "companies/{companyId}/domains/remove", "POST", action=Action.MANAGE_DOMAINS,
          summary="Remove a domain", tag=TAG, auth=SESSION, raw=True, content=HTML, form=DOMAIN_FORM,
          description="Nobody new joins through it; the users who joined stay.")
@page
def remove_domain(req: func.HttpRequest) -> func.HttpResponse:
    return _change(req, "remove")


@endpoint(bp, "companies/{companyId}/joining", "POST", action=Action.MANAGE_DOMAINS,
          summary="Set how people at verified domains join", tag=TAG, auth=SESSION, raw=True, content=HTML,
          form=("csrf", "joinAutomatically"),
          description="joinAutomatically=yes: they join at once as Account viewer; otherwise they ask and an administrator decides.")
@page
def set_joining(req: func.HttpRequest) -> func.HttpResponse:
    return _change(req, "joining")


@endpoint(bp, "companies/{companyId}/join-requests", "POST", action=Action.MANAGE_DOMAINS,
          summary="Approve or decline a request to join", tag=TAG, auth=SESSION, raw=True, content=HTML,
          form=("csrf", "email", "decision"),
          description="decision=approve makes the person an Account viewer (while the domain is verified); decline refuses.")
@page
def decide_join_request(req: func.HttpRequest) -> func.HttpResponse:
    return _change(req, "decide")


@endpoint(bp, "companies/join", "GET", action=Action.JOIN_COMPANY,
          summary="Join your company through its verified domain (page)", tag=TAG, auth=ANONYMOUS, raw=True, head=True, content=HTML,
          description="Without an invitation: sign in, then ask to join (or join) the company whose verified domain your verified "
                      "address is at.")
@page
def join_page(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(domain_views.join_page(request_context(), visitor), visitor)


@endpoint(bp, "companies/join/signin", "GET", action=Action.SIGN_IN,
          summary="Sign in to join a company", tag=TAG, auth=ANONYMOUS, raw=True, head=True, content=HTML,
          description="Redirects to the identity provider; back on the join page, signed in.")
@page
def join_sign_in(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(domain_views.join_sign_in(request_context(), visitor, head=req.method == "HEAD"), visitor)


@endpoint(bp, "companies/join", "POST", action=Action.JOIN_COMPANY,
          summary="Ask to join a company", tag=TAG, auth=SESSION, raw=True, content=HTML, form=("csrf", "companyId"),
          description="Joins at once as Account viewer where the company allows it; otherwise the request waits for an administrator.")
@page
def ask_to_join(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(domain_views.ask_to_join(request_context(), visitor, form_of(req)), visitor)
