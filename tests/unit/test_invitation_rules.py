"""The rules of an invitation's life, on plain values (no storage)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from invite_user.invitations import (
    Invitation,
    InvitationStateError,
    InvitationStatus,
    link_hash,
    normalize_email,
    parse_invitation_id,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def make(**over: Any) -> Invitation:
    data: dict[str, Any] = dict(
        link_hash=link_hash("0b9d6a8e-2f4c-4f55-9a41-3f2d8c1b7e60"), partner_id="p", kind="CustomerOnboarding", email="a@b.com",
        email_normalized="a@b.com", first_name="A", last_name="B", language="en", country_region="DE", expires_in_days=60,
        expires_at=NOW + timedelta(days=60), created_at=NOW, updated_at=NOW, created_by={}, inviter_name="X", partner_name="P",
    )
    data.update(over)
    return Invitation(**data)


@pytest.mark.parametrize(("a", "b"), [("Harry@Contoso.COM", "harry@contoso.com"), (" harry@contoso.com ", "harry@contoso.com")])
def test_emails_compare_case_insensitively_in_ascii(a, b):
    # Full-width letters and ß are other mailboxes, never folded into ASCII: tests/unit/test_identity.py.
    assert normalize_email(a) == normalize_email(b)


def test_link_ids_are_uuids_only():
    assert parse_invitation_id("0B9D6A8E-2F4C-4F55-9A41-3F2D8C1B7E60") == "0b9d6a8e-2f4c-4f55-9a41-3f2d8c1b7e60"
    for bad in ("", None, "123", "../../etc", "0b9d6a8e-2f4c-4f55-9a41"):
        assert parse_invitation_id(bad) is None
    assert link_hash("0B9D6A8E-2F4C-4F55-9A41-3F2D8C1B7E60") == link_hash("0b9d6a8e-2f4c-4f55-9a41-3f2d8c1b7e60")


def test_pending_past_expiry_counts_as_expired():
    inv = make(expires_at=NOW)
    assert inv.effective_status(NOW - timedelta(seconds=1)) == InvitationStatus.PENDING
    assert inv.effective_status(NOW) == InvitationStatus.EXPIRED
    with pytest.raises(InvitationStateError):
        inv.accept(NOW, {})


def test_resend_restarts_expiry_and_revives_expired():
    inv = make(expires_in_days=10)
    inv.expire(NOW)
    inv.resend(NOW + timedelta(days=1))
    assert inv.status == InvitationStatus.PENDING
    assert inv.expires_at == NOW + timedelta(days=11)
    assert inv.resent_count == 1 and inv.expired_at is None


@pytest.mark.parametrize("final", [InvitationStatus.ACCEPTED, InvitationStatus.REVOKED, InvitationStatus.REPLACED])
def test_final_states_cannot_be_resent_or_revoked(final):
    inv = make(status=final)
    with pytest.raises(InvitationStateError):
        inv.resend(NOW)
    with pytest.raises(InvitationStateError):
        inv.revoke(NOW, {})
    with pytest.raises(InvitationStateError):
        inv.expire(NOW)


def test_revoke_pending_or_expired():
    for status in (InvitationStatus.PENDING, InvitationStatus.EXPIRED):
        inv = make(status=status)
        inv.revoke(NOW, {"name": "x"})
        assert inv.status == InvitationStatus.REVOKED and inv.revoked_by == {"name": "x"}


def test_accept_records_who_and_when():
    inv = make()
    inv.accept(NOW, {"email": "a@b.com"})
    assert inv.status == InvitationStatus.ACCEPTED and inv.accepted_at == NOW and inv.accepted_by == {"email": "a@b.com"}
    assert inv.is_for("A@B.COM") and not inv.is_for("c@b.com")


def test_only_a_pending_invitation_is_replaced_and_its_successor_starts_afresh():
    inv = make(expires_in_days=30, roles=["ReportViewer"], company={"name": "Contoso", "country": "DE"}, resent_count=2,
               agreement={"agreementNumber": "A-1", "purchasingAccountNumber": "P-1"}, customer_id="c-1", message="Hi")
    later = NOW + timedelta(days=3)
    new = inv.successor(later, "f" * 64, {"name": "Ben"}, "Ben", send_email=True, email="New@Contoso.com", language="fr",
                        agreement=None)
    assert (str(new.email), new.email_normalized, new.language, new.agreement) == ("New@contoso.com", "new@contoso.com", "fr", None)
    assert (new.first_name, new.roles, new.company.name, new.customer_id, new.message) == ("A", ["ReportViewer"], "Contoso", "c-1", "Hi")
    assert new.status == InvitationStatus.PENDING and new.expires_at == later + timedelta(days=30) and new.resent_count == 0
    assert new.replaces == inv.reference and new.created_by == {"name": "Ben"} and new.email_status == "Queued"
    assert inv.successor(later, "e" * 64, {}, "Ben", send_email=False).email_status == "NotRequested"
    inv.replace(later, {"name": "Ben"}, new.reference)
    assert inv.status == InvitationStatus.REPLACED and inv.replaced_by == new.reference and inv.changed_by == {"name": "Ben"}
    assert str(inv.email) == "a@b.com"  # the replaced one keeps whom it was for
    with pytest.raises(InvitationStateError):
        inv.accept(later, {})


@pytest.mark.parametrize("status", [InvitationStatus.ACCEPTED, InvitationStatus.REVOKED, InvitationStatus.EXPIRED,
                                    InvitationStatus.REPLACED])
def test_an_invitation_that_is_not_pending_is_not_replaced(status):
    with pytest.raises(InvitationStateError) as refused:
        make(status=status).replace(NOW, {}, "f" * 64)
    assert refused.value.status == status
    with pytest.raises(InvitationStateError):  # pending, but past its expiry
        make(expires_at=NOW).replace(NOW, {}, "f" * 64)
