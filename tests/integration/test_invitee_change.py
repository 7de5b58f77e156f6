"""Changing an invitation's invitee (PATCH /api/invitations/{id}) on real Azurite and MailDev: the old invitation is
Replaced and its link shows the replaced page at once, the new one works through to the company form, its email goes to
the new address in its language, If-Match keeps two agents from overwriting each other, the resend request matches only
the new manager, and the audit trail and the events feed show the change."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests

from accept_invite import functions as pages
from accept_invite import sessions
from invite_user import functions as fn
from invite_user import reminders, service
from invite_user.invitations import link_hash, link_key
from invite_user.repository import InvitationStore
from notifications import queue
from notifications.sender import SmtpSender
from shared import clock
from tests.integration.test_attest_customers import create as create_customer
from tests.integration.test_invitations_api import invitation_body, post
from tests.support.accept_invite import cookies_set, get_request, session_header, state_of, text_of
from tests.support.context import ctx_of
from tests.support.expect import found
from tests.support.http import build_request, json_of
from tests.support.queues import take
from webhooks import functions as webhooks_fn
from webhooks import publish

AGREEMENT = {"agreementNumber": "MPSA-77", "purchasingAccountNumber": "PA-1"}


def create(token, **over):
    resp = post("invitations", token, invitation_body(**over), fn.create_invitation)
    assert resp.status_code == 201, resp.get_body()
    return json_of(resp)


def read(token, handle):
    return fn.get_invitation(build_request("GET", f"invitations/{handle}", headers={"Authorization": token}, route_params={"id": handle}))


def etag(token, handle):
    resp = read(token, handle)
    assert resp.status_code == 200, resp.get_body()
    return resp.headers["ETag"]


def patch(token, handle, body, if_match=None, key=None):
    headers = {"Authorization": token}
    if if_match is not None:
        headers["If-Match"] = if_match
    if key:
        headers["Idempotency-Key"] = key
    return fn.change_invitee(build_request("PATCH", f"invitations/{handle}", body=body, headers=headers, route_params={"id": handle}))


def change(token, handle, body, **kw):
    resp = patch(token, handle, body, etag(token, handle), **kw)
    assert resp.status_code == 200, resp.get_body()
    return json_of(resp), resp


def problem(resp):
    assert resp.mimetype == "application/problem+json", resp.get_body()
    return json_of(resp)["type"].rsplit("/", 1)[-1]


def deliver(storage, settings):
    """What the queue-triggered function does with every email message, through SMTP to MailDev."""
    sender = SmtpSender(settings.smtp_host, settings.smtp_port, settings.email_sender)
    for payload in take(storage, settings.email_queue):
        queue.deliver(ctx_of(storage), sender, payload)


def inbox(servers, to):
    mails = requests.get(f"http://127.0.0.1:{servers.stack.ports.mail_web}/email", timeout=10).json()
    return [m for m in mails if any(t["address"].lower() == to.lower() for t in m["to"])]


def landing(raw):
    return pages.redeem_invitation_link(get_request("InviteUser", {"invitationId": raw}))


# -- the change -----------------------------------------------------------------------------------------------


def test_a_change_replaces_the_invitation_and_the_partner_sees_both(storage, settings, partner_tokens):
    token = partner_tokens()
    old = create(token, email="harry@contoso.com", language="de")
    before = etag(token, old["id"])
    new, resp = change(token, old["id"], {"email": "nora@contoso.com", "firstName": "Nora", "lastName": "Lee", "language": "fr"})
    assert new["status"] == "PendingAcceptance" and new["replaces"] == old["reference"] and new["reference"] != old["reference"]
    assert (new["email"], new["firstName"], new["lastName"], new["language"]) == ("nora@contoso.com", "Nora", "Lee", "fr")
    assert new["id"] and new["inviteRedeemUrl"].endswith(f"invitationId={new['id']}") and link_hash(new["id"]) == new["reference"]
    # carried over: kind, roles, company, country; the expiry starts afresh for the new link
    assert (new["kind"], new["roles"], new["company"], new["countryRegion"]) == (old["kind"], old["roles"], old["company"], old["countryRegion"])
    assert new["emailStatus"] == "Queued" and new["resentCount"] == 0
    assert resp.headers["ETag"] == etag(token, new["id"]) and resp.headers["Content-Location"] == f"/api/invitations/{new['reference']}"

    replaced = json_of(read(token, old["id"]))
    assert replaced["status"] == "Replaced" and replaced["replacedBy"] == new["reference"] and replaced["replacedAt"]
    assert replaced["email"] == "harry@contoso.com"  # the old one keeps who it was for
    assert etag(token, old["id"]) != before  # its version changed with it
    listed = {i["reference"]: i for i in json_of(fn.list_invitations(build_request("GET", "invitations", headers={"Authorization": token})))["items"]}
    assert listed[old["reference"]]["status"] == "Replaced" and listed[old["reference"]]["replacedBy"] == new["reference"]
    assert listed[new["reference"]]["status"] == "PendingAcceptance" and listed[new["reference"]]["replaces"] == old["reference"]
    only_replaced = json_of(fn.list_invitations(build_request("GET", "invitations", headers={"Authorization": token},
                                                              params={"status": "Replaced"})))["items"]
    assert [i["reference"] for i in only_replaced] == [old["reference"]]
    # one transaction moved the expiry index: only the new invitation is due to expire
    rows = [e["RowKey"] for e in storage.table("Invitations").list_entities() if e["RowKey"].startswith("x|")]
    assert len(rows) == 1 and rows[0].endswith(new["reference"])
    # its reminder index row moved too, and its reminder will carry the NEW link (sealed for the new invitation)
    reminders_due = [e["RowKey"] for e in storage.table("Invitations").list_entities() if e["RowKey"].startswith("r|")]
    assert len(reminders_due) == 1 and reminders_due[0].endswith(new["reference"])
    assert new["remind"] is True
    assert reminders.open_link(found(service.find(ctx_of(storage), link_key(new["id"])))) == new["id"]


def test_an_invitation_created_without_reminders_keeps_that_when_its_invitee_changes(storage, settings, partner_tokens):
    token = partner_tokens()
    old = create(token, remind=False)
    new, _ = change(token, old["id"], {"email": "nora@contoso.com"})
    assert new["remind"] is False
    assert not [e for e in storage.table("Invitations").list_entities() if e["RowKey"].startswith("r|")]


def test_the_reference_works_as_the_handle_too(storage, settings, partner_tokens):
    token = partner_tokens()
    old = create(token)
    new, _ = change(token, old["reference"], {"lastName": "Kim-Park"})
    assert new["lastName"] == "Kim-Park" and new["replaces"] == old["reference"]


def test_the_email_goes_to_the_new_address_in_its_language_once(storage, settings, servers, partner_tokens):
    token = partner_tokens()
    old = create(token, email="harry.chg@contoso.com", language="en")
    deliver(storage, settings)
    key = "change-harry-1"
    body = {"email": "nora.chg@contoso.com", "firstName": "Nora", "language": "de"}
    first = patch(token, old["id"], body, etag(token, old["id"]), key=key)
    again = patch(token, old["id"], body, "\"anything\"", key=key)  # a retry of the same request: the first answer
    assert first.status_code == again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert json_of(again) == json_of(first) and again.headers["ETag"] == first.headers["ETag"]
    new = json_of(first)
    deliver(storage, settings)
    [mail] = inbox(servers, "nora.chg@contoso.com")
    assert new["inviteRedeemUrl"] in mail["text"] and "Nora" in mail["html"]
    assert "Einladung" in mail["subject"] or "eingeladen" in mail["text"]
    assert len(inbox(servers, "harry.chg@contoso.com")) == 1  # only the first invitation's email
    assert json_of(read(token, new["id"]))["emailStatus"] == "Sent"
    assert len(InvitationStore(storage).list_page("p-direct").items) == 2


def test_without_send_email_the_partner_gets_the_new_link_and_nothing_is_queued(storage, settings, partner_tokens):
    token = partner_tokens()
    old = create(token, sendEmail=False)
    new, _ = change(token, old["id"], {"email": "nora@contoso.com"})
    assert new["emailStatus"] == "NotRequested" and new["inviteRedeemUrl"]
    assert [m["type"] for m in take(storage, settings.email_queue)] == []


def test_a_change_that_changes_nothing_writes_nothing(storage, settings, partner_tokens):
    token = partner_tokens()
    old = create(token, email="harry@contoso.com")
    tag = etag(token, old["id"])
    resp = patch(token, old["id"], {"email": "harry@contoso.com", "firstName": "Harry"}, tag)
    assert resp.status_code == 200 and json_of(resp)["reference"] == old["reference"] and resp.headers["ETag"] == tag
    assert len(InvitationStore(storage).list_page("p-direct").items) == 1


@pytest.mark.parametrize(("body", "field"), [
    ({}, "(body)"), ({"sendEmail": True}, "(body)"), ({"email": None}, "email"), ({"email": "nope"}, "email"),
    ({"firstName": ""}, "firstName"), ({"language": "english please"}, "language"), ({"kind": "CompanyUser"}, "kind"),
    ({"agreement": {"agreementNumber": "A1"}}, "agreement.purchasingAccountNumber"),
])
def test_a_bad_change_is_a_field_problem(storage, settings, partner_tokens, body, field):
    token = partner_tokens()
    old = create(token)
    resp = patch(token, old["id"], body, etag(token, old["id"]))
    assert resp.status_code == 400 and field in {e["field"] for e in json_of(resp)["errors"]}, json_of(resp)


# -- the old link and the new one -----------------------------------------------------------------------------


def test_the_old_link_shows_the_replaced_page_in_one_read(storage, settings, partner_tokens):
    token = partner_tokens(name="Ben Berater", email="ben@partner.example")
    old = create(token, email="harry@contoso.com", language="en")
    change(partner_tokens(), old["id"], {"email": "nora.secret@contoso.com"})  # changed by another agent: Anna
    storage.counter.reset()
    resp = landing(old["id"])
    assert storage.counter.reset() == 1  # the old link's own row says it was replaced
    assert resp.status_code == 410
    text = text_of(resp)
    assert "This invitation was replaced" in text
    assert "Contoso Partner replaced this invitation with a new one, so this link no longer works." in text
    assert "contact Anna Agent at Contoso Partner" in text  # whom to ask: the agent who replaced it
    assert 'href="mailto:anna@partner.example"' in resp.get_body().decode()
    assert "nora.secret" not in resp.get_body().decode()  # the page never says for whom the new one is


def test_the_replaced_page_speaks_the_invitees_language(storage, settings, partner_tokens):
    token = partner_tokens()
    old = create(token, email="harry@contoso.com", language="ja")
    change(token, old["id"], {"email": "nora@contoso.com", "language": "en"})
    text = text_of(landing(old["id"]))
    assert "この招待は新しい招待に置き換えられました" in text and "Contoso Partner の Anna Agent さん" in text
    switched = pages.redeem_invitation_link(get_request("InviteUser", {"invitationId": old["id"], "lang": "de"}))
    assert "Diese Einladung wurde ersetzt" in text_of(switched)  # the language switcher's choice comes first


def _sign_in(raw, idp, email):
    idp.email = email
    start = pages.start_sign_in(get_request("auth/signin", {"invitationId": raw, "mode": "signin"}))
    assert start.status_code == 302, start.get_body()
    binding = next(c.split(";")[0] for c in cookies_set(start) if c.startswith(sessions.binding_cookie_name() + "="))
    state = state_of(start.headers["Location"])
    return pages.finish_sign_in(get_request("auth/callback", {"code": "abc", "state": state}, headers={"cookie": binding}))


def test_the_new_link_works_through_to_the_company_form_and_the_old_one_does_not(storage, settings, partner_tokens, idp):
    token = partner_tokens()
    old = create(token, email="harry@contoso.com", language="en", company={"name": "Contoso Korea", "country": "KR"})
    new, _ = change(token, old["id"], {"email": "nora@contoso.com", "firstName": "Nora"})
    page = landing(new["id"])
    assert page.status_code == 200 and "This invitation is for nora@contoso.com" in text_of(page)
    callback = _sign_in(new["id"], idp, "nora@contoso.com")
    assert callback.status_code == 303 and callback.headers["Location"] == f"/api/companies/new?invitationId={link_key(new['id'])}"
    form = pages.new_company_form(get_request("companies/new", {"invitationId": link_key(new["id"])}, session_header("nora@contoso.com")))
    assert form.status_code == 200 and 'value="Contoso Korea"' in form.get_body().decode()
    # the old link, even signed in as the old invitee, leads to the replaced page
    callback = _sign_in(old["id"], idp, "harry@contoso.com")
    assert callback.status_code == 303
    location = callback.headers["Location"]
    path, _, query = location.partition("?")
    replaced = pages.new_company_form(get_request(path.removeprefix("/api/"), dict(p.split("=") for p in query.split("&")),
                                                  session_header("harry@contoso.com")))
    assert replaced.status_code == 410 and "This invitation was replaced" in text_of(replaced)


# -- concurrency and state --------------------------------------------------------------------------------------


def test_if_match_is_required_and_a_stale_one_is_refused(storage, settings, partner_tokens):
    token = partner_tokens()
    old = create(token)
    body = {"email": "nora@contoso.com"}
    missing = patch(token, old["id"], body)
    assert missing.status_code == 428 and problem(missing) == "precondition-required"
    assert patch(token, old["id"], body, "not-quoted").status_code == 400  # not an entity tag: a clear 400, not a guess
    assert problem(patch(token, old["id"], body, '"not-the-version"')) == "precondition-failed"
    seen = etag(token, old["id"])
    assert patch(token, old["id"], body, f"W/{seen}").status_code == 412  # a weak tag never matches
    # another agent resends meanwhile: the version this agent decided on is gone
    resent = fn.resend_invitation(build_request("POST", "x", headers={"Authorization": partner_tokens(roles=("SalesAgent",))},
                                                route_params={"id": old["id"]}))
    assert resent.status_code == 200
    stale = patch(token, old["id"], body, seen)
    assert stale.status_code == 412 and problem(stale) == "precondition-failed"
    assert len(InvitationStore(storage).list_page("p-direct").items) == 1  # nothing written
    fresh = etag(token, old["id"])
    assert fresh != seen and patch(token, old["id"], body, f'"x", {fresh}').status_code == 200  # any of the listed tags


def test_if_match_star_is_a_deliberate_whatever_is_there(storage, settings, partner_tokens):
    token = partner_tokens()
    old = create(token)
    changed = patch(token, old["id"], {"email": "nora@contoso.com"}, "*")  # RFC 9110: * matches any current version
    assert changed.status_code == 200, changed.get_body()
    assert json_of(changed)["email"] == "nora@contoso.com"


def test_the_etag_follows_every_change_of_the_invitation_but_not_its_emails_delivery(storage, settings, partner_tokens, fixed_clock):
    token = partner_tokens()
    old = create(token)
    created = etag(token, old["id"])
    deliver(storage, settings)
    assert json_of(read(token, old["id"]))["emailStatus"] == "Sent" and etag(token, old["id"]) == created  # still good to decide on
    fn.resend_invitation(build_request("POST", "x", headers={"Authorization": token}, route_params={"id": old["id"]}))
    resent = etag(token, old["id"])  # the same instant (a frozen clock): the resend still shows
    fn.revoke_invitation(build_request("POST", "x", headers={"Authorization": token}, route_params={"id": old["id"]}))
    assert len({created, resent, etag(token, old["id"])}) == 3
    pending = create(token, expiresInDays=1)
    before = etag(token, pending["id"])
    fixed_clock.advance(days=2)  # past its expiry, before the sweep marks it: shown Expired, so another version
    assert etag(token, pending["id"]) != before


def test_two_agents_deciding_on_the_same_version_one_wins(storage, settings, partner_tokens):
    token = partner_tokens()
    old = create(token)
    seen = etag(token, old["id"])
    assert patch(token, old["id"], {"email": "nora@contoso.com"}, seen).status_code == 200
    second = patch(partner_tokens(roles=("SalesAgent",)), old["id"], {"email": "otto@contoso.com"}, seen)
    assert second.status_code == 412
    assert len(InvitationStore(storage).list_page("p-direct").items) == 2


@pytest.mark.parametrize("state", ["Revoked", "Replaced", "Expired", "Accepted"])
def test_only_a_pending_invitation_can_be_changed(storage, settings, partner_tokens, fixed_clock, state):
    token = partner_tokens()
    old = create(token, expiresInDays=3)
    if state == "Revoked":
        fn.revoke_invitation(build_request("POST", "x", headers={"Authorization": token}, route_params={"id": old["id"]}))
    elif state == "Replaced":
        change(token, old["id"], {"firstName": "Harriet"})
    elif state == "Expired":
        fixed_clock.advance(days=4)
    else:
        service.accept(ctx_of(storage), old["reference"], {"email": "harry.kim@contoso.com"}, customer_id=None, now=clock.utc_now())
    resp = patch(token, old["id"], {"email": "nora@contoso.com"}, etag(token, old["id"]))
    assert resp.status_code == 409 and problem(resp) == f"invitation-{state.lower()}", json_of(resp)


def test_another_partners_invitation_is_not_found(storage, settings, partner_tokens):
    old = create(partner_tokens())
    tag = etag(partner_tokens(), old["id"])
    for other in ("p-provider", "p-reseller"):
        resp = patch(partner_tokens(other), old["id"], {"email": "mallory@evil.example"}, tag)
        assert resp.status_code == 404 and problem(resp) == "not-found"
    assert json_of(read(partner_tokens(), old["id"]))["status"] == "PendingAcceptance"


def test_a_company_user_invitation_needs_what_inviting_one_needs(storage, settings, partner_tokens):
    cid = create_customer(partner_tokens())["customer"]["id"]
    old = create(partner_tokens(), kind="CompanyUser", customerId=cid, roles=["AccountViewer"])
    sales = patch(partner_tokens(roles=("SalesAgent",)), old["id"], {"email": "sales.self@partner.example"}, etag(partner_tokens(), old["id"]))
    assert sales.status_code == 403 and "AdminAgent" in json_of(sales)["detail"]  # as inviting a company user would be
    assert json_of(read(partner_tokens(), old["id"]))["status"] == "PendingAcceptance"
    new, _ = change(partner_tokens(), old["id"], {"email": "nora@contoso.com"})
    assert new["customerId"] == cid and new["kind"] == "CompanyUser" and new["roles"] == ["AccountViewer"]


# -- what follows from a change --------------------------------------------------------------------------------


def _ask(email, agreement=AGREEMENT, ip="203.0.113.9"):
    return fn.request_invitation_resend(build_request("POST", "invitations/resend-request", body={"email": email, **agreement},
                                                      headers={"X-Forwarded-For": f"{ip}:5000"}))


def _resent_to(storage, settings):
    sender_messages = take(storage, settings.email_queue)
    for payload in [m for m in sender_messages if m["type"] == "resend-request"]:
        queue.deliver(ctx_of(storage), _Recorder(), payload)
    return [(item["partnerId"], item["rowKey"]) for m in take(storage, settings.email_queue) for item in m.get("items", [])]


class _Recorder:
    def send(self, message, operation_id):  # noqa: ARG002 - never called: resend requests only queue emails
        raise AssertionError("a resend request sends nothing itself")


def test_the_resend_request_matches_only_the_new_manager(storage, settings, partner_tokens):
    token = partner_tokens()
    old = create(token, email="harry@contoso.com", agreement=AGREEMENT)
    take(storage, settings.email_queue)
    new, _ = change(token, old["id"], {"email": "nora@contoso.com"})
    take(storage, settings.email_queue)
    store = InvitationStore(storage)
    assert _ask("harry@contoso.com").status_code == 202
    assert _resent_to(storage, settings) == []  # the old manager: nothing
    assert _ask("nora@contoso.com", ip="203.0.113.10").status_code == 202
    assert [row for _, row in _resent_to(storage, settings)] == [f"k|{new['reference']}"]
    assert found(store.find_by_link(new["reference"])).resent_count == 1
    # only the new invitation's pointer is left for that agreement
    pointers = [e["RowKey"] for e in storage.table("Invitations").list_entities() if e["PartitionKey"].startswith("g|")]
    assert pointers == [new["reference"]]

    # a new purchasing account: the old one's request matches nothing any more, the new one's does
    other = {"agreementNumber": "MPSA-77", "purchasingAccountNumber": "PA-2"}
    newer, _ = change(token, new["id"], {"agreement": other})
    take(storage, settings.email_queue)
    assert _ask("nora@contoso.com", ip="203.0.113.11").status_code == 202
    assert _resent_to(storage, settings) == []
    assert _ask("nora@contoso.com", other, ip="203.0.113.12").status_code == 202
    assert [row for _, row in _resent_to(storage, settings)] == [f"k|{newer['reference']}"]
    # and none at all: no pointer is left to match
    last, _ = change(token, newer["id"], {"agreement": None})
    assert "agreement" not in last
    assert [e for e in storage.table("Invitations").list_entities() if e["PartitionKey"].startswith("g|")] == []


def test_the_audit_shows_before_and_after(storage, settings, partner_tokens):
    token = partner_tokens()
    old = create(token, email="harry@contoso.com", language="ko", agreement=AGREEMENT)
    new, _ = change(token, old["id"], {"email": "nora@contoso.com", "language": "en", "agreement": {**AGREEMENT, "purchasingAccountNumber": "PA-3"}})
    [record] = [r for r in InvitationStore(storage).audit_page("p-direct").items if r.action == "invitation.replaced"]
    assert record.actor.startswith("Anna Agent")
    assert record.before is not None
    assert record.before["reference"] == old["reference"] and record.before["status"] == "PendingAcceptance"
    assert (record.before["email"], record.before["language"], record.before["agreement"]) == ("harry@contoso.com", "ko", AGREEMENT)
    assert record.after is not None
    assert record.after["reference"] == new["reference"] and record.after["replaces"] == old["reference"]
    assert (record.after["email"], record.after["language"], record.after["agreement"]["purchasingAccountNumber"]) == (
        "nora@contoso.com", "en", "PA-3")


def test_the_change_is_in_the_events_feed(storage, settings, partner_tokens):
    token = partner_tokens()
    old = create(token, email="harry@contoso.com", sendEmail=False)
    new, _ = change(token, old["id"], {"email": "nora@contoso.com"})
    for payload in take(storage, settings.webhooks_queue):
        for table, partition in payload.get("partitions", []):
            publish.publish(ctx_of(storage), table, partition)
    later = clock.FixedClock(clock.utc_now() + timedelta(seconds=5))  # past the feed's settle time
    previous = clock.set_clock(later)
    try:
        feed = json_of(webhooks_fn.read_events(build_request("GET", "events", headers={"Authorization": token})))
    finally:
        clock.set_clock(previous)
    [event] = [e for e in feed["items"] if e["type"] == "invitation.replaced"]
    assert event["data"]["reference"] == old["reference"] and event["data"]["replacedBy"] == new["reference"]
    assert event["data"]["status"] == "Replaced" and event["data"]["links"]["self"].endswith(f"/api/invitations/{old['reference']}")
    assert "harry" not in json.dumps(event) and "nora" not in json.dumps(event)
