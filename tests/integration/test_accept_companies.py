"""Creating the company on real storage: all or nothing, once, whatever the number of clicks, and
completed by a retry after a storage outage; invitations into an existing company only confirm."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from accept_invite import companies, functions
from accept_invite.company_form import FIELD_NAMES, prefill
from attest_agreement.customers import RelationshipRole, RelationshipStatus
from attest_agreement.repository import CustomerStore, CustomerUnitOfWork
from invite_user.invitations import InvitationStatus
from invite_user.repository import InvitationStore, InvitationUnitOfWork
from shared.storage import StorageUnavailable
from tests.support.accept_invite import (
    AGENT,
    create_company,
    form_request,
    get_request,
    invite,
    reload,
    session_header,
    subject_for,
    text_of,
)
from tests.support.context import ctx_of
from tests.support.expect import found
from tests.support.partners import register_partners

HANNA = companies.Person("hanna@contoso.example", "Hanna Schmidt", subject_for("hanna@contoso.example"))
CSRF = "csrf-token-for-tests"


@pytest.fixture
def partners(storage):
    register_partners(storage)
    return storage


def _form(inv, **changes):
    values = prefill(inv.company, inv.country_region)
    values.update(changes)
    return {"csrf": CSRF, "invitationId": inv.link_hash, **values}


def _post(form, headers=None):
    return functions.create_company(form_request("companies", form, headers if headers is not None else session_header()))


def _customer_rows(storage, customer_id):
    client = storage.table("Customers")
    return list(client.query_entities("PartitionKey eq @pk", parameters={"pk": f"c|{customer_id}"}))


def test_the_form_is_prefilled_and_says_what_to_change(partners):
    inv, _ = invite(partners, language="en", company={"name": "Contoso", "country": "DE",
                                                       "address": {"line1": "Hauptstraße 1", "city": "Berlin", "postalCode": "1011"}})
    resp = functions.new_company_form(get_request("companies/new", {"invitationId": inv.link_hash}, session_header()))
    assert resp.status_code == 200
    html = resp.get_body().decode()
    assert 'value="Contoso"' in html and 'value="Hauptstraße 1"' in html and '<option value="DE" selected>' in html
    assert "A postal code in Germany looks like 10115." in text_of(resp)
    assert 'id="create-company" data-submit aria-describedby="submit-hint" disabled' in html
    assert f'name="csrf" value="{CSRF}"' in html


def test_a_valid_prefill_enables_the_button(partners):
    inv, _ = invite(partners, language="en")
    html = functions.new_company_form(get_request("companies/new", {"invitationId": inv.link_hash}, session_header())).get_body().decode()
    assert 'aria-describedby="submit-hint">' in html  # no `disabled`


def test_validate_endpoint_uses_the_same_rules_in_the_page_language(partners):
    import json

    req = form_request("companies/validate", {"name": "", "country": "DE", "line1": "x", "city": "y", "postalCode": "1"},
                       {"accept-language": "de"})
    resp = functions.validate_company(req)
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    body = json.loads(resp.get_body())
    assert body["valid"] is False
    assert set(body["errors"]) == {"name", "postalCode"}
    assert body["errors"]["name"] == "Füllen Sie dieses Feld aus."
    ok = json.loads(functions.validate_company(form_request("companies/validate", {"name": "A", "country": "HK", "line1": "x",
                                                                                   "city": "y"})).get_body())
    assert ok == {"valid": True, "errors": {}}  # Hong Kong has no postal codes


def test_create_company_makes_everything_at_once(partners):
    inv, _ = invite(partners, roles=["ReportViewer", "AccountManager"])
    resp = _post(_form(inv))
    assert resp.status_code == 303
    customer_id = companies.customer_id_for(inv)
    assert resp.headers["Location"] == f"/api/companies/{customer_id}/welcome"
    store = CustomerStore(partners)
    customer = found(store.customer(customer_id))
    assert customer.address is not None
    assert customer.name == "Contoso GmbH" and customer.address["postalCode"] == "10115" and customer.phone == "+49301234567"
    assert customer.created_from_invitation == inv.reference
    user = found(store.user(customer_id, "hanna@contoso.example"))
    assert user.roles == ["AccountManager", "ReportViewer"]
    rel = found(store.relationship(customer_id, "p-direct"))
    assert rel.role == RelationshipRole.RESELLER and rel.status == RelationshipStatus.ACTIVE and rel.dap.active
    assert [e.customer_id for e in store.customers_of_partner("p-direct").items] == [customer_id]
    actions = sorted(a.action for a in store.audit_page(customer_id).items)
    assert actions == ["customer.created", "relationship.created", "user.added"]
    after = reload(partners, inv)
    assert after.status == InvitationStatus.ACCEPTED and after.customer_id == customer_id
    assert after.accepted_by is not None
    assert after.accepted_by["email"] == "hanna@contoso.example"
    partner_audit = InvitationStore(partners).audit_page("p-direct").items
    assert "invitation.accepted" in [a.action for a in partner_audit]
    # the expiry index no longer lists it
    assert InvitationStore(partners).due_for_expiry("p-direct", after.expires_at) == []


def test_indirect_provider_gets_its_relationship_too(partners):
    reseller = AGENT.__class__(partner_id="p-reseller", roles=AGENT.roles, name="Rita", email="rita@tailspin.example", subject="r")
    inv, _ = invite(partners, caller=reseller, kind="ResellerRelationship")
    assert _post(_form(inv)).status_code == 303
    customer_id = companies.customer_id_for(inv)
    rels = {r.partner_id: r.role for r in CustomerStore(partners).relationships_of(customer_id)}
    assert rels == {"p-reseller": RelationshipRole.RESELLER, "p-provider": RelationshipRole.INDIRECT_PROVIDER}
    assert [e.customer_id for e in CustomerStore(partners).customers_of_partner("p-provider").items] == [customer_id]


def test_a_bad_field_re_renders_the_form_without_javascript(partners):
    inv, _ = invite(partners, language="en")
    resp = _post(_form(inv, postalCode="ABC", website="not a site"))
    assert resp.status_code == 422
    text = text_of(resp)
    assert "A postal code in Germany looks like 10115." in text and "Enter a web address such as https://www.example.com." in text
    assert 'value="ABC"' in resp.get_body().decode()
    assert CustomerStore(partners).customer(companies.customer_id_for(inv)) is None


def test_the_post_needs_the_session_of_the_invited_person_and_its_csrf_token(partners):
    inv, _ = invite(partners, language="en")
    assert _post(_form(inv), headers={}).status_code == 403
    assert _post({**_form(inv), "csrf": "forged"}).status_code == 403
    wrong = _post(_form(inv), session_header("mallory@contoso.example"))
    assert wrong.status_code == 403 and "this invitation is for hanna@contoso.example" in text_of(wrong)
    assert reload(partners, inv).status == InvitationStatus.PENDING
    assert CustomerStore(partners).customer(companies.customer_id_for(inv)) is None


def test_twenty_parallel_posts_make_one_company_and_all_see_it(partners):
    inv, _ = invite(partners)
    form = _form(inv)
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: _post(form), range(20)))
    customer_id = companies.customer_id_for(inv)
    assert [r.status_code for r in results] == [303] * 20
    assert {r.headers["Location"] for r in results} == {f"/api/companies/{customer_id}/welcome"}
    store = CustomerStore(partners)
    assert len(store.users_of(customer_id)) == 1
    assert len(store.relationships_of(customer_id)) == 1
    rows = _customer_rows(partners, customer_id)
    assert sum(1 for r in rows if r["RowKey"] == "profile") == 1
    assert sorted(a.action for a in store.audit_page(customer_id).items) == ["customer.created", "relationship.created", "user.added"]
    accepted = [a for a in InvitationStore(partners).audit_page("p-direct").items if a.action == "invitation.accepted"]
    assert len(accepted) == 1
    # no other company was made by any of them
    all_profiles = list(partners.table("Customers").query_entities("RowKey eq 'profile'"))
    assert len(all_profiles) == 1


def test_a_double_click_after_success_shows_the_result(partners):
    inv, _ = invite(partners)
    first, second = _post(_form(inv)), _post(_form(inv, name="Changed Name"))
    assert first.headers["Location"] == second.headers["Location"]
    assert found(CustomerStore(partners).customer(companies.customer_id_for(inv))).name == "Contoso GmbH"


def test_outage_after_the_claim_leaves_no_half_company_and_a_retry_completes(partners, monkeypatch):
    inv, _ = invite(partners)
    customer_id = companies.customer_id_for(inv)
    original = CustomerUnitOfWork._transact

    def down(self, ops):
        raise StorageUnavailable("table service unreachable")

    monkeypatch.setattr(CustomerUnitOfWork, "_transact", down)
    resp = _post(_form(inv))
    assert resp.status_code == 503 and "Traceback" not in resp.get_body().decode()
    assert _customer_rows(partners, customer_id) == []
    claimed = reload(partners, inv)  # claimed first: no revoke or expiry can now strand the company
    assert claimed.status == InvitationStatus.ACCEPTED and claimed.customer_id == customer_id
    monkeypatch.setattr(CustomerUnitOfWork, "_transact", original)
    assert _post(_form(inv)).status_code == 303
    assert CustomerStore(partners).customer(customer_id) is not None
    assert len(CustomerStore(partners).users_of(customer_id)) == 1


def test_outage_before_the_partners_lists_is_mended_by_the_retry_from_the_stored_relationships(partners, monkeypatch):
    reseller = AGENT.__class__(partner_id="p-reseller", roles=AGENT.roles, name="Rita", email="rita@tailspin.example", subject="r")
    inv, _ = invite(partners, caller=reseller, kind="ResellerRelationship")
    customer_id = companies.customer_id_for(inv)
    original = CustomerUnitOfWork.index

    def down(self, rel, name):
        raise StorageUnavailable("table service unreachable")

    monkeypatch.setattr(CustomerUnitOfWork, "index", down)
    assert _post(_form(inv)).status_code == 503  # the company is committed, the partners' lists are not
    assert CustomerStore(partners).customer(customer_id) is not None
    assert CustomerStore(partners).customers_of_partner("p-reseller").items == []
    monkeypatch.setattr(CustomerUnitOfWork, "index", original)
    assert _post(_form(inv)).status_code == 303  # the company exists: its lists are rebuilt from its relationship rows
    for partner_id in ("p-reseller", "p-provider"):
        assert [e.customer_id for e in CustomerStore(partners).customers_of_partner(partner_id).items] == [customer_id]


def test_outage_at_the_claim_writes_nothing_and_a_retry_completes(partners, monkeypatch):
    inv, _ = invite(partners)
    customer_id = companies.customer_id_for(inv)
    original = InvitationUnitOfWork._transact

    def down(self, *a, **k):
        raise StorageUnavailable("table service unreachable")

    monkeypatch.setattr(InvitationUnitOfWork, "_transact", down)
    assert _post(_form(inv)).status_code == 503
    assert _customer_rows(partners, customer_id) == []
    assert reload(partners, inv).status == InvitationStatus.PENDING
    monkeypatch.setattr(InvitationUnitOfWork, "_transact", original)
    assert _post(_form(inv)).status_code == 303
    assert reload(partners, inv).status == InvitationStatus.ACCEPTED
    assert len(CustomerStore(partners).users_of(customer_id)) == 1
    assert len(CustomerStore(partners).relationships_of(customer_id)) == 1


def test_an_invitation_that_expires_before_its_claim_leaves_nothing(partners, monkeypatch, fixed_clock):
    inv, _ = invite(partners, expiresInDays=1)
    original = InvitationUnitOfWork._transact
    monkeypatch.setattr(InvitationUnitOfWork, "_transact", lambda self, *a, **k: (_ for _ in ()).throw(StorageUnavailable("x")))
    assert _post(_form(inv)).status_code == 503
    monkeypatch.setattr(InvitationUnitOfWork, "_transact", original)
    fixed_clock.advance(days=2)
    assert _post(_form(inv)).status_code == 410
    assert _customer_rows(partners, companies.customer_id_for(inv)) == []


def test_a_revoke_during_acceptance_leaves_no_company_user_or_relationship(partners, monkeypatch):
    """The partner revokes while the invitee's request is between reading the invitation and writing the company."""
    from invite_user import service

    inv, raw = invite(partners, language="en")
    real_reading = service.reading

    revoked = []

    def read_then_revoke(ctx, link_hash):
        found = real_reading(ctx, link_hash)  # the acceptance's own read of the invitation
        if not revoked:  # lands after that read, before any write of the acceptance
            revoked.append(service.revoke(ctx, AGENT, raw))
        return found

    monkeypatch.setattr(service, "reading", read_then_revoke)
    resp = _post(_form(inv))
    assert resp.status_code == 410
    assert _customer_rows(partners, companies.customer_id_for(inv)) == []
    assert reload(partners, inv).status == InvitationStatus.REVOKED


def test_expired_and_revoked_invitations_cannot_create(partners, fixed_clock):
    from invite_user import service

    inv, raw = invite(partners, language="en", expiresInDays=1)
    fixed_clock.advance(days=2)
    resp = _post(_form(inv))
    assert resp.status_code == 410 and "This invitation has expired" in text_of(resp)
    inv2, raw2 = invite(partners, language="en", email="hanna@contoso.example")
    service.revoke(ctx_of(partners), AGENT, raw2)
    assert _post(_form(inv2)).status_code == 410
    assert list(partners.table("Customers").query_entities("RowKey eq 'profile'")) == []


def test_welcome_page_links_to_the_platform(partners):
    inv, _ = invite(partners, language="en")
    location = _post(_form(inv)).headers["Location"]
    customer_id = location.split("/")[3]
    resp = functions.company_page(get_request(location[5:], headers=session_header(),
                                              route_params={"companyId": customer_id, "page": "welcome"}))
    assert resp.status_code == 200
    text = text_of(resp)
    assert "Welcome, Hanna Schmidt!" in text and "Contoso Partner" in text
    html = resp.get_body().decode()
    for page in ("profile", "users", "agreements"):
        assert f'href="/api/companies/{customer_id}/{page}"' in html
        sub = functions.company_page(get_request(f"companies/{customer_id}/{page}", headers=session_header(),
                                                 route_params={"companyId": customer_id, "page": page}))
        assert sub.status_code == 200, page
    outsider = functions.company_page(get_request(location[5:], headers=session_header("eve@contoso.example"),
                                                  route_params={"companyId": customer_id, "page": "welcome"}))
    assert outsider.status_code == 403


def _existing_company(storage):
    inv, _ = invite(storage)
    return create_company(storage, inv, HANNA)


def test_a_colleague_invitation_only_asks_to_join(partners):
    customer_id = _existing_company(partners)
    inv, raw = invite(partners, language="en", kind="CompanyUser", customerId=customer_id, email="max@contoso.example",
                      firstName="Max", roles=["ReportViewer", "AccountViewer"])
    max_session = session_header("max@contoso.example", "Max Muster")
    page = functions.confirm_invitation(get_request("companies/accept", {"invitationId": inv.link_hash}, max_session))
    assert page.status_code == 200 and "Join Contoso GmbH" in text_of(page) and "Report viewer" in text_of(page)
    # the company form is not for this invitation
    assert functions.new_company_form(get_request("companies/new", {"invitationId": inv.link_hash}, max_session)).status_code == 303
    form = {"csrf": CSRF, "invitationId": inv.link_hash}
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(lambda _: functions.accept_invitation(form_request("companies/accept", form, max_session)), range(5)))
    assert {r.status_code for r in results} == {303}
    user = found(CustomerStore(partners).user(customer_id, "max@contoso.example"))
    assert user.roles == ["ReportViewer", "AccountViewer"]
    assert len(CustomerStore(partners).users_of(customer_id)) == 2
    assert reload(partners, inv).status == InvitationStatus.ACCEPTED


def test_a_relationship_invitation_for_an_existing_company(partners):
    customer_id = _existing_company(partners)
    reseller = AGENT.__class__(partner_id="p-reseller", roles=AGENT.roles, name="Rita", email="rita@tailspin.example", subject="r")
    inv, _ = invite(partners, caller=reseller, language="en", kind="ResellerRelationship", customerId=customer_id)
    page = functions.confirm_invitation(get_request("companies/accept", {"invitationId": inv.link_hash}, session_header()))
    assert "Tailspin Reseller and Fabrikam Distribution ask to become partners of Contoso GmbH" in text_of(page)
    resp = functions.accept_invitation(form_request("companies/accept", {"csrf": CSRF, "invitationId": inv.link_hash}, session_header()))
    assert resp.status_code == 303
    rels = {r.partner_id for r in CustomerStore(partners).relationships_of(customer_id)}
    assert rels == {"p-direct", "p-reseller", "p-provider"}
    assert customer_id in [e.customer_id for e in CustomerStore(partners).customers_of_partner("p-reseller").items]


def test_form_field_names_match_the_model():
    assert set(FIELD_NAMES) == {"name", "country", "line1", "line2", "postalCode", "city", "region", "vatNumber", "registrationNumber",
                                "phone", "website", "domain"}
