"""The image guard: which URLs the crawler may fetch images from (no SSRF).

An image URL comes from the marketplace's documents, so from whoever wrote
them: fetched blindly it could make the crawler call a cloud metadata service
(``169.254.169.254``, ``fd00:ec2::254``), an admin port on the machine, or a
host of the private network. :meth:`ImageGuard.check` admits a URL only when

1. its scheme is ``http`` or ``https``;
2. its host is in the allowed list: an entry ``host`` admits that host on the
   scheme's default port, an entry ``host:port`` exactly that pair (names
   compared without case, IPv6 literals in brackets: ``[::1]:8080``);
3. every address the host resolves to (an IP literal is its own address) is a
   public one: never loopback, private, link-local (the metadata services),
   shared (100.64.0.0/10), multicast, reserved or unspecified, nor an IPv6
   address that embeds such an IPv4 one (``::ffff:169.254.169.254``, NAT64).
   ``allow_loopback`` (off by default; only tests and the demo turn it on)
   admits loopback addresses, and only for the hosts the list names: private,
   link-local and metadata addresses stay refused.

A refusal names its reason: ``scheme_not_allowed``, ``host_not_allowed`` (rules
1-2, decided without any DNS query) or ``address_not_allowed`` (rule 3, also
when the name does not resolve: ``dns_error``). Resolution goes through a
:data:`Resolver`, a function of a host name to its addresses, so that tests
control it; :func:`system_resolver` is the operating system's.

Pure functions, no Scrapy: :mod:`crawler.middlewares.image_guard` applies the
guard to every image request and to every redirect of one.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

#: a host name -> the IP addresses it resolves to (strings); raises OSError
#: when it does not resolve
Resolver = Callable[[str], Sequence[str]]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}
#: NAT64 (RFC 6052): the last 32 bits are an IPv4 address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a URL may not be fetched: a short ``reason`` and a sentence."""

    reason: str
    message: str


def system_resolver(host: str) -> list[str]:
    """The addresses the operating system resolves ``host`` to (A and AAAA)."""
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse_host_port(entry: str) -> tuple[str, int | None]:
    """``"Host:8080"`` -> ``("host", 8080)``, ``"[::1]"`` -> ``("::1", None)``."""
    entry = entry.strip().lower()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
    elif entry.count(":") == 1:
        host, _, port = entry.partition(":")
    else:  # a bare name, IPv4 literal, or an IPv6 literal without brackets
        host, port = entry, ""
    if not host or (port and not port.isdigit()):
        raise ValueError(f"not a host or host:port: {entry!r}")
    return host, int(port) if port else None


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def address_allowed(address: str | IPAddress, *, allow_loopback: bool = False) -> bool:
    """Whether an image may be fetched from ``address``: public addresses only;
    loopback too with ``allow_loopback``."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        inner = _embedded_ipv4(ip)
        if inner is not None and not address_allowed(inner, allow_loopback=allow_loopback):
            return False
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not ip.is_multicast


class ImageGuard:
    """The three rules of the module docstring, for one allowed-hosts list."""

    def __init__(
        self,
        allowed_hosts: Iterable[str],
        *,
        allow_loopback: bool = False,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.allowed: frozenset[tuple[str, int | None]] = frozenset(
            parse_host_port(entry) for entry in allowed_hosts if entry.strip()
        )
        self.allow_loopback = allow_loopback
        self.resolver = resolver

    def check_target(self, url: str) -> Refusal | None:
        """Rules 1 and 2: scheme and host, without a DNS query."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return Refusal("host_not_allowed", f"not a URL with a host and port: {url}")
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            shown = scheme or "(none)"
            return Refusal("scheme_not_allowed", f"the scheme {shown!r} is not http(s)")
        host = (parts.hostname or "").lower()
        if not host:
            return Refusal("host_not_allowed", f"no host in {url}")
        if parts.username is not None or parts.password is not None:
            return Refusal("host_not_allowed", "a URL with user info is never fetched")
        effective = port if port is not None else DEFAULT_PORTS[scheme]
        if (host, effective) in self.allowed:
            return None
        if effective == DEFAULT_PORTS[scheme] and (host, None) in self.allowed:
            return None
        shown = f"[{host}]" if ":" in host else host
        return Refusal("host_not_allowed", f"{shown}:{effective} is not in IMAGES_ALLOWED_HOSTS")

    def addresses(self, host: str) -> list[str]:
        """The addresses of ``host``: itself for an IP literal, else resolved."""
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            return list(self.resolver(host))

    def check_addresses(self, host: str) -> Refusal | None:
        """Rule 3: every address ``host`` resolves to is allowed."""
        try:
            addresses = self.addresses(host)
        except OSError as exc:
            return Refusal("address_not_allowed", f"{host} does not resolve (dns_error: {exc})")
        if not addresses:
            return Refusal("address_not_allowed", f"{host} resolves to no address")
        for address in addresses:
            try:
                allowed = address_allowed(address, allow_loopback=self.allow_loopback)
            except ValueError:
                allowed = False
            if not allowed:
                return Refusal("address_not_allowed", f"{host} resolves to {address}")
        return None

    def check(self, url: str) -> Refusal | None:
        """``None`` when ``url`` may be fetched, else why not (all three rules)."""
        refusal = self.check_target(url)
        if refusal is not None:
            return refusal
        return self.check_addresses((urlsplit(url).hostname or "").lower())
