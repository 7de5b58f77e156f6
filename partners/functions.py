"""Trigger functions of the partner registry (platform administrators only)."""

from __future__ import annotations

import azure.functions as func

from partners import service
from partners.registry import Partner
from partners.service import PartnerPage
from shared.authorization import Action
from shared.endpoints import ADMIN, Call, endpoint
from shared.pagination import PageQuery

bp = func.Blueprint()


@endpoint(bp, "partners", "POST", action=Action.REGISTER_PARTNERS,
          summary="Register a partner", tag="Partners", auth=ADMIN, body=Partner, response=Partner, status=201,
          problems=(400, 401, 403, 404, 409, 422), idempotency_scope="platform-admin")
def register_partner(call: Call) -> Partner:
    return service.register(call.ctx, call.body)


@endpoint(bp, "partners", "GET", action=Action.REGISTER_PARTNERS,
          summary="List partners", tag="Partners", auth=ADMIN, query=PageQuery, response=PartnerPage,
          problems=(400, 401, 403))
def list_partners(call: Call) -> PartnerPage:
    return service.list_page(call.ctx, call.query.continuation_token)
