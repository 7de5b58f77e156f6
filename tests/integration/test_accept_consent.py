"""Joining an existing company when its consent is refused (on Azurite): the invitation stays Pending, nothing of the
company is written, and the invitee reads whom to ask, in their language.

Before the fix, accepting claimed the invitation (Accepted) before the consent re-check inside the customer's unit of
work: a refused re-check left the invitation Accepted with nothing written to the company, and every later try refused.
"""

from __future__ import annotations

import pytest

from accept_invite import companies, functions
from attest_agreement.api_models import RemoveRelationshipIn
from attest_agreement.repository import CustomerStore
from attest_agreement.service import remove_relationship
from invite_user import service as invitations
from invite_user.invitations import InvitationStatus
from shared.clock import utc_now
from tests.support.accept_invite import AGENT, create_company, form_request, invite, reload, session_header, subject_for, text_of
from tests.support.context import ctx_of

HANNA = companies.Person("hanna@contoso.example", "Hanna Schmidt", subject_for("hanna@contoso.example"))
IVY = "ivy@contoso.example"


@pytest.fixture
def company(storage, partner_tokens):
    inv, _ = invite(storage)
    return create_company(storage, inv, HANNA)


def _joining(storage, company):
    """A CompanyUser invitation for Ivy from the company's partner (AdminAgent, DAP), in German."""
    inv, _ = invite(storage, email=IVY, firstName="Ivy", lastName="Berg", kind="CompanyUser", customerId=company, roles=["AccountViewer"])
    return inv


def _partner_leaves(storage, company):
    remove_relationship(ctx_of(storage), AGENT, company, RemoveRelationshipIn.model_validate({"goodFaithDeclaration": True}))


def _accept(h, email=IVY):
    return functions.accept_invitation(form_request("companies/accept", {"csrf": "csrf-token-for-tests", "invitationId": h},
                                                    session_header(email)))


def _users(storage, company):
    return sorted(u.email for u in CustomerStore(storage).users_of(company))


def test_a_refused_consent_leaves_the_invitation_pending_and_says_whom_to_ask(storage, company):
    inv = _joining(storage, company)
    _partner_leaves(storage, company)  # the partner's DAP, on which the invitation rests, is gone
    page = _accept(inv.link_hash)
    assert page.status_code == 403
    text = text_of(page)
    assert 'lang="de"' in page.get_body().decode() and "Contoso Partner" in text
    assert "kann dieser Firma keine Benutzer mehr hinzufügen" in text  # in the invitee's language: what happened, whom to ask
    assert reload(storage, inv).status == InvitationStatus.PENDING
    assert _users(storage, company) == ["hanna@contoso.example"]
    # and again: the same answer, still nothing accepted (before the fix the second try met an Accepted invitation)
    assert _accept(inv.link_hash).status_code == 403
    assert reload(storage, inv).status == InvitationStatus.PENDING


def test_a_relationship_request_accepted_by_someone_who_may_not_consent_stays_pending(storage, company):
    inv, _ = invite(storage, AGENT.__class__(partner_id="p-provider", roles=frozenset({"AdminAgent"}), name="F", email="f@fab.example",
                                             subject="f"),
                    email=IVY, firstName="Ivy", lastName="Berg", kind="ResellerRelationship", customerId=company, roles=[],
                    language="en")
    page = _accept(inv.link_hash)
    assert page.status_code == 403
    assert "Only an account administrator or the primary contact of your company can accept" in text_of(page)
    assert "Contoso GmbH" not in text_of(page)  # nothing of the customer is shown to someone who may not consent
    assert reload(storage, inv).status == InvitationStatus.PENDING
    assert [r.partner_id for r in CustomerStore(storage).relationships_of(company)] == ["p-direct"]


def test_consent_gone_between_the_check_and_the_write_releases_the_claim(storage, company, monkeypatch):
    inv = _joining(storage, company)
    answers = iter([True, False])  # the check before the claim passes; the partner leaves before the company's transaction
    monkeypatch.setattr(companies, "_consents", lambda *args: next(answers))
    with pytest.raises(companies.NotAllowed):
        companies.accept_existing(ctx_of(storage), inv.link_hash, companies.Person(IVY, "Ivy", subject_for(IVY)))
    after = reload(storage, inv)
    assert after.status == InvitationStatus.PENDING and after.accepted_at is None
    assert _users(storage, company) == ["hanna@contoso.example"]


def test_an_invitation_stuck_accepted_by_the_old_order_is_released(storage, company):
    inv = _joining(storage, company)
    invitations.accept(ctx_of(storage), inv.link_hash, {"email": IVY}, customer_id=company, now=utc_now())  # claimed, nothing written
    _partner_leaves(storage, company)
    assert _accept(inv.link_hash).status_code == 403
    assert reload(storage, inv).status == InvitationStatus.PENDING
    assert _users(storage, company) == ["hanna@contoso.example"]


def test_a_user_who_joined_is_not_refused_later_when_the_partner_leaves(storage, company):
    inv = _joining(storage, company)
    assert _accept(inv.link_hash).status_code == 303
    _partner_leaves(storage, company)
    again = _accept(inv.link_hash)  # a double submit or the back button, after the partner left
    assert again.status_code == 303 and again.headers["Location"].endswith(f"/api/companies/{company}/welcome")
    assert reload(storage, inv).status == InvitationStatus.ACCEPTED
    assert _users(storage, company) == ["hanna@contoso.example", IVY]
