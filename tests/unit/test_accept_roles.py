"""Role delegation, cell by cell: which role may give which role to an invited colleague."""

from __future__ import annotations

import pytest

from accept_invite import roles
from invite_user.invitations import BusinessCenterRole as R

AM, AGM, UA, AA, RV, AV = "AccountManager", "AgreementManager", "UserAdministrator", "AccountAdministrator", "ReportViewer", "AccountViewer"

# Written out independently of the code's table: (inviter's role, role to give, allowed).
EXPECTED = [
    (AM, AM, True), (AM, AGM, True), (AM, UA, True), (AM, AA, True), (AM, RV, True), (AM, AV, True),
    (AGM, AM, False), (AGM, AGM, True), (AGM, UA, False), (AGM, AA, False), (AGM, RV, True), (AGM, AV, True),
    (UA, AM, False), (UA, AGM, False), (UA, UA, True), (UA, AA, True), (UA, RV, True), (UA, AV, True),
    (AA, AM, False), (AA, AGM, False), (AA, UA, False), (AA, AA, False), (AA, RV, False), (AA, AV, False),
    (RV, AM, False), (RV, AGM, False), (RV, UA, False), (RV, AA, False), (RV, RV, False), (RV, AV, False),
    (AV, AM, False), (AV, AGM, False), (AV, UA, False), (AV, AA, False), (AV, RV, False), (AV, AV, False),
]


def test_every_cell_is_listed_once():
    assert len(EXPECTED) == len(R) ** 2
    assert {(a, b) for a, b, _ in EXPECTED} == {(a.value, b.value) for a in R for b in R}


@pytest.mark.parametrize(("inviter", "role", "allowed"), EXPECTED, ids=[f"{a}-gives-{b}" for a, b, _ in EXPECTED])
def test_cell(inviter, role, allowed):
    assert roles.can_grant([inviter], role) is allowed
    assert (role in roles.grantable([inviter])) is allowed
    assert (roles.refused([inviter], [role]) == []) is allowed


@pytest.mark.parametrize(("inviter", "may"), [(AM, True), (AGM, True), (UA, True), (AA, False), (RV, False), (AV, False)])
def test_who_may_invite_at_all(inviter, may):
    assert roles.may_invite([inviter]) is may


def test_several_roles_give_the_union_of_their_rows():
    assert roles.grantable([AGM, UA]) == [R.AGREEMENT_MANAGER, R.USER_ADMINISTRATOR, R.ACCOUNT_ADMINISTRATOR, R.REPORT_VIEWER,
                                          R.ACCOUNT_VIEWER]
    assert roles.refused([AGM, UA], [AM, RV]) == [AM]


def test_unknown_roles_grant_nothing_and_cannot_be_granted():
    assert roles.grantable(["GlobalAdmin"]) == []
    assert not roles.may_invite(["GlobalAdmin", ""])
    assert not roles.can_grant([AM], "GlobalAdmin")


def test_who_may_invite_at_all_is_the_policy_row_and_the_delegation_table_agrees():
    from shared.authorization import POLICY, Action

    inviting = {role.value for role, row in roles.DELEGATION.items() if any(row)}
    assert inviting == set(POLICY[Action.INVITE_COLLEAGUE].company_roles)


def test_flipping_the_invite_colleague_row_changes_who_may_invite(monkeypatch):
    import dataclasses

    from shared.authorization import POLICY, Action

    assert not roles.may_invite(["AccountAdministrator"])
    monkeypatch.setitem(POLICY, Action.INVITE_COLLEAGUE,
                        dataclasses.replace(POLICY[Action.INVITE_COLLEAGUE], company_roles=frozenset({"AccountAdministrator"})))
    assert roles.may_invite(["AccountAdministrator"]) and not roles.may_invite(["AccountManager"])
