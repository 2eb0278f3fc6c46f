"""A DNS resolver for the crawl tests (``TWISTED_DNS_RESOLVER``): every name
but ``localhost`` and IP literals fails to resolve, at once and without a
packet on the network, as on a machine without network or DNS."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any, Self

from twisted.internet import defer
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IResolverSimple
from zope.interface import implementer

if TYPE_CHECKING:
    from collections.abc import Sequence


@implementer(IResolverSimple)
class NoDnsResolver:
    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> Self:
        return cls(reactor)

    def install_on_reactor(self) -> None:
        self.reactor.installResolver(self)

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> defer.Deferred[str]:
        if name == "localhost":
            return defer.succeed("127.0.0.1")
        try:
            return defer.succeed(str(ipaddress.ip_address(name)))
        except ValueError:
            return defer.fail(DNSLookupError(f"no results for hostname lookup: {name}"))
