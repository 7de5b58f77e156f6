"""The OpenAPI document: valid OpenAPI 3.1, covering every HTTP route of the app, and true to what the API answers."""

from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

import function_app  # noqa: F401  (registers every route, and with it every contract)
from attest_agreement import functions as fn
from operations import functions as operations_fn
from operations.openapi import document, documented_operations
from tests.integration import test_invitee_change as change_tests
from tests.integration.test_attest_agreement import agreement, attest
from tests.integration.test_attest_customers import call, create, customer_body
from tests.integration.test_attest_direct import eligibility, invite, signing
from tests.integration.test_attest_relationships import relationship, remove, request, trail
from tests.support.http import build_request, json_of
from tests.support.routes import registered_routes
from webhooks.catalog import EVENT_TYPES


@pytest.fixture(scope="module")
def registered():
    """Every HTTP route of function_app.app."""
    return registered_routes()


def _plain(route):
    return re.sub(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(:[^}]*)?\}", r"{\2}", route)


def test_the_document_is_valid_openapi_31():
    doc = document()
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    text = doc["info"]["description"]
    assert "*DAP* (delegated admin privileges)" in text and "*GDAP* (granular delegated admin privileges)" in text
    assert "GDAP stays" in text


def test_every_registered_route_and_method_is_documented(registered):
    operations = {(m, _plain(r["route"])) for r in registered for m in r["methods"]}
    missing = operations - documented_operations()
    assert not missing, f"routes without a contract (shared.endpoints.endpoint): {sorted(missing)}"
    stale = documented_operations() - operations
    assert not stale, f"documented routes that the app does not have: {sorted(stale)}"
    paths = document()["paths"]
    for method, route in operations:
        assert method.lower() in paths[f"/api/{route}"], (method, route)


def test_anonymous_routes_are_documented_without_security(registered):
    paths = document()["paths"]
    for r in registered:
        if r["auth"].endswith("ANONYMOUS") and _plain(r["route"]) in ("health", "openapi.json", "InviteUser"):
            for m in r["methods"]:
                assert paths[f"/api/{_plain(r['route'])}"][m.lower()]["security"] == []


def test_schemas_come_from_the_models():
    schemas = document()["components"]["schemas"]
    props = schemas["AttestationIn"]["properties"]
    # Partner Center's Agreement resource: templateId, agreementLink and userId are accepted (and ignored) too; with
    # attestationId (the customer accepted itself) primaryContact and dateAgreed are not needed.
    assert set(props) == {"type", "primaryContact", "dateAgreed", "templateId", "agreementLink", "userId", "attestationId"}
    assert props["type"]["const"] == "MicrosoftCustomerAgreement" and set(schemas["AttestationIn"]["required"]) == {"type"}
    assert set(schemas["AttestationRequestIn"]["required"]) == {"contact", "companyName"}
    rel = schemas["ResellerRelationship"]["properties"]
    assert {"dap", "gdap"} <= set(rel) and "etag" not in rel
    assert "endDate" in schemas["GranularDelegatedAdminPrivileges"]["properties"]


def test_served_anonymously(storage):
    resp = operations_fn.openapi_document(build_request("GET", "openapi.json"))
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    assert json_of(resp)["paths"].keys() == document()["paths"].keys()


def _check(resp, path, method):
    """The body of a response matches the schema documented for its status."""
    doc = document()
    responses = doc["paths"][f"/api/{path}"][method]["responses"]
    spec = responses.get(str(resp.status_code))
    assert spec is not None, f"{method} {path}: status {resp.status_code} is not documented"
    if "$ref" in spec:
        spec = doc["components"]["responses"][spec["$ref"].rsplit("/", 1)[1]]
    [(media, content)] = spec["content"].items()
    assert resp.mimetype == media
    Draft202012Validator({**content["schema"], "components": doc["components"]}).validate(json_of(resp))


def test_answers_match_the_documented_schemas(storage, partner_tokens, fixed_clock):
    token = partner_tokens()
    resp = call(fn.create_customer, "POST", "customers", token, customer_body(gdap={"roles": ["Helpdesk Administrator"],
                                                                                   "endDate": "2027-01-31"}))
    _check(resp, "customers", "post")
    cid = json_of(resp)["customer"]["id"]
    _check(call(fn.list_customers, "GET", "customers", token), "customers", "get")
    _check(call(fn.get_customer, "GET", "x", token, customer_id=cid), "customers/{customerId}", "get")
    _check(eligibility(token, cid), "customers/{customerId}/purchase-eligibility", "get")
    _check(agreement(token, cid), "customers/{customerId}/agreements", "get")
    _check(attest(token, cid, {"type": "MicrosoftCustomerAgreement", "dateAgreed": "2026-11-22",
                               "primaryContact": {"firstName": "G", "lastName": "M", "email": "g@contoso.de"}}),
           "customers/{customerId}/agreements", "post")
    _check(attest(token, cid), "customers/{customerId}/agreements", "post")
    _check(attest(token, cid), "customers/{customerId}/agreements", "post")  # 409
    _check(agreement(token, cid), "customers/{customerId}/agreements", "get")
    _check(eligibility(token, cid), "customers/{customerId}/purchase-eligibility", "get")
    _check(signing(token, cid), "customers/{customerId}/direct-signing-status", "get")
    _check(invite(token, cid), "customers/{customerId}/agreement-invitations", "post")  # 409: accepted already
    other = create(token, name="Other Customer")["customer"]["id"]
    _check(invite(token, other), "customers/{customerId}/agreement-invitations", "post")
    _check(request(partner_tokens("p-provider"), cid), "customers/{customerId}/relationship-requests", "post")
    _check(relationship(token, cid), "customers/{customerId}/relationship", "get")
    _check(remove(token, cid, {"goodFaithDeclaration": False}), "customers/{customerId}/relationship", "delete")
    _check(remove(token, cid, {"goodFaithDeclaration": True}), "customers/{customerId}/relationship", "delete")
    _check(trail(token, cid), "customers/{customerId}/audit", "get")
    _check(signing(token, cid), "customers/{customerId}/direct-signing-status", "get")  # 404 now


def test_every_event_is_a_documented_webhook_with_its_payload_and_signature_headers():
    doc = document()
    assert set(doc["webhooks"]) == set(EVENT_TYPES)
    for name, item in doc["webhooks"].items():
        op = item["post"]
        assert {p["name"] for p in op["parameters"]} == {"webhook-id", "webhook-timestamp", "webhook-signature"}
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        assert schema["properties"]["type"] == {"const": name}
        for ref in schema["properties"]["data"]["properties"].values():  # every field named exists in EventData
            assert ref["$ref"].rsplit("/", 1)[-1] in doc["components"]["schemas"]["EventData"]["properties"]
    assert {"/api/webhooks", "/api/webhooks/{id}", "/api/webhooks/{id}/test", "/api/webhooks/{id}/deliveries",
            "/api/webhooks/{id}/rotate-secret", "/api/events"} <= set(doc["paths"])


def test_invitee_change_answers_match_the_documented_schemas_and_headers(storage, partner_tokens):
    token = partner_tokens()
    created = change_tests.create(token)
    path = "invitations/{id}"
    read = change_tests.read(token, created["id"])
    _check(read, path, "get")
    assert "ETag" in document()["paths"][f"/api/{path}"]["get"]["responses"]["200"]["headers"]
    body = {"email": "nora@contoso.com"}
    _check(change_tests.patch(token, created["id"], body), path, "patch")  # 428
    _check(change_tests.patch(token, created["id"], body, '"stale"'), path, "patch")  # 412
    changed = change_tests.patch(token, created["id"], body, read.headers["ETag"])
    _check(changed, path, "patch")  # 200
    assert set(document()["paths"][f"/api/{path}"]["patch"]["responses"]["200"]["headers"]) <= set(changed.headers.keys()) | {
        "etag", "content-location"}
    _check(change_tests.patch(token, created["id"], body, change_tests.etag(token, created["id"])), path, "patch")  # 409
    _check(change_tests.patch(token, created["id"], {"email": None}, '"x"'), path, "patch")  # 400
    _check(change_tests.patch(partner_tokens("p-provider"), created["id"], body, '"x"'), path, "patch")  # 404
