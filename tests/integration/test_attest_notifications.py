"""The attestation confirmation email: it reaches MailDev for an attested customer, never for one asked to accept directly,
and the outbox sends it even when queueing failed right after the commit."""

from __future__ import annotations

from attest_agreement import functions as fn
from attest_agreement import notices
from attest_agreement.repository import CustomerUnitOfWork
from notifications.sender import SmtpSender
from shared.storage import StorageUnavailable
from tests.integration.test_attest_agreement import attest, attestation
from tests.integration.test_attest_customers import create, queued, table_rows
from tests.integration.test_attest_direct import invite
from tests.support.context import ctx_of
from tests.support.mail import inbox
from tests.support.queues import deliver_all


def _deliver_all(storage, settings):
    """What the queue-triggered function does with every message on the queue; the kinds of those messages."""
    sender = SmtpSender(settings.smtp_host, settings.smtp_port, settings.email_sender)
    return [payload["type"] for payload in deliver_all(storage, settings.email_queue, sender)]


def test_attested_customer_gets_the_confirmation_in_its_language(storage, settings, servers, partner_tokens, fixed_clock):
    cid = create(partner_tokens(), primaryContact={"firstName": "Greta", "lastName": "Maier", "email": "greta.n1@contoso.de"})["customer"]["id"]
    assert attest(partner_tokens(), cid, attestation(primaryContact={
        "firstName": "Greta", "lastName": "Maier", "email": "greta.n1@contoso.de"})).status_code == 201
    assert _deliver_all(storage, settings) == ["attestation-notice"]
    [mail] = inbox(servers, "greta.n1@contoso.de")
    assert "Contoso Partner" in mail["subject"] and "Contoso Berlin GmbH" in mail["subject"]
    assert "20. November 2026" in mail["text"]  # German date: the contact's language
    assert mail["headers"]["content-language"] == "de"


def test_no_confirmation_for_a_customer_invited_to_accept_directly(storage, settings, servers, partner_tokens, fixed_clock):
    contact = {"firstName": "Hanna", "lastName": "Berg", "email": "hanna.n2@contoso.de"}
    cid = create(partner_tokens(), primaryContact=contact, askToAcceptDirectly=True)["customer"]["id"]
    # the customer could not accept directly: the partner attests after all
    assert attest(partner_tokens(), cid, attestation(primaryContact=contact)).status_code == 201
    assert _deliver_all(storage, settings) == ["invitation-email"]  # the invitation, and nothing else
    mails = inbox(servers, "hanna.n2@contoso.de")
    assert len(mails) == 1 and "/api/InviteUser?invitationId=" in mails[0]["text"]


def test_an_existing_customer_invited_later_gets_no_confirmation_either(storage, settings, partner_tokens, fixed_clock):
    cid = create(partner_tokens())["customer"]["id"]
    assert invite(partner_tokens(), cid).status_code == 201
    assert attest(partner_tokens(), cid).status_code == 201
    assert queued(storage, settings, "email") == []


def test_the_outbox_sends_what_a_queue_outage_held_back(storage, settings, servers, partner_tokens, fixed_clock, monkeypatch):
    cid = create(partner_tokens(), primaryContact={"firstName": "Ida", "lastName": "Roth", "email": "ida.n3@contoso.de"})["customer"]["id"]

    def queue_down(*args, **kwargs):
        raise StorageUnavailable("queue down")

    monkeypatch.setattr(notices.queue, "send", queue_down)
    resp = attest(partner_tokens(), cid, attestation(primaryContact={"firstName": "Ida", "lastName": "Roth", "email": "ida.n3@contoso.de"}))
    assert resp.status_code == 201  # the attestation stands; its email waits in the outbox
    assert queued(storage, settings) == [] and len(table_rows(storage, "AgreementNotices")) == 1
    monkeypatch.undo()
    assert notices.sweep(ctx_of(storage)) == {"queued": 0, "dropped": 0, "waiting": 1}  # the request might still be running
    fixed_clock.advance(minutes=6)
    assert notices.sweep(ctx_of(storage)) == {"queued": 1, "dropped": 0, "waiting": 0}
    assert [r["state"] for r in table_rows(storage, "AgreementNotices")] == ["Queued"]  # kept until sent
    assert notices.sweep(ctx_of(storage)) == {"queued": 0, "dropped": 0, "waiting": 0}  # on its way: not queued twice
    assert _deliver_all(storage, settings) == ["attestation-notice"]
    assert len(inbox(servers, "ida.n3@contoso.de")) == 1
    assert table_rows(storage, "AgreementNotices") == []  # forgotten once sent


def test_the_sweep_drops_rows_of_attestations_that_never_committed(storage, partner_tokens, fixed_clock, monkeypatch):
    cid = create(partner_tokens())["customer"]["id"]

    def commit_fails(self, ops):
        raise StorageUnavailable("down")

    store_commit = CustomerUnitOfWork._transact
    monkeypatch.setattr(CustomerUnitOfWork, "_transact", commit_fails)
    assert attest(partner_tokens(), cid).status_code == 503
    monkeypatch.setattr(CustomerUnitOfWork, "_transact", store_commit)
    fixed_clock.advance(minutes=6)
    assert notices.sweep(ctx_of(storage)) == {"queued": 0, "dropped": 1, "waiting": 0}


def test_the_timer_runs_the_sweep(storage, partner_tokens):
    from azure.functions.timer import TimerRequest

    fn.send_pending_attestation_notices(TimerRequest(past_due=True))
