"""What the MongoDB pipeline writes, as plain functions: its configuration,
the upsert of an item, safe keys, and each collection's indexes and validator.

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
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.errors import BulkWriteError, ConnectionFailure, PyMongoError

from crawler.items import Brand, Comment, DashboardRow, Product

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

# -- configuration ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MongoConfig:
    """The ``MONGO_*`` settings, read once (see :mod:`crawler.pipelines.mongo`)."""

    uri: str
    database: str = "marketplace"
    batch_size: int = 500
    flush_seconds: float = 5.0
    retry_times: int = 6
    retry_backoff: float = 0.5
    retry_backoff_max: float = 30.0
    timeout_seconds: float = 10.0
    socket_timeout_seconds: float = 60.0
    journal: bool = True

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> MongoConfig | None:
        """``None`` when ``MONGO_URI`` is empty; :class:`ValueError` naming the
        setting when a value is out of range."""
        uri = (settings.get("MONGO_URI") or "").strip()
        if not uri:
            return None
        config = cls(
            uri=uri,
            database=settings.get("MONGO_DATABASE") or "marketplace",
            batch_size=settings.getint("MONGO_BATCH_SIZE", 500),
            flush_seconds=settings.getfloat("MONGO_FLUSH_SECONDS", 5.0),
            retry_times=settings.getint("MONGO_RETRY_TIMES", 6),
            retry_backoff=settings.getfloat("MONGO_RETRY_BACKOFF", 0.5),
            retry_backoff_max=settings.getfloat("MONGO_RETRY_BACKOFF_MAX", 30.0),
            timeout_seconds=settings.getfloat("MONGO_TIMEOUT_SECONDS", 10.0),
            socket_timeout_seconds=settings.getfloat("MONGO_SOCKET_TIMEOUT_SECONDS", 60.0),
            journal=settings.getbool("MONGO_JOURNAL", True),
        )
        for name, value, low in (
            ("MONGO_BATCH_SIZE", config.batch_size, 1),
            ("MONGO_FLUSH_SECONDS", config.flush_seconds, 0.01),
            ("MONGO_RETRY_TIMES", config.retry_times, 0),
            ("MONGO_RETRY_BACKOFF", config.retry_backoff, 0),
            ("MONGO_TIMEOUT_SECONDS", config.timeout_seconds, 0.01),
            ("MONGO_SOCKET_TIMEOUT_SECONDS", config.socket_timeout_seconds, 0.01),
        ):
            if value < low:
                raise ValueError(f"{name} must be at least {low}, got {value}.")
        return config

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments of :class:`pymongo.MongoClient` (they override the
        same options in the URI)."""
        return {
            "serverSelectionTimeoutMS": int(self.timeout_seconds * 1000),
            "connectTimeoutMS": int(self.timeout_seconds * 1000),
            "socketTimeoutMS": int(self.socket_timeout_seconds * 1000),
            # a write counts as stored once it is in the server's journal
            "journal": self.journal,
            "appname": "marketplace-crawler",
            "tz_aware": True,
        }

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return float(min(self.retry_backoff * 2 ** (attempt - 1), self.retry_backoff_max))

    @property
    def where(self) -> str:
        """The server, for log lines: the URI without credentials or options."""
        return redact_uri(self.uri) + "/" + self.database


#: labels and codes of errors that a later attempt may not meet (a server
#: starting, stopping, stepping down, or out of reach)
_TRANSIENT_LABELS = ("RetryableWriteError", "TransientTransactionError")
_TRANSIENT_CODES = {6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}


def is_transient(exc: BaseException) -> bool:
    """Whether writing again later may succeed where ``exc`` was raised."""
    if isinstance(exc, ConnectionFailure):
        return True
    if isinstance(exc, BulkWriteError):  # only write-concern errors: nothing was refused
        return not exc.details.get("writeErrors") and bool(exc.details.get("writeConcernErrors"))
    if isinstance(exc, PyMongoError):
        code = getattr(exc, "code", None)
        return any(map(exc.has_error_label, _TRANSIENT_LABELS)) or code in _TRANSIENT_CODES
    return False


_URI = re.compile(r"^(?P<scheme>[a-z+]+://)(?:(?P<userinfo>[^@/]*)@)?(?P<hosts>[^/?]*)", re.I)


def redact_uri(uri: str) -> str:
    """``mongodb://user:secret@host:27017/db?x=y`` as ``mongodb://user:***@host:27017``:
    the password and the options (which may hold key passwords) never reach a log."""
    match = _URI.match(uri)
    if match is None:
        return "<unparsable MongoDB URI>"
    userinfo = match["userinfo"]
    user = f"{userinfo.split(':', 1)[0]}:***@" if userinfo else ""
    return f"{match['scheme']}{user}{match['hosts']}"


# -- documents --------------------------------------------------------------


def safe_key(key: Any) -> str:
    """A key MongoDB stores as it is: ``$where`` -> ``%24where``, ``a.b`` ->
    ``a%2Eb``, ``""`` -> ``%``; plain keys unchanged."""
    if _plain(key):
        return key  # type: ignore[no-any-return]
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
    """The upsert of ``item`` into its collection (see the module docstring)."""
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
    return UpdateOne(
        {"_id": ident}, {"$set": fields, "$setOnInsert": {"first_seen_at": seen}}, upsert=True
    )


# -- collections ------------------------------------------------------------

#: item class -> the indexes users' lookups need (``_id``, unique, is implicit)
INDEXES: dict[type, list[IndexModel]] = {
    Brand: [
        IndexModel([("category_ids", ASCENDING)], name="category_ids"),
        IndexModel([("slug", ASCENDING)], name="slug"),
    ],
    Product: [
        IndexModel([("brand_id", ASCENDING)], name="brand_id"),
        IndexModel([("category_id", ASCENDING)], name="category_id"),
        IndexModel([("last_seen_at", ASCENDING)], name="last_seen_at"),
    ],
    Comment: [
        IndexModel(
            [("product_id", ASCENDING), ("created_at", DESCENDING)], name="product_id_created_at"
        ),
    ],
    DashboardRow: [
        IndexModel([("report", ASCENDING), ("day", ASCENDING)], name="report_day"),
    ],
}

_BSON_TYPES = {
    "integer": ["int", "long"],
    "number": ["int", "long", "double", "decimal"],
    "string": ["string"],
    "boolean": ["bool"],
    "array": ["array"],
    "object": ["object"],
    "null": ["null"],
}
_KEPT = ("minimum", "maximum", "minLength", "maxLength", "pattern", "enum", "minItems")


def bson_schema(schema: dict[str, Any], nullable: bool = False) -> dict[str, Any]:
    """A JSON Schema (the validation pipeline's) as MongoDB ``$jsonSchema``:
    ``type`` becomes ``bsonType``, ``date``/``date-time`` strings BSON dates."""
    types = schema.get("type", [])
    bson: list[str] = []
    is_date = schema.get("format") in ("date", "date-time")
    for name in [types] if isinstance(types, str) else types:
        bson.extend(["date"] if name == "string" and is_date else _BSON_TYPES[name])
    if nullable:
        bson.append("null")
    out: dict[str, Any] = {"bsonType": list(dict.fromkeys(bson))} if bson else {}
    out.update((k, schema[k]) for k in _KEPT if k in schema and not is_date)
    if "properties" in schema:
        required = schema.get("required", [])
        out["properties"] = {
            name: bson_schema(spec, nullable=name not in required)
            for name, spec in schema["properties"].items()
        }
        if required:
            out["required"] = list(required)
    if "items" in schema:
        out["items"] = bson_schema(schema["items"])
    return out


def collection_validator(item_class: type, schema: dict[str, Any]) -> dict[str, Any]:
    """The ``$jsonSchema`` validator of the collection of ``item_class``: its
    item schema with the key as ``_id`` and ``scraped_at`` as the seen-at dates."""
    key_field = item_class.key_field  # type: ignore[attr-defined]
    rename = {key_field: "_id", "scraped_at": "last_seen_at"}
    seen = {"type": "string", "format": "date-time"}
    document = {
        "type": "object",
        "required": [rename.get(n, n) for n in schema["required"]] + ["first_seen_at"],
        "properties": {
            **{rename.get(n, n): spec for n, spec in schema["properties"].items()},
            "first_seen_at": seen,
        },
    }
    return {"$jsonSchema": bson_schema(document)}
