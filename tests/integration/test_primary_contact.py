"""A partner updates the customer's primary contact (PATCH /api/customers/{id}/primary-contact) on Azurite and MailDev:
If-Match against the customer's ETag, one transaction with its audit record and events, and the attestation
confirmation going to the new contact."""

from __future__ import annotations

import json

from attest_agreement import functions as fn
from attest_agreement.repository import CustomerStore
from notifications.sender import EmailRejected, SmtpSender
from tests.integration.test_attest_agreement import agreement, attest, attestation
from tests.integration.test_attest_customers import create, table_rows
from tests.integration.test_attest_relationships import remove, trail
from tests.support.expect import found
from tests.support.http import build_request, json_of
from tests.support.mail import inbox
from tests.support.queues import deliver_all

NEW = {"firstName": "Jonas", "lastName": "Weber", "email": "jonas.weber@contoso.de", "phoneNumber": "030 5550100", "language": "de"}


def read(token, cid):
    return fn.get_customer(build_request("GET", f"customers/{cid}", headers={"Authorization": token}, route_params={"customerId": cid}))


def etag(token, cid):
    resp = read(token, cid)
    assert resp.status_code == 200
    return resp.headers["ETag"]


def patch(token, cid, body, if_match=None, key=None):
    headers = {"Authorization": token}
    if if_match is not None:
        headers["If-Match"] = if_match
    if key:
        headers["Idempotency-Key"] = key
    return fn.update_primary_contact(build_request("PATCH", f"customers/{cid}/primary-contact", body=body, headers=headers,
                                                   route_params={"customerId": cid}))


def events(storage, cid, type_="customer.primaryContactUpdated"):
    return sorted(r["partner_id"] for r in table_rows(storage) if r["PartitionKey"] == f"c|{cid}" and r.get("type") == type_)


def test_the_contact_is_replaced_under_its_etag_audited_and_every_partner_hears_it(storage, partner_tokens, fixed_clock):
    cid = create(partner_tokens("p-reseller"))["customer"]["id"]  # the indirect reseller and its provider serve it
    token = partner_tokens("p-reseller", roles=("SalesAgent",))
    tag = etag(token, cid)
    assert tag.startswith('"') and tag.endswith('"') and "datetime" not in tag

    resp = patch(token, cid, NEW, if_match=tag)
    assert resp.status_code == 200, resp.get_body()
    contact = json_of(resp)["primaryContact"]
    assert contact == {**NEW, "phoneNumber": "+49305550100"}
    assert resp.headers["ETag"] != tag and resp.headers["ETag"] == etag(token, cid)
    assert found(CustomerStore(storage).customer(cid)).primary_contact.email == "jonas.weber@contoso.de"
    [record] = [e for e in json_of(trail(token, cid))["items"] if e["action"] == "customer.primaryContactUpdated"]
    assert record["before"]["email"] == "greta@contoso.de" and record["after"]["email"] == "jonas.weber@contoso.de"
    assert events(storage, cid) == ["p-provider", "p-reseller"]  # staged with the change, one per partner of the customer
    # the event names no person
    rows = [r for r in table_rows(storage) if r.get("type") == "customer.primaryContactUpdated"]
    assert all("weber" not in json.dumps(r).lower() for r in rows)


def test_a_stale_or_missing_if_match_changes_nothing(storage, partner_tokens, fixed_clock):
    cid = create(partner_tokens())["customer"]["id"]
    token = partner_tokens()
    first = etag(token, cid)
    assert patch(token, cid, NEW, if_match=first).status_code == 200
    # a second agent decided on the first version: refused, the first agent's change stands
    other = {**NEW, "email": "someone.else@contoso.de"}
    stale = patch(token, cid, other, if_match=first)
    assert stale.status_code == 412 and json_of(stale)["type"].endswith("/precondition-failed")
    weak = patch(token, cid, other, if_match="W/" + etag(token, cid))  # If-Match compares strongly: a weak tag never matches
    assert weak.status_code == 412
    missing = patch(token, cid, other)
    assert missing.status_code == 428 and json_of(missing)["type"].endswith("/precondition-required")
    malformed = patch(token, cid, other, if_match=etag(token, cid).strip('"'))  # the tag without its quotes
    assert malformed.status_code == 400 and json_of(malformed)["errors"][0]["field"] == "If-Match"
    assert found(CustomerStore(storage).customer(cid)).primary_contact.email == "jonas.weber@contoso.de"
    assert len(events(storage, cid)) == 1
    # the current tag among several, or "*", lets it through
    assert patch(token, cid, other, if_match=f'"nope", {etag(token, cid)}').status_code == 200
    assert patch(token, cid, NEW, if_match="*").status_code == 200
    assert found(CustomerStore(storage).customer(cid)).primary_contact.email == "jonas.weber@contoso.de"


def test_a_retry_of_a_change_that_landed_succeeds_and_writes_nothing_more(storage, partner_tokens, fixed_clock):
    cid = create(partner_tokens())["customer"]["id"]
    token = partner_tokens()
    tag = etag(token, cid)
    first = patch(token, cid, NEW, if_match=tag)
    # the answer was lost; the client sends the same request again with the tag it had (RFC 9110 13.1.1: 2xx)
    again = patch(token, cid, NEW, if_match=tag)
    assert again.status_code == 200 and again.headers["ETag"] == first.headers["ETag"]
    assert len(events(storage, cid)) == 1
    assert [e["action"] for e in json_of(trail(token, cid))["items"]].count("customer.primaryContactUpdated") == 1
    # with an Idempotency-Key the first answer is replayed as it was
    keyed = patch(token, cid, {**NEW, "lastName": "Weber-Klein"}, if_match=first.headers["ETag"], key="contact-k1")
    replay = patch(token, cid, {**NEW, "lastName": "Weber-Klein"}, if_match=first.headers["ETag"], key="contact-k1")
    assert keyed.status_code == replay.status_code == 200 and replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.headers["ETag"] == keyed.headers["ETag"] == etag(token, cid)
    assert len(events(storage, cid)) == 2


def test_left_out_fields_of_the_same_person_are_kept_and_null_removes_them(storage, partner_tokens, fixed_clock):
    cid = create(partner_tokens())["customer"]["id"]  # greta, with a phone number
    token = partner_tokens()
    kept = json_of(patch(token, cid, {"firstName": "Greta", "lastName": "Maier-Berg", "email": "greta@contoso.de"}, "*"))
    assert kept["primaryContact"]["phoneNumber"] == "+49307654321" and kept["primaryContact"]["lastName"] == "Maier-Berg"
    removed = json_of(patch(token, cid, {"firstName": "Greta", "lastName": "Maier-Berg", "email": "greta@contoso.de",
                                         "phoneNumber": None}, "*"))
    assert "phoneNumber" not in removed["primaryContact"]


def test_the_contact_is_validated_as_an_attestations(storage, partner_tokens, fixed_clock):
    cid = create(partner_tokens())["customer"]["id"]
    token = partner_tokens()
    bad_phone = patch(token, cid, {**NEW, "phoneNumber": "12"}, "*")
    assert bad_phone.status_code == 400 and json_of(bad_phone)["errors"][0]["field"] == "phoneNumber"
    for body in ({**NEW, "email": "not-an-email"}, {**NEW, "firstName": ""}, {**NEW, "extra": 1}, {"email": NEW["email"]},
                 {**NEW, "language": "xx-not a tag"}):
        assert patch(token, cid, body, "*").status_code == 400, body
    assert found(CustomerStore(storage).customer(cid)).primary_contact.email == "greta@contoso.de"


def test_a_removed_or_foreign_relationship_is_not_found(storage, partner_tokens, fixed_clock):
    cid = create(partner_tokens())["customer"]["id"]
    foreign = patch(partner_tokens("p-provider"), cid, NEW, "*")
    assert foreign.status_code == 404 and json_of(foreign)["type"].endswith("/no-active-relationship")
    assert remove(partner_tokens(), cid, {"goodFaithDeclaration": True}).status_code == 200
    gone = patch(partner_tokens(), cid, NEW, "*")
    assert gone.status_code == 404 and json_of(gone)["type"].endswith("/no-active-relationship")
    assert read(partner_tokens(), cid).status_code == 404


class Rejecting:
    def send(self, message, operation_id):
        raise EmailRejected("550 5.1.1 mailbox unavailable")


def test_a_confirmation_not_sent_yet_goes_to_the_new_contact(storage, settings, servers, partner_tokens, fixed_clock):
    old = {"firstName": "Greta", "lastName": "Maier", "email": "greta.c1@contoso.de"}
    cid = create(partner_tokens(), primaryContact=old)["customer"]["id"]
    assert attest(partner_tokens(), cid, attestation(primaryContact=old)).status_code == 201  # queued, rendered for greta
    new = {**NEW, "email": "jonas.c1@contoso.de"}
    assert patch(partner_tokens(), cid, new, etag(partner_tokens(), cid)).status_code == 200
    deliver_all(storage, settings.email_queue, SmtpSender(settings.smtp_host, settings.smtp_port, settings.email_sender))
    [mail] = inbox(servers, "jonas.c1@contoso.de")
    assert "Jonas" in mail["text"] and "Contoso Berlin GmbH" in mail["subject"]
    assert inbox(servers, "greta.c1@contoso.de", timeout=1) == []


def test_a_confirmation_that_failed_is_sent_again_to_the_corrected_contact(storage, settings, servers, partner_tokens, fixed_clock):
    typo = {"firstName": "Greta", "lastName": "Maier", "email": "greta.c2@contoso.dee"}
    cid = create(partner_tokens(), primaryContact=typo)["customer"]["id"]
    assert attest(partner_tokens(), cid, attestation(primaryContact=typo)).status_code == 201
    deliver_all(storage, settings.email_queue, Rejecting())  # the provider refuses the misspelt address for good
    assert json_of(agreement(partner_tokens(), cid))["confirmationEmail"]["status"] == "Failed"

    fixed = {**typo, "email": "greta.c2@contoso.de"}
    assert patch(partner_tokens(), cid, fixed, etag(partner_tokens(), cid)).status_code == 200
    assert json_of(agreement(partner_tokens(), cid))["confirmationEmail"]["status"] == "Queued"
    deliver_all(storage, settings.email_queue, SmtpSender(settings.smtp_host, settings.smtp_port, settings.email_sender))
    [mail] = inbox(servers, "greta.c2@contoso.de")
    assert "Contoso Berlin GmbH" in mail["subject"]
    assert "confirmationEmail" not in json_of(agreement(partner_tokens(), cid))  # sent: nothing left to report


def test_an_attestation_naming_another_contact_follows_the_same_rule(storage, partner_tokens, fixed_clock):
    # Issue 19 item 4: POST .../agreements with another primaryContact replaced the person who consents for the customer
    # without If-Match and without telling the other partners; the new contact then consented to a third partner.
    cid = create(partner_tokens("p-reseller"))["customer"]["id"]  # the indirect reseller and its provider serve it
    provider = partner_tokens("p-provider")  # the provider attests (an indirect reseller may not)
    body = attestation(primaryContact=NEW)
    refused = attest(provider, cid, body)
    assert refused.status_code == 428 and json_of(refused)["type"].endswith("primary-contact-needs-if-match")
    assert found(CustomerStore(storage).customer(cid)).primary_contact.email == "greta@contoso.de"
    assert json_of(agreement(provider, cid))["acceptance"] == "NotProvided"  # nothing half-written
    tag = etag(provider, cid)
    patch(partner_tokens("p-reseller"), cid, {**NEW, "email": "someone.else@contoso.de"}, if_match=tag)
    assert attest(provider, cid, body, if_match=tag).status_code == 412  # decided on a version that changed since
    resp = attest(provider, cid, body, if_match=etag(provider, cid))
    assert resp.status_code == 201, resp.get_body()
    assert found(CustomerStore(storage).customer(cid)).primary_contact.email == "jonas.weber@contoso.de"
    assert events(storage, cid) == ["p-provider", "p-provider", "p-reseller", "p-reseller"]  # the PATCH's and the attestation's
    actions = [e["action"] for e in json_of(trail(provider, cid))["items"]]
    assert actions.count("customer.primaryContactUpdated") == 2 and "agreement.attested" in actions


def test_an_attestation_naming_the_current_contact_needs_no_if_match(storage, partner_tokens, fixed_clock):
    cid = create(partner_tokens())["customer"]["id"]
    assert attest(partner_tokens(), cid).status_code == 201  # Greta, as stored
    assert events(storage, cid) == []
