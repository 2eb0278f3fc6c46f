"""CleanPipeline: HTML and entity-laden text of the items become clean text.

- Product: ``description_text`` is filled from ``description_html``, which is
  kept, sanitised to an allow-list (:func:`crawler.html.sanitize_html`), for
  users who render it; ``short_description`` and every specification value
  become text; names (product, brand, category, seller, specification group
  and name) become one line of text.
- Comment: ``content`` becomes text, ``title`` and ``author_name`` one line.
- Brand: ``name`` one line.

"Text" is :func:`crawler.html.html_to_text`: scripts and styles removed with
their content, tags stripped, entities decoded, whitespace normalised, NFC.
A name that is only spaces becomes ``""``, which validation rejects as empty.

It runs before validation (priority 100): validation then judges what users
get. It has no settings and never drops an item.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter

from crawler.html import html_to_text, sanitize_html
from crawler.items import Brand, Comment, Product

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

#: item class -> (fields cleaned to multi-line text, fields cleaned to one line)
TEXT_FIELDS: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {
    Product: (
        ("short_description",),
        ("name", "brand_name", "category_name", "seller_name"),
    ),
    Comment: (("content",), ("title", "author_name")),
    Brand: ((), ("name",)),
}


def clean_specifications(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Specification rows with text values and one-line group and name; the
    code, an identifier, is only stripped."""
    return [
        {
            **row,
            "group": html_to_text(row.get("group"), one_line=True),
            "name": html_to_text(row.get("name"), one_line=True),
            "code": row["code"].strip() if isinstance(row.get("code"), str) else row.get("code"),
            "value": html_to_text(row.get("value")),
        }
        for row in rows
        if isinstance(row, dict)
    ]


class CleanPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CleanPipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        fields = TEXT_FIELDS.get(type(item))
        if fields is None:
            return item
        adapter = ItemAdapter(item)
        text_fields, line_fields = fields
        for name in text_fields:
            adapter[name] = _text(adapter.get(name), one_line=False)
        for name in line_fields:
            adapter[name] = _text(adapter.get(name), one_line=True)
        if isinstance(item, Product):
            html = adapter.get("description_html")
            if isinstance(html, str):
                adapter["description_text"] = html_to_text(html)
                adapter["description_html"] = sanitize_html(html)
            adapter["specifications"] = clean_specifications(adapter.get("specifications") or [])
        return item


def _text(value: Any, *, one_line: bool) -> Any:
    # a value of another type is left for validation to reject with its reason
    return html_to_text(value, one_line=one_line) if isinstance(value, str) else value
