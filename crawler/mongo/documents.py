"""An item as the MongoDB document it becomes: the upsert, and keys made safe.

Documents: ``_id`` is the marketplace's natural id (brand id, product id,
review id; a dashboard row's key). The ``_id`` index is unique and always
there, so no second unique index is maintained on every write, an upsert finds
its document through the primary key, and one id can never become two
documents. The item's other fields are ``$set`` (a re-crawl that sees a new
price writes it), its ``scraped_at`` becomes ``last_seen_at`` (``$set``) and,
on insert only, ``first_seen_at`` (``$setOnInsert``). Datetimes are BSON dates
(UTC); a ``date`` is stored as midnight UTC.

Keys: the fields of an item are fixed names, and specifications are already
rows (``{"group", "code", "name", "value"}``), so hostile names such as
``$where`` or ``a.b`` are values there. Any key of a nested dict (a dashboard
row's ``values``, say) goes through :func:`safe_key`: ``%``, ``$``, ``.`` and
NUL are percent-escaped and the empty key becomes ``%``, so that no key is read
as an operator or a path, and :func:`original_key` gives the key back.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from itemadapter import ItemAdapter
from pymongo import UpdateOne


def safe_key(key: Any) -> str:
    """A key MongoDB stores as it is: ``$where`` -> ``%24where``, ``a.b`` ->
    ``a%2Eb``, ``""`` -> ``%``; plain keys unchanged."""
    if _plain(key):
        return key
    key = str(key)
    if not key:
        return "%"
    return key.replace("%", "%25").replace("$", "%24").replace(".", "%2E").replace("\x00", "%00")


def original_key(key: str) -> str:
    """The key :func:`safe_key` was given."""
    if key == "%":
        return ""
    return re.sub(r"%(25|24|2E|00)", lambda m: chr(int(m[1], 16)), key)


_NESTED = (dict, list, tuple)


def _plain(key: Any) -> bool:
    return (
        type(key) is str
        and key != ""
        and "." not in key
        and "$" not in key
        and "%" not in key
        and "\x00" not in key
    )


def safe_keys(value: Any) -> Any:
    """``value`` with every dict key, at any depth, made safe."""
    # written for speed: it runs on every nested field of every item
    if isinstance(value, dict):
        return {
            (k if _plain(k) else safe_key(k)): (safe_keys(v) if isinstance(v, _NESTED) else v)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [safe_keys(v) if isinstance(v, _NESTED) else v for v in value]
    return value


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def upsert(item: Any) -> UpdateOne:
    """The upsert of ``item`` into its collection (see the module docstring); an
    item class with ``set_as`` (:data:`crawler.items.STATE_ITEM_CLASSES`) is a
    ``$set`` of those fields on an existing document, never an insert."""
    set_as = getattr(type(item), "set_as", None)
    if set_as is not None:
        fields = {target: getattr(item, name) for name, target in set_as.items()}
        return UpdateOne({"_id": getattr(item, type(item).key_field)}, {"$set": fields})
    ident, fields, seen = document_fields(item)
    return UpdateOne(
        {"_id": ident}, {"$set": fields, "$setOnInsert": {"first_seen_at": seen}}, upsert=True
    )


def document_fields(item: Any) -> tuple[Any, dict[str, Any], datetime]:
    """``(id, fields to $set, seen at)`` of a record item (see the module docstring)."""
    cls = type(item)
    names = _FIELD_NAMES.get(cls)
    if names is None:  # read once per class: ItemAdapter per item costs more than the rest
        names = _FIELD_NAMES[cls] = tuple(ItemAdapter.get_field_names_from_class(cls) or ())
    key_field = cls.key_field
    fields: dict[str, Any] = {}
    ident: Any = None
    seen: Any = None
    for name in names:
        value = getattr(item, name)
        if name == key_field:
            ident = value
        elif name == "scraped_at":
            seen = value
        elif isinstance(value, _NESTED):
            fields[name] = safe_keys(value)
        elif type(value) is date:
            fields[name] = datetime(value.year, value.month, value.day, tzinfo=UTC)
        else:
            fields[name] = value
    seen = seen or datetime.now(UTC)
    fields["last_seen_at"] = seen
    return ident, fields, seen
