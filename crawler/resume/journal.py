"""The journal file, ``<JOBDIR>/resume.journal``, and what it says (:class:`JobState`).

An append-only log of pickled records, each framed by its length and the
CRC-32 of its payload, so that a record cut by a kill (or a flipped byte) ends
the journal there: the records before it stand.
"""

from __future__ import annotations

import pickle
import struct
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

#: the journal's name in the JOBDIR
JOURNAL = "resume.journal"
_FRAME = struct.Struct(">II")  # payload length, CRC-32 of the payload


def frame(record: tuple[Any, ...]) -> bytes:
    payload = pickle.dumps(record, protocol=4)
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def read_records(data: bytes) -> tuple[list[tuple[Any, ...]], int]:
    """The records of a journal, and the length of its intact part."""
    records, pos = [], 0
    while pos + _FRAME.size <= len(data):
        size, crc = _FRAME.unpack_from(data, pos)
        payload = data[pos + _FRAME.size : pos + _FRAME.size + size]
        if len(payload) < size or zlib.crc32(payload) != crc:
            break
        records.append(pickle.loads(payload))  # our own file, as Scrapy's queues
        pos += _FRAME.size + size
    return records, pos


@dataclass
class JobState:
    """What a journal says: the run, the requests to do and the ones done."""

    run_id: str | None = None
    spider: str | None = None
    pending: dict[bytes, dict[str, Any]] = field(default_factory=dict)
    done: dict[bytes, str] = field(default_factory=dict)

    @classmethod
    def replay(cls, records: list[tuple[Any, ...]]) -> JobState:
        state = cls()
        for record in records:
            if record[0] == "run":
                state.run_id, state.spider = record[1]["run_id"], record[1]["spider"]
            elif record[0] == "S":
                state.pending[record[1]] = record[2]
                state.done.pop(record[1], None)
            elif record[0] == "D":
                for fp, url in record[1]:
                    state.pending.pop(fp, None)
                    state.done[fp] = url
        return state

    def other_spider(self, spider: str) -> str | None:
        """The job's spider, when it is not ``spider``."""
        return self.spider if self.spider not in (None, spider) else None

    def resumed_by(self, spider: str) -> bool:
        """Whether a run of ``spider`` resumes this job: it has a run, of no
        other spider."""
        return bool(self.run_id) and not self.other_spider(spider)

    def records(self) -> Iterator[tuple[Any, ...]]:
        """The same state as a compact journal."""
        yield ("run", {"run_id": self.run_id, "spider": self.spider})
        if self.done:
            yield ("D", list(self.done.items()))
        for fp, request in self.pending.items():
            yield ("S", fp, request)


def read_run(path: Path) -> JobState:
    """The run of the journal at ``path`` (its first record), without the
    requests: what the job is, for a component that starts before the
    extension reads the whole journal. An empty state without a journal."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_FRAME.size)
            if len(head) == _FRAME.size:
                head += handle.read(_FRAME.unpack(head)[0])
    except FileNotFoundError:
        return JobState()
    return JobState.replay(read_records(head)[0][:1])
