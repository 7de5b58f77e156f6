"""The company runs itself, on Azurite through the real page handlers (session cookie, CSRF): an Account manager changes
a colleague's roles and removes them, whose next page is refused in their language; the company keeps its last Account
manager; stale forms and other companies' users change nothing; pending colleague invitations are resent (same link) and
revoked from the users page; the customer's side removes a partner's DAP or ends its relationship, and the partner's
access follows at once; a partner with DAP reads the company's users."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from accept_invite import companies, company_functions, functions, user_views
from accept_invite.company_users import Admin, UserChangeRefused, change_roles, version_of
from attest_agreement import functions as customers_fn
from attest_agreement import partner_rights
from attest_agreement.partner_rights import version_of as rel_version
from attest_agreement.repository import CustomerStore
from invite_user.invitations import link_hash
from notifications import queue
from partners.registry import Partner, PartnerRepository, PartnerType
from shared.clock import utc_now
from shared.partner_auth import Caller
from shared.settings import get_settings
from tests.integration.test_attest_customers import table_rows
from tests.support.accept_invite import (
    create_company,
    form_request,
    get_request,
    invite,
    session_header,
    subject_for,
    text_of,
)
from tests.support.context import ctx_of
from tests.support.expect import found
from tests.support.http import build_request, json_of
from tests.support.partners import register_partners
from tests.support.queues import receive
from tests.support.senders import Outbox

CSRF = "csrf-token-for-tests"
HANNA, IVY, BOB, OLA = "hanna@contoso.example", "ivy@contoso.example", "bob@fabrikam.example", "ola@contoso.example"
AGENT = Caller(partner_id="p-direct", roles=frozenset({"AdminAgent"}), name="Anna Agent", email="anna@partner.example", subject="anna")
PROVIDER = Caller(partner_id="p-provider", roles=frozenset({"AdminAgent"}), name="Paul", email="paul@provider.example", subject="paul")


def _company(storage, email: str, caller: Caller = AGENT, **fields) -> str:
    inv, _ = invite(storage, caller, email=email, **fields)
    return create_company(storage, inv, companies.Person(email, "", subject_for(email)))


def _join(storage, company: str, email: str, roles: list[str], language: str = "de") -> None:
    inv, _ = invite(storage, AGENT, email=email, kind="CompanyUser", customerId=company, roles=roles, language=language)
    companies.accept_existing(ctx_of(storage), inv.link_hash, companies.Person(email, "", subject_for(email)))


@pytest.fixture
def world(storage, partner_tokens):
    register_partners(storage)
    repo = PartnerRepository(storage)
    repo.save(Partner(id="p-direct", name="Contoso Partner", type=PartnerType.DIRECT, contact_email="admins@partner.example"))
    repo.save(Partner(id="p-other", name="Other Partner", type=PartnerType.DIRECT))
    a = _company(storage, HANNA)  # Hanna: Account manager (and Report viewer) of company A; p-direct its reseller with DAP
    _join(storage, a, IVY, ["AccountAdministrator", "ReportViewer"])
    b = _company(storage, BOB)
    return {"a": a, "b": b}


def _user(storage, company: str, email: str):
    return CustomerStore(storage).user(company, email)


def _post(handler, path: str, company: str, who: str, lang: str = "en", **form):
    return handler(form_request(path, {"csrf": CSRF, **form}, session_header(who, lang=lang), route_params={"companyId": company}))


def _roles(storage, company: str, who: str, email: str, roles: list[str], version: str | None = None):
    version = version or version_of(found(_user(storage, company, email)))
    return _post(company_functions.change_user_roles, f"companies/{company}/users/roles", company, who, email=email, version=version,
                 roles=roles)


def _remove(storage, company: str, who: str, email: str, version: str | None = None):
    user = _user(storage, company, email)
    version = version or (version_of(user) if user else "x")
    return _post(company_functions.remove_user, f"companies/{company}/users/remove", company, who, email=email, version=version)


def _page(company: str, who: str, page: str = "users", lang: str | None = "en"):
    return functions.company_page(get_request(f"companies/{company}/{page}", headers=session_header(who, lang=lang),
                                              route_params={"companyId": company, "page": page}))


def _audit(storage, company: str, action: str) -> list:
    return [r for r in CustomerStore(storage).audit_page(company).items if r.action == action]


def _queued_after_commit(storage, wait: float = 10.0) -> list[dict]:
    """The partner-rights messages, which become visible a moment after the change (it is committed by then)."""
    deadline = time.monotonic() + wait
    while True:
        found = [m for m in receive(storage, get_settings().email_queue) if m.get("type") == "partner-rights-changed"]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


# -- users --------------------------------------------------------------------------------------------------------


def test_an_account_manager_demotes_then_removes_a_colleague_whose_next_page_is_refused_in_their_language(storage, world):
    a = world["a"]
    assert _page(a, IVY).status_code == 200
    resp = _roles(storage, a, HANNA, IVY, ["ReportViewer"])
    assert resp.status_code == 200, text_of(resp)
    assert "The roles of ivy@contoso.example were changed." in text_of(resp)
    assert found(_user(storage, a, IVY)).roles == ["ReportViewer"]
    [record] = _audit(storage, a, "user.rolesChanged")
    assert record.before["roles"] == ["AccountAdministrator", "ReportViewer"] and record.after["roles"] == ["ReportViewer"]
    assert record.actor == HANNA

    form_version = version_of(found(_user(storage, a, IVY)))
    resp = _remove(storage, a, HANNA, IVY)
    assert resp.status_code == 200 and "ivy@contoso.example was removed from the company" in text_of(resp)
    assert _user(storage, a, IVY) is None
    # The same form again (its first answer lost): the same answer; nothing else is removed or audited twice.
    assert _remove(storage, a, HANNA, IVY, version=form_version).status_code == 200
    [record] = _audit(storage, a, "user.removed")
    assert record.before["email"] == IVY and record.after is None

    # Ivy's session still verifies (it is no key to anything): her next page says so, in her language (German), whom to ask.
    refused = _page(a, IVY, lang=None)
    assert refused.status_code == 403
    page = text_of(refused)
    assert "Sie haben keinen Zugang mehr zu Contoso GmbH" in page and HANNA in page
    for other in ("profile", "welcome", "agreements"):
        assert _page(a, IVY, other).status_code == 403
    # Every form of the company refuses her too (the invite form, the domains page, the users forms).
    assert _post(functions.invite_colleague, f"companies/{a}/invitations", a, IVY, submissionId="s", email="x@contoso.example",
                 firstName="X", lastName="Y", language="de", countryRegion="DE", roles="AccountViewer").status_code == 403
    assert _roles(storage, a, IVY, HANNA, ["AccountViewer"]).status_code == 403


def test_the_last_account_manager_cannot_remove_or_demote_themselves(storage, world):
    a = world["a"]
    resp = _remove(storage, a, HANNA, HANNA)
    assert resp.status_code == 409
    assert "the company would have no Account manager left" in text_of(resp)
    assert _user(storage, a, HANNA) is not None
    resp = _roles(storage, a, HANNA, HANNA, ["ReportViewer"])
    assert resp.status_code == 409 and found(_user(storage, a, HANNA)).roles == ["AccountManager", "ReportViewer"]
    # With a second Account manager, the first may step down (and then out).
    assert _roles(storage, a, HANNA, IVY, ["AccountManager"]).status_code == 200
    assert _roles(storage, a, HANNA, HANNA, ["ReportViewer"]).status_code == 200
    assert _page(a, HANNA).status_code == 200 and "Manage users" not in text_of(_page(a, HANNA))  # no longer an administrator


def test_a_user_administrator_cannot_make_or_unmake_an_account_manager(storage, world):
    a = world["a"]
    assert _roles(storage, a, HANNA, IVY, ["UserAdministrator"]).status_code == 200
    _join(storage, a, OLA, ["AccountViewer"], language="ko")
    resp = _roles(storage, a, IVY, OLA, ["AccountManager"])
    assert resp.status_code == 403 and "your role cannot give or take away Account manager" in text_of(resp)
    resp = _remove(storage, a, IVY, HANNA)
    assert resp.status_code == 403 and _user(storage, a, HANNA) is not None
    # The last User administrator stays too, whoever asks.
    resp = _remove(storage, a, HANNA, IVY)
    assert resp.status_code == 409 and "no User administrator left" in text_of(resp)
    assert _roles(storage, a, IVY, OLA, ["ReportViewer"]).status_code == 200  # a role the User administrator may give


def test_a_stale_form_a_stranger_and_another_companys_user_change_nothing(storage, world):
    a, b = world["a"], world["b"]
    old = version_of(found(_user(storage, a, IVY)))
    assert _roles(storage, a, HANNA, IVY, ["ReportViewer"]).status_code == 200
    resp = _roles(storage, a, HANNA, IVY, ["AccountViewer"], version=old)  # rendered before the change above
    assert resp.status_code == 409 and "someone else changed ivy@contoso.example meanwhile" in text_of(resp)
    assert _remove(storage, a, HANNA, IVY, version=old).status_code == 409
    assert found(_user(storage, a, IVY)).roles == ["ReportViewer"]
    # Bob (company B) on company A: refused; Hanna naming company B's user on company A: not a user here.
    assert _roles(storage, a, BOB, IVY, ["AccountViewer"]).status_code == 403
    resp = _remove(storage, a, HANNA, BOB, version=version_of(found(_user(storage, b, BOB))))
    assert resp.status_code == 409 and "is no longer a user of this company" in text_of(resp)
    assert _user(storage, b, BOB) is not None
    # No CSRF token: nothing changes.
    resp = company_functions.remove_user(form_request(f"companies/{a}/users/remove", {"email": IVY, "version": old},
                                                      session_header(HANNA), route_params={"companyId": a}))
    assert resp.status_code == 403 and _user(storage, a, IVY) is not None
    # An unknown role or none at all.
    with pytest.raises(UserChangeRefused):
        change_roles(ctx_of(storage), a, Admin(HANNA, subject_for(HANNA)), IVY, ["Emperor"], version_of(found(_user(storage, a, IVY))))
    assert _roles(storage, a, HANNA, IVY, []).status_code == 422


# -- pending invitations ------------------------------------------------------------------------------------------


def test_pending_colleague_invitations_are_listed_resent_with_the_same_link_and_revoked(storage, world):
    a = world["a"]
    inv, link_id = invite(storage, AGENT, email=OLA, kind="CompanyUser", customerId=a, roles=["ReportViewer"])
    page = text_of(_page(a, HANNA))
    assert "Pending invitations" in page and OLA in page and "Anna Agent" in page and "Report viewer" in page
    receive(storage, get_settings().email_queue)  # the first email

    resp = _post(company_functions.resend_company_invitation, f"companies/{a}/invitations/resend", a, HANNA, reference=inv.reference)
    assert resp.status_code == 200 and "sent again, with the same link" in text_of(resp)
    [email] = [m for m in receive(storage, get_settings().email_queue) if m.get("type") != "email"]
    assert [item["linkId"] for item in email["items"]] == [link_id]  # the link in the invitee's inbox, not a new one

    resp = _post(company_functions.revoke_company_invitation, f"companies/{a}/invitations/revoke", a, HANNA, reference=inv.reference)
    assert resp.status_code == 200 and "was revoked" in text_of(resp)
    landing = functions.redeem_invitation_link(get_request("InviteUser", {"invitationId": link_id}))
    assert landing.status_code == 410
    assert OLA not in text_of(_page(a, HANNA)).split("Pending invitations")[1]
    # Revoked already, or another company's invitation: nothing changes, the page says so.
    again = _post(company_functions.revoke_company_invitation, f"companies/{a}/invitations/revoke", a, HANNA, reference=inv.reference)
    assert again.status_code == 409
    other, _ = invite(storage, AGENT, email="x@fabrikam.example", kind="CompanyUser", customerId=world["b"], roles=["ReportViewer"])
    assert _post(company_functions.revoke_company_invitation, f"companies/{a}/invitations/revoke", a, HANNA,
                 reference=other.reference).status_code == 404
    assert link_hash(link_id) == inv.link_hash


# -- partners -----------------------------------------------------------------------------------------------------


def _partners_page(company: str, who: str):
    return company_functions.company_partners_page(get_request(f"companies/{company}/partners", headers=session_header(who, lang="en"),
                                                                route_params={"companyId": company}))


def _take_back(storage, company: str, who: str, partner_id: str, what: str, version: str | None = None):
    rel = CustomerStore(storage).relationship(company, partner_id)
    handler = company_functions.remove_partner_admin_rights if what == "dap" else company_functions.end_partner_relationship
    path = "remove-admin-rights" if what == "dap" else "end"
    return _post(handler, f"companies/{company}/partners/{path}", company, who, partnerId=partner_id,
                 version=version or (rel_version(rel) if rel else "x"))


def _events(storage, company: str, type_: str) -> list[str]:
    return [r["partner_id"] for r in table_rows(storage) if r["PartitionKey"] == f"c|{company}" and r.get("type") == type_]


def test_the_customer_removes_a_partners_admin_rights_and_the_partner_can_no_longer_invite_or_read_users(storage, world, partner_tokens):
    a = world["a"]
    token = partner_tokens("p-direct")
    users = customers_fn.list_customer_users(build_request("GET", f"customers/{a}/users", headers={"Authorization": token},
                                                           route_params={"customerId": a}))
    assert users.status_code == 200
    assert sorted(u["email"] for u in json_of(users)["items"]) == [HANNA, IVY] and "subject" not in json.dumps(json_of(users))
    page = text_of(_partners_page(a, HANNA))
    assert "Contoso Partner" in page and "Reseller" in page and "Delegated admin rights (DAP) Yes" in page
    receive(storage, get_settings().email_queue)

    form_version = rel_version(found(CustomerStore(storage).relationship(a, "p-direct")))
    resp = _take_back(storage, a, HANNA, "p-direct", "dap")
    assert resp.status_code == 200 and "The admin rights (DAP) of Contoso Partner were removed" in text_of(resp)
    rel = found(CustomerStore(storage).relationship(a, "p-direct"))
    assert rel.status.value == "Active" and rel.dap.active is False
    assert _events(storage, a, "relationship.adminRightsRemovedByCustomer") == ["p-direct"]
    assert [r.actor for r in _audit(storage, a, "relationship.adminRightsRemovedByCustomer")] == [HANNA]
    [message] = _queued_after_commit(storage)
    sender = Outbox()
    assert queue.deliver(ctx_of(storage), sender, message) == {"sent": 2, "skipped": 0, "failed": 0, "requeued": 0}
    # A copy of the message: nothing is owed any more, so nothing is sent (each email looks again a few times, then gives up).
    assert queue.deliver(ctx_of(storage), sender, message) == {"sent": 0, "skipped": 2, "failed": 0, "requeued": 0}
    assert len(sender.sent) == 2
    assert sorted(m.to_address for m, _ in sender.sent) == ["admins@partner.example", HANNA]
    assert [m.subject for m, _ in sender.sent] == ["Contoso GmbH removed the admin rights of Contoso Partner",
                                                    "Sie haben die Administratorrechte von Contoso Partner entfernt"]

    # The partner's access follows the policy at once: no colleague invitations, no users list (404), the customer still read.
    invited = functions.invite_colleague(build_request("POST", f"companies/{a}/invitations", headers={"Authorization": token}, body={
        "email": "neu@contoso.example", "firstName": "N", "lastName": "N", "language": "de", "countryRegion": "DE", "roles": ["AccountViewer"]},
        route_params={"companyId": a}))
    assert invited.status_code == 403
    assert customers_fn.list_customer_users(build_request("GET", f"customers/{a}/users", headers={"Authorization": token},
                                                          route_params={"customerId": a})).status_code == 404
    assert customers_fn.get_customer(build_request("GET", f"customers/{a}", headers={"Authorization": token},
                                                   route_params={"customerId": a})).status_code == 200
    # The same form again: the partner no longer holds it; nothing changes, nothing is sent twice.
    # The same form again (its first answer lost): the same answer, nothing done or sent twice; a form rendered after the
    # change (the partner no longer holds DAP): refused, nothing changes.
    replay = _take_back(storage, a, HANNA, "p-direct", "dap", version=form_version)
    assert replay.status_code == 200 and "were removed" in text_of(replay)
    again = _take_back(storage, a, HANNA, "p-direct", "dap")
    assert again.status_code == 409 and _queued_after_commit(storage, wait=3) == []
    assert len(_audit(storage, a, "relationship.adminRightsRemovedByCustomer")) == 1


def test_ending_a_relationship_makes_the_partners_customer_routes_answer_404(storage, world, partner_tokens):
    b = _company(storage, "greta@contoso.example", AGENT, indirectProviderId=None)
    # A second partner: the indirect provider joins the company by its own customer's relationship.
    cid = _company(storage, "olga@contoso.example", Caller(partner_id="p-reseller", roles=frozenset({"AdminAgent"}), name="R",
                                                            email="r@reseller.example", subject="r"))
    rels = {r.partner_id: r for r in CustomerStore(storage).relationships_of(cid)}
    assert set(rels) == {"p-reseller", "p-provider"}
    token = partner_tokens("p-provider")
    read = lambda: customers_fn.get_customer(build_request("GET", f"customers/{cid}", headers={"Authorization": token},  # noqa: E731
                                                           route_params={"customerId": cid}))
    assert read().status_code == 200
    stale = _take_back(storage, cid, "olga@contoso.example", "p-provider", "end", version="0" * 16)
    assert stale.status_code == 409 and read().status_code == 200
    resp = _take_back(storage, cid, "olga@contoso.example", "p-provider", "end")
    assert resp.status_code == 200 and "The relationship with Fabrikam Distribution ended" in text_of(resp)
    assert read().status_code == 404
    assert _events(storage, cid, "relationship.removedByCustomer") == ["p-provider"]
    assert found(CustomerStore(storage).relationship(cid, "p-provider")).status.value == "Removed"
    assert cid not in [c.customer_id for c in CustomerStore(storage).customers_of_partner("p-provider").items]
    # A colleague who is neither an account administrator nor the primary contact may not see the partners page.
    _join(storage, b, IVY, ["ReportViewer"])
    assert _partners_page(b, IVY).status_code == 403
    assert _take_back(storage, b, IVY, "p-direct", "end").status_code in (403, 409)
    assert found(CustomerStore(storage).relationship(b, "p-direct")).status.value == "Active"


def test_partner_users_route_is_for_an_admin_agent_with_dap_only(storage, world, partner_tokens):
    a = world["a"]

    def users(token):
        return customers_fn.list_customer_users(build_request("GET", f"customers/{a}/users", headers={"Authorization": token},
                                                              route_params={"customerId": a}))

    assert users(partner_tokens("p-direct")).status_code == 200
    assert users(partner_tokens("p-direct", roles=("SalesAgent",))).status_code == 403
    assert users(partner_tokens("p-other")).status_code == 404
    assert user_views is not None


def test_the_emails_of_a_change_that_never_committed_are_not_sent(storage, world, monkeypatch):
    a = world["a"]
    never = {"type": "partner-rights-changed", "customerId": a, "owed": "nothing|customer", "operationId": "op",
             "message": {"to_address": HANNA, "to_name": None, "subject": "s", "text": "t", "html": "h"}}
    sender = Outbox()
    receive(storage, get_settings().email_queue)  # the queue's earlier messages out of sight
    monkeypatch.setattr(partner_rights, "RECHECK_DELAY", 0)
    # Not committed yet (it may still be): nothing sent, looked at again later (the same email queued once more).
    assert queue.deliver(ctx_of(storage), sender, {**never, "queuedAt": utc_now().isoformat()}) == {"skipped": 1}
    [again] = _queued_after_commit(storage, wait=10)
    assert again["owed"] == "nothing|customer" and again["operationId"] == "op"
    # Never committed: dropped, nothing sent, nothing queued again.
    old = (utc_now() - timedelta(minutes=5)).isoformat()
    assert queue.deliver(ctx_of(storage), sender, {**never, "queuedAt": old}) == {"skipped": 1}
    assert sender.sent == []


def test_a_poisoned_partner_rights_message_is_recorded_and_owes_nothing_more(storage, world):
    a = world["a"]
    receive(storage, get_settings().email_queue)
    assert _take_back(storage, a, HANNA, "p-direct", "dap").status_code == 200
    [message] = _queued_after_commit(storage)
    owed = [r for r in table_rows(storage) if r["PartitionKey"] == f"c|{a}" and r["RowKey"].startswith("n|")]
    assert len(owed) == len(message["items"]) >= 1  # a row per email, committed with the change
    # Poisoned (the mechanism's): each email's row goes, the failure is traced; a later copy sends nothing.
    queue.poisoned(ctx_of(storage), message)
    assert [r for r in table_rows(storage) if r["PartitionKey"] == f"c|{a}" and r["RowKey"].startswith("n|")] == []
    assert any(r["kind"] == "partner-rights-changed" for r in table_rows(storage, "FailedEmails"))
    sender = Outbox()
    queue.deliver(ctx_of(storage), sender, message)
    assert sender.sent == []


def test_a_partner_that_has_already_left_is_said_so_and_nothing_changes(storage, world, partner_tokens):
    a = world["a"]
    form_version = rel_version(found(CustomerStore(storage).relationship(a, "p-direct")))
    left = customers_fn.remove_reseller_relationship(build_request("DELETE", f"customers/{a}/relationship", body={"goodFaithDeclaration": True},
                                                                   headers={"Authorization": partner_tokens("p-direct")},
                                                                   route_params={"customerId": a}))
    assert left.status_code == 200
    for what in ("dap", "end"):
        resp = _take_back(storage, a, HANNA, "p-direct", what, version=form_version)
        assert resp.status_code == 409 and "this partner no longer holds what you wanted to take back" in text_of(resp)
    assert _audit(storage, a, "relationship.removedByCustomer") == _audit(storage, a, "relationship.adminRightsRemovedByCustomer") == []
    page = text_of(_partners_page(a, HANNA))
    assert "Contoso Partner" in page and "ended on" in page and "Remove admin rights" not in page


def test_storage_requests_per_route_of_the_company_administration(storage, world, partner_tokens):
    """Counts, not timings (warm: tables and queues made, the partner cached): the budgets docs/COMPANY_ADMINISTRATION.md states."""
    a = world["a"]
    storage.queue(get_settings().webhooks_queue)
    token = partner_tokens("p-direct")

    def counted(call):
        storage.counter.reset()
        resp = call()
        return resp.status_code, storage.counter.reset()

    def api_users():
        return customers_fn.list_customer_users(build_request("GET", f"customers/{a}/users", headers={"Authorization": token},
                                                              route_params={"customerId": a}))

    _page(a, HANNA)
    api_users()
    # The users page: the visitor's session epoch, the company, its users (who is visiting; then the list), its relationships,
    # one invitation query per partner.
    assert counted(lambda: _page(a, HANNA)) == (200, 6)
    assert counted(api_users) == (200, 3)  # the relationship, the company, its users
    version = version_of(found(_user(storage, a, IVY)))
    # A change: the session epoch, the visitor's membership (2), the change's reads (company, users, the user) and its one
    # transaction, the page again (3).
    assert counted(lambda: _post(company_functions.change_user_roles, "x", a, HANNA, email=IVY, version=version,
                                 roles=["ReportViewer"])) == (200, 10)
    version = version_of(found(_user(storage, a, IVY)))
    assert counted(lambda: _post(company_functions.remove_user, "x", a, HANNA, email=IVY, version=version)) == (200, 10)
    assert counted(lambda: _page(a, IVY)) == (403, 4)  # the session epoch, the company, its users, the removal that says whom to ask
    version = rel_version(found(CustomerStore(storage).relationship(a, "p-direct")))
    # The session epoch; company, users, relationship; the emails' message; one transaction and its events' announcement;
    # the partners page (3).
    assert counted(lambda: _post(company_functions.remove_partner_admin_rights, "x", a, HANNA, partnerId="p-direct",
                                 version=version)) == (200, 10)
    assert counted(api_users) == (404, 1)  # the relationship says: no DAP


def test_the_partners_email_is_in_the_language_it_registered(storage, world, partner_tokens):
    PartnerRepository(storage).save(Partner(id="p-direct", name="Contoso Partner", type=PartnerType.DIRECT,
                                            contact_email="admins@partner.example", language="de-AT"))
    a = world["a"]
    receive(storage, get_settings().email_queue)
    assert _take_back(storage, a, HANNA, "p-direct", "dap").status_code == 200
    [message] = _queued_after_commit(storage)
    sender = Outbox()
    queue.deliver(ctx_of(storage), sender, message)
    partner_mail = next(m for m, _ in sender.sent if m.to_address == "admins@partner.example")
    assert partner_mail.subject == "Contoso GmbH hat die Administratorrechte von Contoso Partner entfernt"
