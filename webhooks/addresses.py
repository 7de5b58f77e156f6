"""Where a webhook may go: https only, and never to private, loopback, link-local or otherwise internal addresses.

The host is resolved and EVERY address it resolves to is checked (a name that resolves to one public and one private
address is refused), at registration and again before each delivery, since DNS answers change. A delivery then
connects to an address it checked (`Target.address`), never resolving the name again: a second answer (DNS rebinding,
a TTL of 0 switching to 10.0.0.1 between check and connect) cannot send it inside. Loopback is allowed only when
WEBHOOKS_ALLOW_LOOPBACK is set (the local stack's webhook inbox); then plain http is allowed for loopback.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from shared.errors import RuleBroken


class AddressRefused(RuleBroken):
    """The URL may not receive webhooks; the message says why (shown to the partner: 400, field url)."""

    code = "url-refused"
    title = "This URL cannot receive webhooks"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="url")


def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise AddressRefused(f"{host} does not resolve.") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def _internal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_private or ip.is_unspecified


@dataclass(frozen=True)
class Target:
    """Where a delivery goes: the URL's parts and the one checked address to connect to."""

    url: str
    scheme: str
    host: str  # the name: the Host header, TLS server name and certificate check
    port: int
    path: str  # path and query, as sent
    address: str  # an address the check passed


def check(url: str, *, allow_loopback: bool) -> str:
    """The URL, if a webhook may be sent there; AddressRefused otherwise."""
    return target(url, allow_loopback=allow_loopback).url


def target(url: str, *, allow_loopback: bool) -> Target:
    """`check`, answering the address to connect to (the first the name resolved to; every one was checked)."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise AddressRefused("The URL may not carry credentials.")
    host = parts.hostname
    if not host:
        raise AddressRefused("The URL has no host.")
    if parts.scheme != "https" and not (parts.scheme == "http" and allow_loopback):
        raise AddressRefused("The URL must be https.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise AddressRefused("The URL's port is not a number.") from exc
    addresses = _resolve(host, port)
    found = Target(url, parts.scheme, host, port, (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), str(addresses[0]))
    loopback = all(ip.is_loopback for ip in addresses)
    if loopback and allow_loopback:
        return found
    if parts.scheme != "https":
        raise AddressRefused("The URL must be https.")
    for ip in addresses:
        if ip.is_loopback or _internal(ip):
            raise AddressRefused(f"{host} resolves to {ip}, a private, loopback or link-local address; webhooks go to public addresses only.")
    return found
