"""Redirects of the API's answers: followed within the API, refused off it.

:class:`ApiRedirectMiddleware` takes the place of Scrapy's ``RedirectMiddleware``
(``DOWNLOADER_MIDDLEWARES``, same order, 600):

- a redirect to another address than ``MARKETPLACE_URL``'s (scheme, host and
  port; ``DASHBOARD_URL``'s too when it is set) is refused: the request is not
  sent, and the request fails with :class:`OffsiteRedirect`, which its errback
  lists in the failures file as ``offsite_redirect``. The crawler never fetches
  an address it was not pointed at;
- a redirect within the API is followed, the duplicate filter aside
  (``dont_filter``): a product redirected to another product's detail, fetched
  already by the crawl, would otherwise be dropped and its record would vanish.
  The followed request carries ``meta["redirected_from"]``, the URL first asked
  for, so that the spider can say where a record came from or list it as failed;
- more than ``REDIRECT_MAX_TIMES`` redirects (a loop) fail the request with
  :class:`TooManyRedirects` (``too_many_redirects``), instead of Scrapy's
  ``IgnoreRequest`` that would be listed as ``ignored``;
- the Referer the spiders set (``<MARKETPLACE_URL>/``, what the API expects) is
  kept on the followed request (:meth:`ApiRedirectMiddleware.handle_referer`).
- an image request's redirect (``meta["image"]``: images come from CDN hosts,
  not the API's) is left to the image guard, which checks every hop
  (:mod:`crawler.middlewares.image_guard`).
  ``RefererMiddleware`` is off on purpose (crawler/settings.py), so the lookup
  of it that Scrapy's middleware makes at the engine's start, and the WARNING
  it logs when none is there, are left out (:meth:`from_crawler`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.exceptions import IgnoreRequest

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

#: the meta key of a followed redirect: the URL the request was first sent to
REDIRECTED_FROM = "redirected_from"

_DEFAULT_PORTS = {"http": 80, "https": 443}


class OffsiteRedirect(Exception):
    """The API redirected a request to another host; it was not followed
    (reason ``offsite_redirect``, :func:`crawler.failures.failure_reason`)."""


class TooManyRedirects(Exception):
    """A request was redirected more than ``REDIRECT_MAX_TIMES`` times
    (reason ``too_many_redirects``)."""


def origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of a URL, the port filled in for http and https."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


class ApiRedirectMiddleware(RedirectMiddleware):
    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.marketplace_url: str = settings.get("MARKETPLACE_URL").rstrip("/")
        self.origins = {origin(self.marketplace_url)}
        if dashboard := settings.get("DASHBOARD_URL"):
            self.origins.add(origin(dashboard))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        # Scrapy's from_crawler also hooks engine_started to look up
        # RefererMiddleware for handle_referer(), and warns when it is off; this
        # handle_referer() needs no such middleware
        middleware = cls(crawler.settings)
        middleware.crawler = crawler
        return middleware

    def handle_referer(self, request: Request, response: Response) -> None:
        """Keep the Referer the spider set: the redirected request is a copy of
        the one it replaces, and the API expects ``<MARKETPLACE_URL>/``."""

    # no spider argument: Scrapy 2.19 deprecates it (the base keeps it optional)
    def process_response(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Request | Response:
        try:
            result = super().process_response(request, response)
        except IgnoreRequest:  # Scrapy's "max redirections reached"
            raise TooManyRedirects(
                f"the API redirected it more than {self.max_redirect_times} times "
                f"(last to {(response.headers.get('Location') or b'').decode(errors='replace')})"
            ) from None
        if not isinstance(result, Request):
            return result
        if result.meta.get("image"):
            # an image's redirect is the image guard's to judge, on its next hop
            # (crawler.middlewares.image_guard: allowed hosts, resolved addresses)
            return result
        if origin(result.url) not in self.origins:
            stats = self.crawler.stats
            if stats is not None:
                stats.inc_value("redirect/offsite_refused")
            raise OffsiteRedirect(
                f"the API answered {response.status} to {result.url}, another host than "
                f"{self.marketplace_url}: not followed"
            )
        result.meta[REDIRECTED_FROM] = result.meta["redirect_urls"][0]
        # the duplicate filter would drop a redirect to a URL fetched already
        # (another product's detail), and the record with it
        result.dont_filter = True
        return result
