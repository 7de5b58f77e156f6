"""Managing a company's users: change a colleague's roles, remove a colleague, and the company's pending invitations.

Seed 003 gives the *User administrator* "manage users" and the *Account manager* all tasks: those two manage users
(the policy's `manage-users` row, `shared.authorization.holds`). The rules, each with one home:
- **Which roles** an administrator may give or take: the delegation table of inviting (`accept_invite.roles`); a role
  that changes (given or taken away) or the roles of a user removed must all be roles the acting user may grant, so a
  User administrator can neither make nor unmake an Account manager.
- **The company keeps its administrators**: a change that would leave no Account manager (when there was one), or no
  User administrator (when there was one), is refused with the role it would lose (`lost_role`).
- **A stale form changes nothing**: the form carries the version of the user it was rendered from (`version_of`);
  someone else's change meanwhile is refused, and the commit is guarded by the row's ETag besides.
- **Removing ends access at once**: the `u|` row goes (membership is checked by bound subject on every request);
  an `x|` row keeps whom to ask, so the removed person's next page says so in their language.
Every change is one transaction of the customer's partition with its audit record (before and after).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from accept_invite import roles as delegation
from attest_agreement.customers import CompanyUser, Customer, RemovedUser, member, same_subject
from attest_agreement.repository import CustomerUnitOfWork
from invite_user.invitations import BusinessCenterRole, normalize_email
from shared.authorization import Action, holds
from shared.context import Context
from shared.errors import Forbidden, NotFound, Refused
from shared.identity import same_email
from shared.uow import attempt

# The roles a company must never lose its last holder of: without an Account manager nobody may give that role again
# (only an Account manager may), and without a User administrator the task "manage users" would go with them.
KEPT_ROLES: tuple[str, ...] = (BusinessCenterRole.ACCOUNT_MANAGER.value, BusinessCenterRole.USER_ADMINISTRATOR.value)


@dataclass(frozen=True)
class Admin:
    """The signed-in administrator as plain values."""

    email: str
    subject: str
    name: str = ""

    def actor(self) -> dict[str, str]:
        return {"name": self.name, "email": self.email}


class UserChangeRefused(Refused):
    """The change was not made; `reason` (last_role, not_grantable, no_roles, stale, gone) says why on the page."""

    def __init__(self, reason: str, detail: str, **values: str) -> None:
        super().__init__("user", reason, detail, field="roles", **values)


def version_of(user: CompanyUser | RemovedUser) -> str:
    """What the form was rendered from: a change by someone else since makes the form stale (a removed user keeps theirs)."""
    seen = "|".join([user.email_normalized, ",".join(sorted(user.roles)), user.subject or ""])
    return hashlib.sha256(seen.encode()).hexdigest()[:16]


def lost_role(before: Iterable[CompanyUser], after: Iterable[CompanyUser]) -> str | None:
    """The kept role (Account manager, User administrator) the company would no longer have anybody in, or None."""
    had = {role for user in before for role in user.roles}
    has = {role for user in after for role in user.roles}
    return next((role for role in KEPT_ROLES if role in had and role not in has), None)


def valid_roles(values: Sequence[str]) -> list[str]:
    """The Business Center roles of a form, in table order; an unknown role refuses the form."""
    known = {r.value for r in BusinessCenterRole}
    unknown = [v for v in values if v not in known]
    if unknown:
        raise UserChangeRefused("no_roles", "Unknown role.", roles=", ".join(unknown)[:100])
    chosen = [r.value for r in delegation.COLUMNS if r.value in values]
    if not chosen:
        raise UserChangeRefused("no_roles", "A user needs at least one role; to take every role away, remove the user.")
    return chosen


def administrator(uow: CustomerUnitOfWork, admin: Admin) -> tuple[Customer, CompanyUser, list[CompanyUser]]:
    """The company, the signed-in administrator as one of its users, and all its users; Forbidden / NotFound otherwise."""
    customer = uow.customer()
    if customer is None:
        raise NotFound("No such company.")
    users = uow.users()
    me = member(users, admin.email, admin.subject)
    if me is None:
        raise Forbidden("Only the company's users may see its users.", code="not-a-company-user")
    if not holds(Action.MANAGE_USERS, me.roles):
        raise Forbidden("Only a User administrator or an Account manager manages users.", code="not-a-user-admin")
    return customer, me, users


def _target(user: CompanyUser | None, email: str) -> CompanyUser:
    if user is None:
        raise UserChangeRefused("gone", "This person is not a user of this company (any more).", email=email[:320])
    return user


def _current(user: CompanyUser, version: str) -> None:
    if version != version_of(user):
        raise UserChangeRefused("stale", "Someone changed this user meanwhile; nothing was changed.", email=user.email)


def _may_change(me: CompanyUser, roles: Iterable[str]) -> None:
    refused = delegation.refused(me.roles, sorted(set(roles)))
    if refused:
        raise UserChangeRefused("not_grantable", f"Your role cannot give or take: {', '.join(refused)}.", roles=",".join(refused))


def _keeps_administrators(users: list[CompanyUser], after: list[CompanyUser]) -> None:
    role = lost_role(users, after)
    if role is not None:
        raise UserChangeRefused("last_role", f"The company would have no {role} left.", role=role)


def change_roles(ctx: Context, customer_id: str, admin: Admin, email: str, roles: Sequence[str], version: str) -> CompanyUser:
    """Give the user exactly `roles`: only roles the administrator may grant change, and the company keeps its administrators."""
    wanted = valid_roles(roles)

    def work(uow: CustomerUnitOfWork) -> CompanyUser:
        _, me, users = administrator(uow, admin)
        user = _target(uow.user(normalize_email(email)) if email else None, email)
        if set(user.roles) == set(wanted):
            return user  # what the form asks is what is there (the same form again, its first answer lost): nothing to do
        _current(user, version)
        _may_change(me, set(user.roles) ^ set(wanted))
        after = [u.model_copy(update={"roles": wanted}) if u.email_normalized == user.email_normalized else u for u in users]
        _keeps_administrators(users, after)
        before = user.model_dump(mode="json", by_alias=True, include={"email", "roles"})
        user.roles = wanted
        uow.save(user)
        uow.record("user.rolesChanged", admin.email, before=before, after={"email": user.email, "roles": wanted})
        return user

    return attempt(lambda: ctx.unit(CustomerUnitOfWork, customer_id), work, busy="The company's users are changing right now; retry.")


def remove_user(ctx: Context, customer_id: str, admin: Admin, email: str, version: str, now: datetime | None = None) -> RemovedUser:
    """Remove the user: their access ends at their next request; what is kept says whom to ask."""
    now = now or ctx.now()

    def work(uow: CustomerUnitOfWork) -> RemovedUser:
        _, me, users = administrator(uow, admin)
        user = uow.user(normalize_email(email)) if email else None
        if user is None and email:
            done = uow.removed_user(normalize_email(email))
            if done is not None and done.removed_by.get("email") == me.email and version_of(done) == version:
                return done  # this very form removed them already (its first answer was lost): the same answer again
        user = _target(user, email)
        _current(user, version)
        _may_change(me, user.roles)
        _keeps_administrators(users, [u for u in users if u.email_normalized != user.email_normalized])
        gone = RemovedUser(customer_id=customer_id, email=user.email, email_normalized=user.email_normalized, subject=user.subject,
                           roles=list(user.roles), language=user.language, removed_at=now,
                           removed_by={"name": admin.name or me.email, "email": me.email})
        uow.delete(user)
        uow.put(gone)
        uow.record("user.removed", admin.email, before=user.model_dump(mode="json", by_alias=True, include={"email", "roles", "subject"}),
                   after=None)
        return gone

    return attempt(lambda: ctx.unit(CustomerUnitOfWork, customer_id), work, busy="The company's users are changing right now; retry.")


def removed_as(ctx: Context, customer_id: str, email: str, subject: str) -> RemovedUser | None:
    """The removal that ended this person's access to the company, if it was one (by subject, or by email when unbound)."""
    for gone in ctx.unit(CustomerUnitOfWork, customer_id).removed_users():
        if same_subject(gone.subject, subject) or not gone.subject and same_email(gone.email, email):
            return gone
    return None
