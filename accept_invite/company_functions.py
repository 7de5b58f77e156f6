"""Trigger functions of the company running itself: its users' roles and removal, its pending invitations, its partners.

Pages like the rest of the customer's journey (session cookie, CSRF on every form, errors as pages); the rules are in
`accept_invite.company_users` and `attest_agreement.partner_rights`. A blueprint of its own, as the domain pages have.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

from accept_invite.web import company_route, form_of, page
from shared.authorization import Action
from shared.endpoints import SESSION, endpoint
from shared.lazy import on_first_use

if TYPE_CHECKING:
    from accept_invite import partner_views, user_views
else:  # this feature's route modules, imported on a route's first call (cold start: shared/lazy.py)
    partner_views, user_views = on_first_use("accept_invite.partner_views", "accept_invite.user_views")

bp = func.Blueprint()

TAG = "Customer pages"
HTML = "text/html"
USER_FORM = ("csrf", "email", "version")
INVITATION_FORM = ("csrf", "reference")
PARTNER_FORM = ("csrf", "partnerId", "version")


def _users(req: func.HttpRequest, what: str) -> func.HttpResponse:
    return company_route(req, user_views.change, what, form_of(req))


@endpoint(bp, "companies/{companyId}/users/roles", "POST", action=Action.MANAGE_USERS,
          summary="Change a user's roles", tag=TAG, auth=SESSION, raw=True, content=HTML, form=(*USER_FORM, "roles"),
          description="The user gets exactly the roles sent; only roles the acting user may grant may change, and the company keeps "
                      "an Account manager and a User administrator. A form older than the user's last change changes nothing (409).")
@page
def change_user_roles(req: func.HttpRequest) -> func.HttpResponse:
    return _users(req, "roles")


@endpoint(bp, "companies/{companyId}/users/remove", "POST", action=Action.MANAGE_USERS,
          summary="Remove a user", tag=TAG, auth=SESSION, raw=True, content=HTML, form=USER_FORM,
          description="The user's access ends at their next request, which shows whom to ask. Never the company's last Account "
                      "manager or User administrator.")
@page
def remove_user(req: func.HttpRequest) -> func.HttpResponse:
    return _users(req, "remove")


@endpoint(bp, "companies/{companyId}/invitations/resend", "POST", action=Action.MANAGE_USERS,
          summary="Resend a colleague's invitation", tag=TAG, auth=SESSION, raw=True, content=HTML, form=INVITATION_FORM,
          description="The same link again, its expiry restarted (as a partner's resend).")
@page
def resend_company_invitation(req: func.HttpRequest) -> func.HttpResponse:
    return _users(req, "resend")


@endpoint(bp, "companies/{companyId}/invitations/revoke", "POST", action=Action.MANAGE_USERS,
          summary="Revoke a colleague's invitation", tag=TAG, auth=SESSION, raw=True, content=HTML, form=INVITATION_FORM,
          description="The link then shows the revoked page.")
@page
def revoke_company_invitation(req: func.HttpRequest) -> func.HttpResponse:
    return _users(req, "revoke")


@endpoint(bp, "companies/{companyId}/partners", "GET", action=Action.MANAGE_PARTNERS,
          summary="The company's partners (page)", tag=TAG, auth=SESSION, raw=True, head=True, content=HTML,
          description="For the account administrators and the primary contact: each partner's relationship (reseller or indirect "
                      "provider), delegated admin rights (DAP), granular rights (GDAP roles, end date) and since when.")
@page
def company_partners_page(req: func.HttpRequest) -> func.HttpResponse:
    return company_route(req, partner_views.partners_page)


def _partners(req: func.HttpRequest, what: str) -> func.HttpResponse:
    return company_route(req, partner_views.take_back, what, form_of(req))


@endpoint(bp, "companies/{companyId}/partners/remove-admin-rights", "POST", action=Action.MANAGE_PARTNERS,
          summary="Remove a partner's admin rights (DAP)", tag=TAG, auth=SESSION, raw=True, content=HTML, form=PARTNER_FORM,
          description="DAP removed, the relationship and GDAP stay; the partner hears relationship.adminRightsRemovedByCustomer "
                      "and gets an email, the customer's side a confirmation.")
@page
def remove_partner_admin_rights(req: func.HttpRequest) -> func.HttpResponse:
    return _partners(req, "admin_rights")


@endpoint(bp, "companies/{companyId}/partners/end", "POST", action=Action.MANAGE_PARTNERS,
          summary="End a partner's relationship", tag=TAG, auth=SESSION, raw=True, content=HTML, form=PARTNER_FORM,
          description="The relationship is removed (DAP removed, GDAP kept) and the company leaves the partner's customer list; the "
                      "partner hears relationship.removedByCustomer and gets an email, the customer's side a confirmation.")
@page
def end_partner_relationship(req: func.HttpRequest) -> func.HttpResponse:
    return _partners(req, "ended")
