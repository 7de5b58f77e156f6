"""GET /api/health: anonymous; 200 when storage answers, 503 (with Retry-After) when it does not."""

import azure.functions as func

from shared.http import api, json_response
from shared.settings import get_settings
from shared.storage import StorageUnavailable, get_storage

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@api
def health(req: func.HttpRequest) -> func.HttpResponse:
    version = get_settings().app_version
    try:
        get_storage().ping()
    except StorageUnavailable as exc:
        return json_response(
            {"status": "unhealthy", "version": version, "storage": {"reachable": False, "error": str(exc)[:200]}},
            status=503,
            headers={"Retry-After": "10"},
        )
    return json_response({"status": "healthy", "version": version, "storage": {"reachable": True}})
