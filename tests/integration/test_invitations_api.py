"""The partner invitations API on real Azurite: contract, bad input, idempotency, isolation between partners."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

import pytest

from invite_user import functions as fn
from invite_user.invitations import link_hash
from invite_user.repository import InvitationStore
from tests.support.expect import found
from tests.support.http import build_request, json_of
from tests.support.invitations import save_changed


def invitation_body(**over):
    body = {
        "email": "Harry.Kim@Contoso.com",
        "firstName": "Harry",
        "lastName": "Kim",
        "language": "ko",
        "countryRegion": "KR",
        "kind": "CustomerOnboarding",
        "roles": ["AccountManager"],
        "company": {"name": "Contoso Korea", "country": "KR", "vatNumber": "123-45-67890",
                    "address": {"line1": "1 Gangnam-daero", "city": "Seoul", "postalCode": "06000", "country": "KR"}},
        "message": "Welcome aboard <b>Harry</b>",
    }
    body.update(over)
    return body


def post(path, token, body, handler, key=None, route_params=None):
    headers = {"Authorization": token} if token else {}
    if key:
        headers["Idempotency-Key"] = key
    return handler(build_request("POST", path, body=body, headers=headers, route_params=route_params or {}))


def queued_messages(storage, settings):
    q = storage.queue(settings.email_queue)
    return [json.loads(base64.b64decode(m.content)) for m in q.peek_messages(max_messages=32)]


def test_create_returns_link_and_stores_only_its_hash(storage, settings, partner_tokens):
    resp = post("invitations", partner_tokens(), invitation_body(), fn.create_invitation)
    assert resp.status_code == 201, resp.get_body()
    body = json_of(resp)
    assert body["status"] == "PendingAcceptance"
    assert body["inviteRedeemUrl"] == f"http://localhost:7071/api/InviteUser?invitationId={body['id']}"
    assert body["emailStatus"] == "Queued"
    assert body["createdBy"]["partnerId"] == "p-direct"
    assert datetime.fromisoformat(body["expiresAt"]) - datetime.fromisoformat(body["createdAt"]) == timedelta(days=60)
    # nothing in the table holds the raw link id
    dump = json.dumps([dict(e) for e in storage.table("Invitations").list_entities()], default=str)
    assert body["id"] not in dump
    assert link_hash(body["id"]) in dump
    # the email is queued in the same request
    msgs = queued_messages(storage, settings)
    assert msgs and msgs[0]["type"] == "invitation-email" and msgs[0]["items"][0]["linkId"] == body["id"]


def test_create_costs_at_most_three_storage_requests(storage, settings, partner_tokens):
    post("invitations", partner_tokens(), invitation_body(), fn.create_invitation)  # warm: tables, queue, partner cache
    storage.counter.reset()
    resp = post("invitations", partner_tokens(), invitation_body(email="second@contoso.com"), fn.create_invitation)
    assert resp.status_code == 201
    assert storage.counter.reset() <= 3


def test_redeem_url_never_comes_from_the_host_header(storage, settings, partner_tokens):
    req = build_request("POST", "invitations", body=invitation_body(),
                        headers={"Authorization": partner_tokens(), "Host": "evil.example", "X-Forwarded-Host": "evil.example"})
    body = json_of(fn.create_invitation(req))
    assert body["inviteRedeemUrl"].startswith("http://localhost:7071/")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"firstName": ""}, "firstName"),
        ({"language": "english please"}, "language"),
        ({"countryRegion": "XX"}, "countryRegion"),
        ({"countryRegion": "EU"}, "countryRegion"),  # a Babel territory, not an ISO 3166-1 country
        ({"company": {"country": "QO"}}, "company.country"),
        ({"kind": "Friendship"}, "kind"),
        ({"roles": ["Overlord"]}, "roles.0"),
        ({"roles": ["ReportViewer", "ReportViewer"]}, "roles"),
        ({"expiresInDays": 61}, "expiresInDays"),
        ({"expiresInDays": 0}, "expiresInDays"),
        ({"company": {"country": "Narnia"}}, "company.country"),
        ({"agreement": {"agreementNumber": "A1"}}, "agreement.purchasingAccountNumber"),
        ({"unknownField": 1}, "unknownField"),
        ({"message": "x" * 2001}, "message"),
    ],
)
def test_bad_input_is_a_field_problem_and_stores_nothing(storage, settings, partner_tokens, change, field):
    resp = post("invitations", partner_tokens(), invitation_body(**change), fn.create_invitation)
    assert resp.status_code == 400
    assert resp.mimetype == "application/problem+json"
    problem = json_of(resp)
    assert field in {e["field"] for e in problem["errors"]}, problem
    assert InvitationStore(storage).list_page("p-direct").items == []


def test_company_user_needs_customer_and_role(storage, settings, partner_tokens):
    resp = post("invitations", partner_tokens(), invitation_body(kind="CompanyUser", roles=[]), fn.create_invitation)
    assert resp.status_code == 400
    assert "customerId" in json.dumps(json_of(resp))


def test_unknown_indirect_provider_is_rejected(storage, settings, partner_tokens):
    resp = post("invitations", partner_tokens(), invitation_body(indirectProviderId="p-direct"), fn.create_invitation)
    assert resp.status_code == 400
    assert json_of(resp)["errors"][0]["field"] == "indirectProviderId"


def test_reseller_invitations_name_their_provider(storage, settings, partner_tokens):
    resp = post("invitations", partner_tokens("p-reseller"), invitation_body(kind="ResellerRelationship"), fn.create_invitation)
    assert json_of(resp)["indirectProviderId"] == "p-provider"


@pytest.mark.parametrize(
    ("token_kwargs", "status"),
    [
        (None, 401),
        ({"roles": ("Reader",)}, 403),
        ({"audience": "api://someone-else"}, 401),
        ({"issuer": "https://attacker.example"}, 401),
        ({"lifetime_seconds": -3600}, 401),
    ],
)
def test_who_may_call(storage, settings, partner_tokens, token_kwargs, status):
    token = None if token_kwargs is None else partner_tokens(**token_kwargs)
    resp = post("invitations", token, invitation_body(), fn.create_invitation)
    assert resp.status_code == status
    assert resp.mimetype == "application/problem+json"


def test_garbage_token_is_401(storage, settings, partner_tokens):
    assert post("invitations", "Bearer abc.def.ghi", invitation_body(), fn.create_invitation).status_code == 401


def test_unregistered_partner_is_403(storage, settings, partner_tokens):
    resp = post("invitations", partner_tokens("p-unknown"), invitation_body(), fn.create_invitation)
    assert resp.status_code == 403
    assert json_of(resp)["type"].endswith("partner-not-registered")


def test_idempotency_key_replays_the_first_answer(storage, settings, partner_tokens):
    token = partner_tokens()
    first = post("invitations", token, invitation_body(), fn.create_invitation, key="k-1")
    again = post("invitations", token, invitation_body(), fn.create_invitation, key="k-1")
    assert first.status_code == again.status_code == 201
    assert json_of(first)["id"] == json_of(again)["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert len(InvitationStore(storage).list_page("p-direct").items) == 1
    other = post("invitations", token, invitation_body(firstName="Other"), fn.create_invitation, key="k-1")
    assert other.status_code == 422


def test_idempotency_keys_are_per_partner(storage, settings, partner_tokens):
    a = post("invitations", partner_tokens("p-direct"), invitation_body(), fn.create_invitation, key="same")
    b = post("invitations", partner_tokens("p-provider"), invitation_body(), fn.create_invitation, key="same")
    assert json_of(a)["id"] != json_of(b)["id"]


def _create(partner_tokens, partner="p-direct", **over):
    return json_of(post("invitations", partner_tokens(partner), invitation_body(**over), fn.create_invitation))


def test_get_by_id_or_reference_and_other_partners_see_404(storage, settings, partner_tokens):
    created = _create(partner_tokens)
    by_id = fn.get_invitation(build_request("GET", "x", headers={"Authorization": partner_tokens()}, route_params={"id": created["id"]}))
    assert json_of(by_id)["inviteRedeemUrl"] == created["inviteRedeemUrl"]
    by_ref = fn.get_invitation(build_request("GET", "x", headers={"Authorization": partner_tokens()},
                                             route_params={"id": created["reference"]}))
    assert json_of(by_ref)["reference"] == created["reference"] and "id" not in json_of(by_ref)
    other = fn.get_invitation(build_request("GET", "x", headers={"Authorization": partner_tokens("p-provider")},
                                            route_params={"id": created["id"]}))
    assert other.status_code == 404
    garbage = fn.get_invitation(build_request("GET", "x", headers={"Authorization": partner_tokens()}, route_params={"id": "nope"}))
    assert garbage.status_code == 404


def test_list_is_newest_first_paged_filtered_and_own_only(storage, settings, partner_tokens, fixed_clock):
    for i in range(5):
        _create(partner_tokens, email=f"user{i}@contoso.com", kind="ResellerRelationship" if i % 2 else "CustomerOnboarding")
        fixed_clock.advance(minutes=1)
    _create(partner_tokens, partner="p-provider", email="theirs@contoso.com")
    auth = {"Authorization": partner_tokens()}
    page1 = json_of(fn.list_invitations(build_request("GET", "invitations", headers=auth, params={"pageSize": "3"})))
    assert [i["email"] for i in page1["items"]] == ["user4@contoso.com", "user3@contoso.com", "user2@contoso.com"]
    page2 = json_of(fn.list_invitations(build_request("GET", "invitations", headers=auth,
                                                      params={"pageSize": "3", "continuationToken": page1["continuationToken"]})))
    assert [i["email"] for i in page2["items"]] == ["user1@contoso.com", "user0@contoso.com"]
    kinds = json_of(fn.list_invitations(build_request("GET", "invitations", headers=auth, params={"kind": "ResellerRelationship"})))
    assert {i["email"] for i in kinds["items"]} == {"user1@contoso.com", "user3@contoso.com"}
    by_email = json_of(fn.list_invitations(build_request("GET", "invitations", headers=auth, params={"email": "USER2@CONTOSO.COM"})))
    assert [i["email"] for i in by_email["items"]] == ["user2@contoso.com"]
    assert all("id" not in i for i in page1["items"])
    bad = fn.list_invitations(build_request("GET", "invitations", headers=auth, params={"pageSize": "500"}))
    assert bad.status_code == 400
    bad_token = fn.list_invitations(build_request("GET", "invitations", headers=auth, params={"continuationToken": "%%%"}))
    assert bad_token.status_code == 400


def test_resend_keeps_the_link_and_restarts_expiry(storage, settings, partner_tokens, fixed_clock):
    created = _create(partner_tokens, expiresInDays=5)
    fixed_clock.advance(days=10)  # now past its expiry
    resp = post("x", partner_tokens(), None, fn.resend_invitation, route_params={"id": created["id"]})
    assert resp.status_code == 200, resp.get_body()
    body = json_of(resp)
    assert body["status"] == "PendingAcceptance"
    assert body["inviteRedeemUrl"] == created["inviteRedeemUrl"]
    assert datetime.fromisoformat(body["expiresAt"]) == fixed_clock.now() + timedelta(days=5)
    inv = found(InvitationStore(storage).find_by_link(link_hash(created["id"])))
    assert inv.resent_count == 1
    # only one live expiry index row for it
    rows = [e for e in storage.table("Invitations").list_entities() if e["RowKey"].startswith("x|")]
    assert len(rows) == 1


def test_resend_by_reference_mails_a_second_link_and_the_first_still_works(storage, settings, partner_tokens):
    created = _create(partner_tokens)
    post("x", partner_tokens(), None, fn.resend_invitation, route_params={"id": created["reference"]})
    links = [item["linkId"] for m in queued_messages(storage, settings) for item in m["items"]]
    assert links[0] == created["id"] and links[1] != created["id"]
    store = InvitationStore(storage)
    assert found(store.find_by_link(link_hash(links[1]))).reference == created["reference"]
    assert found(store.find_by_link(link_hash(created["id"]))).reference == created["reference"]


def test_revoke_then_resend_or_revoke_again_is_409(storage, settings, partner_tokens):
    created = _create(partner_tokens)
    resp = post("x", partner_tokens(), None, fn.revoke_invitation, route_params={"id": created["id"]})
    assert json_of(resp)["status"] == "Revoked"
    again = post("x", partner_tokens(), None, fn.revoke_invitation, route_params={"id": created["id"]})
    assert again.status_code == 409
    resend = post("x", partner_tokens(), None, fn.resend_invitation, route_params={"id": created["id"]})
    assert resend.status_code == 409 and json_of(resend)["type"].endswith("invitation-revoked")
    assert not [e for e in storage.table("Invitations").list_entities() if e["RowKey"].startswith("x|")]


def test_resend_of_accepted_is_409(storage, settings, partner_tokens, fixed_clock):
    created = _create(partner_tokens)
    store = InvitationStore(storage)
    inv = found(store.find_by_link(link_hash(created["id"])))
    inv.accept(fixed_clock.now(), {"email": "harry.kim@contoso.com"})
    save_changed(storage, inv)
    resend = post("x", partner_tokens(), None, fn.resend_invitation, route_params={"id": created["id"]})
    assert resend.status_code == 409 and json_of(resend)["type"].endswith("invitation-accepted")


def test_actions_are_audited_beside_the_invitation(storage, settings, partner_tokens):
    created = _create(partner_tokens)
    post("x", partner_tokens(), None, fn.revoke_invitation, route_params={"id": created["id"]})
    actions = [r.action for r in InvitationStore(storage).audit_page("p-direct").items]
    assert actions == ["invitation.revoked", "invitation.created"]


def test_bulk_creates_good_rows_and_reports_bad_ones(storage, settings, partner_tokens):
    rows = [invitation_body(email=f"bulk{i}@contoso.com") for i in range(120)]
    rows[7]["email"] = "broken"
    rows[50]["countryRegion"] = "ZZZ"
    resp = post("invitations/bulk", partner_tokens(), {"invitations": rows}, fn.create_invitations_bulk)
    assert resp.status_code == 200
    body = json_of(resp)
    assert body["summary"] == {"created": 118, "invalid": 2, "failed": 0}
    assert body["results"][7]["status"] == "invalid" and body["results"][7]["errors"][0]["field"] == "email"
    created = [r["invitation"] for r in body["results"] if r["status"] == "created"]
    store = InvitationStore(storage)
    assert found(store.find_by_link(link_hash(created[-1]["id"]))).email == "bulk119@contoso.com"
    queued = sum(len(m["items"]) for m in queued_messages(storage, settings))
    assert queued == 118
    # one audit record per transaction, naming every invitation it created
    audited = [ref for r in store.audit_page("p-direct").items for ref in (r.after or {}).get("references", [])]
    assert sorted(audited) == sorted(c["reference"] for c in created)


def test_bulk_limits(storage, settings, partner_tokens):
    too_many = post("invitations/bulk", partner_tokens(), {"invitations": [invitation_body()] * 1001}, fn.create_invitations_bulk)
    assert too_many.status_code == 400
    empty = post("invitations/bulk", partner_tokens(), {"invitations": []}, fn.create_invitations_bulk)
    assert empty.status_code == 400


def test_draft_email_keeps_the_personalised_url(storage, settings, partner_tokens, monkeypatch):
    created = _create(partner_tokens)
    auth = {"Authorization": partner_tokens()}
    draft = json_of(fn.draft_invitation_email(build_request("GET", "x", headers=auth, params={"language": "de"},
                                                            route_params={"id": created["id"]})))
    assert created["inviteRedeemUrl"] in draft["text"] and created["inviteRedeemUrl"] in draft["html"]
    assert draft["language"] == "de"
    by_ref = fn.draft_invitation_email(build_request("GET", "x", headers=auth, route_params={"id": created["reference"]}))
    assert by_ref.status_code == 400 and json_of(by_ref)["type"].endswith("link-id-required")

