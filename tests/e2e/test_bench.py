"""The benchmark runner's smoke run: tiny sizes, one run each, figures written."""

from __future__ import annotations

import subprocess
import sys

import orjson

from tests.support.paths import ROOT


def test_bench_smoke(tmp_path, truth) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--results", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| cpu: CPU ms/record |" in proc.stdout
    assert "| cpu, 200 ids: CPU ms/record |" in proc.stdout
    (path,) = tmp_path.glob("smoke-*.json")
    figures = orjson.loads(path.read_bytes())
    with_detail = len(truth["products"]["valid"]) + len(truth["products"]["invalid"])
    # both crawlers processed exactly the tiny catalogue (valid + rejected)
    assert figures["cpu"]["ours"]["records"] == with_detail
    assert figures["cpu"]["baseline"]["records"] == with_detail
    # the listings crawl and the ids-file crawl (every product of the tiny
    # catalogue, 404s included), each with the three crawlers' two figures
    for scenario in ("cpu", "cpu_ids"):
        for crawler in ("ours", "baseline", "scrapy_floor"):
            figure = figures[scenario][crawler]
            assert figure["records"] == with_detail, (scenario, crawler)
            assert figure["cpu_ms_per_record"] > 0, (scenario, crawler)
            assert figure["records_per_second"] > 0, (scenario, crawler)
        assert set(figures[scenario]["ratios"]) == {
            "ours_baseline",
            "floor_baseline",
            "ours_floor",
        }
    assert figures["cpu_ids"]["ids"] == len(truth["products"]["listed"])
    assert figures["latency"]["ours"]["records"] == 40
    assert figures["latency"]["baseline"]["records"] == 40
    assert figures["scale"]["records"] == with_detail
    # the RSS was sampled at the smoke run's one mark (100 records)
    assert list(figures["scale"]["rss_mb_after"]) == ["100"]
    assert figures["scale"]["peak_rss_mb"] > 0
