"""End to end over HTTP on the local stack: a partner reads the customer's ETag, corrects the primary contact under
If-Match through the real host, a stale tag is refused, the change reaches the events feed, and the attestation
confirmation that follows lands in MailDev for the new contact only."""

from __future__ import annotations

import time

import requests

from devhost.seed import demo_tokens, seed_demo
from tests.e2e.journey import mails_to


def _events_of(stack, auth, type_, customer_id, timeout=30):
    """The customer's events of the type in the partner's feed, read on page by page: the stack is shared by the e2e modules,
    so the demo partner's feed may hold more than one page of earlier events (the contract fuzzing makes hundreds)."""
    deadline = time.time() + timeout
    cursor = None
    while time.time() < deadline:
        params = {"pageSize": "100", **({"after": cursor} if cursor else {})}
        page = requests.get(f"{stack.app_url}/api/events", headers=auth, params=params, timeout=10).json()
        found = [e for e in page["items"] if e["type"] == type_ and e["data"].get("customerId") == customer_id]
        if found:
            return found
        if page["items"]:
            cursor = page["nextCursor"]
        else:
            time.sleep(0.5)
    raise AssertionError(f"no {type_} event within {timeout}s")


def test_the_corrected_contact_gets_the_confirmation(local_stack):
    seed_demo(local_stack)
    auth = {"Authorization": f"Bearer {demo_tokens(local_stack)['agent']}"}
    base = local_stack.app_url
    old = {"firstName": "Greta", "lastName": "Maier", "email": "greta.pc@contoso.de"}
    created = requests.post(f"{base}/api/customers", json={"name": "Contoso Leipzig GmbH", "country": "DE", "language": "de",
                                                           "primaryContact": old}, headers=auth, timeout=20)
    assert created.status_code == 201, created.text
    cid = created.json()["customer"]["id"]
    tag = requests.get(f"{base}/api/customers/{cid}", headers=auth, timeout=10).headers["ETag"]

    new = {"firstName": "Jonas", "lastName": "Weber", "email": "jonas.pc@contoso.de", "language": "de"}
    changed = requests.patch(f"{base}/api/customers/{cid}/primary-contact", json=new, headers={**auth, "If-Match": tag}, timeout=20)
    assert changed.status_code == 200, changed.text
    assert changed.json()["primaryContact"]["email"] == "jonas.pc@contoso.de" and changed.headers["ETag"] != tag
    stale = requests.patch(f"{base}/api/customers/{cid}/primary-contact", json={**new, "lastName": "Weber-Klein"},
                           headers={**auth, "If-Match": tag}, timeout=20)
    assert stale.status_code == 412 and stale.headers["Content-Type"].startswith("application/problem+json")
    [event] = _events_of(local_stack, auth, "customer.primaryContactUpdated", cid)
    assert "jonas" not in str(event).lower()  # the event names no person

    attested = requests.post(f"{base}/api/customers/{cid}/agreements", headers=auth, timeout=20, json={
        "type": "MicrosoftCustomerAgreement", "dateAgreed": "2026-01-15",
        "primaryContact": {k: new[k] for k in ("firstName", "lastName", "email")}})
    assert attested.status_code == 201, attested.text
    [mail] = mails_to(local_stack, "jonas.pc@contoso.de")
    assert "Contoso Leipzig GmbH" in mail["subject"] and "Jonas" in mail["text"]
    mails = requests.get(f"{local_stack.mail_url}/email", timeout=10).json()
    assert not [m for m in mails if any(t["address"] == "greta.pc@contoso.de" for t in m["to"])]
