"""The first-contact sentence of the retry middleware: which errors mean the
host cannot be reached at all (real exception instances, as Scrapy and
Twisted raise them; the crawls: tests/crawl/test_exits.py)."""

from __future__ import annotations

import ssl

import aiohttp
from aiohttp.client_reqrep import ConnectionKey
from OpenSSL import SSL
from scrapy.exceptions import CannotResolveHostError, DownloadConnectionRefusedError
from twisted.internet import error as tx_error
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseNeverReceived

from crawler.middlewares.retry import unreachable_sentence

URL = "https://marketplace.example:8443/api/v2/products/1"


def test_dns_refused_and_tls_errors_name_the_host_and_what_to_check() -> None:
    dns = unreachable_sentence(URL, CannotResolveHostError("no results for marketplace.example"))
    assert dns == (
        "Cannot reach https://marketplace.example:8443: the host name marketplace.example "
        "does not resolve (no results for marketplace.example); check the network "
        "connection, the DNS and MARKETPLACE_URL."
    )
    refused = unreachable_sentence(URL, DownloadConnectionRefusedError("refused"))
    assert refused == (
        "Cannot reach https://marketplace.example:8443: the connection was refused; check "
        "that the server is up and the port in MARKETPLACE_URL."
    )
    assert unreachable_sentence(URL, tx_error.ConnectionRefusedError()) == refused
    tls = ResponseNeverReceived(
        [Failure(SSL.Error([("SSL routines", "", "wrong version number")]))]
    )
    assert unreachable_sentence(URL, tls) == (
        "Cannot reach https://marketplace.example:8443: the TLS handshake failed (wrong "
        "version number); check the scheme of MARKETPLACE_URL (https:// or http://) and "
        "the server's certificate."
    )


def test_a_tls_error_of_the_aiohttp_client_is_not_a_refused_connection() -> None:
    """Scrapy's aiohttp handler raises a failed handshake as
    DownloadConnectionRefusedError, from aiohttp's, from Python's ssl error."""
    cause = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    key = ConnectionKey("marketplace.example", 8443, True, True, None, None, None)
    connector = aiohttp.ClientConnectorSSLError(key, cause)
    connector.__cause__ = cause
    refused = DownloadConnectionRefusedError(str(connector))
    refused.__cause__ = connector
    assert unreachable_sentence(URL, refused) == (
        "Cannot reach https://marketplace.example:8443: the TLS handshake failed (wrong "
        "version number); check the scheme of MARKETPLACE_URL (https:// or http://) and "
        "the server's certificate."
    )


def test_timeouts_and_lost_connections_are_not_unreachable() -> None:
    # a slow or flaky host is retried, never called absent
    assert unreachable_sentence(URL, tx_error.TCPTimedOutError()) is None
    assert unreachable_sentence(URL, tx_error.TimeoutError()) is None
    assert unreachable_sentence(URL, tx_error.ConnectionLost()) is None
