"""Reseller relationships on Azurite: requests with a draft email, removal (DAP goes, GDAP stays), the audit trail."""

from __future__ import annotations

import pytest

from attest_agreement import functions as fn
from attest_agreement.repository import CustomerStore
from tests.integration.test_attest_agreement import attest
from tests.integration.test_attest_customers import call, create, queued
from tests.integration.test_attest_direct import invite
from tests.support.expect import found
from tests.support.http import json_of

GDAP = {"roles": ["Helpdesk Administrator", "User Administrator"], "endDate": "2027-06-30"}


# Who the partner asks at the customer, and the company's name as the partner knows it: the request shows nothing of the
# customer's own data (primary contact, language, country) to a partner without a relationship.
ASK = {"email": "greta@contoso.de", "firstName": "Greta", "lastName": "Maier", "companyName": "Contoso GmbH", "language": "de",
       "countryRegion": "DE"}


def request(token, cid, body=None, key=None):
    return call(fn.request_reseller_relationship, "POST", f"customers/{cid}/relationship-requests", token, {**ASK, **(body or {})},
                key=key, customer_id=cid)


def remove(token, cid, body, key=None):
    return call(fn.remove_reseller_relationship, "DELETE", f"customers/{cid}/relationship", token, body, key=key, customer_id=cid)


def relationship(token, cid):
    return call(fn.get_reseller_relationship, "GET", "x", token, customer_id=cid)


def trail(token, cid, **params):
    return call(fn.customer_audit, "GET", "x", token, params=params, customer_id=cid)


def listed(token):
    return [c["customerId"] for c in json_of(call(fn.list_customers, "GET", "customers", token))["items"]]


@pytest.fixture
def cid(storage, partner_tokens, fixed_clock):
    return create(partner_tokens(), gdap=GDAP)["customer"]["id"]


def test_request_a_relationship_with_an_existing_customer_gives_a_draft_with_the_personalised_url(storage, settings, partner_tokens, cid):
    resp = request(partner_tokens("p-provider"), cid, {"message": "Let us work together"})
    assert resp.status_code == 201, resp.get_body()
    out = json_of(resp)
    inv, draft = out["invitation"], out["draftEmail"]
    assert inv["kind"] == "ResellerRelationship" and inv["customerId"] == cid and inv["email"] == "greta@contoso.de"
    assert inv["emailStatus"] == "NotRequested"  # the partner reviews and sends the draft itself
    assert draft["inviteRedeemUrl"] == inv["inviteRedeemUrl"] and draft["to"] == "greta@contoso.de"
    assert inv["inviteRedeemUrl"] in draft["text"] and inv["inviteRedeemUrl"] in draft["html"]
    assert "Let us work together" in draft["text"] and draft["language"] == "de"
    assert queued(storage, settings) == []


def test_a_reseller_request_names_its_indirect_provider_and_may_ask_for_the_agreement(storage, settings, partner_tokens, cid):
    out = json_of(request(partner_tokens("p-reseller"), cid, {"askAgreementAcceptance": True, "sendEmail": True}))
    inv = out["invitation"]
    assert inv["indirectProviderId"] == "p-provider" and inv["emailStatus"] == "Queued"
    assert "Fabrikam Distribution" in out["draftEmail"]["text"]
    # nothing is written to the customer before it consents (it was marked, and the real partner's confirmation suppressed)
    assert found(CustomerStore(storage).customer(cid)).asked_to_accept_directly is False
    assert len(queued(storage, settings, "invitation-email")) == 1
    unknown = request(partner_tokens("p-reseller"), cid, {"indirectProviderId": "p-direct"})
    assert unknown.status_code == 400 and json_of(unknown)["errors"][0]["field"] == "indirectProviderId"


def test_no_request_for_an_active_relationship_or_an_unknown_customer(storage, partner_tokens, cid):
    assert request(partner_tokens(), cid).status_code == 409
    assert request(partner_tokens("p-provider"), "no-such-customer").status_code == 404
    assert request(partner_tokens(roles=("Reader",)), cid).status_code == 403


def test_removal_needs_the_good_faith_declaration(storage, partner_tokens, cid):
    for body in (None, {}, {"goodFaithDeclaration": False}, {"goodFaithDeclaration": "yes"}):
        resp = remove(partner_tokens(), cid, body)
        assert resp.status_code == 400, body
    assert json_of(remove(partner_tokens(), cid, {"goodFaithDeclaration": False}))["type"].endswith("/good-faith-declaration-required")
    assert listed(partner_tokens()) == [cid]


def test_removal_drops_dap_keeps_gdap_leaves_the_list_sends_nothing_and_is_audited(storage, settings, partner_tokens, cid):
    token = partner_tokens()
    before = json_of(relationship(token, cid))
    assert before["dap"] == {"active": True} and before["gdap"] == GDAP
    resp = remove(token, cid, {"goodFaithDeclaration": True}, key="rm-1")
    assert resp.status_code == 200, resp.get_body()
    removed = json_of(resp)
    assert removed["status"] == "Removed" and removed["removedBy"] == "Anna Agent"
    assert removed["dap"]["active"] is False and removed["dap"]["removedAt"].startswith("2026-11-21")
    assert removed["gdap"] == GDAP
    assert json_of(relationship(token, cid)) == removed
    assert listed(token) == []
    assert queued(storage, settings) == []
    [record] = [r for r in CustomerStore(storage).audit_page(cid).items if r.action == "relationship.removed"]
    assert record.after is not None
    assert record.before is not None
    assert record.before["dap"]["active"] is True and record.after["dap"]["active"] is False and record.after["gdap"] == GDAP
    # a retry with the key replays; without it, there is nothing left to remove
    assert remove(token, cid, {"goodFaithDeclaration": True}, key="rm-1").headers["Idempotent-Replayed"] == "true"
    assert remove(token, cid, {"goodFaithDeclaration": True}).status_code == 404
    # and the partner no longer acts for the customer
    assert attest(token, cid).status_code == 404
    # invited again and accepted (accept_invite restores it), the customer would be back; requesting is allowed now
    assert request(token, cid).status_code == 201


def test_audit_merges_customer_and_invitation_records_newest_first(storage, partner_tokens, cid, fixed_clock):
    token = partner_tokens()
    fixed_clock.advance(minutes=1)
    assert invite(token, cid).status_code == 201  # invitation.created (invitations table) + directAcceptanceRequested
    fixed_clock.advance(minutes=1)
    assert request(partner_tokens("p-provider"), cid).status_code == 201  # another partner's invitation: not ours to see
    fixed_clock.advance(minutes=1)
    assert attest(token, cid).status_code == 201
    page = json_of(trail(token, cid))
    # newest first; records of one request share their instant (the clock is fixed), so each instant is a set
    by_instant: dict[str, set] = {}
    for e in page["items"]:
        by_instant.setdefault(e["at"], set()).add((e["action"], e["source"]))
    assert list(by_instant.values()) == [
        {("agreement.attested", "customer")},
        {("invitation.created", "invitations"), ("agreement.directAcceptanceRequested", "customer")},
        {("customer.created", "customer"), ("relationship.created", "customer")},
    ]
    ats = [e["at"] for e in page["items"]]
    assert ats == sorted(ats, reverse=True) and page["continuationToken"] is None
    assert page["items"][0]["actor"] == "Anna Agent" and page["items"][0]["after"]["how"] == "PartnerAttestation"
    # paged two at a time: the same records, none twice
    seen, token_ = [], None
    while True:
        params = {"pageSize": "2", **({"continuationToken": token_} if token_ else {})}
        p = json_of(trail(token, cid, **params))
        seen += [e["id"] for e in p["items"]]
        token_ = p["continuationToken"]
        if not token_:
            break
    assert seen == [e["id"] for e in page["items"]]
    # the provider sees its own invitation, not the direct partner's
    assert trail(partner_tokens("p-provider"), cid).status_code == 404  # no relationship yet


def test_other_partners_relationship_records_are_hidden(storage, partner_tokens, fixed_clock):
    created = create(partner_tokens("p-reseller"))
    cid = created["customer"]["id"]
    provider_view = [e["action"] for e in json_of(trail(partner_tokens("p-provider"), cid))["items"]]
    reseller_view = [e["after"]["partnerId"] for e in json_of(trail(partner_tokens("p-reseller"), cid))["items"]
                     if e["action"] == "relationship.created"]
    assert provider_view.count("relationship.created") == 1 and reseller_view == ["p-reseller"]
    assert trail(partner_tokens(), cid).status_code == 404
