"""Partner attestation and verification of the customer agreement on Azurite: every rule its own problem."""

from __future__ import annotations

import threading

import pytest

from attest_agreement import functions as fn
from attest_agreement.repository import CustomerStore
from tests.integration.test_attest_customers import call, create, queued, table_rows
from tests.support.expect import found
from tests.support.http import build_request, json_of


def attestation(**over):
    body = {
        "type": "MicrosoftCustomerAgreement",
        "primaryContact": {"firstName": "Greta", "lastName": "Maier", "email": "greta@contoso.de"},
        "dateAgreed": "2026-11-20",
    }
    body.update(over)
    return body


def attest(token, cid, body=None, key=None, if_match=None):
    if if_match is None:
        return call(fn.attest_customer_agreement, "POST", f"customers/{cid}/agreements", token, body or attestation(), key=key,
                    customer_id=cid)
    headers = {"Authorization": token, "If-Match": if_match, **({"Idempotency-Key": key} if key else {})}
    return fn.attest_customer_agreement(build_request("POST", f"customers/{cid}/agreements", body=body or attestation(), headers=headers,
                                                      route_params={"customerId": cid}))


def agreement(token, cid):
    return call(fn.get_customer_agreement, "GET", f"customers/{cid}/agreements", token, customer_id=cid)


@pytest.fixture
def cid(storage, partner_tokens, fixed_clock):
    return create(partner_tokens())["customer"]["id"]


def test_attest_then_verify_provided(storage, settings, partner_tokens, cid):
    before = json_of(agreement(partner_tokens(), cid))
    assert before["acceptance"] == "NotProvided" and "how" not in before
    resp = attest(partner_tokens(roles=("SalesAgent",)), cid)
    assert resp.status_code == 201, resp.get_body()
    after = json_of(agreement(partner_tokens(), cid))
    assert after.pop("confirmationEmail") == {"status": "Queued"}  # until the queue function sends it
    assert after == json_of(resp)
    assert after["acceptance"] == "Provided" and after["how"] == "PartnerAttestation" and after["dateAgreed"] == "2026-11-20"
    assert after["recordedAt"].startswith("2026-11-21T12:00") and after["recordedBy"]["name"] == "Anna Agent"
    assert after["recordedBy"]["partnerName"] == "Contoso Partner" and after["contact"]["email"] == "greta@contoso.de"
    assert len(queued(storage, settings, "attestation-notice")) == 1


def test_the_confirmations_delivery_report_is_on_the_agreement(storage, settings, partner_tokens, cid):
    from notifications import queue, reports
    from tests.integration.test_attest_attestations import Outbox
    from tests.support.context import ctx_of

    assert attest(partner_tokens(), cid).status_code == 201
    [message] = queued(storage, settings, "attestation-notice")
    outbox = Outbox()
    assert queue.deliver(ctx_of(storage), outbox, message) == {"sent": 1}
    assert "confirmationEmail" not in json_of(agreement(partner_tokens(), cid))  # sent, nothing reported yet
    [(_, operation)] = outbox.sent
    report = {"messageId": operation, "status": "Bounced", "deliveryAttemptTimestamp": "2026-11-21T12:05:00Z",
              "deliveryStatusDetails": {"statusMessage": "550 5.1.1 no such user"}}
    older = {**report, "status": "Delivered", "deliveryAttemptTimestamp": "2026-11-21T12:04:00Z"}
    storage.counter.reset()
    assert queue.receive_report(ctx_of(storage), reports.EVENT_TYPE, report) == "applied"
    assert storage.counter.reset() == 4  # the tracked send read, the acceptance read and written, the tracked send written
    assert queue.receive_report(ctx_of(storage), reports.EVENT_TYPE, older) == "unchanged"  # late and older: ignored
    confirmation = json_of(agreement(partner_tokens(), cid))["confirmationEmail"]
    assert confirmation["status"] == "Sent" and confirmation["emailStatus"] == "Bounced"
    assert confirmation["emailStatusDetail"]["advice"] == "fix-address" and "5.1.1" in confirmation["emailStatusDetail"]["reason"]


def test_role_is_required(storage, partner_tokens, cid):
    resp = attest(partner_tokens(roles=("Reader",)), cid)
    assert resp.status_code == 403 and json_of(resp)["type"].endswith("/forbidden")


def test_no_active_relationship_is_not_found(storage, partner_tokens, cid):
    for token, customer in ((partner_tokens("p-provider"), cid), (partner_tokens(), "no-such-customer")):
        resp = attest(token, customer)
        assert resp.status_code == 404 and json_of(resp)["type"].endswith("/no-active-relationship")
        assert agreement(token, customer).status_code == 404


def test_indirect_resellers_are_sent_to_their_indirect_provider(storage, settings, partner_tokens, fixed_clock):
    reseller = partner_tokens("p-reseller")
    rcid = create(reseller)["customer"]["id"]
    resp = attest(reseller, rcid)
    problem = json_of(resp)
    assert resp.status_code == 403 and problem["type"].endswith("/indirect-reseller-cannot-attest")
    assert "work with your indirect provider" in problem["detail"].lower()
    # their indirect provider can
    assert attest(partner_tokens("p-provider"), rcid).status_code == 201


def test_date_agreed_in_the_future_is_refused(storage, partner_tokens, cid, fixed_clock):
    resp = attest(partner_tokens(), cid, attestation(dateAgreed="2026-11-22"))
    assert resp.status_code == 400 and json_of(resp)["type"].endswith("/date-agreed-in-future")
    assert attest(partner_tokens(), cid, attestation(dateAgreed="not-a-date")).status_code == 400
    assert json_of(agreement(partner_tokens(), cid))["acceptance"] == "NotProvided"
    assert attest(partner_tokens(), cid, attestation(dateAgreed="2026-11-21")).status_code == 201


def test_the_customers_own_day_counts(storage, partner_tokens, fixed_clock):
    fixed_clock.at = fixed_clock.at.replace(hour=5)  # 05:00 UTC on the 21st: still the 20th in Hawaii
    al = {"firstName": "Al", "lastName": "Li", "email": "al@contoso.com"}
    us = create(partner_tokens(), country="US", phone=None, address=None, primaryContact=al)
    cid = us["customer"]["id"]
    resp = attest(partner_tokens(), cid, attestation(dateAgreed="2026-11-21"))
    assert resp.status_code == 400 and json_of(resp)["latestDateAgreed"] == "2026-11-20"
    assert attest(partner_tokens(), cid, attestation(dateAgreed="2026-11-20", primaryContact=al)).status_code == 201


def test_the_same_attestation_twice_is_a_conflict_not_a_second_record(storage, settings, partner_tokens, cid):
    assert attest(partner_tokens(), cid).status_code == 201
    again = attest(partner_tokens(), cid)
    problem = json_of(again)
    assert again.status_code == 409 and problem["type"].endswith("/agreement-accepted-already")
    assert problem["agreement"]["acceptance"] == "Provided"
    assert attest(partner_tokens(), cid, attestation(dateAgreed="2026-11-19")).status_code == 409
    assert len([r for r in table_rows(storage) if r["RowKey"].startswith("g|")]) == 1
    assert [r["action"] for r in table_rows(storage) if r["RowKey"].startswith("a|")].count("agreement.attested") == 1
    assert len(queued(storage, settings, "attestation-notice")) == 1


def test_idempotency_key_replays_the_first_answer(storage, partner_tokens, cid):
    first = attest(partner_tokens(), cid, key="attest-1")
    again = attest(partner_tokens(), cid, key="attest-1")
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and json_of(again) == json_of(first)


def test_updating_the_primary_contact_is_allowed_and_audited(storage, settings, partner_tokens, cid):
    contact = {"firstName": "Jonas", "lastName": "Weber", "email": "jonas@contoso.de", "phoneNumber": "0171 2345678", "language": "en"}
    assert attest(partner_tokens(), cid, attestation(primaryContact=contact), if_match="*").status_code == 201
    customer = found(CustomerStore(storage).customer(cid))
    assert customer.primary_contact.email == "jonas@contoso.de" and customer.primary_contact.phone_number == "+491712345678"
    [record] = [r for r in CustomerStore(storage).audit_page(cid).items if r.action == "customer.primaryContactUpdated"]
    assert record.after is not None
    assert record.before is not None
    assert record.before["email"] == "greta@contoso.de" and record.after["email"] == "jonas@contoso.de"
    assert record.actor == "Anna Agent"
    [mail] = queued(storage, settings, "attestation-notice")
    assert mail["message"]["to_address"] == "jonas@contoso.de" and mail["message"]["language"] == "en"


def test_the_same_contact_is_not_an_update(storage, partner_tokens, cid):
    assert attest(partner_tokens(), cid).status_code == 201
    assert [r.action for r in CustomerStore(storage).audit_page(cid).items].count("customer.primaryContactUpdated") == 0
    assert found(CustomerStore(storage).customer(cid)).primary_contact.phone_number == "+49307654321"  # kept


def test_invalid_phone_is_a_field_error(storage, partner_tokens, cid):
    body = attestation(primaryContact={"firstName": "G", "lastName": "M", "email": "g@contoso.de", "phoneNumber": "0000"})
    resp = attest(partner_tokens(), cid, body)
    assert resp.status_code == 400 and json_of(resp)["errors"][0]["field"] == "primaryContact.phoneNumber"
    assert attest(partner_tokens(), cid, attestation(type="SomethingElse")).status_code == 400


def test_parallel_attestations_record_one_and_send_one_confirmation(storage, settings, partner_tokens, cid):
    results = []
    token = partner_tokens()

    def go():
        results.append(attest(token, cid).status_code)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201, 409, 409, 409]
    assert len(queued(storage, settings, "attestation-notice")) == 1
    # the losers took their outbox rows back; the winner's stays until its email is sent
    assert [r["state"] for r in table_rows(storage, "AgreementNotices")] == ["Queued"]
