"""The exit status of ``scrapy crawl`` and the one sentence of each way a run
fails (issue 12, items 1-3): real crawls of the simulator, real MongoDB and
Redis servers, on 127.0.0.1 only.

Each crawl has a generous timeout as a guard against hanging; how fast a run
stops is measured and reported, not asserted."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from crawler.handlers.aiohttp import TWISTED_HANDLERS
from sim.testing import SimProcess
from tests.support.paths import ROOT
from tests.support.servers import MongoServer

#: the guard against a crawl that hangs (not a timing assertion)
GUARD = 180


def scrapy_crawl(
    spider: str,
    url: str,
    tmp_path: Path,
    *args: str,
    settings: dict[str, object] | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "scrapy", "crawl", spider, *args]
    for name, value in {"LOG_LEVEL": "INFO", **(settings or {})}.items():
        command += ["-s", f"{name}={value}"]
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MONGO_URI", "CATEGORIES", "DISTRIBUTED", "REDIS_URL")
    }
    return subprocess.run(
        command,
        cwd=ROOT,
        env={
            **environ,
            "PYTHONPATH": str(ROOT),
            "MARKETPLACE_URL": url,
            "CRAWLER_OUTPUT_DIR": str(tmp_path / "output"),
            **(env or {}),
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=GUARD,
    )


def lines_at(stderr: str, level: str) -> list[str]:
    """The log lines of ``level``, each without its time stamp and logger."""
    found = re.findall(rf"^\S+ \S+ \[[^\]]+\] {level}: (.*)$", stderr, re.MULTILINE)
    return found


def failures(tmp_path: Path, spider: str) -> list[dict]:
    return [
        orjson.loads(line)
        for path in (tmp_path / "output").glob(f"{spider}/*/failures.jsonl")
        for line in path.read_bytes().splitlines()
    ]


def categories(truth: dict) -> str:
    return ",".join(map(str, truth["categories"]))


def assert_one_sentence(proc: subprocess.CompletedProcess[str], sentence: str) -> None:
    """Exit 1, one ERROR line (this sentence), no traceback."""
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert lines_at(proc.stderr, "ERROR") == [sentence], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr


# -- 1. the exit status means something -------------------------------------------


def test_a_complete_crawl_of_the_simulator_exits_0_with_its_404s_recorded(
    sim: SimProcess, truth: dict, tmp_path: Path
) -> None:
    proc = scrapy_crawl("products", sim.url, tmp_path, settings={"CATEGORIES": categories(truth)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    not_found = sorted(truth["products"]["not_found"])
    assert not_found  # the simulator answers 404 for a few listed ids
    records = failures(tmp_path, "products")
    assert sorted(r["id"] for r in records) == not_found
    assert {r["reason"] for r in records} == {"not_found"}
    assert lines_at(proc.stderr, "ERROR") == []
    # each 404 one INFO line, and one clause of the summary line
    withdrawn = [line for line in lines_at(proc.stderr, "INFO") if line.startswith("Withdrawn")]
    assert len(withdrawn) == len(not_found)
    assert f", {len(not_found)} withdrawn (answered 404), 0 failed, " in proc.stderr
    # a normal run logs no WARNING at all (withdrawn ids and rejects are the site's data)
    assert lines_at(proc.stderr, "WARNING") == []


def test_a_run_that_stored_nothing_exits_1_naming_its_categories(
    sim: SimProcess, tmp_path: Path
) -> None:
    # the project's default categories (the real site's) do not exist on the simulator
    proc = scrapy_crawl("products", sim.url, tmp_path, settings={"CATEGORIES": "1789,1846"})
    (line,) = lines_at(proc.stderr, "ERROR")
    assert re.fullmatch(
        r"Run products/\S+ is broken: it stored nothing: categories 1789 and 1846 list no "
        r"brands\.",
        line,
    ), line
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr


def test_a_brands_run_of_a_category_without_brands_exits_1(sim: SimProcess, tmp_path: Path) -> None:
    proc = scrapy_crawl("brands", sim.url, tmp_path, "-a", "categories=1789")
    (line,) = lines_at(proc.stderr, "ERROR")
    assert line.endswith(" is broken: it stored nothing: category 1789 lists no brands."), line
    assert proc.returncode == 1


def test_failures_that_mean_trouble_keep_exit_1(
    sim_factory: Callable[..., SimProcess], tmp_path: Path
) -> None:
    probe = sim_factory(size="tiny", seed=1)
    valid = sorted(probe.truth(reviews=0)["products"]["valid"])[:3]
    sim = sim_factory(size="tiny", seed=1, fail_product_ids=valid[:1])
    ids = tmp_path / "ids.csv"
    ids.write_text("id\n" + "\n".join(map(str, valid)) + "\n", encoding="utf-8")
    proc = scrapy_crawl(
        "products", sim.url, tmp_path, "-a", f"ids_file={ids}", settings={"RETRY_TIMES": 0}
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert [(r["id"], r["reason"]) for r in failures(tmp_path, "products")] == [
        (valid[0], "http_500")
    ]
    (line,) = lines_at(proc.stderr, "ERROR")
    assert "is broken: 1 records failed (33.3% of 3, more than the 0.0% allowed)." in line


# -- 2. unreachable host: one sentence, soon ---------------------------------------


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port of 127.0.0.1 that refuses connections: bound, never listening
    (so that no other process takes it during the test)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_connection_refused_is_one_sentence_and_no_verdict_about_brands(
    closed_port: int, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    proc = scrapy_crawl("products", url, tmp_path, "-a", "categories=1789", "-a", "brands=18802")
    assert_one_sentence(
        proc,
        f"Cannot reach {url}: the connection was refused; check that the server is up "
        "and the port in MARKETPLACE_URL.",
    )
    assert "is not a brand" not in proc.stderr
    assert "retry/count" not in proc.stderr  # not retried
    assert failures(tmp_path, "products") == []


def test_a_tls_error_is_one_sentence(sim: SimProcess, tmp_path: Path) -> None:
    url = sim.url.replace("http://", "https://")  # TLS to a plain-HTTP port
    proc = scrapy_crawl("brands", url, tmp_path, "-a", "categories=1789")
    assert_one_sentence(
        proc,
        f"Cannot reach {url}: the TLS handshake failed (wrong version number); check the "
        "scheme of MARKETPLACE_URL (https:// or http://) and the server's certificate.",
    )


def test_a_dns_failure_is_one_sentence(tmp_path: Path) -> None:
    url = "https://marketplace.example"
    proc = scrapy_crawl(
        "products",
        url,
        tmp_path,
        "-a",
        "categories=1789",
        "-a",
        "brands=18802",
        # Twisted's client (the fallback), which resolves through the test's
        # resolver: aiohttp's would ask the system's, a DNS query off loopback
        settings={
            "TWISTED_DNS_RESOLVER": "tests.crawl.resolver.NoDnsResolver",
            "DOWNLOAD_HANDLERS": TWISTED_HANDLERS,
        },
    )
    assert_one_sentence(
        proc,
        f"Cannot reach {url}: the host name marketplace.example does not resolve (DNS lookup "
        "failed: no results for hostname lookup: marketplace.example); check the network "
        "connection, the DNS and MARKETPLACE_URL.",
    )
    assert "is not a brand" not in proc.stderr


# -- 3. MongoDB and Redis errors are sentences ---------------------------------------


PASSWORD = "n0t-the-passw0rd"


class AuthMongoServer(MongoServer):
    """secantusd-py with ``--auth``: it refuses wrong credentials (code 18)
    and commands without credentials (code 13)."""

    def argv(self, port: int) -> list[str]:
        return [*super().argv(port), "--auth"]


def test_mongodb_out_of_reach_at_start_is_one_sentence(
    sim: SimProcess, truth: dict, closed_port: int, tmp_path: Path
) -> None:
    proc = scrapy_crawl(
        "products",
        sim.url,
        tmp_path,
        settings={
            "CATEGORIES": categories(truth),
            "MONGO_TIMEOUT_SECONDS": 1,
            "MONGO_RETRY_TIMES": 6,  # the budget for outages during a crawl: unused at start
        },
        env={"MONGO_URI": f"mongodb://127.0.0.1:{closed_port}"},
    )
    assert_one_sentence(
        proc,
        f"MongoDB at mongodb://127.0.0.1:{closed_port}/marketplace cannot be reached within "
        f"1 s (127.0.0.1:{closed_port}: [Errno 111] Connection refused); check MONGO_URI and "
        "that the server is up.",
    )
    assert "retry 1 of" not in proc.stderr


def test_mongodb_refusing_the_credentials_is_one_sentence(
    sim: SimProcess, truth: dict, tmp_path: Path
) -> None:
    mongo = AuthMongoServer(tmp_path / "mongo").start()
    try:
        wrong = scrapy_crawl(
            "products",
            sim.url,
            tmp_path / "wrong",
            settings={"CATEGORIES": categories(truth)},
            env={"MONGO_URI": f"mongodb://crawler:{PASSWORD}@127.0.0.1:{mongo.port}"},
        )
        anonymous = scrapy_crawl(
            "products",
            sim.url,
            tmp_path / "anonymous",
            settings={"CATEGORIES": categories(truth)},
            env={"MONGO_URI": mongo.uri},
        )
    finally:
        mongo.stop()
    assert_one_sentence(
        wrong,
        f"MongoDB at mongodb://crawler:***@127.0.0.1:{mongo.port}/marketplace refused the "
        "credentials of MONGO_URI (authentication failed); check the user name, the password "
        "and authSource.",
    )
    assert PASSWORD not in wrong.stderr
    assert_one_sentence(
        anonymous,
        f"MongoDB at {mongo.uri}/marketplace refused access to database marketplace (command "
        "listCollections requires authentication); check the credentials in MONGO_URI and "
        "that the user may read and write marketplace.",
    )


def test_redis_out_of_reach_is_one_sentence(
    sim: SimProcess, truth: dict, closed_port: int, tmp_path: Path
) -> None:
    proc = scrapy_crawl(
        "products",
        sim.url,
        tmp_path,
        settings={
            "CATEGORIES": categories(truth),
            "DISTRIBUTED": 1,
            "REDIS_URL": f"redis://127.0.0.1:{closed_port}/0",
        },
    )
    assert_one_sentence(
        proc,
        f"Redis at redis://127.0.0.1:{closed_port}/0 cannot be reached (Error 111 connecting "
        f"to 127.0.0.1:{closed_port}. Connection refused); check REDIS_URL and that the server "
        "is up.",
    )


def test_distributed_with_jobdir_is_one_sentence_and_exit_2(
    sim: SimProcess, tmp_path: Path
) -> None:
    proc = scrapy_crawl(
        "products",
        sim.url,
        tmp_path,
        settings={"DISTRIBUTED": 1, "JOBDIR": str(tmp_path / "job")},
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        "Error: JOBDIR does not apply to a distributed crawl: its state is in Redis "
        "(run without -s JOBDIR)."
    )
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("name", "value", "sentence"),
    [
        ("REPORT_MAX_ITEM_DROP", "a lot", "REPORT_MAX_ITEM_DROP must be a number, not 'a lot'."),
        ("REPORT_MIN_ITEMS", "many", "REPORT_MIN_ITEMS must be a whole number, not 'many'."),
        (
            "REPORT_MIN_COVERAGE",
            '{"product/price": "most"}',
            "REPORT_MIN_COVERAGE['product/price'] must be a number, not 'most'.",
        ),
    ],
)
def test_a_report_limit_that_is_not_a_number_is_one_sentence_and_exit_2(
    name: str, value: str, sentence: str, tmp_path: Path
) -> None:
    # no simulator: the crawl never starts
    proc = scrapy_crawl("products", "http://127.0.0.1:9", tmp_path, settings={name: value})
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1] == f"Error: {sentence}"
    assert "Traceback" not in proc.stderr
