"""The rules of verified domains without storage: what a linkable domain is, what proves it, who manages it."""

from __future__ import annotations

import pytest

from company_domains.dns_lookup import resolver_address
from company_domains.domains import NotADomain, domain_name, email_domain, may_manage, proves, split_name, txt_value


@pytest.mark.parametrize("text,stored", [
    ("contoso.com", "contoso.com"), ("  Contoso.COM. ", "contoso.com"), ("contoso.co.uk", "contoso.co.uk"),
    ("sales.contoso.com", "sales.contoso.com"), ("bücher.de", "xn--bcher-kva.de"), ("contoso.example", "contoso.example"),
    ("someone.github.io", "someone.github.io"),
])
def test_a_registrable_name_is_kept_in_its_idna_lowercase_form(text, stored):
    assert domain_name(text) == stored


@pytest.mark.parametrize("text,reason", [
    ("com", "invalid"), ("", "invalid"), ("contoso", "invalid"), ("https://contoso.com", "invalid"), ("a@contoso.com", "invalid"),
    ("contoso.com/x", "invalid"), ("10.0.0.1", "invalid"), ("-x-.com", "invalid"), ("a..com", "invalid"), ("x" * 64 + ".com", "invalid"),
    ("co.uk", "public_suffix"), ("github.io", "public_suffix"), ("COM.", "invalid"), ("blogspot.com", "public_suffix"),
])
def test_what_no_single_company_owns_is_refused(text, reason):
    with pytest.raises(NotADomain) as exc:
        domain_name(text)
    assert exc.value.reason == reason


def test_a_txt_record_proves_only_with_the_exact_token():
    assert proves(["v=spf1 -all", txt_value("abc")], "abc")
    assert not proves([txt_value("abcd"), "abc", f"x{txt_value('abc')}"], "abc")
    assert not proves([], "abc")


def test_an_address_domain_compares_in_idna_form():
    assert email_domain("Ivy@Bücher.DE") == "xn--bcher-kva.de" == domain_name("bücher.de")
    assert email_domain("no-at-sign") == ""


def test_user_administrators_and_account_managers_manage_domains():
    assert may_manage(["UserAdministrator"]) and may_manage(["AccountViewer", "AccountManager"])
    assert not may_manage(["AccountAdministrator", "AgreementManager", "ReportViewer", "AccountViewer"])


def test_resolver_setting_and_display_name():
    assert resolver_address("") is None
    assert resolver_address("127.0.0.1:1053") == ("127.0.0.1", 1053)
    assert resolver_address("10.0.0.4") == ("10.0.0.4", 53)
    assert resolver_address("[::1]:5353") == ("::1", 5353)
    assert split_name("Ivy Anna Ivanova") == ("Ivy", "Anna Ivanova") and split_name("") == ("-", "-")


def test_who_manages_domains_follows_the_policy_row(monkeypatch):
    import dataclasses

    from shared.authorization import POLICY, Action

    monkeypatch.setitem(POLICY, Action.MANAGE_DOMAINS, dataclasses.replace(POLICY[Action.MANAGE_DOMAINS],
                                                                           company_roles=frozenset({"AccountAdministrator"})))
    assert may_manage(["AccountAdministrator"]) and not may_manage(["UserAdministrator"])
