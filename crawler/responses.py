"""The API's JSON responses, decoded once.

The retry middleware decodes a 200 JSON body to tell a cut or foreign body
from the API's answer; the spider then reads the same decoded object instead
of decoding the body again (what kingfisher-collect's ``JSONResponse`` does).
The decoded body is kept beside the response, for as long as the response
lives (a weak reference: nothing outlives it), so the response itself stays
the object the downloader made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

import orjson

from crawler.exceptions import ExtractionError

if TYPE_CHECKING:
    from scrapy.http import Response

_DECODED: WeakKeyDictionary[Response, Any] = WeakKeyDictionary()


def decoded(response: Response) -> Any:
    """The response's body decoded as JSON (orjson), at the first call only.
    Raises :class:`orjson.JSONDecodeError` (a ``ValueError``) for a body that
    is not JSON."""
    try:
        return _DECODED[response]
    except KeyError:
        data = _DECODED[response] = orjson.loads(response.body)
        return data


def decoded_json(response: Response, what: str) -> Any:
    """:func:`decoded`, a body that is not JSON being an
    :class:`ExtractionError` (``malformed_json``) naming ``what``."""
    try:
        return decoded(response)
    except orjson.JSONDecodeError as exc:
        raise ExtractionError(
            "malformed_json", f"{what}: the body is not valid JSON ({exc})"
        ) from exc
