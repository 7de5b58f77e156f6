"""Builds func.HttpRequest objects so tests can call trigger functions directly."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func


def build_request(
    method: str,
    path: str,
    *,
    body: Any = None,
    params: dict[str, str] | None = None,
    route_params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> func.HttpRequest:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    hdrs = {"content-type": "application/json"} if body is not None else {}
    hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
    query = "&".join(f"{k}={v}" for k, v in (params or {}).items())
    return func.HttpRequest(
        method=method,
        url=f"http://localhost:7071/api/{path}" + (f"?{query}" if query else ""),
        headers=hdrs,
        params=params or {},
        route_params=route_params or {},
        body=data,
    )


def json_of(resp: func.HttpResponse) -> Any:
    return json.loads(resp.get_body() or b"null")
