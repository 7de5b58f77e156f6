"""The TXT records of a domain, asked with dnspython of the resolver DNS_RESOLVER names (the system's when empty)."""

from __future__ import annotations

import logging

from shared.settings import get_settings

log = logging.getLogger(__name__)

LIFETIME = 4.0  # seconds for the whole lookup: the person waits on the page for it


class LookupFailed(Exception):
    """No answer from the resolver (timeout, refused, SERVFAIL): say so, and try again later."""


def resolver_address(setting: str) -> tuple[str, int] | None:
    """`host` or `host:port` (IPv6 as `[::1]:53`); None for the system's resolver."""
    value = setting.strip()
    if not value:
        return None
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, int(rest.lstrip(":") or 53)
    if value.count(":") == 1:
        host, port = value.split(":")
        return host, int(port)
    return value, 53


def txt_records(domain: str, resolver_setting: str | None = None) -> list[str]:
    """Every TXT record at `domain` (each record's strings joined); [] when the name or the records do not exist."""
    import dns.exception
    import dns.resolver  # loaded when a domain is verified, not at every cold start

    address = resolver_address(get_settings().dns_resolver if resolver_setting is None else resolver_setting)
    if address is None:
        resolver = dns.resolver.Resolver()
    else:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [address[0]]
        resolver.port = address[1]
    resolver.lifetime = LIFETIME
    try:
        answer = resolver.resolve(domain, "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.resolver.NoNameservers, dns.exception.Timeout, OSError) as exc:
        log.warning("TXT lookup of a domain failed: %s", type(exc).__name__)
        raise LookupFailed(type(exc).__name__) from exc
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]
