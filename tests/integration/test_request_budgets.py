"""Storage requests per customer route and per partner change, on real Azurite: the budgets the table layout promises.

Counts, not timings: each route runs once warm (tables created, partner cached), then once counted.
"""

from __future__ import annotations

import json

from accept_invite import functions, sessions
from accept_invite.company_form import prefill
from attest_agreement import functions as customer_functions
from invite_user import functions as invitation_functions
from shared.settings import get_settings
from tests.integration.test_attest_attestations import accept, ask, finalize, link_of, open_page
from tests.integration.test_attest_customers import create
from tests.support.accept_invite import (
    cookies_set,
    form_request,
    get_request,
    invite,
    session_header,
    state_of,
)
from tests.support.http import build_request
from tests.support.partners import register_partners

CSRF = "csrf-token-for-tests"


def counted(storage, call):
    storage.counter.reset()
    resp = call()
    return resp, storage.counter.reset()


def test_the_landing_page_is_one_point_read(storage, idp):
    for _ in range(2):  # the second is counted warm
        inv, raw = invite(storage)
        resp, requests = counted(storage, lambda raw=raw: functions.redeem_invitation_link(get_request("InviteUser", {"invitationId": raw})))
    assert resp.status_code == 200
    assert requests == 1


def test_a_revoked_link_shows_so_at_once_in_that_one_read(storage, idp, partner_tokens):
    inv, raw = invite(storage)
    functions.redeem_invitation_link(get_request("InviteUser", {"invitationId": raw}))
    revoke = build_request("POST", "x", headers={"Authorization": partner_tokens()}, route_params={"id": inv.reference})
    storage.queue(get_settings().webhooks_queue)  # created once per process, not per request
    storage.counter.reset()
    assert invitation_functions.revoke_invitation(revoke).status_code == 200
    # the invitation's own row, one transaction (row, listing copy, index, audit, event), the event's announcement
    assert storage.counter.reset() == 3
    resp, requests = counted(storage, lambda: functions.redeem_invitation_link(get_request("InviteUser", {"invitationId": raw})))
    assert requests == 1
    assert resp.status_code == 410  # it was 200 before: the revoke shows at once, from the same one read


def test_an_unknown_link_costs_one_read(storage, idp):
    invite(storage)
    unknown = "0b6c3b1e-6f0e-4d7a-9a4e-0123456789ab"
    resp, requests = counted(storage, lambda: functions.redeem_invitation_link(get_request("InviteUser", {"invitationId": unknown})))
    assert resp.status_code == 404 and requests == 1


def test_the_sign_in_journey_reads_the_invitation_once_per_step(storage, idp):
    invite(storage)
    inv, raw = invite(storage)
    storage.table("Customers")  # created once per process, not per request
    storage.table("SessionEpochs")
    storage.queue(get_settings().webhooks_queue)
    functions.start_sign_in(get_request("auth/signin", {"invitationId": raw}))  # warm the flow table
    resp, start = counted(storage, lambda: functions.start_sign_in(get_request("auth/signin", {"invitationId": raw})))
    assert resp.status_code == 302
    assert start == 4  # the invitation, the client's sign-in count read and written (every anonymous write bounded), the flow written
    state = state_of(resp.headers["Location"])
    binding = next(c.split(";")[0] for c in cookies_set(resp) if c.startswith(sessions.binding_cookie_name() + "="))
    resp, callback = counted(storage, lambda: functions.finish_sign_in(
        get_request("auth/callback", {"code": "abc", "state": state}, headers={"cookie": binding})))
    assert resp.status_code == 303
    # the flow read, the flow deleted (used once), the invitation, the person's session epoch and, this once, its first
    # sign-in written (the trail)
    assert callback == 5
    handle = resp.headers["Location"].split("invitationId=")[1]
    again = functions.start_sign_in(get_request("auth/signin", {"invitationId": raw}))
    binding_again = next(c.split(";")[0] for c in cookies_set(again) if c.startswith(sessions.binding_cookie_name() + "="))
    _, callback_again = counted(storage, lambda: functions.finish_sign_in(get_request(
        "auth/callback", {"code": "abc", "state": state_of(again.headers["Location"])}, headers={"cookie": binding_again})))
    assert callback_again == 4  # signed in before: nothing written (the flow, its deletion, the invitation, the epoch)
    resp, form = counted(storage, lambda: functions.new_company_form(get_request("companies/new", {"invitationId": handle}, session_header())))
    assert resp.status_code == 200
    assert form == 2  # the session's epoch (a signed-out session stops at once), the invitation
    values = prefill(inv.company, inv.country_region)
    post = {"csrf": CSRF, "invitationId": handle, **values}
    resp, create = counted(storage, lambda: functions.create_company(form_request("companies", post, session_header())))
    assert resp.status_code == 303, resp.get_body()
    # the invitation, read once (the page's guard hands its unit of work to the acceptance); the invitation's accepting
    # transaction and its event's announcement; the company's profile and the partner's relationship read, one customer
    # transaction and its events' announcement; the partner's customer list row written (from the relationships that
    # transaction staged, not listed again)
    assert create == 9, create  # and the session's epoch


def test_a_trail_costs_one_read_and_two_more_once_accepted(storage, idp, partner_tokens):
    """Before acceptance the invitation holds the whole trail; after, its customer's relationship and agreement rows are
    point reads (relationship consented, agreement accepted), never a query over the customer's records."""
    inv, raw = invite(storage)

    def trail():
        return invitation_functions.invitation_trail(build_request(
            "GET", "x", headers={"Authorization": partner_tokens("p-direct")}, route_params={"id": raw}))

    trail()  # warm: the partner registry
    resp, pending = counted(storage, trail)
    assert resp.status_code == 200 and pending == 1
    state = state_of(functions.start_sign_in(get_request("auth/signin", {"invitationId": raw})).headers["Location"])
    functions.finish_sign_in(get_request("auth/callback", {"code": "abc", "state": state}))
    post = {"csrf": CSRF, "invitationId": raw, **prefill(inv.company, inv.country_region)}
    assert functions.create_company(form_request("companies", post, session_header())).status_code == 303
    resp, accepted = counted(storage, trail)
    assert json.loads(resp.get_body())["steps"][-1]["step"] == "relationshipConsented"
    assert accepted == 3, accepted


def test_a_primary_contact_change_costs_what_the_readme_says(storage, partner_tokens, fixed_clock):
    register_partners(storage)
    created = customer_functions.create_customer(build_request("POST", "customers", headers={"Authorization": partner_tokens()}, body={
        "name": "Contoso Berlin GmbH", "country": "DE", "primaryContact": {"firstName": "G", "lastName": "M", "email": "g@contoso.de"}}))
    cid = json.loads(created.get_body())["customer"]["id"]

    def patch(email, key=None):
        headers = {"Authorization": partner_tokens(), "If-Match": "*", **({"Idempotency-Key": key} if key else {})}
        return customer_functions.update_primary_contact(build_request(
            "PATCH", "x", body={"firstName": "J", "lastName": "W", "email": email}, headers=headers, route_params={"customerId": cid}))

    patch("warm@contoso.de")
    resp, plain = counted(storage, lambda: patch("jonas@contoso.de"))
    assert resp.status_code == 200
    # the relationship, the customer, its relationships; one transaction; the events' announcement; the acceptance
    assert plain == 6, plain
    resp, keyed = counted(storage, lambda: patch("jonas.w@contoso.de", "budget-key"))
    assert resp.status_code == 200
    assert keyed == plain + 4, keyed  # the Idempotency-Key's own requests, as on every keyed write


def test_a_change_of_invitee_shows_at_once_on_the_old_link_in_its_one_read(storage, idp, partner_tokens):
    inv, raw = invite(storage)
    functions.redeem_invitation_link(get_request("InviteUser", {"invitationId": raw}))
    token = {"Authorization": partner_tokens()}
    read = invitation_functions.get_invitation(build_request("GET", "x", headers=token, route_params={"id": raw}))
    storage.queue(get_settings().webhooks_queue)  # created once per process, not per request
    storage.counter.reset()
    change = build_request("PATCH", "x", body={"email": "nora@contoso.example"}, headers={**token, "If-Match": read.headers["ETag"]},
                           route_params={"id": raw})
    assert invitation_functions.change_invitee(change).status_code == 200
    # the invitation's own row; the new link's pointer; one transaction (both invitations, their listing copies, the
    # expiry index moved, audit, event); the event's announcement; the new link's email queued
    assert storage.counter.reset() == 5
    resp, requests = counted(storage, lambda: functions.redeem_invitation_link(get_request("InviteUser", {"invitationId": raw})))
    assert requests == 1 and resp.status_code == 410
    # a purchasing account manager's: its agreement pointer written first, the old one's deleted after the commit
    inv, raw = invite(storage, agreement={"agreementNumber": "MPSA-1", "purchasingAccountNumber": "PA-1"})
    read = invitation_functions.get_invitation(build_request("GET", "x", headers=token, route_params={"id": raw}))
    change = build_request("PATCH", "x", body={"email": "nora@contoso.example"}, headers={**token, "If-Match": read.headers["ETag"]},
                           route_params={"id": raw})
    resp, requests = counted(storage, lambda: invitation_functions.change_invitee(change))
    assert resp.status_code == 200 and requests == 7


def test_the_attestation_routes_cost_what_docs_say(storage, partner_tokens, fixed_clock):
    """docs/ATTESTATIONS.md: the link's page is one point read; the acceptance, the finalize and the pipeline stay small."""
    token = partner_tokens()
    customers = [create(token, name=f"Customer {i}")["customer"]["id"] for i in range(3)]
    ask(token, customers[1], sendEmail=False)  # warm: tables, the partner, the queue
    storage.queue(get_settings().webhooks_queue)
    storage.queue(get_settings().email_queue)
    resp, asking = counted(storage, lambda: ask(token, customers[0]))
    assert resp.status_code == 201
    created = json.loads(resp.get_body())
    link = link_of(created["acceptanceUrl"])
    resp, page = counted(storage, lambda: open_page(link))
    assert resp.status_code == 200 and page == 1
    resp, unknown = counted(storage, lambda: open_page(link[:-2] + "xx"))
    assert resp.status_code == 404 and unknown == 1
    resp, accepting = counted(storage, lambda: accept(link))
    assert resp.status_code == 200
    resp, finalizing = counted(storage, lambda: finalize(token, customers[0], created["id"]))
    assert resp.status_code == 201
    # Ask: relationship, customer, agreement and slot read; the expiry index row; one transaction; the email queued; the
    # pipeline filed (the agreement's rows and the relationships, two queries; the attestation; one row per partner: one).
    # Accept: the page's read and the unit of work's; the receipt's message; one transaction; its event's announcement;
    # the pipeline. Finalize: relationship, customer, agreement, attestation; one transaction; the announcement; the pipeline.
    assert (asking, accepting, finalizing) == (11, 9, 10)
