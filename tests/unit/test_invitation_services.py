"""Invitation services over in-memory storage: life-cycle changes, their index and audit, conflicts, in milliseconds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from invite_user import service
from invite_user.api_models import NewInvitation
from invite_user.invitations import InvitationStateError, InvitationStatus
from invite_user.repository import TABLE, InvitationStore, InvitationUnitOfWork
from partners.registry import Partner, PartnerType
from shared.clock import utc_now
from shared.errors import Busy, Conflict, NotFound
from shared.partner_auth import Caller
from tests.unit.fakes import memory_context

CALLER = Caller(partner_id="p-direct", roles=frozenset({"AdminAgent"}), name="Ada Agent", email="ada@partner.example", subject="s1")
PARTNER = Partner(id="p-direct", name="Direct Partner", type=PartnerType.DIRECT)


@pytest.fixture
def ctx():
    return memory_context()


@pytest.fixture
def table(ctx):
    return ctx.storage.table(TABLE)


def _stored(ctx, **over) -> tuple[str, str]:
    body = NewInvitation.model_validate({"kind": "CustomerOnboarding", "email": "harry.kim@contoso.com", "firstName": "Harry",
                                         "lastName": "Kim", "countryRegion": "DE", **over})
    inv, raw = service.build_invitation(CALLER, PARTNER, None, body)
    ctx.store(InvitationStore)._point(inv)  # noqa: SLF001 - the link pointer, as the store writes it before the partition
    uow = ctx.unit(InvitationUnitOfWork)
    uow.add(inv)
    uow.commit()
    return raw, inv.link_hash


def test_revoke_moves_the_invitation_its_index_and_its_audit_in_one_commit(ctx, table):
    raw, _ = _stored(ctx)
    before = len(ctx.storage.journal)
    out = service.revoke(ctx, CALLER, raw)
    assert out.status == InvitationStatus.REVOKED
    assert len(ctx.storage.journal) == before + 1
    assert table.keys("x|") == []  # a revoked invitation leaves the expiry index
    assert len(table.keys("a|")) == 1


def test_revoking_twice_is_a_conflict_named_by_the_state(ctx, table):
    raw, _ = _stored(ctx)
    service.revoke(ctx, CALLER, raw)
    with pytest.raises(Conflict) as err:
        service.revoke(ctx, CALLER, raw)
    assert err.value.code == "invitation-revoked"


def test_a_concurrent_change_is_read_again_and_retried(ctx, table):
    raw, _ = _stored(ctx)
    table.conflicts = 2
    assert service.revoke(ctx, CALLER, raw).status == InvitationStatus.REVOKED


def test_an_invitation_that_keeps_changing_answers_busy_and_stays_as_it_was(ctx, table):
    raw, link = _stored(ctx)
    table.conflicts = 5
    with pytest.raises(Busy):
        service.revoke(ctx, CALLER, raw)
    assert ctx.unit(InvitationUnitOfWork).by_link(link).status == InvitationStatus.PENDING


def test_another_partners_invitation_is_not_found(ctx, table):
    raw, _ = _stored(ctx)
    other = Caller(partner_id="p-other", roles=frozenset({"AdminAgent"}), name="", email="", subject="")
    with pytest.raises(NotFound):
        service.revoke(ctx, other, raw)


def test_accept_is_idempotent_for_the_same_company_and_refused_for_another(ctx, table):
    _, link = _stored(ctx)
    now = utc_now()
    first = service.accept(ctx, link, {"email": "harry.kim@contoso.com"}, customer_id="c1", now=now)
    again = service.accept(ctx, link, {"email": "harry.kim@contoso.com"}, customer_id="c1", now=now)
    assert first.status == again.status == InvitationStatus.ACCEPTED and again.customer_id == "c1"
    assert table.keys("x|") == []
    with pytest.raises(InvitationStateError):
        service.accept(ctx, link, {"email": "harry.kim@contoso.com"}, customer_id="c2", now=now)


def test_an_expired_link_is_accepted_only_when_its_company_was_created_while_it_was_valid(ctx, table):
    _, link = _stored(ctx, expiresInDays=1)
    later = utc_now() + timedelta(days=2)
    with pytest.raises(InvitationStateError):
        service.accept(ctx, link, {"email": "h@contoso.com"}, customer_id="c1", now=later)
    accepted = service.accept(ctx, link, {"email": "h@contoso.com"}, customer_id="c1", now=later, company_created=True)
    assert accepted.status == InvitationStatus.ACCEPTED


def test_a_revoked_invitation_is_never_accepted(ctx, table):
    raw, link = _stored(ctx)
    service.revoke(ctx, CALLER, raw)
    with pytest.raises(InvitationStateError):
        service.accept(ctx, link, {"email": "h@contoso.com"}, customer_id="c1", now=utc_now(), company_created=True)
