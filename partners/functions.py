"""Trigger functions of the partner registry (platform administrators only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

from shared.authorization import Action
from shared.endpoints import ADMIN, Call, endpoint
from shared.lazy import on_first_use

if TYPE_CHECKING:
    from partners import service
    from partners.registry import Partner
    from partners.service import PartnerPage
else:  # this feature's route modules, imported on a route's first call (cold start: shared/lazy.py)
    service = on_first_use("partners.service")

bp = func.Blueprint()


@endpoint(bp, "partners", "POST", action=Action.REGISTER_PARTNERS,
          summary="Register a partner", tag="Partners", auth=ADMIN, body="partners.registry:Partner", response="partners.registry:Partner",
          status=201,
          problems=(400, 401, 403, 404, 409, 422), idempotency_scope="platform-admin")
def register_partner(call: Call) -> Partner:
    return service.register(call.ctx, call.body)


@endpoint(bp, "partners", "GET", action=Action.REGISTER_PARTNERS,
          summary="List partners", tag="Partners", auth=ADMIN, query="shared.pagination:PageQuery", response="partners.service:PartnerPage",
          problems=(400, 401, 403))
def list_partners(call: Call) -> PartnerPage:
    return service.list_page(call.ctx, call.query.continuation_token)
