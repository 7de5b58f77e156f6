"""The reminder's rules on plain values, and its index rows kept by the unit of work over an in-memory table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from invite_user import reminders
from invite_user.api_models import NewInvitation
from invite_user.invitations import REMIND_BEFORE_EXPIRY, REMINDER_RETRY, SEND_CLAIM, InvitationStatus, ReminderStatus, link_hash
from invite_user.repository import TABLE, ExpiryEntry, InvitationUnitOfWork, index_rows, reminder_row_key
from tests.support.expect import found
from tests.unit.fakes import memory_context
from tests.unit.test_invitation_rules import make

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
LINK = "0b9d6a8e-2f4c-4f55-9a41-3f2d8c1b7e60"


def test_when_a_reminder_is_due():
    assert make().reminder_at() is None  # stored before reminders (or remind false): none
    inv = make(remind=True)
    assert inv.reminder_at() == inv.expires_at - REMIND_BEFORE_EXPIRY
    assert make(remind=True, expires_in_days=7, expires_at=NOW + timedelta(days=7)).reminder_at() is None
    for final in (InvitationStatus.ACCEPTED, InvitationStatus.REVOKED, InvitationStatus.EXPIRED):
        assert make(remind=True, status=final).reminder_at() is None


def test_claimed_once_then_a_retry_mark_then_given_up():
    inv = make(remind=True)
    due = found(inv.reminder_at(), "a reminder due")
    assert inv.take_reminder(due - timedelta(seconds=1), 3) is None
    assert inv.take_reminder(due, 3) == "first"
    assert (inv.reminded_at, inv.reminder_status, inv.reminder_attempts) == (due, ReminderStatus.QUEUED, 1)
    assert inv.take_reminder(due, 3) is None  # the same run again: nothing
    assert inv.reminder_at() == due + REMINDER_RETRY
    assert inv.take_reminder(due + REMINDER_RETRY, 3) == "again"
    assert inv.reminded_at == due  # remindedAt is the first claim
    inv.take_reminder(due + 2 * REMINDER_RETRY, 3)
    assert inv.take_reminder(due + 3 * REMINDER_RETRY, 3) == "failed"
    assert inv.reminder_status == ReminderStatus.FAILED and inv.reminder_error and inv.reminder_at() is None


def test_the_send_is_claimed_once_and_taken_over_only_after_a_dead_sender():
    inv = make(remind=True)
    inv.take_reminder(found(inv.reminder_at(), "a reminder due"), 5)
    assert inv.claim_reminder_send(NOW)
    assert not inv.claim_reminder_send(NOW + timedelta(minutes=1))
    assert inv.claim_reminder_send(NOW + SEND_CLAIM)
    inv.record_reminder(ReminderStatus.SENT, None, NOW)
    assert not inv.claim_reminder_send(NOW + 2 * SEND_CLAIM) and inv.reminder_at() is None


def test_a_resend_restarts_the_reminder_with_the_new_expiry():
    inv = make(remind=True)
    inv.take_reminder(found(inv.reminder_at(), "a reminder due"), 5)
    inv.record_reminder(ReminderStatus.SENT, None, NOW)
    inv.resend(NOW + timedelta(days=55))
    assert inv.reminder_status is None and inv.reminder_at() == inv.expires_at - REMIND_BEFORE_EXPIRY


def test_the_sealed_link_opens_only_on_its_own_invitation():
    inv = make(remind=True, link_seal=reminders.seal_link(LINK, link_hash(LINK)))
    assert reminders.open_link(inv) == LINK
    other = make(remind=True, link_hash=link_hash("1b9d6a8e-2f4c-4f55-9a41-3f2d8c1b7e60"), link_seal=inv.link_seal)
    assert reminders.open_link(other) is None
    assert reminders.open_link(make()) is None
    assert inv.link_seal is not None and LINK not in inv.link_seal


def test_every_save_keeps_both_index_rows_right():
    ctx = memory_context()
    table = ctx.storage.table(TABLE)
    inv = make(remind=True)
    uow = ctx.unit(InvitationUnitOfWork)
    uow.add(inv)
    uow.commit()
    first = reminder_row_key(inv.expires_at - REMIND_BEFORE_EXPIRY, inv.link_hash)
    assert table.keys("r|") == [first]
    [(expiry, _)] = [(k, v) for k, v in table.rows.items() if k[1].startswith("x|")]
    assert table.rows[expiry][0]["reminder_key"] == first

    uow = ctx.unit(InvitationUnitOfWork)
    stored = found(uow.get("p", f"k|{inv.link_hash}"), "the invitation, committed")
    stored.take_reminder(found(stored.reminder_at(), "a reminder due"), 5)  # any change through save: here the claim
    uow.save(stored)
    uow.commit()
    mark = reminder_row_key(found(stored.reminded_at, "the claim's time") + REMINDER_RETRY, inv.link_hash)
    assert table.keys("r|") == [mark]
    assert table.rows[expiry][0]["reminder_key"] == mark  # the expiry row names the moved reminder row

    stored.revoke(NOW, {})  # the same unit of work again, from its committed state
    uow.save(stored)
    uow.commit()
    assert table.keys("r|") == [] and table.keys("x|") == []


def test_index_rows_name_each_other():
    rows = index_rows(make(remind=True))
    [reminder_key] = [k for k in rows if k.startswith("r|")]
    [expiry] = [row for k, row in rows.items() if k.startswith("x|")]
    assert isinstance(expiry, ExpiryEntry) and expiry.reminder_key == reminder_key
    assert [k for k in index_rows(make()) if k.startswith("r|")] == []


def test_a_country_that_is_not_a_string_is_refused_not_a_crash():
    # Found by the contract fuzzing once the create body grew `remind`: an object as company.country was a 500.
    with pytest.raises(ValidationError):
        NewInvitation.model_validate({"email": "a@b.com", "firstName": "A", "lastName": "B", "countryRegion": "DE",
                                      "company": {"country": {"x": [1]}}})
