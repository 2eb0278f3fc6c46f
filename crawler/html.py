"""HTML in, clean text or safe HTML out. Plain functions, no crawl needed.

- :func:`html_to_text`: what a search index or a CSV user wants. ``<script>``,
  ``<style>`` (and ``<noscript>``, ``<template>``) go with their content, tags
  are stripped (block tags and table cells leave a line break or a space, so
  words do not run together), entities are decoded, whitespace is collapsed,
  and the text is Unicode NFC (Vietnamese typed with combining marks becomes
  the precomposed letters; no diacritic is lost).
- :func:`sanitize_html`: the description for users who render it, kept to an
  allow-list of tags and attributes. w3lib's helpers are regular expressions,
  fine for turning markup into text but not a sanitiser: an allow-list that
  holds against hostile markup needs a real HTML parser, so this uses nh3
  (Rust's ammonia, an html5ever parser): no scripts, no event handlers, no
  ``style``, no ``javascript:``/``data:`` URLs, and ``rel="noopener noreferrer
  nofollow"`` on links.
"""

from __future__ import annotations

import re
import unicodedata

import nh3
from w3lib.html import remove_comments, remove_tags, remove_tags_with_content, replace_entities

#: removed together with their content
CONTENT_TAGS = ("script", "style", "noscript", "template")
_BLOCK_TAG = re.compile(
    r"<\s*/?\s*(?:address|article|aside|blockquote|br|caption|dd|div|dl|dt|figcaption|"
    r"figure|footer|h[1-6]|header|hr|li|ol|p|pre|section|table|tbody|thead|tfoot|tr|ul)\b[^>]*>",
    re.IGNORECASE,
)
_CELL_TAG = re.compile(r"<\s*/?\s*(?:td|th)\b[^>]*>", re.IGNORECASE)
#: zero-width space, word joiner, BOM, soft hyphen: invisible, and they break search
_INVISIBLE = re.compile("[\u200b\u2060\ufeff\u00ad]")

ALLOWED_TAGS = frozenset(
    "a b blockquote br caption code div em figcaption figure h1 h2 h3 h4 h5 h6 hr i img li"
    " ol p pre s small span strong sub sup table tbody td tfoot th thead tr u ul".split()
)
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "ol": {"start"},
}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})

_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
    url_schemes=set(ALLOWED_URL_SCHEMES),
    clean_content_tags=set(CONTENT_TAGS),
    strip_comments=True,
    link_rel="noopener noreferrer nofollow",
)


def normalize_text(text: str, *, one_line: bool = False) -> str:
    """NFC, invisible characters removed, runs of whitespace (``&nbsp;``
    included) collapsed to one space, blank lines dropped; ``one_line`` joins
    the lines with a space."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", text))
    if one_line:
        # every line break is whitespace to str.split: the same as joining
        # the collapsed lines with a space, in one pass
        return " ".join(text.split())
    lines = text.splitlines()
    if len(lines) <= 1:
        # one line (most values): no per-line loop
        return " ".join(text.split())
    return "\n".join(line for line in (" ".join(line.split()) for line in lines) if line)


def html_to_text(html: str | None, *, one_line: bool = False) -> str | None:
    """The text of an HTML fragment (``None`` stays ``None``)."""
    if html is None:
        return None
    if "<" not in html and "&" not in html:
        # no tag, comment or entity: only the whitespace and Unicode steps
        # apply (most names and specification values; the fast path)
        return normalize_text(html, one_line=one_line)
    text = remove_tags_with_content(remove_comments(html), which_ones=CONTENT_TAGS)
    text = _CELL_TAG.sub(" ", _BLOCK_TAG.sub("\n", text))
    # entities last: "&lt;b&gt;" is text that shows a tag, not a tag
    return normalize_text(replace_entities(remove_tags(text)), one_line=one_line)


def sanitize_html(html: str | None) -> str | None:
    """The fragment kept to :data:`ALLOWED_TAGS` and :data:`ALLOWED_ATTRIBUTES`."""
    if html is None:
        return None
    return _CLEANER.clean(unicodedata.normalize("NFC", html)).strip()
