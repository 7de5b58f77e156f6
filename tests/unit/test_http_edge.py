"""The HTTP edge: one error format, never a traceback."""

import json

import azure.functions as func
import pytest
from pydantic import BaseModel, Field

from shared.errors import PreconditionFailed, PreconditionRequired
from shared.http import api, parse_json
from shared.problems import Problem
from shared.storage import MalformedRow, StorageUnavailable
from tests.support.http import build_request


class Body(BaseModel):
    name: str = Field(min_length=1)
    count: int


def _raising(exc: Exception):
    @api
    def handler(req):
        raise exc

    return handler


@pytest.mark.parametrize(
    ("exc", "status", "type_suffix"),
    [
        (Problem(409, "thing-exists", "Conflict", "exists"), 409, "thing-exists"),
        (StorageUnavailable("down"), 503, "storage-unavailable"),
        (MalformedRow("bad row"), 500, "internal"),
        (RuntimeError("boom: secret stack detail"), 500, "internal"),
    ],
)
def test_errors_become_problem_json(exc, status, type_suffix):
    resp = _raising(exc)(build_request("GET", "things/1"))
    assert resp.status_code == status
    assert resp.mimetype == "application/problem+json"
    body = json.loads(resp.get_body())
    assert body["type"].endswith(type_suffix)
    assert body["status"] == status
    assert body["instance"] == "/api/things/1"
    assert "Traceback" not in resp.get_body().decode()
    assert "secret stack detail" not in resp.get_body().decode()


def test_storage_outage_says_when_to_retry():
    resp = _raising(StorageUnavailable("down"))(build_request("POST", "x"))
    assert resp.headers["Retry-After"] == "5"


def test_validation_lists_every_bad_field():
    @api
    def handler(req: func.HttpRequest) -> func.HttpResponse:
        parse_json(req, Body)
        raise AssertionError("parse_json let a bad body through")

    resp = handler(build_request("POST", "x", body={"name": "", "count": "many"}))
    body = json.loads(resp.get_body())
    assert resp.status_code == 400
    assert {e["field"] for e in body["errors"]} == {"name", "count"}


@pytest.mark.parametrize("raw", [b"", b"   ", b"{not json", b"\xff\xfe"])
def test_missing_or_malformed_body_is_400(raw):
    @api
    def handler(req: func.HttpRequest) -> func.HttpResponse:
        parse_json(req, Body)
        raise AssertionError("parse_json let a bad body through")

    resp = handler(build_request("POST", "x", raw=raw))
    assert resp.status_code == 400
    assert json.loads(resp.get_body())["type"].rsplit("/", 1)[1] in {"validation", "malformed-json"}


def test_precondition_problems_are_412_and_428():
    problem = _raising(PreconditionRequired("x"))(build_request("PATCH", "x"))
    assert problem.status_code == 428 and problem.mimetype == "application/problem+json"
    assert _raising(PreconditionFailed("x"))(build_request("PATCH", "x")).status_code == 412
