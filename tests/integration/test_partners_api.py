"""Partners are records kept by platform admins."""

from partners import functions as fn
from tests.support.http import build_request, json_of


def _post(token, body, key=None):
    headers = {"Authorization": token, **({"Idempotency-Key": key} if key else {})}
    return fn.register_partner(build_request("POST", "partners", body=body, headers=headers))


def test_platform_admin_registers_and_lists_partners(storage, settings, partner_tokens):
    admin = partner_tokens("platform", roles=("PlatformAdmin",))
    resp = _post(admin, {"id": "new-reseller", "name": "New Reseller", "type": "IndirectReseller", "indirectProviderId": "p-provider"})
    assert resp.status_code == 201, resp.get_body()
    assert json_of(resp)["indirectProviderId"] == "p-provider"
    assert json_of(resp)["language"] == "en"  # no language named: the platform writes to it in English
    japanese = _post(admin, {"id": "jp-direct", "name": "JP Direct", "type": "Direct", "language": "ja"})
    assert japanese.status_code == 201 and json_of(japanese)["language"] == "ja"
    listed = json_of(fn.list_partners(build_request("GET", "partners", headers={"Authorization": admin})))
    assert "new-reseller" in {p["id"] for p in listed["items"]}
    assert _post(admin, {"id": "new-reseller", "name": "Again", "type": "Direct"}).status_code == 409


def test_partner_rules(storage, settings, partner_tokens):
    admin = partner_tokens("platform", roles=("PlatformAdmin",))
    assert _post(admin, {"id": "r1", "name": "R", "type": "IndirectReseller"}).status_code == 400  # needs its provider
    assert _post(admin, {"id": "r2", "name": "R", "type": "IndirectReseller", "indirectProviderId": "p-direct"}).status_code == 404
    assert _post(admin, {"id": "bad id!", "name": "R", "type": "Direct"}).status_code == 400
    assert _post(admin, {"id": "d1", "name": "D", "type": "Wholesaler"}).status_code == 400
    assert _post(admin, {"id": "d2", "name": "D", "type": "Direct", "language": "not a language"}).status_code == 400


def test_agents_cannot_manage_partners(storage, settings, partner_tokens):
    resp = _post(partner_tokens(), {"id": "x", "name": "X", "type": "Direct"})
    assert resp.status_code == 403
    assert fn.list_partners(build_request("GET", "partners", headers={"Authorization": partner_tokens()})).status_code == 403


def test_platform_admin_counts_only_from_the_platform_tenant(storage, settings, partner_tokens, monkeypatch):
    # Regression: PlatformAdmin was trusted from any tenant, and every partner mints its own tokens' roles.
    body = {"id": "sneaky", "name": "Sneaky", "type": "Direct"}
    resp = _post(partner_tokens("p-direct", roles=("PlatformAdmin",)), body)
    assert resp.status_code == 403 and resp.mimetype == "application/problem+json"
    from shared.settings import reset_settings

    monkeypatch.setenv("PLATFORM_TENANT_ID", "")
    reset_settings()
    assert _post(partner_tokens("platform", roles=("PlatformAdmin",)), body).status_code == 403  # unset: nobody is one


def test_a_malformed_continuation_token_is_400_not_500(storage, settings, partner_tokens):
    admin = partner_tokens("platform", roles=("PlatformAdmin",))
    for token in ("%%%not-base64", "bm90LWpzb24", "WzEsMl0"):  # not base64, not JSON, not an object
        resp = fn.list_partners(build_request("GET", "partners", headers={"Authorization": admin}, params={"continuationToken": token}))
        assert resp.status_code == 400, (token, resp.get_body())
        assert json_of(resp)["errors"][0]["field"] == "continuationToken"
