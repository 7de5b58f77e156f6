"""Trigger functions of operations: GET /api/health (anonymous), GET /api/openapi.json, the API reference page, the housekeeping timer."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import azure.functions as func
from pydantic import ConfigDict, Field

from operations import api_reference
from shared import idempotency, rate_limit, telemetry
from shared.authorization import Action, runs_as
from shared.context import request_context
from shared.endpoints import ANONYMOUS, Call, Reply, endpoint
from shared.lazy import on_first_use
from shared.models import Model
from shared.storage import StorageUnavailable

if TYPE_CHECKING:
    from operations import openapi
else:  # the document's builder (and the event catalog it documents), imported on the route's first call (shared/lazy.py)
    openapi = on_first_use("operations.openapi")

log = logging.getLogger(__name__)

bp = func.Blueprint()


class HealthStatus(Model):
    model_config = ConfigDict(populate_by_name=True)
    status: str = Field(description="healthy or unhealthy")
    version: str
    storage: dict[str, object]


_UNHEALTHY = {"503": {"description": "Storage unreachable (Retry-After).",
                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HealthStatus"}}}}}


@endpoint(bp, "health", "GET", action=Action.PUBLIC,
          summary="Health of the app and its storage", tag="Operations", auth=ANONYMOUS, response=HealthStatus,
          extra_responses=_UNHEALTHY)
def health(call: Call) -> HealthStatus | Reply:
    """200 when storage answers, 503 (with Retry-After) when it does not: within 2 s (one short try, no retries),
    as a platform health probe needs."""
    version = call.ctx.settings.app_version
    try:
        call.ctx.storage.quick.ping()
    except StorageUnavailable as exc:
        # Anonymous callers learn that storage is down, never the exception's text (hosts, ports, account names).
        log.warning("health: storage unreachable: %s", exc)
        return Reply(HealthStatus(status="unhealthy", version=version, storage={"reachable": False, "error": "unreachable"}),
                     status=503, headers={"Retry-After": "10"})
    return HealthStatus(status="healthy", version=version, storage={"reachable": True})


@endpoint(bp, "openapi.json", "GET", action=Action.PUBLIC, summary="This document", tag="Operations", auth=ANONYMOUS,
          description="The OpenAPI 3.1 description of every HTTP endpoint of the app.")
def openapi_document(call: Call) -> Reply:
    return Reply(openapi.document(), headers={"Cache-Control": "public, max-age=300"})


@endpoint(bp, "docs", "GET", action=Action.PUBLIC, summary="The API reference", tag="Operations", auth=ANONYMOUS, raw=True,
          head=True, content="text/html",
          description="This document rendered for reading in a browser (Redoc, served by the app: nothing from a CDN).")
def api_reference_page(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(api_reference.page(), status_code=200, headers=dict(api_reference.HEADERS), mimetype="text/html",
                             charset="utf-8")


@endpoint(bp, "docs/{name}", "GET", action=Action.PUBLIC, summary="The API reference's script", tag="Operations", auth=ANONYMOUS,
          raw=True, head=True, content="text/javascript, text/plain", path_enums={"name": sorted(api_reference.ASSETS)})
def api_reference_asset(req: func.HttpRequest) -> func.HttpResponse:
    found = api_reference.asset(req.route_params.get("name", ""))
    if found is None:
        # Documented as a page, like the pages' own unknown files.
        return func.HttpResponse("<!doctype html><title>Not found</title>", status_code=404, mimetype="text/html",
                                 headers=dict(api_reference.HEADERS))
    content, mimetype = found
    headers = {**api_reference.HEADERS, "Cache-Control": "public, max-age=86400"}
    return func.HttpResponse(content, status_code=200, headers=headers, mimetype=mimetype, charset="utf-8")


@bp.timer_trigger(arg_name="timer", schedule="0 45 * * * *", run_on_startup=False, use_monitor=True)
@runs_as(Action.SCHEDULED)
@telemetry.traced
def sweep_expired_keys(timer: func.TimerRequest) -> None:
    """Deletes Idempotency-Key answers older than 24 h and rate-limit windows older than a day, every hour at 45.

    Both read only what expired (expiry marks by hour, windows by start), so the cost follows what is deleted.
    A late (past_due) run does the same work.
    """
    if timer.past_due:
        log.warning("housekeeping is running late (past_due)")
    ctx = request_context()
    log.info("%s idempotency keys and %s rate-limit windows deleted", idempotency.sweep(ctx), rate_limit.sweep(ctx))
