"""Creating customers and listing them on Azurite: one transaction with the relationship (and the attestation)."""

from __future__ import annotations

import base64
import json

import pytest

from attest_agreement import functions as fn
from attest_agreement.customers import RelationshipStatus
from attest_agreement.repository import CustomerStore, CustomerUnitOfWork
from shared.storage import StorageUnavailable
from tests.support.http import build_request, json_of


def customer_body(**over):
    body = {
        "name": "Contoso Berlin GmbH",
        "country": "DE",
        "language": "de",
        "address": {"line1": "Unter den Linden 1", "city": "Berlin", "postalCode": "10117", "country": "DE"},
        "phone": "030 1234567",
        "primaryContact": {"firstName": "Greta", "lastName": "Maier", "email": "greta@contoso.de", "phoneNumber": "030 7654321"},
    }
    body.update(over)
    return body


def call(handler, method, path, token=None, body=None, *, key=None, params=None, customer_id=None):
    headers = {"Authorization": token} if token else {}
    if key:
        headers["Idempotency-Key"] = key
    return handler(build_request(method, path, body=body, headers=headers, params=params,
                                 route_params={"customerId": customer_id} if customer_id else {}))


def create(token, **over):
    resp = call(fn.create_customer, "POST", "customers", token, customer_body(**over))
    assert resp.status_code == 201, resp.get_body()
    return json_of(resp)


def queued(storage, settings, kind=None):
    q = storage.queue(settings.email_queue)
    msgs = [json.loads(base64.b64decode(m.content)) for m in q.peek_messages(max_messages=32)]
    return [m for m in msgs if kind is None or m["type"] == kind]


def table_rows(storage, table="Customers"):
    return list(storage.table(table).list_entities())


def test_create_makes_the_customer_with_an_active_relationship(storage, settings, partner_tokens):
    created = create(partner_tokens())
    customer = created["customer"]
    assert customer["primaryContact"]["phoneNumber"] == "+49307654321" and customer["phone"] == "+49301234567"
    assert customer["createdBy"]["partnerId"] == "p-direct" and customer["askedToAcceptDirectly"] is False
    [rel] = created["relationships"]
    assert rel["status"] == "Active" and rel["role"] == "Reseller" and rel["dap"]["active"] is True
    assert created["agreement"]["acceptance"] == "NotProvided"
    listed = json_of(call(fn.list_customers, "GET", "customers", partner_tokens()))
    assert [c["customerId"] for c in listed["items"]] == [customer["id"]]
    detail = json_of(call(fn.get_customer, "GET", f"customers/{customer['id']}", partner_tokens(), customer_id=customer["id"]))
    assert detail["customer"]["name"] == "Contoso Berlin GmbH" and detail["relationship"]["partnerId"] == "p-direct"
    # another partner neither lists nor reads it
    other = partner_tokens("p-provider")
    assert json_of(call(fn.list_customers, "GET", "customers", other))["items"] == []
    resp = call(fn.get_customer, "GET", "x", other, customer_id=customer["id"])
    assert resp.status_code == 404 and json_of(resp)["type"].endswith("/no-active-relationship")
    assert queued(storage, settings) == []  # no agreement, no email


def test_create_with_agreement_attests_in_the_same_transaction_and_queues_the_confirmation(storage, settings, partner_tokens, fixed_clock):
    created = create(partner_tokens(), agreement={"type": "MicrosoftCustomerAgreement", "dateAgreed": "2026-11-20"})
    agreement = created["agreement"]
    assert agreement["acceptance"] == "Provided" and agreement["how"] == "PartnerAttestation" and agreement["dateAgreed"] == "2026-11-20"
    assert agreement["contact"]["email"] == "greta@contoso.de" and agreement["recordedBy"]["partnerId"] == "p-direct"
    [mail] = queued(storage, settings, "attestation-notice")
    assert mail["message"]["to_address"] == "greta@contoso.de" and mail["message"]["language"] == "de"
    assert "Contoso Berlin GmbH" in mail["message"]["text"]
    actions = [r["action"] for r in table_rows(storage) if r["RowKey"].startswith("a|")]
    assert sorted(actions) == ["agreement.attested", "customer.created", "relationship.created"]
    assert [r["state"] for r in table_rows(storage, "AgreementNotices")] == ["Queued"]  # kept until the email is sent


@pytest.mark.parametrize(("token_args", "over", "status", "type_"), [
    (("p-reseller",), {"agreement": {"type": "MicrosoftCustomerAgreement", "dateAgreed": "2026-11-20"}}, 403,
     "indirect-reseller-cannot-attest"),
    ((), {"agreement": {"type": "MicrosoftCustomerAgreement", "dateAgreed": "2026-11-22"}}, 400, "date-agreed-in-future"),
    ((), {"agreement": {"type": "MicrosoftCustomerAgreement", "dateAgreed": "2026-11-20"}, "askToAcceptDirectly": True}, 400, "validation"),
    ((), {"primaryContact": {"firstName": "G", "lastName": "M", "email": "g@contoso.de", "phoneNumber": "12"}}, 400, "validation"),
    ((), {"country": "XX"}, 400, "validation"),
    ((), {"country": "UN"}, 400, "validation"),
])
def test_a_refused_create_writes_nothing(storage, settings, partner_tokens, fixed_clock, token_args, over, status, type_):
    resp = call(fn.create_customer, "POST", "customers", partner_tokens(*token_args), customer_body(**over))
    assert resp.status_code == status, resp.get_body()
    problem = json_of(resp)
    assert resp.mimetype == "application/problem+json" and problem["type"].endswith("/" + type_)
    assert table_rows(storage) == [] and queued(storage, settings) == []


def test_future_date_problem_names_the_latest_possible_date(storage, partner_tokens, fixed_clock):
    resp = call(fn.create_customer, "POST", "customers", partner_tokens(),
                customer_body(agreement={"type": "MicrosoftCustomerAgreement", "dateAgreed": "2026-11-22"}))
    problem = json_of(resp)
    assert problem["latestDateAgreed"] == "2026-11-21" and problem["errors"][0]["field"] == "agreement.dateAgreed"


def test_role_without_agent_rights_is_forbidden(storage, partner_tokens):
    resp = call(fn.create_customer, "POST", "customers", partner_tokens(roles=("Reader",)), customer_body())
    assert resp.status_code == 403
    assert call(fn.list_customers, "GET", "customers", None).status_code == 401


def test_a_reseller_creates_with_its_indirect_provider(storage, partner_tokens):
    created = create(partner_tokens("p-reseller"))
    roles = {r["partnerId"]: r["role"] for r in created["relationships"]}
    assert roles == {"p-reseller": "Reseller", "p-provider": "IndirectProvider"}
    cid = created["customer"]["id"]
    for partner in ("p-reseller", "p-provider"):
        assert [c["customerId"] for c in json_of(call(fn.list_customers, "GET", "customers", partner_tokens(partner)))["items"]] == [cid]


def test_ask_to_accept_directly_sends_an_agreement_invitation_not_a_confirmation(storage, settings, partner_tokens):
    created = create(partner_tokens(), askToAcceptDirectly=True)
    inv = created["agreementInvitation"]
    assert inv["kind"] == "AgreementAcceptance" and inv["customerId"] == created["customer"]["id"] and inv["email"] == "greta@contoso.de"
    assert inv["inviteRedeemUrl"].startswith("http://localhost:7071/api/InviteUser?invitationId=")
    assert created["customer"]["askedToAcceptDirectly"] is True
    assert len(queued(storage, settings, "invitation-email")) == 1 and queued(storage, settings, "attestation-notice") == []


def test_idempotency_key_replays_and_a_retry_after_a_failure_finds_the_same_customer(storage, settings, partner_tokens, monkeypatch,
                                                                                      fixed_clock):
    body = customer_body(agreement={"type": "MicrosoftCustomerAgreement", "dateAgreed": "2026-11-21"})

    def broken(*args, **kwargs):
        raise StorageUnavailable("index down")

    original = CustomerUnitOfWork.index
    monkeypatch.setattr(CustomerUnitOfWork, "index", broken)
    failed = call(fn.create_customer, "POST", "customers", partner_tokens(), body, key="k-1")
    assert failed.status_code == 503  # committed, but not yet on the list, no email queued
    assert queued(storage, settings) == [] and len(table_rows(storage, "AgreementNotices")) == 1
    monkeypatch.setattr(CustomerUnitOfWork, "index", original)
    first = call(fn.create_customer, "POST", "customers", partner_tokens(), body, key="k-1")
    assert first.status_code == 201, first.get_body()
    again = call(fn.create_customer, "POST", "customers", partner_tokens(), body, key="k-1")
    assert again.headers.get("Idempotent-Replayed") == "true" and json_of(again) == json_of(first)
    cid = json_of(first)["customer"]["id"]
    assert [c["customerId"] for c in json_of(call(fn.list_customers, "GET", "customers", partner_tokens()))["items"]] == [cid]
    assert len([r for r in table_rows(storage) if r["RowKey"] == "profile"]) == 1
    assert len(queued(storage, settings, "attestation-notice")) == 1  # the confirmation left once the retry finished the work
    other = call(fn.create_customer, "POST", "customers", partner_tokens(), customer_body(name="Other"), key="k-1")
    assert other.status_code == 422


def test_list_is_paged(storage, partner_tokens):
    ids = {create(partner_tokens(), name=f"Customer {i}")["customer"]["id"] for i in range(3)}
    first = json_of(call(fn.list_customers, "GET", "customers", partner_tokens(), params={"pageSize": "2"}))
    assert len(first["items"]) == 2 and first["continuationToken"]
    second = json_of(call(fn.list_customers, "GET", "customers", partner_tokens(),
                          params={"pageSize": "2", "continuationToken": first["continuationToken"]}))
    assert {c["customerId"] for c in first["items"] + second["items"]} == ids and not second["continuationToken"]
    bad = call(fn.list_customers, "GET", "customers", partner_tokens(), params={"continuationToken": "%%%"})
    assert bad.status_code == 400


def test_relationship_rows_are_the_truth(storage, partner_tokens):
    cid = create(partner_tokens())["customer"]["id"]
    [rel] = CustomerStore(storage).relationships_of(cid)
    assert rel.status == RelationshipStatus.ACTIVE and rel.dap.active and rel.gdap.roles == []
