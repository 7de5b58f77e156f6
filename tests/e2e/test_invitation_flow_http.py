"""End to end over HTTP on the local stack: a partner token like the run command's creates an invitation,
the queue-triggered function sends it, and the email is in MailDev in the invitee's language."""

from __future__ import annotations

import time

import requests

from devhost.seed import DEMO_PARTNER_ID, demo_tokens, seed_demo


def _wait_for_mail(stack, to, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        mails = requests.get(f"{stack.mail_url}/email", timeout=10).json()
        found = [m for m in mails if any(t["address"] == to for t in m["to"])]
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"no email to {to} within {timeout}s")


def test_partner_creates_invitation_and_email_arrives_in_german(local_stack):
    seed_demo(local_stack)
    auth = {"Authorization": f"Bearer {demo_tokens(local_stack)['agent']}"}
    body = {"email": "greta@contoso.de", "firstName": "Greta", "lastName": "Maier", "language": "de-AT", "countryRegion": "AT",
            "kind": "CustomerOnboarding", "company": {"name": "Contoso Wien", "country": "AT"}}
    resp = requests.post(f"{local_stack.app_url}/api/invitations", json=body, headers=auth, timeout=20)
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["createdBy"]["partnerId"] == DEMO_PARTNER_ID
    mail = _wait_for_mail(local_stack, "greta@contoso.de")[0]
    assert created["inviteRedeemUrl"] in mail["text"]
    assert "Greta" in mail["html"] and ("Einladung" in mail["subject"] or "eingeladen" in mail["text"])
    # the status is visible to the partner
    deadline = time.time() + 20
    while time.time() < deadline:
        got = requests.get(f"{local_stack.app_url}/api/invitations/{created['id']}", headers=auth, timeout=10).json()
        if got["emailStatus"] == "Sent":
            break
        time.sleep(0.3)
    assert got["emailStatus"] == "Sent"
    # the link in the email opens (a page, not an error) and opening it changes nothing
    link = requests.get(created["inviteRedeemUrl"], timeout=10)
    assert link.status_code == 200
    after = requests.get(f"{local_stack.app_url}/api/invitations/{created['id']}", headers=auth, timeout=10).json()
    assert after["status"] == "PendingAcceptance"


def test_api_errors_over_http_are_problem_json(local_stack):
    resp = requests.post(f"{local_stack.app_url}/api/invitations", data="{", headers={"Content-Type": "application/json"}, timeout=10)
    assert resp.status_code == 401
    assert resp.headers["Content-Type"].startswith("application/problem+json")
