"""Trigger functions of operations: GET /api/health (anonymous) and GET /api/openapi.json."""

from __future__ import annotations

import logging

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field

from operations.openapi import document
from shared.authorization import Action
from shared.endpoints import ANONYMOUS, Call, Reply, endpoint
from shared.settings import get_settings
from shared.storage import StorageUnavailable, get_storage

log = logging.getLogger(__name__)

bp = func.Blueprint()


class HealthStatus(BaseModel):
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
    """200 when storage answers, 503 (with Retry-After) when it does not."""
    version = get_settings().app_version
    try:
        get_storage().ping()
    except StorageUnavailable as exc:
        # Anonymous callers learn that storage is down, never the exception's text (hosts, ports, account names).
        log.warning("health: storage unreachable: %s", exc)
        return Reply(HealthStatus(status="unhealthy", version=version, storage={"reachable": False, "error": "unreachable"}),
                     status=503, headers={"Retry-After": "10"})
    return HealthStatus(status="healthy", version=version, storage={"reachable": True})


@endpoint(bp, "openapi.json", "GET", action=Action.PUBLIC, summary="This document", tag="Operations", auth=ANONYMOUS,
          description="The OpenAPI 3.1 description of every HTTP endpoint of the app.")
def openapi_document(call: Call) -> Reply:
    return Reply(document(), headers={"Cache-Control": "public, max-age=300"})
