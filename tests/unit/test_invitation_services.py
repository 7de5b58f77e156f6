"""Invitation services over an in-memory unit of work: life-cycle changes, their index and audit, conflicts, in milliseconds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from invite_user import service
from invite_user.api_models import NewInvitation
from invite_user.invitations import InvitationStateError, InvitationStatus
from partners.registry import Partner, PartnerType
from shared.clock import utc_now
from shared.errors import Busy, Conflict, NotFound
from shared.partner_auth import Caller
from tests.unit.fakes import FakeInvitationUnitOfWork, FakeTable

CALLER = Caller(partner_id="p-direct", roles=frozenset({"AdminAgent"}), name="Ada Agent", email="ada@partner.example", subject="s1")
PARTNER = Partner(id="p-direct", name="Direct Partner", type=PartnerType.DIRECT)


@pytest.fixture
def table() -> FakeTable:
    return FakeTable()


def _unit(table: FakeTable):
    return lambda _storage: FakeInvitationUnitOfWork(table)


def _stored(table: FakeTable, **over) -> tuple[str, str]:
    body = NewInvitation.model_validate({"kind": "CustomerOnboarding", "email": "harry.kim@contoso.com", "firstName": "Harry",
                                         "lastName": "Kim", "countryRegion": "DE", **over})
    inv, raw = service.build_invitation(CALLER, PARTNER, None, body)
    uow = FakeInvitationUnitOfWork(table)
    uow.add(inv)
    uow.commit()
    return raw, inv.link_hash


def test_revoke_moves_the_invitation_its_index_and_its_audit_in_one_commit(table):
    raw, _ = _stored(table)
    before = table.commits
    out = service.revoke(None, CALLER, raw, unit=_unit(table))
    assert out.status == InvitationStatus.REVOKED
    assert table.commits == before + 1
    assert table.keys("x|") == []  # a revoked invitation leaves the expiry index
    assert len(table.keys("a|")) == 1


def test_revoking_twice_is_a_conflict_named_by_the_state(table):
    raw, _ = _stored(table)
    service.revoke(None, CALLER, raw, unit=_unit(table))
    with pytest.raises(Conflict) as err:
        service.revoke(None, CALLER, raw, unit=_unit(table))
    assert err.value.code == "invitation-revoked"


def test_a_concurrent_change_is_read_again_and_retried(table):
    raw, _ = _stored(table)
    table.conflicts = 2
    assert service.revoke(None, CALLER, raw, unit=_unit(table)).status == InvitationStatus.REVOKED


def test_an_invitation_that_keeps_changing_answers_busy_and_stays_as_it_was(table):
    raw, link = _stored(table)
    table.conflicts = 5
    with pytest.raises(Busy):
        service.revoke(None, CALLER, raw, unit=_unit(table))
    assert FakeInvitationUnitOfWork(table).by_link(link).status == InvitationStatus.PENDING


def test_another_partners_invitation_is_not_found(table):
    raw, _ = _stored(table)
    other = Caller(partner_id="p-other", roles=frozenset({"AdminAgent"}), name="", email="", subject="")
    with pytest.raises(NotFound):
        service.revoke(None, other, raw, unit=_unit(table))


def test_accept_is_idempotent_for_the_same_company_and_refused_for_another(table):
    _, link = _stored(table)
    now = utc_now()
    first = service.accept(None, link, {"email": "harry.kim@contoso.com"}, customer_id="c1", now=now, unit=_unit(table))
    again = service.accept(None, link, {"email": "harry.kim@contoso.com"}, customer_id="c1", now=now, unit=_unit(table))
    assert first.status == again.status == InvitationStatus.ACCEPTED and again.customer_id == "c1"
    assert table.keys("x|") == []
    with pytest.raises(InvitationStateError):
        service.accept(None, link, {"email": "harry.kim@contoso.com"}, customer_id="c2", now=now, unit=_unit(table))


def test_an_expired_link_is_accepted_only_when_its_company_was_created_while_it_was_valid(table):
    _, link = _stored(table, expiresInDays=1)
    later = utc_now() + timedelta(days=2)
    with pytest.raises(InvitationStateError):
        service.accept(None, link, {"email": "h@contoso.com"}, customer_id="c1", now=later, unit=_unit(table))
    accepted = service.accept(None, link, {"email": "h@contoso.com"}, customer_id="c1", now=later, company_created=True, unit=_unit(table))
    assert accepted.status == InvitationStatus.ACCEPTED


def test_a_revoked_invitation_is_never_accepted(table):
    raw, link = _stored(table)
    service.revoke(None, CALLER, raw, unit=_unit(table))
    with pytest.raises(InvitationStateError):
        service.accept(None, link, {"email": "h@contoso.com"}, customer_id="c1", now=utc_now(), company_created=True, unit=_unit(table))
