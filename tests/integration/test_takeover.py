"""Nobody reaches another partner's customer: the takeover paths of the trust-boundary issue, each ending in a refusal
(problem+json, or a page that explains) with the customer left untouched.

Each test here failed before the fix: a partner with no relationship could invite itself as a reseller, a company user
or the one who accepts the agreement, and a relationship request showed the primary contact and marked the customer.
"""

from __future__ import annotations

import pytest

from accept_invite import companies, functions
from attest_agreement import functions as fn
from attest_agreement.agreements import NotAllowedToAccept
from attest_agreement.repository import CustomerStore
from attest_agreement.service import accept_directly
from invite_user import functions as invitations_fn
from invite_user.invitations import link_hash
from invite_user.repository import InvitationStore
from tests.integration.test_attest_agreement import attest
from tests.integration.test_attest_customers import call, create, queued
from tests.integration.test_attest_relationships import remove, request, trail
from tests.support.accept_invite import get_request, session_header, subject_for, text_of
from tests.support.context import ctx_of
from tests.support.expect import found
from tests.support.http import build_request, json_of

INTRUDER = "mallory@intruder.example"
MALLORY = companies.Person(INTRUDER, "Mallory", subject_for(INTRUDER))


def invitations_post(token, body):
    return invitations_fn.create_invitation(build_request("POST", "invitations", body=body, headers={"Authorization": token}))


def invitation(kind, cid, **over):
    return {"email": INTRUDER, "firstName": "Mal", "lastName": "Lory", "language": "en", "countryRegion": "DE", "kind": kind,
            "customerId": cid, "roles": ["AccountManager", "UserAdministrator"], **over}


@pytest.fixture
def cid(storage, partner_tokens, fixed_clock):
    return create(partner_tokens())["customer"]["id"]


def snapshot(storage, cid):
    """Every row of the customer's partition but its audit records, as stored."""
    store = CustomerStore(storage)
    return (found(store.customer(cid)).model_dump(), sorted(u.email for u in store.users_of(cid)),
            sorted((r.partner_id, r.status.value) for r in store.relationships_of(cid)), store.acceptance(cid))


def test_a_stranger_cannot_add_itself_as_a_company_user(storage, partner_tokens, cid):
    before = snapshot(storage, cid)
    resp = invitations_post(partner_tokens("p-provider"), invitation("CompanyUser", cid))
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"
    assert json_of(resp)["type"].endswith("/no-active-relationship")
    assert InvitationStore(storage).list_page("p-provider").items == []
    assert snapshot(storage, cid) == before
    # the customer's own partner needs DAP and AdminAgent for it
    assert invitations_post(partner_tokens(roles=("SalesAgent",)), invitation("CompanyUser", cid)).status_code == 403
    assert invitations_post(partner_tokens(), invitation("CompanyUser", cid)).status_code == 201


def test_a_stranger_cannot_record_the_agreement_as_accepted_and_the_real_partner_still_attests(storage, partner_tokens, cid):
    resp = invitations_post(partner_tokens("p-provider"), invitation("AgreementAcceptance", cid))
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"
    assert attest(partner_tokens(), cid).status_code == 201  # was 409: the intruder had recorded a direct acceptance


def test_an_agreement_invitation_of_a_partner_that_left_cannot_be_used(storage, partner_tokens, cid):
    created = json_of(invitations_post(partner_tokens(), invitation("AgreementAcceptance", cid, roles=[])))
    assert remove(partner_tokens(), cid, {"goodFaithDeclaration": True}).status_code == 200
    inv = InvitationStore(storage).find_by_link(link_hash(created["id"]))
    with pytest.raises(NotAllowedToAccept):
        accept_directly(ctx_of(storage), cid, MALLORY.actor(), invitation=inv)
    assert CustomerStore(storage).acceptance(cid) is None


def test_onboarding_cannot_name_an_existing_customer(storage, partner_tokens, cid):
    resp = invitations_post(partner_tokens(), invitation("CustomerOnboarding", cid, company={"name": "X", "country": "DE"}))
    assert resp.status_code == 400 and json_of(resp)["errors"][0]["field"] == "customerId"


def test_a_relationship_request_to_the_intruders_own_address_gives_it_nothing(storage, partner_tokens, cid):
    before = snapshot(storage, cid)
    resp = invitations_post(partner_tokens("p-provider"), invitation("ResellerRelationship", cid, roles=[]))
    assert resp.status_code == 201  # asking is allowed; only the customer can say yes
    h = link_hash(json_of(resp)["id"])
    # the intruder, signed in as the address it chose, sees neither the company nor a way to accept
    page = functions.confirm_invitation(get_request("companies/accept", {"invitationId": h}, headers=session_header(INTRUDER)))
    assert page.status_code == 403 and "Contoso" not in text_of(page)
    with pytest.raises(companies.NotAllowed):
        companies.accept_existing(ctx_of(storage), h, MALLORY)
    accepted = functions.accept_invitation(build_form(h))
    assert accepted.status_code == 403
    assert snapshot(storage, cid) == before
    assert call(fn.get_customer, "GET", "x", partner_tokens("p-provider"), customer_id=cid).status_code == 404


def build_form(h):
    from tests.support.accept_invite import form_request

    return form_request("companies/accept", {"csrf": "csrf-token-for-tests", "invitationId": h}, session_header(INTRUDER))


def test_the_primary_contact_consents_to_a_relationship_request(storage, partner_tokens, cid):
    created = json_of(request(partner_tokens("p-provider"), cid))["invitation"]  # addressed to greta, the primary contact
    greta = companies.Person("greta@contoso.de", "Greta Maier", subject_for("greta@contoso.de"))
    assert companies.accept_existing(ctx_of(storage), link_hash(created["id"]), greta) == cid
    assert call(fn.get_customer, "GET", "x", partner_tokens("p-provider"), customer_id=cid).status_code == 200


def test_a_relationship_request_shows_nothing_of_the_customer_and_writes_nothing(storage, settings, partner_tokens, cid):
    before = snapshot(storage, cid)
    resp = request(partner_tokens("p-provider"), cid, {"email": INTRUDER, "firstName": "Mal", "lastName": "Lory",
                                                        "companyName": "Whatever Inc", "askAgreementAcceptance": True})
    assert resp.status_code == 201
    out = json_of(resp)
    text = str(out)
    for secret in ("greta", "Greta", "Maier", "+49307654321", "Contoso GmbH"):
        assert secret not in text, secret
    assert out["draftEmail"]["to"] == INTRUDER
    assert snapshot(storage, cid) == before  # not marked "asked to accept directly"
    # so the real partner's attestation still sends the primary contact its confirmation
    assert attest(partner_tokens(), cid).status_code == 201
    assert found(CustomerStore(storage).customer(cid)).asked_to_accept_directly is False
    [mail] = queued(storage, settings, "attestation-notice")  # the confirmation, as its own message type
    assert "greta@contoso.de" in str(mail)


def test_a_relationship_request_names_the_person_asked(storage, partner_tokens, cid):
    resp = call(fn.request_reseller_relationship, "POST", "x", partner_tokens("p-provider"), {}, customer_id=cid)
    assert resp.status_code == 400
    assert {e["field"] for e in json_of(resp)["errors"]} == {"email", "firstName", "lastName", "companyName", "countryRegion"}


def test_a_partner_whose_relationship_was_removed_reads_no_audit_trail(storage, partner_tokens, cid):
    assert trail(partner_tokens(), cid).status_code == 200
    assert remove(partner_tokens(), cid, {"goodFaithDeclaration": True}).status_code == 200
    resp = trail(partner_tokens(), cid)
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"


# -- issue 19 item 3: the indirect provider on an onboarding invitation ------------------------------------------


@pytest.mark.parametrize(("partner", "named"), [("p-direct", "p-provider"), ("p-reseller", "p-other-provider"),
                                                ("p-provider", "p-provider")])
def test_only_the_resellers_own_indirect_provider_may_be_named(storage, partner_tokens, partner, named):
    # Any registered indirect provider could be named on a CustomerOnboarding invitation and got an active relationship
    # with DAP when the customer created its company, though nothing shown to the invitee named it.
    from partners.registry import Partner, PartnerRepository, PartnerType
    from tests.integration.test_invitations_api import invitation_body

    PartnerRepository(storage).save(Partner(id="p-other-provider", name="Other Distribution", type=PartnerType.INDIRECT_PROVIDER))
    for kind in ("CustomerOnboarding", "ResellerRelationship"):
        resp = invitations_post(partner_tokens(partner), invitation_body(kind=kind, indirectProviderId=named))
        assert resp.status_code == 400, resp.get_body()
        assert json_of(resp)["errors"][0]["code"] == "not-your-indirect-provider"
    customer = call(fn.create_customer, "POST", "customers", partner_tokens(partner),
                    {"name": "Contoso GmbH", "country": "DE", "indirectProviderId": named,
                     "primaryContact": {"firstName": "G", "lastName": "M", "email": "g@contoso.de"}})
    assert customer.status_code == 400
    assert InvitationStore(storage).list_page(partner, page_size=10).items == []


def test_the_invitee_sees_every_partner_it_is_about_to_consent_to(storage, settings, servers, partner_tokens):
    from notifications import queue as email_queue
    from notifications.sender import SmtpSender
    from tests.integration.test_invitation_delivery import _drain
    from tests.integration.test_invitations_api import invitation_body
    from tests.support.mail import inbox

    created = invitations_post(partner_tokens("p-reseller"), invitation_body(email="nina@contoso.com", language="en"))
    assert created.status_code == 201, created.get_body()
    link = json_of(created)["id"]
    assert json_of(created)["indirectProviderId"] == "p-provider"  # the reseller's own, named for it
    said = "Fabrikam Distribution, the indirect provider of Tailspin Reseller, also becomes a partner of your company"
    # The email ...
    sender = SmtpSender(settings.smtp_host, settings.smtp_port, settings.email_sender)
    _, messages = _drain(storage, settings)
    email_queue.deliver(ctx_of(storage), sender, messages[0][0])
    [mail] = inbox(servers, "nina@contoso.com")
    assert said in mail["text"] and said in " ".join(mail["html"].split())
    # ... the landing page ...
    landing = functions.redeem_invitation_link(get_request("InviteUser", {"invitationId": link}))
    assert landing.status_code == 200 and said in text_of(landing)
    # ... and the company form, where the company (and the provider's relationship with it) is created.
    inv = found(InvitationStore(storage).find_by_link(link_hash(link)))
    form = functions.new_company_form(get_request("companies/new", {"invitationId": inv.link_key},
                                                  session_header("nina@contoso.com", name="Nina N")))
    assert form.status_code == 200 and said in text_of(form)
    # An invitation of a direct partner names nobody else.
    direct = invitations_post(partner_tokens(), invitation_body(email="olga@contoso.com", language="en"))
    other = functions.redeem_invitation_link(get_request("InviteUser", {"invitationId": json_of(direct)["id"]}))
    assert "indirect provider" not in text_of(other)
