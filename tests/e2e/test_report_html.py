"""report.html in Debian's headless Chromium (the dashboard spider's browser):
two real ``scrapy crawl products`` runs of the simulator, the second losing a
quarter of its products (the simulator's ``fail_product_ids`` knob); the page
of the second is opened from disk, shot, and read.

Every request the page makes is recorded (Playwright's routing sees them all):
none may leave the file. With ``UPDATE_DOCS_IMAGES=1`` the screenshot also
replaces docs/images/report.png, the manual's picture of the page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Route, sync_playwright

from crawler.settings import PLAYWRIGHT_LAUNCH_OPTIONS
from tests.support.paths import ROOT

CHROMIUM = Path("/usr/bin/chromium")
#: the guard against a crawl that hangs (not a timing assertion)
GUARD = 180

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK), reason="Debian's Chromium is not installed (make browser)"
)


def crawl(url: str, output: Path, run_id: str, **settings: object) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "scrapy", "crawl", "products", "-a", f"run_id={run_id}"]
    for name, value in {"LOG_LEVEL": "INFO", **settings}.items():
        command += ["-s", f"{name}={value}"]
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MONGO_URI", "CATEGORIES", "DISTRIBUTED", "REDIS_URL", "IMAGES_STORE")
    }
    return subprocess.run(
        command,
        cwd=ROOT,
        env={
            **env,
            "PYTHONPATH": str(ROOT),
            "MARKETPLACE_URL": url,
            "CRAWLER_OUTPUT_DIR": str(output),
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=GUARD,
    )


def errors(stderr: str) -> list[str]:
    return re.findall(r"^\S+ \S+ \[[^\]]+\] ERROR: (.*)$", stderr, re.MULTILINE)


def test_the_report_shows_a_run_that_lost_a_quarter_of_its_items(
    sim_factory: Any, tmp_path: Path
) -> None:
    # a little latency: a run of a few seconds, so that the rate plot has points
    sim = sim_factory(size="tiny", seed=1, latency_ms=30)
    truth = sim.truth(reviews=0)
    output = tmp_path / "output"
    settings = {
        "CATEGORIES": ",".join(map(str, truth["categories"])),
        "PROGRESS_SAMPLE_INTERVAL": 0.1,
        "RETRY_TIMES": 0,
        # the lost products fail with 500s: allowed here, so that the drop is the rule at stake
        "REPORT_MAX_FAILURE_SHARE": 0.5,
        "REPORT_MAX_ITEM_DROP": 0.2,
    }
    first = crawl(sim.url, output, "first", **settings)
    assert first.returncode == 0, first.stderr[-3000:]
    valid = sorted(truth["products"]["valid"])
    lost = valid[: len(valid) // 4]
    sim.config(fail_product_ids=lost)
    second = crawl(sim.url, output, "second", **settings)

    kept = len(valid) - len(lost)
    drop = len(lost) / len(valid)
    assert second.returncode == 1, second.stderr[-3000:]
    assert errors(second.stderr) == [
        f"Run products/second is broken: {kept:,} valid items, {drop:.1%} fewer than the "
        f"{len(valid):,} of the previous complete run first (more than the 20.0% allowed)."
    ]
    assert "Traceback" not in second.stderr

    page_path = output / "products" / "second" / "report.html"
    requests: list[str] = []
    with sync_playwright() as playwright:
        options = PLAYWRIGHT_LAUNCH_OPTIONS
        browser = playwright.chromium.launch(
            executable_path=options["executable_path"],
            headless=True,
            args=options["args"],
        )
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})

            def record(route: Route) -> None:
                requests.append(route.request.url)
                if route.request.url.startswith("file:"):
                    route.continue_()
                else:
                    route.abort()

            page.route("**/*", record)
            page.goto(page_path.as_uri(), wait_until="load")
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            text = page.inner_text("body")
            coverage_rows = page.locator("h3:has-text('product') + table tr").count()
            plots = page.locator("svg.pygal-chart").count()
            flagged_rows = page.locator("tr.flagged").all_inner_texts()
        finally:
            browser.close()

    # the page asked for itself only: nothing from the network
    assert requests == [page_path.as_uri()]
    assert shot.stat().st_size > 10_000
    assert "Broken run" in text and f"{drop:.1%} fewer" in text
    # the counts: valid, rejected, failed (the lost ones and the 404s)
    failed = len(lost) + len(truth["products"]["not_found"])
    rejected = len(truth["products"]["invalid"])
    assert re.search(rf"product\s+{kept}\s+{rejected}\s+{failed}\s+0", text), text
    # the coverage table: a row per field of Product, and its head
    assert "Field coverage" in text and coverage_rows > 30
    assert plots == 1 and "records per second" in text
    # the comparison flags the quarter lost
    assert "Against run first" in text
    assert any(
        re.match(rf"product\s+{kept}\s+{len(valid)}\s+-25\.\d%\s+flagged", row)
        for row in flagged_rows
    ), flagged_rows
    if os.environ.get("UPDATE_DOCS_IMAGES"):
        # 64 colours: a page of flat colours stays sharp at a third of the size
        with Image.open(shot) as image:
            image.quantize(64).save(ROOT / "docs" / "images" / "report.png", optimize=True)
