"""The onboarding trail: created, emailed, delivered, opened (a press, never a GET), signed in, accepted, in order;
a wrong account tried is a time without the address; another partner's invitation is not found."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from accept_invite import functions as pages
from accept_invite.company_form import prefill
from invite_user import functions as fn
from invite_user.repository import TABLE, partner_partition
from invite_user.service import find
from notifications import queue, reports
from notifications.sender import SmtpSender
from partners.registry import Partner, PartnerRepository, PartnerType
from tests.integration import test_accept_signin as signin_tests
from tests.integration import test_attest_agreement as attest_tests
from tests.support.accept_invite import (
    form_request,
    get_request,
    invite,
    session_header,
    state_of,
)
from tests.support.context import ctx_of
from tests.support.expect import found
from tests.support.http import build_request, json_of
from tests.support.queues import deliver_all


def _sign_in(raw):
    return signin_tests._callback(state_of(signin_tests._start(raw)))


def _trail(partner_tokens, handle, partner="p-direct"):
    return fn.invitation_trail(build_request("GET", "x", headers={"Authorization": partner_tokens(partner)}, route_params={"id": handle}))


def test_the_trail_of_an_accepted_invitation(storage, settings, idp, partner_tokens, fixed_clock):
    inv, raw = invite(storage)
    fixed_clock.advance(minutes=1)
    deliver_all(storage, settings.email_queue, SmtpSender(settings.smtp_host, settings.smtp_port, settings.email_sender))
    fixed_clock.advance(minutes=1)
    queue.receive_report(ctx_of(storage), reports.EVENT_TYPE, {"messageId": _operation(storage, inv), "status": "Delivered",
                                                       "deliveryAttemptTimestamp": fixed_clock.now().isoformat()})
    fixed_clock.advance(minutes=1)
    assert pages.redeem_invitation_link(get_request("InviteUser", {"invitationId": raw})).status_code == 200  # a GET: not opened
    assert [s["step"] for s in json_of(_trail(partner_tokens, raw))["steps"]] == ["created", "emailed", "delivered"]
    fixed_clock.advance(minutes=1)
    assert pages.invitation_opened(form_request("auth/opened", {"invitationId": raw})).status_code == 204
    pages.invitation_opened(form_request("auth/opened", {"invitationId": raw}))  # pressed again: the first time stays
    fixed_clock.advance(minutes=1)
    assert _sign_in(raw).status_code == 303
    fixed_clock.advance(minutes=1)
    form = {"csrf": "csrf-token-for-tests", "invitationId": raw, **prefill(inv.company, inv.country_region)}
    assert pages.create_company(form_request("companies", form, session_header())).status_code == 303
    trail = json_of(_trail(partner_tokens, raw))
    assert trail["status"] == "Accepted"
    # The relationship the acceptance consented to names the invitation (written with its event, on the customer's records).
    assert [s["step"] for s in trail["steps"]] == ["created", "emailed", "delivered", "opened", "signedIn", "accepted",
                                                   "relationshipConsented"]
    times = [datetime.fromisoformat(s["at"].replace("Z", "+00:00")) for s in trail["steps"]]
    assert times == sorted(times) and all(t.tzinfo == timezone.utc or t.utcoffset() is not None for t in times)
    opened = [e for e in storage.table(TABLE).query_entities("PartitionKey eq @pk and RowKey ge 'e|' and RowKey lt 'e}'",
                                                             parameters={"pk": partner_partition("p-direct")})
              if e["type"] == "invitation.opened"]
    assert len(opened) == 1  # once, however often pressed

    # The partner attests the agreement afterwards: the trail ends there, with how.
    fixed_clock.advance(minutes=1)
    customer_id = found(find(ctx_of(storage), inv.link_hash)).customer_id
    contact = {"firstName": inv.first_name, "lastName": inv.last_name, "email": str(inv.email)}
    body = {"type": "MicrosoftCustomerAgreement", "primaryContact": contact, "dateAgreed": fixed_clock.now().date().isoformat()}
    assert attest_tests.attest(partner_tokens("p-direct"), customer_id, body).status_code == 201
    steps = json_of(_trail(partner_tokens, raw))["steps"]
    assert [s["step"] for s in steps][-2:] == ["relationshipConsented", "agreementAccepted"]
    assert steps[-1]["how"] == "PartnerAttestation"


def test_a_colleague_or_earlier_acceptance_is_not_on_the_trail(storage, partner_tokens, fixed_clock):
    """The steps after acceptance are this invitation's only: an agreement accepted before it was made is not."""
    from attest_agreement.customers import AcceptanceHow, AgreementAcceptance, Contact, RelationshipRole, ResellerRelationship
    from attest_agreement.relationships_service import onboarding_steps
    from invite_user.invitations import InvitationKind

    inv, _ = invite(storage)
    ctx = ctx_of(storage)
    accepted = inv.model_copy(update={"customer_id": "c-1", "accepted_at": fixed_clock.now()})
    from attest_agreement.repository import CustomerStore

    store = ctx.store(CustomerStore)
    earlier = fixed_clock.now().replace(year=2020)
    store.acceptances.upsert(AgreementAcceptance(customer_id="c-1", how=AcceptanceHow.PARTNER_ATTESTATION, date_agreed=earlier.date(),
                                          recorded_at=earlier, by={}, contact=Contact(first_name="A", last_name="B", email="a@contoso.example")))
    store.relationships.upsert(ResellerRelationship(customer_id="c-1", partner_id=inv.partner_id, partner_name="P", role=RelationshipRole.RESELLER,
                                           created_at=earlier, created_by="someone", invitation="another-invitation"))
    assert onboarding_steps(ctx, accepted) == []  # another invitation's consent, an acceptance from before
    assert onboarding_steps(ctx, accepted.model_copy(update={"kind": InvitationKind.COMPANY_USER})) == []


def _operation(storage, inv):
    from invite_user.service import find

    return found(find(ctx_of(storage), inv.link_hash)).email_operation_id


def test_a_wrong_account_is_a_time_on_the_trail_never_the_address(storage, settings, idp, partner_tokens):
    _, raw = invite(storage)
    idp.email = "someone.else@fabrikam.example"
    _sign_in(raw)
    body = _trail(partner_tokens, raw).get_body().decode()
    assert [s["step"] for s in json.loads(body)["steps"]] == ["created", "wrongAccount"]
    assert "fabrikam" not in body


def test_another_partners_trail_is_not_found(storage, idp, partner_tokens):
    _, raw = invite(storage)
    PartnerRepository(storage).save(Partner(id="p-other", name="Other Partner", type=PartnerType.DIRECT))
    assert _trail(partner_tokens, raw, partner="p-other").status_code == 404


def test_a_report_that_comes_back_while_the_send_returns_follows_the_emailed_step(storage, settings, partner_tokens, fixed_clock):
    """The mail service reports delivery at its own time, which can be before the SMTP call returns: the email counts as
    emailed when it was handed over, so its report never comes first (it did under load on the local stack)."""
    inv, raw = invite(storage)
    smtp = SmtpSender(settings.smtp_host, settings.smtp_port, settings.email_sender)
    reported: list[datetime] = []

    class SlowToReturn:
        def send(self, message, operation_id):
            fixed_clock.advance(seconds=1)
            reported.append(fixed_clock.now())  # the service accepts it and reports now ...
            fixed_clock.advance(seconds=2)  # ... and the call returns later
            return smtp.send(message, operation_id)

    deliver_all(storage, settings.email_queue, SlowToReturn())
    queue.receive_report(ctx_of(storage), reports.EVENT_TYPE, {"messageId": _operation(storage, inv), "status": "Delivered",
                                                       "deliveryAttemptTimestamp": reported[0].isoformat()})
    steps = json_of(_trail(partner_tokens, raw))["steps"]
    assert [s["step"] for s in steps] == ["created", "emailed", "delivered"]
