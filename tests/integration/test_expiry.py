"""The expiry timer: only what is due, safe to run twice, never overwrites a concurrent change."""

from __future__ import annotations

from azure.functions.timer import TimerRequest

from invite_user import expiry
from invite_user import functions as fn
from invite_user.invitations import InvitationStatus, link_hash
from invite_user.repository import InvitationStore
from tests.integration.test_invitations_api import invitation_body, post
from tests.support.context import ctx_of
from tests.support.expect import found
from tests.support.http import json_of
from tests.support.invitations import save_changed


def _create(partner_tokens, days, email, partner="p-direct"):
    return json_of(post("invitations", partner_tokens(partner), invitation_body(email=email, expiresInDays=days, sendEmail=False),
                        fn.create_invitation))


def test_only_due_invitations_expire(storage, settings, partner_tokens, fixed_clock):
    short = _create(partner_tokens, 1, "short@contoso.com")
    other_partner = _create(partner_tokens, 1, "theirs@contoso.com", partner="p-provider")
    long = _create(partner_tokens, 30, "long@contoso.com")
    fixed_clock.advance(days=2)
    result = expiry.sweep(ctx_of(storage))
    assert (result.due, result.expired) == (2, 2)
    store = InvitationStore(storage)
    assert found(store.find_by_link(link_hash(short["id"]))).status == InvitationStatus.EXPIRED
    assert found(store.find_by_link(link_hash(other_partner["id"]))).status == InvitationStatus.EXPIRED
    assert found(store.find_by_link(link_hash(long["id"]))).status == InvitationStatus.PENDING
    assert "invitation.expired" in [r.action for r in store.audit_page("p-direct").items]
    again = expiry.sweep(ctx_of(storage))
    assert (again.due, again.expired) == (0, 0)


def test_accepted_meanwhile_is_not_overwritten(storage, settings, partner_tokens, fixed_clock):
    created = _create(partner_tokens, 1, "race@contoso.com")
    store = InvitationStore(storage)
    fixed_clock.advance(days=2)
    due = store.due_for_expiry("p-direct", fixed_clock.now())
    # the customer accepts between the timer's read and its write
    inv = found(store.find_by_link(link_hash(created["id"])))
    inv.status = InvitationStatus.ACCEPTED
    save_changed(storage, inv)
    assert store.expire(due, fixed_clock.now(), expiry._record) == 0
    assert found(store.find_by_link(link_hash(created["id"]))).status == InvitationStatus.ACCEPTED


def test_resent_meanwhile_keeps_its_new_expiry(storage, settings, partner_tokens, fixed_clock):
    created = _create(partner_tokens, 1, "resent@contoso.com")
    store = InvitationStore(storage)
    fixed_clock.advance(days=2)
    due = store.due_for_expiry("p-direct", fixed_clock.now())
    post("x", partner_tokens(), None, fn.resend_invitation, route_params={"id": created["id"]})
    assert store.expire(due, fixed_clock.now(), expiry._record) == 0
    assert found(store.find_by_link(link_hash(created["id"]))).status == InvitationStatus.PENDING


def test_sweep_cost_follows_what_expires(storage, settings, partner_tokens, fixed_clock):
    for i in range(40):
        _create(partner_tokens, 30, f"keep{i}@contoso.com")
    for i in range(10):
        _create(partner_tokens, 1, f"go{i}@contoso.com")
    fixed_clock.advance(days=2)
    storage.counter.reset()
    result = expiry.sweep(ctx_of(storage))
    assert result.expired == 10
    # partners list + one index query per partner (3) + one transaction for the 10: nothing read for the 40 others
    assert storage.counter.reset() <= 5


def test_timer_function_runs_the_sweep(storage, settings, partner_tokens, fixed_clock):
    created = _create(partner_tokens, 1, "timer@contoso.com")
    fixed_clock.advance(days=2)
    fn.expire_invitations(TimerRequest(past_due=True))
    assert found(InvitationStore(storage).find_by_link(link_hash(created["id"]))).status == InvitationStatus.EXPIRED

