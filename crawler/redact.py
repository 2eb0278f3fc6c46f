"""Credentials out of log lines: the one way a server URL is shown."""

from __future__ import annotations

import re

_URL = re.compile(
    r"^(?P<scheme>[a-z][a-z0-9+.-]*://)(?:(?P<userinfo>[^@/]*)@)?(?P<hosts>[^/?#]*)"
    r"(?P<path>[^?#]*)",
    re.I,
)


def redact_url(url: str, *, path: bool = True) -> str:
    """``redis://user:secret@host:6380/1`` as ``redis://user:***@host:6380/1``:
    the password and the query (which may hold key passwords) never reach a
    log. ``path=False`` drops the path too (a MongoDB URI's database, which
    the caller names itself). Several hosts (``db1:27017,db2``) are kept."""
    match = _URL.match(url)
    if match is None:
        return "<unparsable URL>"
    userinfo = match["userinfo"]
    user = f"{userinfo.partition(':')[0]}:***@" if userinfo else ""
    return f"{match['scheme']}{user}{match['hosts']}{match['path'] if path else ''}"
