"""End to end over HTTP on the local stack: a partner token like the run command's creates an invitation,
the queue-triggered function sends it, and the email is in MailDev in the invitee's language."""

from __future__ import annotations

import time

import requests

from devhost.seed import DEMO_PARTNER_ID, demo_tokens, seed_demo
from tests.e2e.journey import mails_to


def test_partner_creates_invitation_and_email_arrives_in_german(local_stack):
    seed_demo(local_stack)
    auth = {"Authorization": f"Bearer {demo_tokens(local_stack)['agent']}"}
    body = {"email": "greta@contoso.de", "firstName": "Greta", "lastName": "Maier", "language": "de-AT", "countryRegion": "AT",
            "kind": "CustomerOnboarding", "company": {"name": "Contoso Wien", "country": "AT"}}
    resp = requests.post(f"{local_stack.app_url}/api/invitations", json=body, headers=auth, timeout=20)
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["createdBy"]["partnerId"] == DEMO_PARTNER_ID
    mail = mails_to(local_stack, "greta@contoso.de")[0]
    assert created["inviteRedeemUrl"] in mail["text"]
    assert "Greta" in mail["html"] and ("Einladung" in mail["subject"] or "eingeladen" in mail["text"])
    # the status is visible to the partner: sent, then delivered (the stack reports every mail MailDev accepts)
    deadline = time.time() + 20
    while time.time() < deadline:
        got = requests.get(f"{local_stack.app_url}/api/invitations/{created['id']}", headers=auth, timeout=10).json()
        if got["emailStatus"] == "Delivered":
            break
        time.sleep(0.3)
    assert got["emailStatus"] == "Delivered" and got["emailStatusDetail"].get("advice") is None
    assert got["emailStatusDetail"]["messageId"] in mail["headers"]["message-id"]
    # the link in the email opens (a page, not an error) and opening it changes nothing
    link = requests.get(created["inviteRedeemUrl"], timeout=10)
    assert link.status_code == 200
    after = requests.get(f"{local_stack.app_url}/api/invitations/{created['id']}", headers=auth, timeout=10).json()
    assert after["status"] == "PendingAcceptance"


def test_api_errors_over_http_are_problem_json(local_stack):
    resp = requests.post(f"{local_stack.app_url}/api/invitations", data="{", headers={"Content-Type": "application/json"}, timeout=10)
    assert resp.status_code == 401
    assert resp.headers["Content-Type"].startswith("application/problem+json")


def test_changing_the_invitee_over_http_mails_the_new_address_and_replaces_the_old_link(local_stack):
    seed_demo(local_stack)
    auth = {"Authorization": f"Bearer {demo_tokens(local_stack)['agent']}"}
    base = f"{local_stack.app_url}/api/invitations"
    stamp = str(time.time_ns())
    old_address, new_address = f"jan.{stamp}@contoso.pl", f"mei.{stamp}@contoso.tw"
    body = {"email": old_address, "firstName": "Jan", "lastName": "Nowak", "language": "pl", "countryRegion": "PL",
            "kind": "CustomerOnboarding", "company": {"name": "Contoso Polska", "country": "PL"}}
    created = requests.post(base, json=body, headers=auth, timeout=20).json()
    mails_to(local_stack, old_address)
    read = requests.get(f"{base}/{created['id']}", headers=auth, timeout=10)
    missing = requests.patch(f"{base}/{created['id']}", json={"email": new_address}, headers=auth, timeout=20)
    assert missing.status_code == 428 and missing.headers["Content-Type"].startswith("application/problem+json")
    changed = requests.patch(f"{base}/{created['id']}", json={"email": new_address, "firstName": "Mei", "language": "zh-TW"},
                             headers={**auth, "If-Match": read.headers["ETag"], "Idempotency-Key": f"change-{stamp}"}, timeout=20)
    assert changed.status_code == 200, changed.text
    new = changed.json()
    assert new["replaces"] == created["reference"] and changed.headers["ETag"]
    stale = requests.patch(f"{base}/{created['id']}", json={"email": "x@contoso.pl"}, headers={**auth, "If-Match": read.headers["ETag"]},
                           timeout=20)
    assert stale.status_code == 412
    mail = mails_to(local_stack, new_address)[0]
    assert new["inviteRedeemUrl"] in mail["text"] and "邀請" in mail["subject"] + mail["text"]  # Traditional Chinese
    old_link = requests.get(created["inviteRedeemUrl"], timeout=10)
    assert old_link.status_code == 410 and "To zaproszenie zostało zastąpione" in old_link.text  # the old invitee's Polish
    assert requests.get(new["inviteRedeemUrl"], timeout=10).status_code == 200
    # the partner hears it: invitation.replaced in its feed (published by the webhooks queue function)
    deadline = time.time() + 30
    replaced = []
    while time.time() < deadline and not replaced:
        feed = requests.get(f"{local_stack.app_url}/api/events", headers=auth, params={"pageSize": "100"}, timeout=10).json()
        while feed.get("items"):
            replaced += [e for e in feed["items"] if e["type"] == "invitation.replaced" and e["data"]["reference"] == created["reference"]]
            feed = requests.get(f"{local_stack.app_url}/api/events", headers=auth, params={"after": feed["nextCursor"], "pageSize": "100"},
                                timeout=10).json()
        time.sleep(0.5)
    assert replaced and replaced[0]["data"]["replacedBy"] == new["reference"]


def _wait_for_status(local_stack, auth, invitation_id, wanted, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = requests.get(f"{local_stack.app_url}/api/invitations/{invitation_id}", headers=auth, timeout=10).json()
        if got["emailStatus"] == wanted:
            return got
        time.sleep(0.3)
    raise AssertionError(f"emailStatus still {got['emailStatus']}, not {wanted}")


def test_delivery_reports_of_the_stack_reach_the_partner(local_stack):
    """Every mail MailDev accepts is reported through the Event Grid webhook as ACS would: by the recipient's domain."""
    seed_demo(local_stack)
    auth = {"Authorization": f"Bearer {demo_tokens(local_stack)['agent']}"}
    today = time.strftime("%Y-%m-%d", time.gmtime())

    def funnel_total() -> int:
        got = requests.get(f"{local_stack.app_url}/api/invitations/funnel", params={"from": today, "to": today}, headers=auth,
                           timeout=10)
        assert got.status_code == 200, got.text
        return got.json()["created"]

    before = funnel_total()
    ids = {}
    for domain in ("hardbounce.example", "quarantine.example", "spamfilter.example", "contoso.com"):
        body = {"email": f"someone@{domain}", "firstName": "Sam", "lastName": "One", "language": "en", "countryRegion": "DE",
                "kind": "CustomerOnboarding", "company": {"name": f"Company at {domain}", "country": "DE"}}
        resp = requests.post(f"{local_stack.app_url}/api/invitations", json=body, headers=auth, timeout=20)
        assert resp.status_code == 201, resp.text
        ids[domain] = resp.json()["id"]
    bounced = _wait_for_status(local_stack, auth, ids["hardbounce.example"], "Bounced")
    assert bounced["emailStatusDetail"]["advice"] == "fix-address" and "5.1.1" in bounced["emailStatusDetail"]["reason"]
    assert bounced["status"] == "PendingAcceptance"  # the partner corrects the address with the change-invitee PATCH
    assert _wait_for_status(local_stack, auth, ids["quarantine.example"], "Quarantined")["emailStatusDetail"]["advice"] == \
        "ask-customer-to-allow-sender"
    _wait_for_status(local_stack, auth, ids["spamfilter.example"], "FilteredSpam")
    _wait_for_status(local_stack, auth, ids["contoso.com"], "Delivered")  # an ordinary address
    trail = requests.get(f"{local_stack.app_url}/api/invitations/{ids['contoso.com']}/trail", headers=auth, timeout=10).json()
    assert [s["step"] for s in trail["steps"]] == ["created", "emailed", "delivered"]
    assert funnel_total() - before == len(ids)  # the funnel counts every invitation created, once
    failed: list[dict] = []
    cursor, deadline = None, time.time() + 30
    while time.time() < deadline and {e["data"]["emailStatus"] for e in failed} < {"Bounced", "Quarantined", "FilteredSpam"}:
        page = requests.get(f"{local_stack.app_url}/api/events", params={"after": cursor} if cursor else {}, headers=auth,
                            timeout=10).json()
        failed += [e for e in page["items"] if e["type"] == "invitation.deliveryFailed"]
        cursor = page["nextCursor"] or cursor
        if not page["items"]:
            time.sleep(0.3)
    assert {e["data"]["emailStatus"] for e in failed} >= {"Bounced", "Quarantined", "FilteredSpam"}
    assert any(e["data"]["advice"] == "fix-address" for e in failed)
