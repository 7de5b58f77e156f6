"""Attestations the customer confirms itself, on Azurite: ask, open (changes nothing), accept once, finalize, expire, pipeline."""

from __future__ import annotations

import re
import threading
from urllib.parse import parse_qs, urlencode, urlparse

import azure.functions as func
import pytest

from accept_invite import attestation_functions as page_fn
from accept_invite import sessions
from attest_agreement import functions as fn
from attest_agreement import receipts, service
from attest_agreement.repository import CustomerStore
from notifications import queue, reports
from tests.integration.test_attest_customers import call, create, queued, table_rows
from tests.support.context import ctx_of
from tests.support.expect import found
from tests.support.http import build_request, json_of
from tests.support.senders import Outbox

CSRF = "csrf-for-attestation-tests"


def ask(token, cid, **over):
    body = {"contact": {"firstName": "Greta", "lastName": "Maier", "email": "greta@contoso.de"}, "companyName": "Contoso Berlin GmbH",
            "language": "en"}  # the customer's own language (de) otherwise: tests/e2e read the German pages
    body.update(over)
    return call(fn.request_agreement_attestation, "POST", f"customers/{cid}/agreement-attestations", token, body, customer_id=cid)


def read(token, cid, aid):
    req_params = {"customerId": cid, "attestationId": aid}
    return fn.get_agreement_attestation(build_request("GET", "x", headers={"Authorization": token}, route_params=req_params))


def finalize(token, cid, aid, key=None):
    return call(fn.attest_customer_agreement, "POST", f"customers/{cid}/agreements", token,
                {"type": "MicrosoftCustomerAgreement", "attestationId": aid}, key=key, customer_id=cid)


def pipeline(token, status, **params):
    return json_of(call(fn.agreement_pipeline, "GET", "agreement-attestations", token, params={"status": status, **params}))


def link_of(url):
    return parse_qs(urlparse(url).query)["link"][0]


def cookie(csrf=CSRF):
    return {"cookie": f"{sessions.cookie_name()}={sessions.encode(sessions.Session(csrf=csrf))}"}


def open_page(link, method="GET", headers=None, lang=None):
    params = {"link": link, **({"lang": lang} if lang else {})}
    return page_fn.attestation_page(func.HttpRequest(method=method, url="http://localhost:7071/api/agreements/attestation?"
                                                     + urlencode(params), headers=headers or {}, params=params, route_params={},
                                                     body=b""))


def accept(link, name="Greta Maier", *, csrf=CSRF, tick=True, headers=None):
    form = {"csrf": csrf, "link": link, "name": name, **({"accept": "yes"} if tick else {})}
    hdrs = {"content-type": "application/x-www-form-urlencoded", "x-forwarded-for": "203.0.113.7:5100", "user-agent": "Firefox/140",
            **cookie(), **(headers or {})}
    return page_fn.accept_attestation(func.HttpRequest(method="POST", url="http://localhost:7071/api/agreements/attestation",
                                                       headers=hdrs, params={}, route_params={}, body=urlencode(form).encode()))


def text(resp):
    return " ".join(re.sub(r"<[^>]+>", " ", resp.get_body().decode()).split())


def customer_rows(storage, cid):
    return {r["RowKey"]: r for r in table_rows(storage) if r["PartitionKey"] == f"c|{cid}"}


@pytest.fixture
def cid(storage, partner_tokens, fixed_clock):
    return create(partner_tokens())["customer"]["id"]


def test_ask_open_accept_finalize_and_finalize_again(storage, settings, partner_tokens, cid, fixed_clock, monkeypatch):
    token = partner_tokens(roles=("SalesAgent",))
    resp = ask(token, cid, language="de", validityDays=10)
    assert resp.status_code == 201, resp.get_body()
    created = json_of(resp)
    assert created["status"] == "Pending" and created["emailStatus"] == "Queued" and created["expiresAt"].startswith("2026-12-01T12:00")
    link = link_of(created["acceptanceUrl"])
    assert link not in str(table_rows(storage))  # only its hash is stored
    [mail] = [m for m in queued(storage, settings, "email") if m["message"]["to_address"] == "greta@contoso.de"]
    assert created["acceptanceUrl"] in mail["message"]["text"] and mail["message"]["language"] == "de"

    # Opening the link (a mail scanner, HEAD or GET) changes nothing stored.
    before = customer_rows(storage, cid)
    for method in ("HEAD", "GET"):
        page = open_page(link, method)
        assert page.status_code == 200
    assert customer_rows(storage, cid) == before
    html = open_page(link).get_body().decode()
    assert '<html lang="de"' in html and "Contoso Berlin GmbH" in html and "MCA-2024-10" in html and 'name="csrf"' in html

    # Accepting: the name as the partner gave it (any case, either order), the box, the page's token.
    done = accept(link, "maier greta")
    assert done.status_code == 200 and "maier greta" in text(done)
    assert json_of(read(token, cid, created["id"]))["status"] == "Accepted"
    # The receipt: queued before the commit (delayed), sent once, only as the committed row names it.
    [row] = [r for k, r in customer_rows(storage, cid).items() if k == f"tr|{created['id']}"]
    assert row["status"] == "Pending"
    outbox = Outbox()
    ctx = ctx_of(storage)
    payload = {"type": receipts.KIND, "customerId": cid, "attestationId": created["id"], "operationId": row["operation_id"]}
    assert queue.deliver(ctx, outbox, {**payload, "operationId": "a-losing-tab"}) == {"skipped": 1}
    # A message whose acceptance is not (yet) committed looks again later, a few times, then is dropped.
    monkeypatch.setattr(receipts, "RECHECK_SECONDS", 0)
    assert queue.deliver(ctx, outbox, {**payload, "attestationId": "not-committed"}) == {"skipped": 1}
    assert [m["rechecks"] for m in queued(storage, settings, receipts.KIND) if m["attestationId"] == "not-committed"] == [1]
    assert queue.deliver(ctx, outbox, {**payload, "attestationId": "not-committed", "rechecks": 3}) == {"skipped": 1}
    assert queue.deliver(ctx, outbox, payload) == {"sent": 1}
    assert queue.deliver(ctx, outbox, payload) == {"skipped": 1}  # a second copy of the message
    [(receipt, operation)] = outbox.sent
    assert receipt.to_address == "greta@contoso.de" and "Bestätigung" in receipt.subject and "maier greta" in receipt.text
    assert operation == row["operation_id"] and customer_rows(storage, cid)[f"tr|{created['id']}"]["status"] == "Sent"
    # Its delivery report lands on the attestation, where the partner reads it (same shape and advice as invitations).
    report = {"messageId": operation, "status": "Quarantined", "deliveryAttemptTimestamp": "2026-11-21T12:05:00Z",
              "deliveryStatusDetails": {"statusMessage": "held by the tenant"}}
    storage.counter.reset()
    assert queue.receive_report(ctx, reports.EVENT_TYPE, report) == "applied"
    assert storage.counter.reset() == 4  # the tracked send read, the attestation read and written, the tracked send written
    assert queue.receive_report(ctx, reports.EVENT_TYPE, report) == "unchanged"  # Event Grid's duplicate
    receipt_email = json_of(read(token, cid, created["id"]))["receiptEmail"]
    assert receipt_email["emailStatus"] == "Quarantined"
    assert receipt_email["emailStatusDetail"]["advice"] == "ask-customer-to-allow-sender"
    [evidence] = [r for r in customer_rows(storage, cid).values() if r.get("action") == "attestation.accepted"]
    for word in ("203.0.113.7", "Firefox/140", "maier greta", "MCA-2024-10", created["id"]):
        assert word in evidence["after"]
    events = [r for r in customer_rows(storage, cid).values() if r.get("type") == "agreement.attestationAccepted"]
    assert len(events) == 1 and "greta" not in str(events[0]).lower()

    # The evidence is the attesting partner's alone: another partner of the customer does not read it.
    audit = json_of(call(fn.customer_audit, "GET", "x", token, customer_id=cid))
    assert "attestation.accepted" in [e["action"] for e in audit["items"]]

    first = finalize(token, cid, created["id"])
    assert first.status_code == 201, first.get_body()
    agreement = json_of(call(fn.get_customer_agreement, "GET", "x", token, customer_id=cid))
    assert agreement["acceptance"] == "Provided" and agreement["how"] == "CustomerConfirmed"
    assert agreement["attestationId"] == created["id"] and agreement["contact"]["email"] == "greta@contoso.de"
    assert agreement["dateAgreed"] == "2026-11-21" and "confirmationEmail" not in agreement  # the customer had its receipt
    second = finalize(token, cid, created["id"])
    assert second.status_code == 409 and json_of(second)["type"].endswith("/agreement-accepted-already")
    assert json_of(read(token, cid, created["id"]))["status"] == "Finalized"
    assert queued(storage, settings, "attestation-notice") == []
    # The link, used, says so (and changes nothing).
    used = open_page(link)
    assert used.status_code == 200 and 'id="accepted"' in used.get_body().decode()


def test_finalize_before_acceptance_and_with_ids_that_are_not_yours(storage, partner_tokens, cid, fixed_clock):
    token = partner_tokens()
    aid = json_of(ask(token, cid, sendEmail=False))["id"]
    early = finalize(token, cid, aid)
    assert early.status_code == 409 and json_of(early)["type"].endswith("/attestation-not-accepted")
    assert json_of(early)["attestation"]["status"] == "Pending"
    other_cid = create(token, name="Fabrikam AG")["customer"]["id"]
    assert json_of(finalize(token, other_cid, aid))["type"].endswith("/attestation-not-found")  # another customer's id
    assert finalize(token, cid, "no-such-id").status_code == 404
    # The indirect provider of another customer: no relationship with this one.
    assert finalize(partner_tokens("p-provider"), cid, aid).status_code == 404
    assert read(partner_tokens("p-provider"), cid, aid).status_code == 404
    assert json_of(call(fn.get_customer_agreement, "GET", "x", token, customer_id=cid))["acceptance"] == "NotProvided"
    # Without attestationId the typed-in fields are required.
    bare = call(fn.attest_customer_agreement, "POST", "x", token, {"type": "MicrosoftCustomerAgreement"}, customer_id=cid)
    assert bare.status_code == 400 and {e["field"] for e in json_of(bare)["errors"]} == {"primaryContact", "dateAgreed"}


def test_indirect_resellers_cannot_ask(storage, partner_tokens, fixed_clock):
    reseller = partner_tokens("p-reseller")
    rcid = create(reseller)["customer"]["id"]
    resp = ask(reseller, rcid)
    assert resp.status_code == 403 and json_of(resp)["type"].endswith("/indirect-reseller-cannot-attest")
    # Their indirect provider can; what it asked (the contact, later the evidence) stays out of the reseller's audit trail.
    provider = partner_tokens("p-provider")
    assert ask(provider, rcid).status_code == 201
    assert "attestation.requested" in [e["action"] for e in json_of(call(fn.customer_audit, "GET", "x", provider, customer_id=rcid))["items"]]
    assert "attestation.requested" not in [e["action"] for e in json_of(call(fn.customer_audit, "GET", "x", reseller, customer_id=rcid))["items"]]


def test_a_new_attestation_replaces_the_pending_link(storage, partner_tokens, cid, fixed_clock):
    token = partner_tokens()
    first = json_of(ask(token, cid, sendEmail=False))
    second = json_of(ask(token, cid, sendEmail=False))
    assert json_of(read(token, cid, first["id"]))["status"] == "Replaced"
    assert json_of(read(token, cid, first["id"]))["replacedBy"] == second["id"]
    old = open_page(link_of(first["acceptanceUrl"]))
    assert old.status_code == 410 and "replaced" in text(old).lower()
    assert accept(link_of(first["acceptanceUrl"])).status_code == 410  # used after the replacement: its page, nothing written
    assert json_of(read(token, cid, second["id"]))["status"] == "Pending"


def test_bad_names_and_a_stale_form_change_nothing(storage, settings, partner_tokens, cid, fixed_clock):
    token = partner_tokens()
    created = json_of(ask(token, cid, sendEmail=False))
    link = link_of(created["acceptanceUrl"])
    for name, fragment in (("", "Type your name"), ("Greta Schmidt", "not the name")):
        resp = accept(link, name)
        assert resp.status_code == 400 and fragment in text(resp) and 'aria-invalid="true"' in resp.get_body().decode()
    unticked = accept(link, tick=False)
    assert unticked.status_code == 400
    stale = accept(link, csrf="another-token")
    assert stale.status_code == 403 and "Set-Cookie" in stale.headers
    assert json_of(read(token, cid, created["id"]))["status"] == "Pending"
    assert not [r for r in customer_rows(storage, cid).values() if r.get("action") == "attestation.accepted"]
    # Unknown links: malformed, of no attestation, or with another secret.
    aid = created["id"]
    for bad in ("nonsense", f"{cid}~{aid}~not-the-secret", f"{cid}~no-such~secret"):
        assert open_page(bad).status_code == 404 and accept(bad).status_code == 404


def test_two_tabs_racing_accept_once(storage, settings, partner_tokens, cid, fixed_clock):
    token = partner_tokens()
    created = json_of(ask(token, cid, sendEmail=False))
    link = link_of(created["acceptanceUrl"])
    answers = []
    start = threading.Barrier(2)

    def tab():
        start.wait()
        answers.append(accept(link).status_code)

    threads = [threading.Thread(target=tab) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200, 200]  # the loser sees the page of the used link
    rows = customer_rows(storage, cid).values()
    assert len([r for r in rows if r.get("action") == "attestation.accepted"]) == 1
    assert len([r for r in rows if r.get("type") == "agreement.attestationAccepted"]) == 1
    assert len([r for r in rows if r["RowKey"].startswith("tr|")]) == 1  # one receipt: the winner's message is the one sent


def test_expiry_page_sweep_event_and_pipeline(storage, settings, partner_tokens, cid, fixed_clock):
    token = partner_tokens()
    other = create(token, name="Fabrikam AG")["customer"]["id"]
    assert {c["customerId"] for c in pipeline(token, "Required")["items"]} == {cid, other}
    created = json_of(ask(token, cid, validityDays=1, sendEmail=False))
    assert [c["customerId"] for c in pipeline(token, "Pending")["items"]] == [cid]
    assert [c["customerId"] for c in pipeline(token, "Required")["items"]] == [other]
    fixed_clock.advance(days=1, seconds=1)
    page = open_page(link_of(created["acceptanceUrl"]), lang="ko")
    assert page.status_code == 410 and '<html lang="ko"' in page.get_body().decode()
    assert json_of(read(token, cid, created["id"]))["status"] == "Expired"  # before the sweep, by its time
    assert [c["customerId"] for c in pipeline(token, "Expired")["items"]] == [cid]
    assert service.expire_attestations(ctx_of(storage)) == {"expired": 1, "dropped": 0, "busy": 0}
    assert service.expire_attestations(ctx_of(storage)) == {"expired": 0, "dropped": 0, "busy": 0}  # only what expires is read
    rows = customer_rows(storage, cid).values()
    assert len([r for r in rows if r.get("type") == "agreement.attestationExpired"]) == 1
    assert [c["customerId"] for c in pipeline(token, "Expired")["items"]] == [cid]
    assert pipeline(partner_tokens("p-provider"), "Expired")["items"] == []
    # Ask again, accept: ready to finalize; finalized: off every list.
    again = json_of(ask(token, cid, sendEmail=False))
    assert accept(link_of(again["acceptanceUrl"])).status_code == 200
    assert [c["customerId"] for c in pipeline(token, "ReadyToFinalize")["items"]] == [cid]
    assert finalize(token, cid, again["id"]).status_code == 201
    for status in ("Pending", "Expired", "ReadyToFinalize"):
        assert pipeline(token, status)["items"] == []
    assert [c["customerId"] for c in pipeline(token, "Required")["items"]] == [other]


def test_the_pipeline_pages_and_knows_agreements_accepted_otherwise(storage, partner_tokens, fixed_clock):
    token = partner_tokens()
    ids = sorted(create(token, name=f"Customer {i}")["customer"]["id"] for i in range(5))
    attested = create(token, name="Attested", agreement={"type": "MicrosoftCustomerAgreement", "dateAgreed": "2026-11-20"})
    seen, cursor = [], None
    while True:
        page = pipeline(token, "Required", pageSize=2, **({"continuationToken": cursor} if cursor else {}))
        assert len(page["items"]) <= 2
        seen += [c["customerId"] for c in page["items"]]
        cursor = page["continuationToken"]
        if cursor is None:
            break
    assert seen == ids and attested["customer"]["id"] not in seen
    store = CustomerStore(storage)
    assert found(store.pipeline.get("pa|p-direct", attested["customer"]["id"])).stage == "Provided"  # filed by its unit of work
