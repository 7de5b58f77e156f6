"""Who a signed-in person is: the identity provider's subject, and an email that counts only when verified.

- **Subject**: `tid|oid` for Microsoft Entra (the object id is unique per tenant and never reassigned), else
  `iss|sub`. A company user is bound to it at first acceptance and recognised by it afterwards.
- **Email**: the `email` claim (or B2C's `emails`), and only when the provider vouches for it: for Entra the
  `xms_edov` optional claim (email domain owner verified) or a tenant named in VERIFIED_EMAIL_TENANTS; elsewhere
  `email_verified`. `preferred_username` and `upn` are never an email: a multi-tenant app must not trust them.
- **Comparing emails**: the local part with ASCII letters lowercased (nothing else folded: the Kelvin sign, the long
  s and full-width letters stay what they are) plus the IDNA 2008 form of the domain (`straße.de` is
  `xn--strae-oqa.de`, not `strasse.de`). Two addresses that deliver to different mailboxes never compare equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def normalize_email(email: str) -> str:
    """The form two emails are compared in: ASCII-lowercased local part @ IDNA-encoded domain."""
    value = str(email or "").strip()
    local, at, domain = value.rpartition("@")
    if not at:
        return value.translate(_ASCII_LOWER)
    # Domains are case-insensitive, but a letter that lowercases into ASCII from outside it (the Kelvin sign) is not folded.
    domain = "".join(c.lower() if c.isascii() or not c.lower().isascii() else c for c in domain).rstrip(".")
    import idna  # loaded on the first comparison (sign-in paths), not at every cold start

    try:
        encoded = idna.encode(domain, uts46=False).decode("ascii") if domain else ""
    except idna.IDNAError:
        # Not a valid IDNA 2008 domain (a Kelvin sign, full-width letters, ...): kept as it is, so it equals no real domain.
        encoded = domain
    return f"{local.translate(_ASCII_LOWER)}@{encoded}"


def same_email(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and normalize_email(str(a)) == normalize_email(str(b))


def subject_of(claims: Mapping[str, Any]) -> str:
    """The stable id of the account: `tid|oid` (Entra), else `iss|sub`; empty when the token carries neither."""
    tid, oid = str(claims.get("tid") or ""), str(claims.get("oid") or "")
    if tid and oid:
        return f"{tid}|{oid}"
    sub = str(claims.get("sub") or "")
    return f"{claims.get('iss') or ''}|{sub}" if sub else ""


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true" or value == 1


def verified_email(claims: Mapping[str, Any], verified_tenants: frozenset[str] = frozenset()) -> str:
    """The email the provider vouches for, or "" when it does not."""
    value = claims.get("email")
    if not value and isinstance(claims.get("emails"), list) and claims["emails"]:
        value = claims["emails"][0]  # Azure AD B2C style
    value = str(value or "").strip()
    if "@" not in value:
        return ""
    tid = str(claims.get("tid") or "")
    if tid and claims.get("oid"):  # Entra: email_verified is not issued; xms_edov is the owner-verified flag
        verified = _true(claims.get("xms_edov")) or tid in verified_tenants
    else:
        verified = _true(claims.get("email_verified"))
    return value if verified else ""
