"""The sentence for a MongoDB server that cannot be used at open (real
pymongo error instances; the crawls: tests/crawl/test_exits.py)."""

from __future__ import annotations

from pymongo.errors import OperationFailure, ServerSelectionTimeoutError
from scrapy.settings import Settings

from crawler.mongo.config import MongoConfig, open_problem, short_error


def config() -> MongoConfig:
    settings = Settings({"MONGO_URI": "mongodb://crawler:secret@db.example:27017/?x=1"})
    made = MongoConfig.from_settings(settings)
    assert made is not None
    return made


def test_credentials_and_rights_refused() -> None:
    wrong = OperationFailure(
        "authentication failed", code=18, details={"errmsg": "authentication failed", "code": 18}
    )
    assert open_problem(config(), wrong) == (
        "mongo_auth_failed",
        "MongoDB at mongodb://crawler:***@db.example:27017/marketplace refused the "
        "credentials of MONGO_URI (authentication failed); check the user name, the "
        "password and authSource.",
    )
    reason, sentence = open_problem(
        config(), OperationFailure("not authorized on marketplace", code=13)
    )
    assert reason == "mongo_auth_failed"
    assert sentence.startswith(
        "MongoDB at mongodb://crawler:***@db.example:27017/marketplace refused access to "
        "database marketplace (not authorized on marketplace); "
    )


def test_out_of_reach_is_short() -> None:
    long = ServerSelectionTimeoutError(
        "db.example:27017: [Errno 111] Connection refused (configured timeouts: socketTimeoutMS:"
        " 60000.0ms, connectTimeoutMS: 10000.0ms), Timeout: 10.0s, Topology Description: "
        "<TopologyDescription id: 1, topology_type: Unknown, servers: [...]>"
    )
    assert short_error(long) == "db.example:27017: [Errno 111] Connection refused"
    reason, sentence = open_problem(config(), long)
    assert reason == "mongo_unavailable"
    assert sentence == (
        "MongoDB at mongodb://crawler:***@db.example:27017/marketplace cannot be reached "
        "within 10 s (db.example:27017: [Errno 111] Connection refused); check MONGO_URI "
        "and that the server is up."
    )


def test_the_async_clients_refusal_reads_as_the_blocking_ones() -> None:
    # AsyncMongoClient connects with asyncio, whose refusal repeats the address
    refused = ServerSelectionTimeoutError(
        "db.example:27017: [Errno 111] Connect call failed ('10.0.0.7', 27017) (configured "
        "timeouts: socketTimeoutMS: 60000.0ms, connectTimeoutMS: 10000.0ms), Timeout: 10.0s, "
        "Topology Description: <TopologyDescription id: 1, topology_type: Unknown>"
    )
    assert short_error(refused) == "db.example:27017: [Errno 111] Connection refused"
