"""Trigger functions of the page where a customer's contact accepts the agreement on its personal link (no sign-in).

A blueprint of its own, like the domain pages; the view is `accept_invite.attestation_views`, the rules live in
`attest_agreement` (attestations, attestations_service).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func
from pydantic import ConfigDict, Field

from accept_invite.web import form_of, page, respond, visitor_of
from shared.authorization import Action
from shared.context import request_context
from shared.endpoints import ANONYMOUS, endpoint
from shared.http import client_ip
from shared.lazy import on_first_use
from shared.models import Model

if TYPE_CHECKING:
    from accept_invite import attestation_views
else:  # the page's view and the attestation rules, imported on the page's first call (cold start: shared/lazy.py)
    attestation_views = on_first_use("accept_invite.attestation_views")

bp = func.Blueprint()

TAG = "Customer pages"
HTML = "text/html"
FORM = ("csrf", "link", "name", "accept")  # the fields the page's form posts (attestation_views.submit reads them)


class AttestationPageQuery(Model):
    model_config = ConfigDict(populate_by_name=True)
    link: str | None = Field(default=None, description="The personal link id from the email.")
    lang: str | None = Field(default=None, description="The language switcher's choice (BCP 47).")


@endpoint(bp, "agreements/attestation", "GET", action=Action.CONFIRM_AGREEMENT,
          summary="The personal link of an attestation the customer confirms itself", tag=TAG, auth=ANONYMOUS, raw=True,
          head=True, content=HTML, query=AttestationPageQuery,
          description="The agreement, the company and the partner, with a form to accept; or the page of a used, expired, "
                      "replaced or unknown link. Opening it changes nothing (mail scanners open links).")
@page
def attestation_page(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    return respond(attestation_views.show(request_context(), visitor, req.params.get("link")), visitor)


@endpoint(bp, "agreements/attestation", "POST", action=Action.CONFIRM_AGREEMENT,
          summary="Accept the agreement on the personal link", tag=TAG, auth=ANONYMOUS, raw=True, content=HTML,
          form=FORM,
          description="The page's CSRF token, the contact's name as the partner named them and accept=yes: accepted once (a "
                      "second tab finds it used); the evidence (time, link hash, agreement version, name typed, client "
                      "address, user agent) goes to the customer's audit records and the contact gets a receipt email.")
@page
def accept_attestation(req: func.HttpRequest) -> func.HttpResponse:
    visitor = visitor_of(req)
    reply = attestation_views.submit(request_context(), visitor, form_of(req), client_ip(req), req.headers.get("user-agent") or "")
    return respond(reply, visitor)
