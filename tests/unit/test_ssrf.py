"""The image guard (crawler/ssrf.py) on its own, resolution included: a resolver
the test controls answers every name, so no DNS query and no connection is
made, and private, link-local and metadata addresses are refused without ever
being reached."""

from __future__ import annotations

import pytest

from crawler.ssrf import ImageGuard, address_allowed, parse_host_port

#: the test's DNS: name -> addresses
ZONE = {
    "cdn.example": ["93.184.216.34"],
    "cdn6.example": ["2606:2800:220:1:248:1893:25c8:1946"],
    "metadata.example": ["169.254.169.254"],
    "metadata6.example": ["fd00:ec2::254"],
    "private.example": ["10.0.0.7"],
    "private172.example": ["172.16.3.4"],
    "home.example": ["192.168.1.1"],
    "shared.example": ["100.100.100.200"],
    "loop.example": ["127.0.0.1"],
    "loop6.example": ["::1"],
    "mapped.example": ["::ffff:169.254.169.254"],
    "nat64.example": ["64:ff9b::a9fe:a9fe"],
    "linklocal6.example": ["fe80::1"],
    "zero.example": ["0.0.0.0"],
    "multicast.example": ["224.0.0.1"],
    # one good address and one bad: refused (the downloader may pick either)
    "split.example": ["93.184.216.34", "169.254.169.254"],
    "empty.example": [],
}


class Resolver:
    """The test's resolver; it records every name it is asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        if host not in ZONE:
            raise OSError(f"{host}: Name or service not known")
        return ZONE[host]


def guard(*hosts: str, allow_loopback: bool = False) -> tuple[ImageGuard, Resolver]:
    resolver = Resolver()
    return ImageGuard(hosts, allow_loopback=allow_loopback, resolver=resolver), resolver


def reason(g: ImageGuard, url: str) -> str | None:
    refusal = g.check(url)
    return refusal.reason if refusal else None


def test_an_allowed_public_host_passes() -> None:
    g, resolver = guard("cdn.example", "cdn6.example")
    assert reason(g, "https://cdn.example/ts/product/a.jpg") is None
    assert reason(g, "http://CDN.example/a.jpg") is None
    assert reason(g, "https://cdn6.example/a.jpg") is None
    assert resolver.asked == ["cdn.example", "cdn.example", "cdn6.example"]


@pytest.mark.parametrize(
    "host",
    [
        "metadata.example",
        "metadata6.example",
        "private.example",
        "private172.example",
        "home.example",
        "shared.example",
        "loop.example",
        "loop6.example",
        "mapped.example",
        "nat64.example",
        "linklocal6.example",
        "zero.example",
        "multicast.example",
        "split.example",
        "empty.example",
        "nowhere.example",  # does not resolve
    ],
)
def test_an_allowed_host_on_a_forbidden_address_is_refused(host: str) -> None:
    g, resolver = guard(host)
    assert reason(g, f"http://{host}/a.jpg") == "address_not_allowed"
    assert resolver.asked == [host]


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://10.0.0.7/a.jpg",
        "http://127.0.0.1/a.jpg",
        "http://[::ffff:127.0.0.1]/a.jpg",
    ],
)
def test_ip_literals_are_their_own_address(url: str) -> None:
    host = url.split("/")[2]
    g, resolver = guard(host)
    assert reason(g, url) == "address_not_allowed"
    assert resolver.asked == []  # no DNS query for a literal


def test_hosts_not_listed_are_refused_without_a_dns_query() -> None:
    g, resolver = guard("cdn.example", "127.0.0.1:8123")
    assert reason(g, "https://evil.example/a.jpg") == "host_not_allowed"
    assert reason(g, "https://cdn.example:8443/a.jpg") == "host_not_allowed"  # not its port
    assert reason(g, "http://127.0.0.2:8123/a.jpg") == "host_not_allowed"
    assert reason(g, "http://127.0.0.1:8124/a.jpg") == "host_not_allowed"
    assert reason(g, "http://user:pw@cdn.example/a.jpg") == "host_not_allowed"
    assert reason(g, "ftp://cdn.example/a.jpg") == "scheme_not_allowed"
    assert reason(g, "file:///etc/passwd") == "scheme_not_allowed"
    assert reason(g, "gopher://cdn.example/") == "scheme_not_allowed"
    assert reason(g, "not a url") == "scheme_not_allowed"
    assert resolver.asked == []


def test_a_bare_entry_means_the_default_port() -> None:
    g, _ = guard("cdn.example")
    assert reason(g, "https://cdn.example:443/a.jpg") is None
    assert reason(g, "http://cdn.example:80/a.jpg") is None
    assert reason(g, "http://cdn.example:443/a.jpg") == "host_not_allowed"


def test_loopback_only_with_the_switch_and_only_for_listed_hosts() -> None:
    off, _ = guard("127.0.0.1:8123", "loop.example")
    assert reason(off, "http://127.0.0.1:8123/a.jpg") == "address_not_allowed"
    assert reason(off, "http://loop.example/a.jpg") == "address_not_allowed"
    on, _ = guard("127.0.0.1:8123", "loop.example", "metadata.example", allow_loopback=True)
    assert reason(on, "http://127.0.0.1:8123/a.jpg") is None
    assert reason(on, "http://loop.example/a.jpg") is None
    assert reason(on, "http://127.0.0.2:8123/a.jpg") == "host_not_allowed"
    # the switch never admits private, link-local or metadata addresses
    assert reason(on, "http://metadata.example/a.jpg") == "address_not_allowed"


def test_the_defaults_refuse_every_local_address() -> None:
    assert not address_allowed("127.0.0.1")
    assert not address_allowed("::1")
    assert not address_allowed("169.254.169.254")
    assert not address_allowed("fd00:ec2::254")
    assert not address_allowed("10.1.2.3")
    assert not address_allowed("fe80::1%eth0")
    assert address_allowed("93.184.216.34")
    assert address_allowed("127.0.0.1", allow_loopback=True)
    assert not address_allowed("169.254.169.254", allow_loopback=True)
    assert not address_allowed("::ffff:10.0.0.1", allow_loopback=True)


def test_host_entries_parse() -> None:
    assert parse_host_port("CDN.example") == ("cdn.example", None)
    assert parse_host_port("127.0.0.1:8123") == ("127.0.0.1", 8123)
    assert parse_host_port("[::1]:8080") == ("::1", 8080)
    assert parse_host_port("::1") == ("::1", None)
    with pytest.raises(ValueError):
        parse_host_port("host:port")
