"""Issue 19 items 5-7 attacked as the issue describes them, on Azurite, and the policy table's rows flipped to see
behaviour follow (issue 18 item 1): the table in shared/authorization.py is the only place who-may-do-what is decided.

- an unregistered tenant's token (AdminAgent in its own tenant) on the partner routes it reached: refused, nothing stored;
- a SalesAgent replaying an AdminAgent's keyed request: 403, never the stored 201 with its link id;
- a partner that removed its relationship: no colleague invitations of the company, cannot read or revoke them, does not
  hear agreement.accepted (the feed) while a partner still serving the customer does.
"""

from __future__ import annotations

import dataclasses

import pytest

from accept_invite import companies
from accept_invite import functions as pages
from attest_agreement import functions as customers_fn
from attest_agreement import service as customers
from attest_agreement.repository import CustomerUnitOfWork
from invite_user import functions as invitations_fn
from invite_user.invitations import link_hash
from invite_user.repository import InvitationStore
from partners.registry import Partner, PartnerRepository, PartnerType
from shared import clock
from shared.authorization import ACTIVE, AGENTS, POLICY, Action, Relationship
from tests.integration.test_attest_agreement import attest
from tests.integration.test_attest_customers import call, create, customer_body
from tests.integration.test_attest_relationships import relationship, remove
from tests.integration.test_webhooks import pump
from tests.support.accept_invite import AGENT, create_company, invite, session_header, subject_for
from tests.support.context import ctx_of
from tests.support.expect import found
from tests.support.http import build_request, json_of
from webhooks import functions as webhooks_fn

HOOK = {"url": "https://127.0.0.1:9/attacker", "events": ["invitation.created", "agreement.accepted"]}
COLLEAGUE = {"email": "neu@contoso.example", "firstName": "Neu", "lastName": "Kollege", "language": "de", "countryRegion": "DE",
             "roles": ["AccountViewer"]}
HANNA = "hanna@contoso.example"
CSRF = "csrf-token-for-tests"


def _partner_call(handler, method, path, token, body=None, key=None, route_params=None, params=None):
    headers = {"Authorization": token, **({"Idempotency-Key": key} if key else {})}
    return handler(build_request(method, path, body=body, headers=headers, route_params=route_params or {}, params=params))


# -- item 6: a tenant that is not a registered partner ---------------------------------------------------------------


@pytest.mark.parametrize(("handler", "method", "path", "body"), [
    (webhooks_fn.create_subscription, "POST", "webhooks", HOOK),
    (webhooks_fn.list_subscriptions, "GET", "webhooks", None),
    (webhooks_fn.read_events, "GET", "events", None),
    (invitations_fn.list_invitations, "GET", "invitations", None),
    (customers_fn.list_customers, "GET", "customers", None),
])
def test_a_tenant_that_is_not_a_registered_partner_is_refused_and_stores_nothing(storage, partner_tokens, handler, method, path,
                                                                                 body):
    stranger = partner_tokens("t-unregistered")  # a real token of the partners' identity provider, AdminAgent in its tenant
    resp = _partner_call(handler, method, path, stranger, body, key="k-stranger")
    assert resp.status_code == 403, resp.get_body()
    assert json_of(resp)["type"].endswith("/partner-not-registered")
    assert [e for e in storage.table("Webhooks").list_entities() if "t-unregistered" in str(dict(e))] == []


def test_an_unregistered_tenant_cannot_trigger_a_test_delivery_of_a_registered_partners_subscription(storage, partner_tokens):
    sub = json_of(_partner_call(webhooks_fn.create_subscription, "POST", "webhooks", partner_tokens(), HOOK))
    resp = _partner_call(webhooks_fn.test_subscription, "POST", "webhooks/x/test", partner_tokens("t-unregistered"),
                         route_params={"id": sub["id"]})
    assert resp.status_code == 403 and json_of(resp)["type"].endswith("/partner-not-registered")


def test_a_partner_registered_after_being_refused_is_let_in(storage, partner_tokens):
    token = partner_tokens("t-late")
    assert _partner_call(webhooks_fn.read_events, "GET", "events", token).status_code == 403
    PartnerRepository(storage).save(Partner(id="t-late", name="Late Partner", type=PartnerType.DIRECT))
    assert _partner_call(webhooks_fn.read_events, "GET", "events", token).status_code == 200


# -- item 7: a replay is authorized like the request -----------------------------------------------------------------


def test_a_sales_agent_replaying_an_admin_agents_keyed_request_is_refused(storage, partner_tokens, fixed_clock):
    cid = create(partner_tokens())["customer"]["id"]
    body = {**COLLEAGUE, "kind": "CompanyUser", "customerId": cid}
    admin = _partner_call(invitations_fn.create_invitation, "POST", "invitations", partner_tokens(), body, key="k-admin")
    assert admin.status_code == 201, admin.get_body()
    sales = partner_tokens(roles=("SalesAgent",))
    replay = _partner_call(invitations_fn.create_invitation, "POST", "invitations", sales, body, key="k-admin")
    assert replay.status_code == 403 and replay.headers.get("Idempotent-Replayed") is None
    assert json_of(admin)["id"] not in replay.get_body().decode()
    # the agent who may: the stored answer, once
    again = _partner_call(invitations_fn.create_invitation, "POST", "invitations", partner_tokens(), body, key="k-admin")
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert json_of(again)["id"] == json_of(admin)["id"]
    assert len(InvitationStore(storage).list_page("p-direct", kind="CompanyUser").items) == 1


def test_a_replay_of_a_bulk_with_company_users_is_refused_to_a_sales_agent(storage, partner_tokens, fixed_clock):
    cid = create(partner_tokens())["customer"]["id"]
    body = {"invitations": [{**COLLEAGUE, "kind": "CompanyUser", "customerId": cid}]}
    admin = _partner_call(invitations_fn.create_invitations_bulk, "POST", "invitations/bulk", partner_tokens(), body, key="k-bulk")
    assert json_of(admin)["summary"]["created"] == 1
    sales = _partner_call(invitations_fn.create_invitations_bulk, "POST", "invitations/bulk", partner_tokens(roles=("SalesAgent",)),
                          body, key="k-bulk")
    assert sales.status_code == 403 and "inviteRedeemUrl" not in sales.get_body().decode()


def test_a_replay_of_an_attestation_is_refused_to_an_indirect_reseller_of_the_same_tenant_name(storage, partner_tokens):
    """The replay is checked against the rows the request was: an attestation replayed after the tenant became an indirect
    reseller (its registration changed) is refused like a fresh one."""
    cid = create(partner_tokens("p-provider"))["customer"]["id"]
    assert attest(partner_tokens("p-provider"), cid, key="k-attest").status_code == 201
    PartnerRepository(storage).save(Partner(id="p-provider", name="Fabrikam", type=PartnerType.INDIRECT_RESELLER,
                                            indirect_provider_id="p-other-provider"))
    replay = attest(partner_tokens("p-provider"), cid, key="k-attest")
    assert replay.status_code == 403 and json_of(replay)["type"].endswith("/indirect-reseller-cannot-attest")


# -- item 5: only active relationships hear or hold anything ---------------------------------------------------------


def _company(storage) -> str:
    """Company A, created by Hanna through p-direct's onboarding invitation: Hanna is its Account manager."""
    inv, _ = invite(storage, AGENT, email=HANNA)
    return create_company(storage, inv, companies.Person(HANNA, "", subject_for(HANNA)))


def _hanna_invites(company: str):
    return pages.invite_colleague(build_request("POST", f"companies/{company}/invitations", body=COLLEAGUE,
                                                headers={**session_header(HANNA), "X-CSRF-Token": CSRF},
                                                route_params={"companyId": company}))


def test_a_partner_that_removed_its_relationship_holds_no_colleague_invitation(storage, partner_tokens, fixed_clock):
    token = partner_tokens()
    company = _company(storage)
    before = _hanna_invites(company)
    assert before.status_code == 201, before.get_body()
    reference = json_of(before)["reference"]
    # p-direct sees it while it serves the company ...
    listed = json_of(_partner_call(invitations_fn.list_invitations, "GET", "invitations", token, params={"kind": "CompanyUser"}))
    assert [i["reference"] for i in listed["items"]] == [reference]
    assert remove(token, company, {"goodFaithDeclaration": True}).status_code == 200
    # ... and no longer once it removed its relationship: not listed, not readable, not revocable
    listed = json_of(_partner_call(invitations_fn.list_invitations, "GET", "invitations", token, params={"kind": "CompanyUser"}))
    assert listed["items"] == []
    assert _partner_call(invitations_fn.get_invitation, "GET", "x", token, route_params={"id": reference}).status_code == 404
    revoke = _partner_call(invitations_fn.revoke_invitation, "POST", "x", token, route_params={"id": reference})
    assert revoke.status_code == 404
    assert found(InvitationStore(storage).find_by_link(reference)).status.value == "PendingAcceptance"
    # and a colleague invited now is not kept with (nor mailed through) the partner that left
    after = _hanna_invites(company)
    assert after.status_code == 409 and json_of(after)["type"].endswith("/no-partner")
    assert len(InvitationStore(storage).list_page("p-direct", kind="CompanyUser").items) == 1


def test_a_partner_that_removed_its_relationship_does_not_hear_the_customer_accept_the_agreement(storage, partner_tokens, fixed_clock):
    """p-direct and p-provider both served the customer; p-direct removed its relationship; the customer accepts directly."""
    cid = create(partner_tokens())["customer"]["id"]
    uow = CustomerUnitOfWork(storage, cid)
    customers.join_relationship(uow, found(PartnerRepository(storage).find("p-provider")), "setup", clock.utc_now())
    uow.commit()
    assert remove(partner_tokens(), cid, {"goodFaithDeclaration": True}).status_code == 200
    assert relationship(partner_tokens(), cid).status_code == 200  # it may still read its own (removed) relationship
    customers.accept_directly(ctx_of(storage), cid, {"email": "greta@contoso.de", "name": "Greta Maier", "sub": "sub-greta"})
    pump(storage)
    fixed_clock.advance(seconds=5)  # past the feed's settle time

    def heard(partner: str) -> list[str]:
        feed = json_of(_partner_call(webhooks_fn.read_events, "GET", "events", partner_tokens(partner), params={"pageSize": "100"}))
        return [e["type"] for e in feed["items"] if e["data"].get("customerId") == cid]

    assert "agreement.accepted" in heard("p-provider")
    assert "agreement.accepted" not in heard("p-direct")


# -- issue 18 item 1: flip a row of the table, behaviour follows -----------------------------------------------------


def _flip(monkeypatch, action: Action, **change) -> None:
    monkeypatch.setitem(POLICY, action, dataclasses.replace(POLICY[action], **change))


def test_flipping_who_may_attest_changes_the_route_and_the_customer_create(storage, partner_tokens, monkeypatch, fixed_clock):
    cid = create(partner_tokens("p-provider"))["customer"]["id"]
    _flip(monkeypatch, Action.ATTEST, partner_types=frozenset({"Direct"}))
    refused = attest(partner_tokens("p-provider"), cid)
    assert refused.status_code == 403, refused.get_body()
    with_agreement = customer_body(agreement={"type": "MicrosoftCustomerAgreement", "dateAgreed": "2026-11-20"})
    resp = call(customers_fn.create_customer, "POST", "customers", partner_tokens("p-provider"), with_agreement)
    assert resp.status_code == 403
    _flip(monkeypatch, Action.ATTEST, partner_types=frozenset({"Direct", "IndirectProvider", "IndirectReseller"}))
    assert call(customers_fn.create_customer, "POST", "customers", partner_tokens("p-reseller"), with_agreement).status_code == 201


def test_flipping_the_webhook_row_lets_sales_agents_manage_subscriptions(storage, partner_tokens, monkeypatch):
    sales = partner_tokens(roles=("SalesAgent",))
    assert _partner_call(webhooks_fn.create_subscription, "POST", "webhooks", sales, HOOK).status_code == 403
    _flip(monkeypatch, Action.MANAGE_WEBHOOKS, roles=AGENTS)
    assert _partner_call(webhooks_fn.create_subscription, "POST", "webhooks", sales, HOOK).status_code == 201


def test_flipping_the_company_user_row_changes_inviting_and_joining(storage, partner_tokens, monkeypatch, fixed_clock):
    cid = create(partner_tokens())["customer"]["id"]
    body = {**COLLEAGUE, "kind": "CompanyUser", "customerId": cid}
    sales = partner_tokens(roles=("SalesAgent",))
    assert _partner_call(invitations_fn.create_invitation, "POST", "invitations", sales, body).status_code == 403
    _flip(monkeypatch, Action.INVITE_COMPANY_USER, roles=AGENTS)
    created = _partner_call(invitations_fn.create_invitation, "POST", "invitations", sales, body)
    assert created.status_code == 201, created.get_body()
    # joining asks the same row for the inviting partner's standing now: without DAP allowed, the invitee joins
    remove(partner_tokens(), cid, {"goodFaithDeclaration": True})
    person = companies.Person("neu@contoso.example", "Neu", subject_for("neu@contoso.example"))
    with pytest.raises(companies.NotAllowed):
        companies.accept_existing(ctx_of(storage), link_hash(json_of(created)["id"]), person)
    _flip(monkeypatch, Action.INVITE_COMPANY_USER, relationship=frozenset(Relationship), relationship_role=None, dap=False)
    assert companies.accept_existing(ctx_of(storage), link_hash(json_of(created)["id"]), person) == cid


def test_flipping_the_relationship_row_hides_a_removed_relationship(storage, partner_tokens, monkeypatch, fixed_clock):
    cid = create(partner_tokens())["customer"]["id"]
    remove(partner_tokens(), cid, {"goodFaithDeclaration": True})
    assert relationship(partner_tokens(), cid).status_code == 200
    _flip(monkeypatch, Action.READ_RELATIONSHIP, relationship=ACTIVE)
    assert relationship(partner_tokens(), cid).status_code == 404


def test_flipping_the_onboarding_progress_row_changes_the_trail_and_funnel_only(storage, partner_tokens, monkeypatch):
    """The trail and the funnel have a row of their own: a role that may not read them may still manage invitations, and
    one that may read them need not manage them."""
    _, raw = invite(storage)
    sales = partner_tokens(roles=("SalesAgent",))

    def reads(token):
        trail = _partner_call(invitations_fn.invitation_trail, "GET", "x", token, route_params={"id": raw})
        funnel = _partner_call(invitations_fn.invitation_funnel, "GET", "invitations/funnel", token,
                               params={"from": "2026-01-01", "to": "2026-12-31"})
        invitation = _partner_call(invitations_fn.get_invitation, "GET", "x", token, route_params={"id": raw})
        return trail.status_code, funnel.status_code, invitation.status_code

    assert reads(sales) == (200, 200, 200)
    _flip(monkeypatch, Action.READ_ONBOARDING_PROGRESS, roles=frozenset({"AdminAgent"}))
    assert reads(sales) == (403, 403, 200)
    _flip(monkeypatch, Action.READ_ONBOARDING_PROGRESS, roles=AGENTS)
    _flip(monkeypatch, Action.MANAGE_INVITATIONS, roles=frozenset({"AdminAgent"}))
    assert reads(sales) == (200, 200, 403)


def test_the_contract_says_who_may_from_the_table(monkeypatch):
    from shared.authorization import who_may

    assert "AdminAgent or SalesAgent" in who_may(Action.ATTEST) and "Direct or IndirectProvider" in who_may(Action.ATTEST)
    _flip(monkeypatch, Action.ATTEST, roles=frozenset({"AdminAgent"}))
    assert "with the role AdminAgent," in who_may(Action.ATTEST)


def test_the_edge_resolves_the_partner_for_at_most_one_read_and_refuses_a_stranger_before_any_other(storage, partner_tokens):
    """Counts, not timings: the registration is read once (then the registry's short cache answers), a stranger's
    request costs that one read and writes nothing."""
    for tenant, status in (("t-unregistered", 403), ("p-direct", 200)):
        token = partner_tokens(tenant)
        storage.counter.reset()
        assert _partner_call(invitations_fn.list_invitations, "GET", "invitations", token).status_code == status
        first = storage.counter.reset()
        assert _partner_call(invitations_fn.list_invitations, "GET", "invitations", token).status_code == status
        again = storage.counter.reset()
        # a stranger: the one registry read, then nothing; a partner, warm: the list's one query, no registry read
        assert (first, again) == (1, 0) if status == 403 else again == 1, (tenant, first, again)
