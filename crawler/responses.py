"""The API's JSON responses, decoded once.

The retry middleware decodes a 200 JSON body to tell a cut or foreign body
from the API's answer; the spider then reads the same decoded object instead
of decoding the body again (as kingfisher-collect's ``JSONResponse``). The
middleware turns Scrapy's :class:`~scrapy.http.JsonResponse` into an
:class:`ApiResponse` (:meth:`ApiResponse.of`), whose :meth:`json` decodes with
orjson and keeps the result.
"""

from __future__ import annotations

from typing import Any

import orjson
from scrapy.http import JsonResponse, Response, TextResponse

from crawler.exceptions import ExtractionError

_UNSET: Any = object()


class ApiResponse(JsonResponse):
    __slots__ = ("_data",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._data = _UNSET

    def json(self) -> Any:
        """The decoded body (orjson), decoded at the first call only. Raises
        :class:`orjson.JSONDecodeError` (a ``ValueError``) for a body that is
        not JSON."""
        if self._data is _UNSET:
            self._data = orjson.loads(self.body)
        return self._data

    @classmethod
    def of(cls, response: Response) -> Response:
        """``response`` as an :class:`ApiResponse` when it is text."""
        if isinstance(response, cls) or not isinstance(response, TextResponse):
            return response
        return response.replace(cls=cls)


def decoded_json(response: Response, what: str) -> Any:
    """The response's JSON, decoded once per response. Raises
    :class:`ExtractionError` (``malformed_json``) naming ``what``."""
    try:
        if isinstance(response, TextResponse):
            return response.json()
        return orjson.loads(response.body)
    except ValueError as exc:  # orjson's and json's decode errors
        raise ExtractionError(
            "malformed_json", f"{what}: the body is not valid JSON ({exc})"
        ) from exc
