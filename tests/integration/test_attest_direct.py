"""Direct acceptance, direct signing status and purchase eligibility on Azurite."""

from __future__ import annotations

import pytest

from attest_agreement import functions as fn
from attest_agreement import service
from attest_agreement.agreements import AlreadyAccepted, CustomerNotFound, NotAllowedToAccept
from attest_agreement.customers import CompanyUser, Contact
from attest_agreement.eligibility import NOT_ACCEPTED_MESSAGE
from attest_agreement.repository import CustomerStore, CustomerUnitOfWork
from invite_user.invitations import InvitationStatus, link_hash
from invite_user.repository import InvitationStore
from tests.integration.test_attest_agreement import attest
from tests.integration.test_attest_customers import call, create, queued
from tests.support.context import ctx_of
from tests.support.expect import found
from tests.support.http import json_of

GRETA = {"email": "greta@contoso.de", "name": "Greta Maier", "sub": "sub-greta", "tid": "contoso-tenant"}


def invite(token, cid, body=None, key=None):
    return call(fn.invite_to_accept_agreement, "POST", f"customers/{cid}/agreement-invitations", token, body, key=key, customer_id=cid)


def signing(token, cid):
    return call(fn.direct_signing_status, "GET", "x", token, customer_id=cid)


def eligibility(token, cid, **params):
    return call(fn.purchase_eligibility, "GET", "x", token, params=params, customer_id=cid)


@pytest.fixture
def cid(storage, partner_tokens, fixed_clock):
    return create(partner_tokens())["customer"]["id"]


def test_invitation_to_accept_directly_goes_to_the_primary_contact(storage, settings, partner_tokens, cid):
    resp = invite(partner_tokens(), cid)
    assert resp.status_code == 201, resp.get_body()
    inv = json_of(resp)
    assert inv["kind"] == "AgreementAcceptance" and inv["customerId"] == cid and inv["email"] == "greta@contoso.de"
    assert inv["language"] == "de" and inv["emailStatus"] == "Queued" and inv["inviteRedeemUrl"].endswith(inv["id"])
    assert len(queued(storage, settings, "invitation-email")) == 1
    assert found(CustomerStore(storage).customer(cid)).asked_to_accept_directly is True
    actions = [r.action for r in CustomerStore(storage).audit_page(cid).items]
    assert "agreement.directAcceptanceRequested" in actions
    # someone else, in their language
    other = invite(partner_tokens(), cid, {"email": "jonas@contoso.de", "firstName": "Jonas", "lastName": "Weber", "language": "en"})
    assert json_of(other)["email"] == "jonas@contoso.de" and json_of(other)["language"] == "en"
    half = invite(partner_tokens(), cid, {"email": "jonas@contoso.de"})
    assert half.status_code == 400
    assert invite(partner_tokens("p-provider"), cid).status_code == 404


def test_accepting_directly_flips_signing_status_and_eligibility(storage, settings, partner_tokens, cid):
    token = partner_tokens()
    assert json_of(signing(token, cid)) == {"isSigned": False}
    blocked = json_of(eligibility(token, cid))
    assert blocked["eligible"] is False and blocked["message"] == NOT_ACCEPTED_MESSAGE
    assert blocked["action"]["type"] == "AttestAgreement" and blocked["action"]["href"] == f"/api/customers/{cid}/agreements"
    assert json_of(eligibility(token, cid, purchaseType="AutoRenewal"))["eligible"] is True
    assert eligibility(token, cid, purchaseType="Sometimes").status_code == 400

    created = json_of(invite(token, cid))
    inv = InvitationStore(storage).find_by_link(link_hash(created["id"]))
    acceptance = service.accept_directly(ctx_of(storage), cid, GRETA, invitation=inv)
    assert acceptance.how.value == "DirectAcceptance" and acceptance.date_agreed.isoformat() == "2026-11-21"
    assert acceptance.by == {"subject": "sub-greta", "email": "greta@contoso.de", "name": "Greta Maier", "tenantId": "contoso-tenant"}
    assert acceptance.contact.email == "greta@contoso.de" and acceptance.contact.first_name == "Greta"

    assert json_of(signing(token, cid)) == {"isSigned": True}
    assert json_of(eligibility(token, cid))["eligible"] is True
    view = json_of(call(fn.get_customer_agreement, "GET", "x", token, customer_id=cid))
    assert view["acceptance"] == "Provided" and view["how"] == "DirectAcceptance" and view["recordedBy"]["email"] == "greta@contoso.de"
    # the invitation is accepted (and audited), and no attestation confirmation goes out
    inv = found(InvitationStore(storage).find_by_link(link_hash(created["id"])))
    assert inv.accepted_by is not None
    assert inv.status == InvitationStatus.ACCEPTED and inv.accepted_by["email"] == "greta@contoso.de"
    assert queued(storage, settings, "email") == []
    # its trail ends with the agreement it asked for (no relationship step: an AgreementAcceptance invitation has none)
    from invite_user import functions as invitations_fn
    from tests.support.http import build_request

    trail = json_of(invitations_fn.invitation_trail(build_request("GET", "x", headers={"Authorization": token},
                                                                  route_params={"id": created["id"]})))
    assert [s["step"] for s in trail["steps"]] == ["created", "accepted", "agreementAccepted"]
    assert trail["steps"][-1]["how"] == "DirectAcceptance"
    assert "agreement.acceptedDirectly" in [r.action for r in CustomerStore(storage).audit_page(cid).items]
    # the same person submitting twice gets the same acceptance; then attesting is a conflict
    assert service.accept_directly(ctx_of(storage), cid, GRETA, invitation=inv).recorded_at == acceptance.recorded_at
    assert attest(token, cid).status_code == 409
    assert service.agreement_status(ctx_of(storage), cid).acceptance == "Provided"


def test_attestation_flips_eligibility_too(storage, partner_tokens, cid):
    assert json_of(eligibility(partner_tokens(), cid))["eligible"] is False
    assert attest(partner_tokens(), cid).status_code == 201
    after = json_of(eligibility(partner_tokens(), cid))
    assert after["eligible"] is True and after["agreement"]["how"] == "PartnerAttestation"
    assert json_of(signing(partner_tokens(), cid)) == {"isSigned": False}  # attested, not signed directly


def test_signing_status_and_eligibility_need_an_active_relationship(storage, partner_tokens, cid):
    other = partner_tokens("p-provider")
    assert signing(other, cid).status_code == 404
    assert eligibility(other, cid).status_code == 404
    assert signing(partner_tokens(roles=("Reader",)), cid).status_code == 403


def test_a_resellers_customer_is_told_to_ask_the_indirect_provider(storage, partner_tokens, fixed_clock):
    rcid = create(partner_tokens("p-reseller"))["customer"]["id"]
    action = json_of(eligibility(partner_tokens("p-reseller"), rcid))["action"]
    assert action["type"] == "AskIndirectProviderToAttest" and action["indirectProviderId"] == "p-provider"


def test_who_may_accept_without_an_invitation(storage, partner_tokens, cid, fixed_clock):
    with pytest.raises(NotAllowedToAccept):
        service.accept_directly(ctx_of(storage), cid, {"email": "mallory@evil.example", "name": "Mallory"})
    with pytest.raises(CustomerNotFound):
        service.accept_directly(ctx_of(storage), "nope", GRETA)
    now = fixed_clock.now()
    uow = CustomerUnitOfWork(storage, cid)
    uow.add(CompanyUser(customer_id=cid, email="boss@contoso.de", email_normalized="boss@contoso.de",
                        first_name="Bo", last_name="Ss", roles=["AccountManager"], added_at=now, added_by="t"))
    uow.commit()
    contact = Contact(first_name="Bo", last_name="Ss", email="boss@contoso.de", phone_number="030 1112223")
    acceptance = service.accept_directly(ctx_of(storage), cid, {"email": "boss@contoso.de", "sub": "s-boss"}, contact)
    assert acceptance.contact.phone_number == "+49301112223"
    with pytest.raises(AlreadyAccepted):
        service.accept_directly(ctx_of(storage), cid, GRETA)  # the primary contact, but it is accepted already


def test_an_invitation_for_someone_else_cannot_be_used(storage, partner_tokens, cid):
    created = json_of(invite(partner_tokens(), cid, {"email": "jonas@contoso.de", "firstName": "Jonas", "lastName": "Weber"}))
    inv = found(InvitationStore(storage).find_by_link(link_hash(created["id"])))
    with pytest.raises(NotAllowedToAccept):
        service.accept_directly(ctx_of(storage), cid, GRETA, invitation=inv)
    inv.revoke(inv.created_at, {"name": "x"})
    with pytest.raises(NotAllowedToAccept):
        service.accept_directly(ctx_of(storage), cid, {"email": "jonas@contoso.de"}, invitation=inv)
    assert CustomerStore(storage).acceptance(cid) is None


def test_no_invitation_when_accepted_already(storage, partner_tokens, cid):
    assert attest(partner_tokens(), cid).status_code == 201
    resp = invite(partner_tokens(), cid)
    assert resp.status_code == 409 and json_of(resp)["type"].endswith("/agreement-accepted-already")


def test_a_new_relationship_invitation_can_carry_the_agreement(storage, settings, partner_tokens, cid):
    """Accepting the relationship (accept_invite's step) and the agreement, one after the other, on one invitation."""
    from accept_invite.companies import Person, accept_existing
    from tests.integration.test_attest_relationships import request

    created = json_of(request(partner_tokens("p-provider"), cid, {"askAgreementAcceptance": True}))["invitation"]
    h = link_hash(created["id"])
    person = Person(email="greta@contoso.de", name="Greta Maier", subject="sub-greta")
    assert accept_existing(ctx_of(storage), h, person) == cid
    inv = InvitationStore(storage).find_by_link(h)
    acceptance = service.accept_directly(ctx_of(storage), cid, person.actor(), invitation=inv)
    assert acceptance.how.value == "DirectAcceptance" and acceptance.by["email"] == "greta@contoso.de"
    partners = {p.partner_id: p.role for p in service.partners_of_customer(ctx_of(storage), cid)}
    assert partners == {"p-direct": "Reseller", "p-provider": "Reseller"}  # the list of partners the customer works with
    assert json_of(signing(partner_tokens("p-provider"), cid)) == {"isSigned": True}
    assert queued(storage, settings, "email") == []


def test_an_invitation_revoked_after_the_page_read_it_leaves_no_acceptance(storage, partner_tokens, cid):
    """The page read the invitation while it was pending; the partner revoked it before the customer ticked "I accept"."""
    from invite_user import service as invitations
    from tests.support.accept_invite import AGENT

    created = json_of(invite(partner_tokens(), cid))
    inv = found(InvitationStore(storage).find_by_link(link_hash(created["id"])))  # read while pending
    invitations.revoke(ctx_of(storage), AGENT, created["id"])
    with pytest.raises(NotAllowedToAccept):
        service.accept_directly(ctx_of(storage), cid, GRETA, invitation=inv)
    assert CustomerStore(storage).acceptance(cid) is None
    assert found(InvitationStore(storage).find_by_link(inv.link_hash)).status == InvitationStatus.REVOKED
