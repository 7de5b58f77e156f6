"""The rules of a company running itself, as plain functions: the administrators it keeps, the roles a form may name, the
version a stale form is recognised by, and what removing a partner's admin rights leaves."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from accept_invite.company_users import UserChangeRefused, lost_role, valid_roles, version_of
from attest_agreement.customers import CompanyUser, GranularDelegatedAdminPrivileges, RelationshipRole, RelationshipStatus, ResellerRelationship
from attest_agreement.partner_rights import version_of as relationship_version
from attest_agreement.relationships import RelationshipNotActive, remove_admin_rights, remove_relationship

AT = datetime(2026, 12, 1, tzinfo=timezone.utc)


def _user(email: str, *roles: str, subject: str | None = None) -> CompanyUser:
    return CompanyUser(customer_id="c", email=email, email_normalized=email, first_name="A", last_name="B", roles=list(roles),
                       subject=subject, added_at=AT, added_by="x")


def test_the_company_keeps_its_last_account_manager_and_its_last_user_administrator():
    am, ua, rv = _user("am@x", "AccountManager"), _user("ua@x", "UserAdministrator"), _user("rv@x", "ReportViewer")
    assert lost_role([am, ua, rv], [ua, rv]) == "AccountManager"
    assert lost_role([am, ua, rv], [am, rv]) == "UserAdministrator"
    assert lost_role([am, rv], [am]) is None
    assert lost_role([am, _user("am2@x", "AccountManager")], [am]) is None  # another Account manager stays
    # A role the company never had is not "lost".
    assert lost_role([am, rv], [am, rv.model_copy(update={"roles": ["AccountViewer"]})]) is None


def test_a_form_names_known_roles_at_least_one_in_table_order():
    assert valid_roles(["AccountViewer", "AccountManager", "AccountViewer"]) == ["AccountManager", "AccountViewer"]
    with pytest.raises(UserChangeRefused) as none:
        valid_roles([])
    assert none.value.reason == "no_roles"
    with pytest.raises(UserChangeRefused):
        valid_roles(["GlobalAdministrator"])


def test_a_users_version_changes_with_its_roles_and_its_binding_only():
    user = _user("ivy@x", "ReportViewer", "AccountViewer")
    same = _user("ivy@x", "AccountViewer", "ReportViewer")
    assert version_of(user) == version_of(same)
    assert version_of(user) != version_of(_user("ivy@x", "ReportViewer"))
    assert version_of(user) != version_of(_user("ivy@x", "ReportViewer", "AccountViewer", subject="iss|ivy"))


def _relationship() -> ResellerRelationship:
    return ResellerRelationship(customer_id="c", partner_id="p", partner_name="P", role=RelationshipRole.RESELLER, created_at=AT,
                                created_by="x", gdap=GranularDelegatedAdminPrivileges(roles=["Helpdesk"], end_date=date(2027, 1, 1)))


def test_removing_admin_rights_keeps_the_relationship_and_gdap_and_changes_its_version():
    rel = _relationship()
    before = relationship_version(rel)
    remove_admin_rights(rel, AT)
    assert rel.status == RelationshipStatus.ACTIVE and rel.dap.active is False and rel.dap.removed_at == AT
    assert rel.gdap.roles == ["Helpdesk"] and relationship_version(rel) != before


def test_an_ended_relationship_has_no_admin_rights_left_to_remove():
    rel = remove_relationship(_relationship(), True, "hanna@x", AT)
    with pytest.raises(RelationshipNotActive):
        remove_admin_rights(rel, AT)
