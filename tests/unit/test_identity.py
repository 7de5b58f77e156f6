"""Identity by subject, verified emails only, and email comparison that never makes two mailboxes one (shared.identity).

Regression: before, emails compared as NFKC + casefold (anna@straße.de == anna@strasse.de, the Kelvin sign, the long s
and full-width letters folded into ASCII) and `preferred_username` or an unverified `email` signed someone in.
"""

from __future__ import annotations

import pytest

from attest_agreement.customers import CompanyUser, member, same_subject
from invite_user.invitations import normalize_email
from shared.identity import same_email, subject_of, verified_email

ENTRA = {"tid": "t-1", "oid": "o-1", "iss": "https://login.microsoftonline.com/t-1/v2.0", "sub": "pairwise"}


@pytest.mark.parametrize(("a", "b"), [
    ("anna@straße.de", "anna@strasse.de"),  # two domains (IDNA 2008: xn--strae-oqa.de)
    ("\u212aim@contoso.de", "kim@contoso.de"),  # the Kelvin sign is not K
    ("\u017fam@contoso.de", "sam@contoso.de"),  # the long s is not s
    ("\uff41nna@contoso.de", "anna@contoso.de"),  # full-width a
    ("anna@\uff43ontoso.de", "anna@contoso.de"),
    ("anna@contoso.\u212a", "anna@contoso.k"),
])
def test_addresses_of_different_mailboxes_never_compare_equal(a, b):
    assert normalize_email(a) != normalize_email(b)
    assert not same_email(a, b)


@pytest.mark.parametrize(("a", "b"), [
    ("Anna@Contoso.DE", "anna@contoso.de"),
    ("anna@BÜCHER.de", "anna@xn--bcher-kva.de"),
    (" anna@contoso.de. ", "anna@contoso.de"),
])
def test_the_same_mailbox_compares_equal(a, b):
    assert normalize_email(a) == normalize_email(b)


def test_ascii_addresses_keep_their_stored_keys():
    # `u|<normalized email>` rows of ASCII addresses were casefolded: the new form is the same key.
    assert normalize_email("Greta.Gruen@Contoso.de") == "Greta.Gruen@Contoso.de".casefold()


@pytest.mark.parametrize(("claims", "tenants", "email"), [
    ({**ENTRA, "email": "a@b.example", "xms_edov": True}, frozenset(), "a@b.example"),
    ({**ENTRA, "email": "a@b.example", "xms_edov": "1"}, frozenset(), ""),
    ({**ENTRA, "email": "a@b.example"}, frozenset(), ""),  # Entra without xms_edov: unverified
    ({**ENTRA, "email": "a@b.example", "email_verified": True}, frozenset(), ""),  # Entra does not issue email_verified
    ({**ENTRA, "email": "a@b.example"}, frozenset({"t-1"}), "a@b.example"),  # a tenant the settings name as verified
    ({**ENTRA, "preferred_username": "a@b.example", "xms_edov": True}, frozenset(), ""),  # never preferred_username
    ({"iss": "https://idp", "sub": "s", "email": "a@b.example", "email_verified": True}, frozenset(), "a@b.example"),
    ({"iss": "https://idp", "sub": "s", "email": "a@b.example", "email_verified": False}, frozenset(), ""),
    ({"iss": "https://idp", "sub": "s", "email": "a@b.example"}, frozenset(), ""),
    ({"iss": "https://idp", "sub": "s", "emails": ["b2c@z.example"], "email_verified": True}, frozenset(), "b2c@z.example"),
    ({"iss": "https://idp", "sub": "s", "upn": "a@b.example", "email_verified": True}, frozenset(), ""),
])
def test_an_email_counts_only_when_verified(claims, tenants, email):
    assert verified_email(claims, tenants) == email


def test_the_subject_is_tid_and_oid_for_entra_and_issuer_and_sub_otherwise():
    assert subject_of(ENTRA) == "t-1|o-1"
    assert subject_of({"iss": "https://idp", "sub": "s"}) == "https://idp|s"
    assert subject_of({"email": "a@b.example"}) == ""


def _user(email, subject=None, roles=("AccountManager",)):
    from datetime import datetime, timezone

    return CompanyUser(customer_id="c", email=email, email_normalized=normalize_email(email), first_name="A", last_name="B",
                       roles=list(roles), subject=subject, added_at=datetime(2026, 1, 1, tzinfo=timezone.utc), added_by="t")


def test_a_bound_user_is_recognised_by_subject_and_never_by_email_alone():
    bound = _user("anna@contoso.de", "t-1|o-1")
    assert member([bound], "someone-else@contoso.de", "t-1|o-1") is bound  # the address changed, the account did not
    assert member([bound], "anna@contoso.de", "t-2|o-9") is None  # the same address from another tenant's account
    unbound = _user("greta@contoso.de")
    assert member([unbound], "greta@contoso.de", "t-3|o-3") is unbound  # not bound yet: the verified email, once
    assert member([unbound], "greta@strasse.de", "t-3|o-3") is None


def test_rows_bound_to_a_bare_object_id_still_match():
    assert same_subject("o-1", "t-1|o-1") and not same_subject("o-1", "t-1|o-2") and not same_subject(None, "t|o")
