"""Role delegation: which Business Center roles a company user may grant to a colleague they invite.

"Depending on their own permissions, some roles cannot be assigned by them." The rule is this table and
nothing else: one row per role of the inviting user, one column per role to grant. A user with several
roles may grant the union of their rows. Only User administrators, Account managers and Agreement managers
may invite at all; their rows are the only ones with a True.
"""

from __future__ import annotations

from collections.abc import Iterable

from invite_user.invitations import BusinessCenterRole as R
from shared.authorization import Action, holds

_AM, _AGM, _UA, _AA, _RV, _AV = (
    R.ACCOUNT_MANAGER, R.AGREEMENT_MANAGER, R.USER_ADMINISTRATOR, R.ACCOUNT_ADMINISTRATOR, R.REPORT_VIEWER, R.ACCOUNT_VIEWER,
)

# Columns, in this order: AccountManager, AgreementManager, UserAdministrator, AccountAdministrator, ReportViewer, AccountViewer.
COLUMNS: tuple[R, ...] = (_AM, _AGM, _UA, _AA, _RV, _AV)
X, _ = True, False
DELEGATION: dict[R, tuple[bool, ...]] = {
    # Account manager: "all tasks", so every role, including another Account manager.
    _AM: (X, X, X, X, X, X),
    # Agreement manager: looks after the agreement; may bring in people who manage or read it, not administrators.
    _AGM: (_, X, _, _, X, X),
    # User administrator: manages users, but may not create the roles that sit above it (Account / Agreement manager).
    _UA: (_, _, X, X, X, X),
    # The other roles cannot invite anybody.
    _AA: (_, _, _, _, _, _),
    _RV: (_, _, _, _, _, _),
    _AV: (_, _, _, _, _, _),
}



def _roles(values: Iterable[str]) -> set[R]:
    out = set()
    for value in values:
        try:
            out.add(R(value))
        except ValueError:
            continue  # a role this service does not know grants nothing
    return out


def can_grant(inviter_roles: Iterable[str], role: str) -> bool:
    """Whether a user holding `inviter_roles` may give `role` to a colleague."""
    try:
        column = COLUMNS.index(R(role))
    except ValueError:
        return False
    return any(DELEGATION[r][column] for r in _roles(inviter_roles))


def grantable(inviter_roles: Iterable[str]) -> list[R]:
    """The roles a user holding `inviter_roles` may give, in table order."""
    held = list(inviter_roles)
    return [role for role in COLUMNS if can_grant(held, role)]


def may_invite(inviter_roles: Iterable[str]) -> bool:
    """Whether a company user with these roles may invite colleagues at all: the policy's invite-colleague row."""
    return holds(Action.INVITE_COLLEAGUE, inviter_roles)


def refused(inviter_roles: Iterable[str], wanted: Iterable[str]) -> list[str]:
    """The roles in `wanted` that `inviter_roles` may not grant (empty when all are allowed)."""
    held = list(inviter_roles)
    return [role for role in wanted if not can_grant(held, role)]
