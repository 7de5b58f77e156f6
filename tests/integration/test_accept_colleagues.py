"""Inviting colleagues on real storage: from the page (session + CSRF), through the API (session or partner
token), only with roles the inviter may give, and the invitee's email queued in their preferred language."""

from __future__ import annotations

import pytest

from accept_invite import companies, functions
from attest_agreement.repository import CustomerStore
from invite_user.invitations import InvitationKind
from invite_user.repository import InvitationStore
from shared.settings import get_settings
from tests.support.accept_invite import create_company, form_request, get_request, invite, session_header, subject_for, text_of
from tests.support.expect import found
from tests.support.http import build_request, json_of
from tests.support.queues import receive

CSRF = "csrf-token-for-tests"
HANNA = companies.Person("hanna@contoso.example", "Hanna Schmidt", subject_for("hanna@contoso.example"))


@pytest.fixture
def company(storage, partner_tokens):
    inv, _ = invite(storage)
    return create_company(storage, inv, HANNA)


def _colleague(**changes):
    return {"email": "max@contoso.example", "firstName": "Max", "lastName": "Muster", "language": "ko", "countryRegion": "KR",
            "roles": ["ReportViewer", "AccountViewer"], **changes}


def _post_form(customer_id, form, headers=None):
    return functions.invite_colleague(form_request(f"companies/{customer_id}/invitations", form,
                                                   headers if headers is not None else session_header(),
                                                   route_params={"companyId": customer_id}))


def test_the_page_offers_only_the_roles_the_inviter_may_give(storage, company):
    store = CustomerStore(storage)
    user = found(store.user(company, "hanna@contoso.example"))
    user.roles = ["UserAdministrator"]
    store.users.upsert(user)
    resp = functions.colleague_invitation_form(get_request(f"companies/{company}/invitations/new", headers=session_header(),
                                                           route_params={"companyId": company}))
    assert resp.status_code == 200
    html = resp.get_body().decode()
    assert 'value="AccountManager" disabled' in html and 'value="AgreementManager" disabled' in html
    assert 'value="ReportViewer" aria-describedby' in html
    assert 'name="language"' in html and 'name="countryRegion"' in html and 'name="submissionId"' in html


def test_a_company_user_invites_from_the_page_and_the_email_is_queued(storage, company):
    form = {"csrf": CSRF, "submissionId": "s-1", **_colleague()}
    resp = _post_form(company, form, session_header(lang="en"))
    assert resp.status_code == 201, text_of(resp)
    assert "We sent an invitation to max@contoso.example" in text_of(resp)
    page = InvitationStore(storage).list_page("p-direct", kind="CompanyUser")
    assert len(page.items) == 1
    inv = page.items[0]
    assert inv.kind == InvitationKind.COMPANY_USER and inv.customer_id == company and inv.language == "ko"
    assert [r.value for r in inv.roles] == ["ReportViewer", "AccountViewer"]
    assert inv.company.name == "Contoso GmbH" and inv.inviter_name == "Hanna Schmidt"
    assert inv.created_by["companyUser"] == "hanna@contoso.example"
    queued = [m for m in receive(storage, get_settings().email_queue) if m["type"] == "invitation-email"]
    assert any(item["rowKey"].endswith(inv.link_hash) for m in queued for item in m["items"])
    # the email renders in Korean, the preferred language
    from invite_user import delivery

    assert delivery.render(inv, "https://x.example/api/InviteUser?invitationId=1").language == "ko"
    # a double-click (same submission id) sends one invitation and shows the same page
    again = _post_form(company, form)
    assert again.status_code == 201
    assert len(InvitationStore(storage).list_page("p-direct", kind="CompanyUser").items) == 1


def test_roles_the_inviter_may_not_give_are_refused(storage, company):
    store = CustomerStore(storage)
    user = found(store.user(company, "hanna@contoso.example"))
    user.roles = ["AgreementManager"]
    store.users.upsert(user)
    resp = _post_form(company, {"csrf": CSRF, "submissionId": "s-2", **_colleague(roles=["UserAdministrator"], language="en")},
                      session_header(lang="en"))
    assert resp.status_code == 403
    assert "Your role cannot give: User administrator." in text_of(resp)
    assert InvitationStore(storage).list_page("p-direct", kind="CompanyUser").items == []


def test_users_without_an_inviting_role_cannot_invite(storage, company):
    store = CustomerStore(storage)
    user = found(store.user(company, "hanna@contoso.example"))
    user.roles = ["ReportViewer"]
    store.users.upsert(user)
    assert _post_form(company, {"csrf": CSRF, "submissionId": "s", **_colleague()}).status_code == 403
    page = functions.colleague_invitation_form(get_request(f"companies/{company}/invitations/new", headers=session_header(),
                                                           route_params={"companyId": company}))
    assert page.status_code == 403


def test_form_errors_are_shown_per_field(storage, company):
    resp = _post_form(company, {"csrf": CSRF, "submissionId": "s-3", **_colleague(email="nope", roles=[])})
    assert resp.status_code == 422
    text = text_of(resp)
    assert "Enter a work email such as name@contoso.com." in text or "name@contoso.com" in text
    assert "reason-roles" in resp.get_body().decode()


def test_csrf_and_membership_are_required(storage, company):
    assert _post_form(company, {"csrf": "forged", **_colleague()}).status_code == 403
    assert _post_form(company, {"csrf": CSRF, **_colleague()}, session_header("eve@contoso.example")).status_code == 403
    assert _post_form(company, {"csrf": CSRF, **_colleague()}, {}).status_code == 403


def test_an_existing_user_is_not_invited_again(storage, company):
    resp = _post_form(company, {"csrf": CSRF, "submissionId": "s-4", **_colleague(email="hanna@contoso.example")}, session_header(lang="en"))
    assert resp.status_code == 409 and "is a user of this company already" in text_of(resp)


def test_the_api_with_the_session_and_its_csrf_header(storage, company):
    req = build_request("POST", f"companies/{company}/invitations", body=_colleague(),
                        headers={**session_header(), "X-CSRF-Token": CSRF}, route_params={"companyId": company})
    resp = functions.invite_colleague(req)
    assert resp.status_code == 201, resp.get_body()
    assert json_of(resp)["kind"] == "CompanyUser" and json_of(resp)["customerId"] == company
    no_csrf = build_request("POST", f"companies/{company}/invitations", body=_colleague(email="x@contoso.example"),
                            headers=session_header(), route_params={"companyId": company})
    assert functions.invite_colleague(no_csrf).status_code == 403
    nobody = build_request("POST", f"companies/{company}/invitations", body=_colleague(), route_params={"companyId": company})
    resp = functions.invite_colleague(nobody)
    assert resp.status_code == 401 and resp.mimetype == "application/problem+json"


def test_the_api_with_the_partners_token(storage, company, partner_tokens):
    req = build_request("POST", f"companies/{company}/invitations", body=_colleague(roles=["AccountManager"]),
                        headers={"Authorization": partner_tokens("p-direct"), "Idempotency-Key": "k-1"},
                        route_params={"companyId": company})
    resp = functions.invite_colleague(req)
    assert resp.status_code == 201, resp.get_body()
    assert json_of(resp)["createdBy"]["partnerId"] == "p-direct"
    assert functions.invite_colleague(req).headers.get("Idempotent-Replayed") == "true"
    # a partner without a relationship with this company does not see it
    other = build_request("POST", f"companies/{company}/invitations", body=_colleague(),
                          headers={"Authorization": partner_tokens("p-provider")}, route_params={"companyId": company})
    assert functions.invite_colleague(other).status_code == 404
    sales = build_request("POST", f"companies/{company}/invitations", body=_colleague(),
                          headers={"Authorization": partner_tokens("p-direct", roles=("SalesAgent",))}, route_params={"companyId": company})
    assert functions.invite_colleague(sales).status_code == 403
