"""The resume journal and the run's files, without a crawl (crawler/extensions/resume.py)."""

from __future__ import annotations

from pathlib import Path

from crawler.resume.journal import JobState, frame, read_records
from crawler.resume.outputs import cut_torn_line, feed_files, keep_lines

# -- the journal and the files, without a crawl -------------------------------------


def test_journal_drops_a_record_cut_by_a_kill() -> None:
    request = {"url": "http://x/1", "callback": "parse"}
    data = frame(("run", {"run_id": "r1", "spider": "products"}))
    data += frame(("S", b"fp1", request)) + frame(("S", b"fp2", {"url": "http://x/2"}))
    data += frame(("D", [(b"fp2", "http://x/2")]))
    whole = len(data)
    torn = data + frame(("D", [(b"fp1", "http://x/1")]))[:-3]
    records, intact = read_records(torn)
    assert intact == whole
    state = JobState.replay(records)
    assert (state.run_id, state.spider) == ("r1", "products")
    assert state.pending == {b"fp1": request}
    assert state.done == {b"fp2": "http://x/2"}
    # a flipped byte inside a record ends the journal there, too
    corrupt = bytearray(data)
    corrupt[-2] ^= 0xFF
    assert len(read_records(bytes(corrupt))[0]) == 3
    # compacting keeps the state
    compact = b"".join(frame(r) for r in state.records())
    assert JobState.replay(read_records(compact)[0]) == state


def test_feed_files_and_torn_lines(tmp_path: Path) -> None:
    run = tmp_path / "products" / "r1"
    run.mkdir(parents=True)
    (run / "products-00001.jsonl").write_bytes(b'{"id": 1}\n{"id": 2}\n')
    (run / "products-00002.jsonl").write_bytes(b'{"id": 3}\n{"id": 4, "na')
    (run / "comments-00001.jsonl").write_bytes(b'{"id": 9}\n')
    template = "%(output_dir)s/%(name)s/%(run_id)s/products-%(batch_id)05d.jsonl"
    params = {"output_dir": str(tmp_path), "name": "products", "run_id": "r1", "batch_id": 1}
    files, pattern = feed_files(template, params)
    assert [p.name for p in files] == ["products-00001.jsonl", "products-00002.jsonl"]
    assert [int(pattern.match(str(p)).group(1)) for p in files] == [1, 2]  # type: ignore[union-attr]
    assert cut_torn_line(files[1]) == len(b'{"id": 4, "na')
    assert files[1].read_bytes() == b'{"id": 3}\n'
    assert cut_torn_line(files[0]) == 0
    # a feed without %(batch_id)d (-o items.jsonl) is one file
    (tmp_path / "items.jsonl").write_bytes(b'{"id": 1}\n')
    files, pattern = feed_files(str(tmp_path / "items.jsonl"), params)
    assert files == [tmp_path / "items.jsonl"]
    assert pattern.match(str(files[0])) and not pattern.groups

    rejects = run / "rejects.jsonl"
    rejects.write_bytes(b'{"id": 1, "url": "u1"}\n{"id": 2, "url": "u2"}\n{"id": 3, "u')
    kept = keep_lines(rejects, lambda r: r["url"] == "u2")
    assert kept == [{"id": 2, "url": "u2"}]
    assert rejects.read_bytes() == b'{"id":2,"url":"u2"}\n'
