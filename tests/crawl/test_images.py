"""Product images against the simulator's (``--images 1``), compared with its
``/_sim/truth/images``: every good image stored once, checked and linked from
its product in the feed and in MongoDB; every bad one listed with its reason;
refused URLs never connected to; a second run downloads nothing; a retry run
of the failures file tries the failed ones again."""

from __future__ import annotations

import hashlib
import select
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import orjson
import pytest
from PIL import Image
from pymongo import MongoClient

from sim.testing import SimProcess
from tests.support.crawl import CrawlResult, duplicates, run_crawl
from tests.support.servers import S3Server
from tests.support.truth import categories


def sha1(url: str) -> str:
    return hashlib.sha1(url.encode()).hexdigest()


class Listener:
    """A TCP socket listening where a refused URL points: a connection attempt
    would be waiting in its backlog (the handshake completes there), so
    :meth:`connections` sees one without a thread or a wait."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.sock.setblocking(False)
        self.seen = 0

    def connections(self) -> int:
        while select.select([self.sock], [], [], 0)[0]:
            conn, _ = self.sock.accept()
            conn.close()
            self.seen += 1
        return self.seen

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def image_sim() -> Iterator[SimProcess]:
    server = SimProcess()
    # the slow images answer after a minute: far beyond the crawl's timeout
    server.start(size="tiny", seed=1, images=1, images_slow_seconds=60)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def image_truth(image_sim: SimProcess) -> dict[str, Any]:
    return image_sim.get("/_sim/truth/images").json()


def image_settings(sim: SimProcess, store: str, **extra: Any) -> dict[str, Any]:
    port = sim.url.rsplit(":", 1)[1]
    return {
        "CATEGORIES": categories(sim.truth(reviews=0)),
        "IMAGES_STORE": store,
        # the simulator, and the names the tests' resolver maps to forbidden addresses
        "IMAGES_ALLOWED_HOSTS": [
            f"127.0.0.1:{port}",
            f"metadata.sim.test:{port}",
            f"private.sim.test:{port}",
        ],
        "IMAGES_ALLOW_LOOPBACK": True,
        "IMAGES_RESOLVER": "tests.support.resolver.sim_resolver",
        "IMAGES_DOWNLOAD_TIMEOUT": 5.0,
        "IMAGES_RETRY_TIMES": 0,
        **extra,
    }


def image_requests(sim: SimProcess) -> int:
    return int(sim.get("/_sim/images/stats").json()["requests"])


@pytest.fixture(scope="module")
def runs(
    image_sim: SimProcess, mongo_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("images")
    store = tmp / "store"
    database = "test_images"
    port = int(image_sim.url.rsplit(":", 1)[1])
    listener = Listener("127.0.0.2", port)
    settings = image_settings(image_sim, str(store), MONGO_URI=mongo_uri, MONGO_DATABASE=database)
    try:
        before = image_requests(image_sim)
        first = run_crawl("products", image_sim.url, tmp / "first", settings=settings)
        after_first = image_requests(image_sim)
        second = run_crawl("products", image_sim.url, tmp / "second", settings=settings)
        after_second = image_requests(image_sim)
        with MongoClient(mongo_uri) as client:
            documents = {d["_id"]: d for d in client[database]["products"].find()}
        yield {
            "store": store,
            "first": first,
            "second": second,
            "first_requests": after_first - before,
            "second_requests": after_second - after_first,
            "documents": documents,
            "connections": listener.connections(),
            "tmp": tmp,
            "settings": settings,
        }
    finally:
        listener.close()
        with MongoClient(mongo_uri) as client:
            client.drop_database(database)


def products(run: CrawlResult) -> dict[int, dict[str, Any]]:
    return {r["id"]: r for r in run.feed_records("products", "products")}


def entries(run: CrawlResult) -> dict[str, dict[str, Any]]:
    """url -> its entry in the products' images (the same in every product)."""
    found: dict[str, dict[str, Any]] = {}
    for record in products(run).values():
        for entry in record["images"]:
            found[entry["url"]] = entry
    return found


def failures(run: CrawlResult) -> list[dict[str, Any]]:
    (path,) = run.output_dir.glob("products/*/failures.jsonl")
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_every_good_image_is_stored_once_checked_and_linked(runs, image_truth) -> None:
    run, store = runs["first"], runs["store"]
    good = {url for urls in image_truth["good"].values() for url in urls}
    full = sorted(p.name for p in (store / "full").iterdir())
    assert duplicates(full) == []
    assert full == sorted(f"{sha1(url)}.jpg" for url in good)
    records = products(run)
    for pid, urls in image_truth["good"].items():
        linked = {e["url"]: e for e in records[int(pid)]["images"]}
        for url in urls:
            entry = linked[url]
            assert entry["status"] == "downloaded"
            assert entry["path"] == f"full/{sha1(url)}.jpg"
            stored = store / entry["path"]
            assert entry["checksum"] == hashlib.md5(stored.read_bytes()).hexdigest()
            with Image.open(stored) as image:
                assert image.format == "JPEG"
                assert image.size == (entry["width"], entry["height"])
            with Image.open(store / "thumbs" / "small" / f"{sha1(url)}.jpg") as thumb:
                assert max(thumb.size) <= 100
                assert thumb.size[0] <= entry["width"] and thumb.size[1] <= entry["height"]
    assert run.stats["images/downloaded"] == len(good)
    # every image URL of a product is in its record, in the API's order
    for record in records.values():
        assert [e["url"] for e in record["images"]] == record["image_urls"]


def test_every_bad_image_has_its_reason_and_keeps_its_product(runs, image_truth) -> None:
    run = runs["first"]
    found = entries(run)
    expected = {**image_truth["bad"], **image_truth["refused"]}
    assert {url: found[url].get("reason") for url in expected} == expected
    assert all(found[url]["status"] == "failed" for url in expected)
    assert all("path" not in found[url] for url in expected)
    # counted by reason, and not as failed records: the products are all there
    counts = Counter(expected.values())
    assert {
        k[len("images/failed/") :]: v
        for k, v in run.stats.items()
        if k.startswith("images/failed/")
    } == counts
    assert run.stats["failures/count"] == run.stats.get("failures/product/not_found", 0)
    with_images = {int(pid) for pid in image_truth["good"]}
    assert with_images <= set(products(run))
    # listed in the failures file, kind image, with their product's id
    listed = {(f["url"], f["reason"]) for f in failures(run) if f["kind"] == "image"}
    assert listed == set(expected.items())
    owner = {e["url"]: pid for pid, r in products(run).items() for e in r["images"]}
    assert all(f["id"] == owner[f["url"]] for f in failures(run) if f["kind"] == "image")


def test_refused_urls_are_never_connected_to(runs, image_truth) -> None:
    assert runs["connections"] == 0  # 127.0.0.2: the refused host and the redirect's target
    stats = runs["first"].stats
    refused = Counter(image_truth["refused"].values())
    assert {
        k[len("images/refused/") :]: v for k, v in stats.items() if k.startswith("images/refused/")
    } == refused
    # the simulator saw the image requests of the good and bad images and the
    # redirect, nothing else: the refused names were never fetched
    redirects = sum(1 for url in image_truth["refused"] if url.endswith("/redirect.jpg"))
    good = sum(len(urls) for urls in image_truth["good"].values())
    assert runs["first_requests"] == good + len(image_truth["bad"]) + redirects


def test_the_images_are_in_mongodb(runs, image_truth) -> None:
    # read after the second run: its entries (the first run's, now uptodate)
    documents, records = runs["documents"], products(runs["second"])
    assert set(documents) == set(records)
    assert set(documents) >= {int(pid) for pid in image_truth["good"]}
    for pid, doc in documents.items():
        assert doc["images"] == records[pid]["images"]


def test_a_second_run_downloads_nothing(runs, image_truth) -> None:
    second = runs["second"]
    good = {url for urls in image_truth["good"].values() for url in urls}
    assert "images/downloaded" not in second.stats
    assert second.stats["images/uptodate"] == len(good)
    # the simulator was asked only for the images that failed (and the redirect)
    redirects = sum(1 for url in image_truth["refused"] if url.endswith("/redirect.jpg"))
    assert runs["second_requests"] == len(image_truth["bad"]) + redirects
    first, again = entries(runs["first"]), entries(second)
    for url in good:
        assert again[url]["status"] == "uptodate"
        assert {k: v for k, v in again[url].items() if k != "status"} == {
            k: v for k, v in first[url].items() if k != "status"
        }


def test_a_retry_run_of_the_failures_file_tries_the_failed_images(
    runs, image_sim, image_truth
) -> None:
    (path,) = runs["second"].output_dir.glob("products/*/failures.jsonl")
    before = image_requests(image_sim)
    retry = run_crawl(
        "products",
        image_sim.url,
        runs["tmp"] / "retry",
        args={"ids_file": str(path)},
        settings={**runs["settings"], "MONGO_URI": ""},
    )
    asked = image_requests(image_sim) - before
    owners = {f["id"] for f in failures(runs["second"]) if f["kind"] == "image"}
    assert set(products(retry)) == owners
    redirects = sum(1 for url in image_truth["refused"] if url.endswith("/redirect.jpg"))
    assert asked == len(image_truth["bad"]) + redirects
    assert "images/downloaded" not in retry.stats


def test_loopback_is_refused_unless_the_switch_is_on(image_sim, tmp_path: Path) -> None:
    ids = tmp_path / "ids.csv"
    truth = image_sim.get("/_sim/truth/images").json()
    pids = sorted(truth["good"])[:3]
    ids.write_text("id\n" + "\n".join(pids) + "\n")
    before = image_requests(image_sim)
    settings = image_settings(image_sim, str(tmp_path / "store"), IMAGES_ALLOW_LOOPBACK=False)
    run = run_crawl(
        "products", image_sim.url, tmp_path, args={"ids_file": str(ids)}, settings=settings
    )
    assert image_requests(image_sim) == before  # not one connection to the simulator's images
    for record in products(run).values():
        assert {e["reason"] for e in record["images"]} == {"address_not_allowed"}
    assert not any((tmp_path / "store").rglob("*.jpg"))


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = S3Server().start()
    try:
        yield server
    finally:
        server.stop()


def test_the_s3_store(image_sim, image_truth, s3, tmp_path, monkeypatch) -> None:
    """Scrapy's S3 store against a real S3-protocol server: the same keys,
    checksums (ETags) and sizes (object metadata); a second run is uptodate."""
    for name, value in s3.environ_for_clients().items():
        monkeypatch.setenv(name, value)  # the crawls inherit it: credentials from the environment
    client = botocore.session.get_session().create_client("s3")
    client.create_bucket(Bucket="images")
    pids = sorted(image_truth["good"])[:4]
    ids = tmp_path / "ids.csv"
    ids.write_text("id\n" + "\n".join(pids) + "\n")
    good = {url for pid in pids for url in image_truth["good"][pid]}
    settings = image_settings(image_sim, "s3://images/crawl/")
    first = run_crawl(
        "products", image_sim.url, tmp_path / "first", {"ids_file": str(ids)}, settings
    )
    listed = client.list_objects_v2(Bucket="images", Prefix="crawl/")
    keys = sorted(o["Key"] for o in listed.get("Contents", []))
    assert keys == sorted(
        [f"crawl/full/{sha1(url)}.jpg" for url in good]
        + [f"crawl/thumbs/small/{sha1(url)}.jpg" for url in good]
    )
    stored = entries(first)
    for url in good:
        entry = stored[url]
        assert entry["status"] == "downloaded"
        head = client.head_object(Bucket="images", Key=f"crawl/{entry['path']}")
        assert head["ETag"].strip('"') == entry["checksum"]
        assert head["ContentType"] == "image/jpeg"
        assert head["Metadata"] == {"width": str(entry["width"]), "height": str(entry["height"])}
        body = client.get_object(Bucket="images", Key=f"crawl/{entry['path']}")["Body"].read()
        assert hashlib.md5(body).hexdigest() == entry["checksum"]
    second = run_crawl(
        "products", image_sim.url, tmp_path / "second", {"ids_file": str(ids)}, settings
    )
    assert "images/downloaded" not in second.stats
    again = entries(second)
    for url in good:
        assert again[url] == {**stored[url], "status": "uptodate"}


def test_review_photos_with_review_images(image_sim, tmp_path) -> None:
    counts = image_sim.truth(reviews="counts")["reviews"]["count_by_product"]
    busiest = sorted(counts, key=lambda pid: (-counts[pid], pid))[:3]
    settings = image_settings(image_sim, str(tmp_path / "store"), REVIEW_IMAGES=True)
    run = run_crawl(
        "comments",
        image_sim.url,
        tmp_path,
        args={"product_ids": ",".join(busiest)},
        settings=settings,
    )
    photos = image_sim.get("/_sim/truth/images").json()["review_photos"]
    comments = run.feed_records("comments", "comments")
    with_photos = [c for c in comments if c["image_urls"]]
    assert with_photos, "the busiest products' reviews have photos"
    for comment in with_photos:
        assert photos[str(comment["id"])] == comment["image_urls"]
        assert [e["url"] for e in comment["images"]] == comment["image_urls"]
        for entry in comment["images"]:
            assert entry["status"] == "downloaded"
            assert (tmp_path / "store" / entry["path"]).is_file()
    assert all(c["images"] is None for c in comments if not c["image_urls"])
    assert run.stats["images/downloaded"] == sum(len(c["image_urls"]) for c in with_photos)


def test_429s_from_the_image_host_slow_only_the_images(tmp_path) -> None:
    """Images in their own download slot: the image host's 429s lower the rate
    of the ``images`` slot, never the API's."""
    with SimProcess(size="tiny", seed=1, images=1, images_rate_limit=5) as sim:
        truth = sim.get("/_sim/truth/images").json()
        failing = {url.split("/")[-2] for url in [*truth["bad"], *truth["refused"]]}
        clean = [pid for pid in truth["good"] if pid not in failing]
        pids = sorted(clean, key=lambda pid: (-len(truth["good"][pid]), pid))[:8]
        ids = tmp_path / "ids.csv"
        ids.write_text("id\n" + "\n".join(pids) + "\n")
        settings = image_settings(sim, str(tmp_path / "store"), IMAGES_RETRY_TIMES=8)
        run = run_crawl("products", sim.url, tmp_path, {"ids_file": str(ids)}, settings)
        limited = sim.get("/_sim/images/stats").json()["rate_limited"]
        api = sim.stats()
    assert limited > 0
    rates = {k for k in run.stats if k.startswith("throttle/rate/")}
    assert rates == {"throttle/rate/images"}
    assert api["by_status"].get("429", 0) == 0
    good = {url for pid in pids for url in truth["good"][pid]}
    stored = entries(run)
    assert {url for url in good if stored[url]["status"] == "downloaded"} == good
