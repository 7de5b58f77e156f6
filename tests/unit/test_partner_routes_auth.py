"""Partner routes are anonymous at the Functions level and authenticate by the partner token alone, before any work."""

import io
import re

import pytest

from devhost.functions_host import FunctionHost, LocalKeys

# Routes meant to be reached without a partner token: health, the API contract and its reference page, the anonymous
# resend request and the customer's browser pages (their own sign-in and session). Every other route must answer 401
# without a token.
PUBLIC = {
    "health", "openapi_document", "api_reference_page", "api_reference_asset", "request_invitation_resend",
    "redeem_invitation_link", "request_resend_from_page",
    "start_sign_in", "finish_sign_in", "sign_out", "new_company_form", "validate_company", "create_company",
    "confirm_invitation", "accept_invitation", "company_page", "colleague_invitation_form", "page_asset",
    "agreement_page", "accept_agreement", "domains_page", "add_domain", "verify_domain", "remove_domain", "set_joining",
    "decide_join_request", "join_page", "join_sign_in", "ask_to_join", "invitation_opened", "attestation_page",
    "accept_attestation", "change_user_roles", "remove_user", "resend_company_invitation",
    "revoke_company_invitation", "company_partners_page", "remove_partner_admin_rights", "end_partner_relationship",
}
SAMPLE_VALUES = {"page": "welcome"}


@pytest.fixture(scope="module")
def host():
    return FunctionHost(keys=LocalKeys(default="k", master="m"))


@pytest.fixture
def dead_storage(monkeypatch):
    """Storage on a port nobody listens on: a route that touched it before checking the token would not answer 401."""
    from shared.settings import reset_settings
    from shared.storage import set_storage

    monkeypatch.setenv("AzureWebJobsStorage", "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
                       "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;")
    monkeypatch.setenv("PARTNER_AUTH_ISSUER", "https://issuer.test/")
    monkeypatch.setenv("PARTNER_AUTH_AUDIENCE", "api://test")
    monkeypatch.setenv("PARTNER_AUTH_JWKS_URL", "http://127.0.0.1:9/jwks.json")
    reset_settings()
    set_storage(None)
    yield
    set_storage(None)
    reset_settings()


def _path(template: str) -> str:
    return "/api/" + re.sub(r"\{([A-Za-z_]\w*)[^}]*\}", lambda m: SAMPLE_VALUES.get(m.group(1), "x1"), template)


def _call(host, method, path, headers):
    seen = {}
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "localhost", "SERVER_PORT": "7071",
        "wsgi.input": io.BytesIO(b"{}"), "CONTENT_LENGTH": "2", "wsgi.url_scheme": "http", "CONTENT_TYPE": "application/json",
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
    }
    body = b"".join(host.wsgi(environ, lambda status, hdrs: seen.update(status=int(status.split()[0]), headers=dict(hdrs))))
    return seen["status"], seen["headers"], body


def test_every_route_is_anonymous_at_the_functions_level(host):
    assert {r.auth_level for r in host.routes} == {"anonymous"}


def test_every_partner_route_refuses_a_missing_or_bad_token_before_any_work(host, dead_storage):
    partner_routes = [r for r in host.routes if r.name not in PUBLIC]
    # invite_colleague takes a partner token or a session; with neither it must not act either.
    assert {"create_invitation", "register_partner", "create_customer", "customer_audit", "invite_colleague"} <= {
        r.name for r in partner_routes}
    for route in partner_routes:
        for method in sorted(route.methods):
            for headers in ({}, {"Authorization": "Bearer not-a-jwt"}):
                status, hdrs, body = _call(host, method, _path(route.template), headers)
                if route.name == "invite_colleague" and not headers:
                    assert status in (401, 403), (route.name, method, status, body)  # no session either
                else:
                    assert status == 401, (route.name, method, headers, status, body)
                assert hdrs["Content-Type"].startswith("application/problem+json"), (route.name, hdrs)
