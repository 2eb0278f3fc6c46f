"""Helpers for the simulator's own tests: a keep-alive JSON client and a catalogue walker."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from types import TracebackType
from typing import Any

LISTINGS = "/api/personalish/v1/blocks/listings"


class Client:
    """A plain keep-alive HTTP/1.1 client (stdlib), reconnecting after a closed connection."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.host, self.port, self.timeout = parts.hostname or "", parts.port or 80, timeout
        self.conn: http.client.HTTPConnection | None = None

    def get(
        self, path: str, headers: dict[str, str] | None = None, **params: object
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        if params:
            path += "?" + urllib.parse.urlencode(params)
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.conn.request("GET", path, headers=headers or {})
            resp = self.conn.getresponse()
            body = resp.read()
        except Exception:
            self.close()
            raise
        if resp.will_close:
            self.close()
        return resp.status, resp.headers, body

    def json(self, path: str, **params: object) -> Any:
        status, _, body = self.get(path + "?" + urllib.parse.urlencode(params) if params else path)
        assert status == 200, (path, params, status, body[:200])
        return json.loads(body)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def walk_listing(
    client: Client, category: int, brand: int | None = None, limit: int = 40
) -> list[int | str]:
    """Every item id of a category (optionally one brand), page by page up to last_page."""
    ids: list[int | str] = []
    page, last_page = 1, 1
    while page <= last_page:
        params: dict[str, object] = {"limit": limit, "category": category, "page": page}
        if brand is not None:
            params["brand"] = brand
        body = client.json(LISTINGS, **params)
        last_page = body["paging"]["last_page"]
        ids.extend(item["id"] for item in body["data"])
        page += 1
    return ids


def brand_filter(client: Client, category: int) -> dict[str, Any]:
    body = client.json(LISTINGS, limit=40, category=category, page=1, aggregations=2)
    return next(f for f in body["filters"] if f["query_name"] == "brand")


def walk_reviews(client: Client, product_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """Every review of a product, learning the page count from page 1."""
    first = client.json("/api/v2/reviews", product_id=product_id, page=1, limit=limit)
    reviews = list(first["data"])
    for page in range(2, first["paging"]["last_page"] + 1):
        reviews.extend(
            client.json("/api/v2/reviews", product_id=product_id, page=page, limit=limit)["data"]
        )
    return reviews
