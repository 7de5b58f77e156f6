"""Reminders on Azurite and MailDev: each reminder (REMIND_BEFORE), with the same link, in the invitee's language; never two; never lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from azure.data.tables import UpdateMode
from azure.functions.timer import TimerRequest

from invite_user import expiry, reminders
from invite_user import functions as fn
from invite_user.invitations import REMIND_BEFORE_EXPIRY, REMINDER_RETRY, InvitationStatus, link_hash
from invite_user.repository import TABLE, InvitationStore, partner_partition, reminder_row_key
from notifications import queue
from notifications.sender import SmtpSender
from shared import i18n
from tests.integration.test_invitations_api import invitation_body, post
from tests.support.context import ctx_of
from tests.support.expect import found
from tests.support.http import build_request, json_of
from tests.support.invitations import save_changed
from tests.support.mail import inbox
from tests.support.queues import take


def _create(partner_tokens, email, partner="p-direct", **over):
    body = invitation_body(email=email, sendEmail=False, **over)
    return json_of(post("invitations", partner_tokens(partner), body, fn.create_invitation))


def _reminder_messages(storage, settings):
    """Take the reminder messages off the email queue (invitation emails are left out of these tests)."""
    return [payload for payload in take(storage, settings.email_queue) if payload["type"] == reminders.KIND]


def _index(storage, partner="p-direct", prefix="r|"):
    client = storage.table(TABLE)
    rows = client.query_entities("PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                                 parameters={"pk": partner_partition(partner), "lo": prefix, "hi": prefix[:-1] + "}"})
    return sorted((r["RowKey"], r) for r in rows)


def _read(partner_tokens, handle, partner="p-direct"):
    req = build_request("GET", "invitations/x", headers={"Authorization": partner_tokens(partner)}, route_params={"id": handle})
    return json_of(fn.get_invitation(req))


def _sender(settings):
    return SmtpSender(settings.smtp_host, settings.smtp_port, settings.email_sender)


def test_a_due_reminder_goes_out_once_in_the_invitees_language_with_the_same_link(storage, settings, servers, partner_tokens,
                                                                                   fixed_clock):
    created = _create(partner_tokens, "reminded.ko@contoso.com")  # Korean, 60 days
    _reminder_messages(storage, settings)
    fixed_clock.advance(days=52)
    assert reminders.sweep(ctx_of(storage)).due == 0  # not yet: 7 days before expiry
    fixed_clock.advance(days=1, minutes=1)
    first = reminders.sweep(ctx_of(storage))
    second = reminders.sweep(ctx_of(storage))  # the timer run again: nothing more
    assert (first.due, first.reminded, second.reminded, second.requeued) == (1, 1, 0, 0)
    messages = _reminder_messages(storage, settings)
    assert len(messages) == 1 and len(messages[0]["items"]) == 1
    sender = _sender(settings)
    assert queue.deliver(ctx_of(storage), sender, messages[0])["sent"] == 1
    assert queue.deliver(ctx_of(storage), sender, messages[0])["skipped"] == 1  # the same message redelivered: not sent twice
    mails = inbox(servers, "reminded.ko@contoso.com")
    assert len(mails) == 1
    mail = mails[0]
    assert created["inviteRedeemUrl"] in mail["text"] and created["inviteRedeemUrl"] in mail["html"]  # the same link
    expires_on = i18n.format_date(found(InvitationStore(storage).find_by_link(link_hash(created["id"]))).expires_at, "ko")
    assert expires_on in mail["subject"] and expires_on in mail["text"]
    assert any("\uac00" <= ch <= "\ud7a3" for ch in mail["subject"])  # Hangul: the invitee's language
    read = _read(partner_tokens, created["reference"])
    assert read["remind"] is True and read["reminderStatus"] == "Sent"
    assert read["remindedAt"].startswith(fixed_clock.now().date().isoformat())
    # what is left to remind: the last notice, REMIND_BEFORE's 1 day before the link dies
    inv = found(InvitationStore(storage).find_by_link(link_hash(created["id"])))
    assert [key for key, _ in _index(storage)] == [reminder_row_key(inv.expires_at - timedelta(days=1), inv.link_hash)]
    # the audit and the event rode in the claim's transaction
    store = InvitationStore(storage)
    assert "invitation.reminded" in [r.action for r in store.audit_page("p-direct").items]
    outbox = [e for e in storage.table(TABLE).query_entities("PartitionKey eq @pk and RowKey ge 'e|' and RowKey lt 'e}'",
                                                             parameters={"pk": partner_partition("p-direct")})]
    reminded = [e for e in outbox if e["type"] == "invitation.reminded"]
    assert len(reminded) == 1 and created["reference"] in reminded[0]["data"]
    # days later, still pending: the 7-day reminder never again
    fixed_clock.advance(days=5)
    assert reminders.sweep(ctx_of(storage)).due == 0
    # a day before the link dies: the second notice, once, with the same link
    fixed_clock.advance(days=1)
    assert reminders.sweep(ctx_of(storage)).reminded == 1
    [message] = _reminder_messages(storage, settings)
    assert message["items"][0]["operationId"] != messages[0]["items"][0]["operationId"]  # a send of its own
    assert queue.deliver(ctx_of(storage), sender, message)["sent"] == 1
    assert len(inbox(servers, "reminded.ko@contoso.com")) == 2
    assert reminders.sweep(ctx_of(storage)).due == 0 and _index(storage) == []  # nothing left to remind
    fixed_clock.advance(hours=23)
    assert reminders.sweep(ctx_of(storage)).due == 0


def test_two_timers_at_once_claim_a_reminder_once(storage, settings, partner_tokens, fixed_clock):
    for i in range(6):
        _create(partner_tokens, f"race{i}@contoso.com")
    _reminder_messages(storage, settings)
    fixed_clock.advance(days=54)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: reminders.sweep(ctx_of(storage)), range(2)))
    assert sum(r.reminded for r in results) == 6 and sum(r.requeued for r in results) == 0
    items = [item["rowKey"] for m in _reminder_messages(storage, settings) for item in m["items"]]
    assert len(items) == len(set(items)) == 6


def test_remind_false_and_short_links_are_never_reminded(storage, settings, partner_tokens, fixed_clock):
    quiet = _create(partner_tokens, "quiet@contoso.com", remind=False)
    _create(partner_tokens, "short@contoso.com", expiresInDays=1)
    assert _read(partner_tokens, quiet["reference"])["remind"] is False
    assert _index(storage) == []
    for days in (3, 54):
        fixed_clock.advance(days=days)
        assert reminders.sweep(ctx_of(storage)).due == 0
    assert _reminder_messages(storage, settings) == []


def test_a_week_long_link_gets_only_the_reminders_it_outlives(storage, settings, partner_tokens, fixed_clock):
    """REMIND_BEFORE 7 and 1 days: a link of 7 days skips the 7-day reminder (its email is that recent) and gets the last one."""
    week = _create(partner_tokens, "week@contoso.com", expiresInDays=7)
    fixed_clock.advance(days=5)
    assert reminders.sweep(ctx_of(storage)).due == 0
    fixed_clock.advance(days=1)
    assert reminders.sweep(ctx_of(storage)).reminded == 1
    assert [m["items"][0]["rowKey"].endswith(link_hash(week["id"])) for m in _reminder_messages(storage, settings)] == [True]
    assert _index(storage) and reminders.sweep(ctx_of(storage)).due == 0  # only its retry mark, not yet due


def test_remind_before_is_a_setting(storage, settings, partner_tokens, fixed_clock, monkeypatch):
    monkeypatch.setenv("REMIND_BEFORE", "10")
    from shared.settings import reset_settings

    reset_settings()
    created = _create(partner_tokens, "ten@contoso.com")
    inv = found(InvitationStore(storage).find_by_link(link_hash(created["id"])))
    assert inv.remind_before == [10] and inv.reminder_at() == inv.expires_at - timedelta(days=10)


def test_revoked_accepted_and_expired_are_never_reminded(storage, settings, partner_tokens, fixed_clock):
    revoked = _create(partner_tokens, "revoked@contoso.com")
    accepted = _create(partner_tokens, "accepted@contoso.com")
    expired = _create(partner_tokens, "expired@contoso.com", expiresInDays=10)
    assert len(_index(storage)) == 3
    post("x", partner_tokens(), None, fn.revoke_invitation, route_params={"id": revoked["id"]})
    store = InvitationStore(storage)
    inv = found(store.find_by_link(link_hash(accepted["id"])))
    inv.status = InvitationStatus.ACCEPTED
    save_changed(storage, inv)
    assert [key for key, _ in _index(storage)] == [reminder_row_key(found(store.find_by_link(link_hash(expired["id"]))).expires_at
                                                                    - REMIND_BEFORE_EXPIRY, link_hash(expired["id"]))]
    # the timer was down past the reminder: the expiry sweep removes the reminder row in the same transaction
    fixed_clock.advance(days=11)
    assert expiry.sweep(ctx_of(storage)).expired == 1
    assert _index(storage) == [] and _index(storage, prefix="x|") == []
    assert reminders.sweep(ctx_of(storage)).due == 0
    assert _reminder_messages(storage, settings) == []


def test_the_index_moves_with_the_invitation(storage, settings, partner_tokens, fixed_clock):
    created = _create(partner_tokens, "moves@contoso.com")
    h = link_hash(created["id"])
    store = InvitationStore(storage)

    def expected():
        inv = found(store.find_by_link(h))
        return reminder_row_key(inv.expires_at - REMIND_BEFORE_EXPIRY, h)

    [(key, _)] = _index(storage)
    [(_, expiry_row)] = _index(storage, prefix="x|")
    assert key == expected() and expiry_row["reminder_key"] == key
    fixed_clock.advance(days=20)
    post("x", partner_tokens(), None, fn.resend_invitation, route_params={"id": created["id"]})  # a new expiry
    [(moved, _)] = _index(storage)
    [(_, expiry_row)] = _index(storage, prefix="x|")
    assert moved != key and moved == expected() and expiry_row["reminder_key"] == moved
    _reminder_messages(storage, settings)
    fixed_clock.advance(days=54)
    reminders.sweep(ctx_of(storage))  # claimed: the row becomes a retry mark until the send is recorded
    [(mark, _)] = _index(storage)
    assert mark == reminder_row_key(fixed_clock.now() + REMINDER_RETRY, h)
    assert _index(storage, prefix="x|")[0][1]["reminder_key"] == mark
    post("x", partner_tokens(), None, fn.revoke_invitation, route_params={"id": created["id"]})
    assert _index(storage) == [] and _index(storage, prefix="x|") == []
    # the queued reminder of a revoked invitation is not sent
    [message] = _reminder_messages(storage, settings)
    assert queue.deliver(ctx_of(storage), _sender(settings), message)["skipped"] == 1


def test_a_reminder_lost_between_claim_and_queue_is_queued_again_then_sent(storage, settings, servers, partner_tokens,
                                                                           fixed_clock, monkeypatch):
    created = _create(partner_tokens, "lost@contoso.com", language="de")
    _reminder_messages(storage, settings)
    fixed_clock.advance(days=54)
    with monkeypatch.context() as m:
        m.setattr(reminders, "queue_reminders", lambda storage, invitations: None)  # the process dies after the claim
        assert reminders.sweep(ctx_of(storage)).reminded == 1
    assert _reminder_messages(storage, settings) == []
    assert _read(partner_tokens, created["reference"])["reminderStatus"] == "Queued"
    assert reminders.sweep(ctx_of(storage)).due == 0  # within REMINDER_RETRY: not yet
    fixed_clock.advance(minutes=31)
    again = reminders.sweep(ctx_of(storage))
    assert (again.reminded, again.requeued) == (0, 1)
    [message] = _reminder_messages(storage, settings)
    assert queue.deliver(ctx_of(storage), _sender(settings), message)["sent"] == 1
    [mail] = inbox(servers, "lost@contoso.com")
    assert created["inviteRedeemUrl"] in mail["text"] and "Erinnerung" in mail["subject"]
    assert _read(partner_tokens, created["reference"])["reminderStatus"] == "Sent"


def test_a_reminder_never_delivered_ends_visibly_failed(storage, settings, partner_tokens, fixed_clock, monkeypatch):
    created = _create(partner_tokens, "never@contoso.com")
    fixed_clock.advance(days=54)
    monkeypatch.setattr(reminders, "queue_reminders", lambda storage, invitations: None)
    for _ in range(settings.email_max_attempts):
        reminders.sweep(ctx_of(storage))
        fixed_clock.advance(minutes=31)
    result = reminders.sweep(ctx_of(storage))
    assert result.failed == 1
    read = _read(partner_tokens, created["reference"])
    assert read["reminderStatus"] == "Failed" and "attempts" in read["reminderError"]
    # given up on, never retried again; only the last notice (1 day before expiry) is left, a send of its own
    inv = found(InvitationStore(storage).find_by_link(link_hash(created["id"])))
    assert [key for key, _ in _index(storage)] == [reminder_row_key(inv.expires_at - timedelta(days=1), inv.link_hash)]


def test_a_poisoned_reminder_is_recorded_failed(storage, settings, partner_tokens, fixed_clock):
    created = _create(partner_tokens, "poison@contoso.com")
    _reminder_messages(storage, settings)
    fixed_clock.advance(days=54)
    reminders.sweep(ctx_of(storage))
    [message] = _reminder_messages(storage, settings)
    assert queue.poisoned(ctx_of(storage), message) == 1
    read = _read(partner_tokens, created["reference"])
    assert read["reminderStatus"] == "Failed" and read["reminderError"]
    inv = found(InvitationStore(storage).find_by_link(link_hash(created["id"])))  # only the last notice is left, a send of its own
    assert [key for key, _ in _index(storage)] == [reminder_row_key(inv.expires_at - timedelta(days=1), inv.link_hash)]


def test_cost_follows_what_is_due(storage, settings, partner_tokens, fixed_clock):
    for i in range(30):
        _create(partner_tokens, f"later{i}@contoso.com")
    fixed_clock.advance(days=20)
    for i in range(10):
        _create(partner_tokens, f"due{i}@contoso.com", expiresInDays=30)
    fixed_clock.advance(days=24)  # the 10 are 7 days from expiry, the 30 are 16 days away
    storage.queue(settings.email_queue)  # warm: a process creates its queue client (and the queue) once
    storage.counter.reset()
    result = reminders.sweep(ctx_of(storage))
    assert result.reminded == 10
    # partners list + one index query per partner + (read + claim transaction) per due reminder + one queue message
    assert storage.counter.reset() <= 1 + result.partners + 2 * 10 + 1


def test_the_timer_function_runs_the_sweep(storage, settings, partner_tokens, fixed_clock):
    created = _create(partner_tokens, "timer@contoso.com")
    fixed_clock.advance(days=54)
    fn.remind_invitations(TimerRequest(past_due=True))
    assert _read(partner_tokens, created["reference"])["reminderStatus"] == "Queued"


def test_invitations_stored_before_reminders_keep_working(storage, settings, partner_tokens, fixed_clock):
    created = _create(partner_tokens, "legacy@contoso.com", remind=False)
    client = storage.table(TABLE)
    # an invitation stored before reminders existed: none of their fields on its rows
    for entity in client.query_entities("PartitionKey eq @pk", parameters={"pk": partner_partition("p-direct")}):
        if entity["RowKey"].startswith(("k|", "i|")):
            for name in ("remind", "link_seal", "reminded_at", "reminder_status", "reminder_error", "reminder_claimed_at", "reminder_attempts"):
                entity.pop(name, None)
            client.upsert_entity(entity, mode=UpdateMode.REPLACE)
    assert _read(partner_tokens, created["reference"])["remind"] is False
    post("x", partner_tokens(), None, fn.resend_invitation, route_params={"id": created["id"]})
    fixed_clock.advance(days=61)
    assert expiry.sweep(ctx_of(storage)).expired == 1
    assert reminders.sweep(ctx_of(storage)).due == 0
