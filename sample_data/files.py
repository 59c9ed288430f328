"""Writing generated files: atomically, gzipped without a timestamp, on a few threads."""

from __future__ import annotations

import gzip
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

GZIP_LEVEL = 3  # fast; the ratio barely differs from level 6 on this repetitive text


def write_file(path: Path, payload: bytes, compress: bool, truncate: bool = False) -> int:
    """Write ``payload``, gzipped if ``compress`` and then cut in half if ``truncate``; returns
    the bytes written."""
    if compress:
        # mtime=0 and no file name in the header: identical bytes on every run.
        payload = gzip.compress(payload, compresslevel=GZIP_LEVEL, mtime=0)
        if truncate:
            payload = payload[: len(payload) // 2]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")  # readers never see half-written objects
    partial.write_bytes(payload)
    os.replace(partial, path)
    return len(payload)


class BackgroundWriter:
    """Writes files on a few threads (gzip releases the GIL) while the next ones are built."""

    def __init__(self, root: Path):
        self.root = root
        self.workers = max(1, min(4, os.cpu_count() or 1))
        self.sizes: dict[str, int] = {}  # key -> bytes written
        self._pending: deque[tuple[str, Future]] = deque()
        self._pool = ThreadPoolExecutor(self.workers)

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self._pool.shutdown(wait=True)

    def write(self, key: str, payload: bytes, compress: bool = False, truncate: bool = False) -> None:
        self._pending.append((key, self._pool.submit(write_file, self.root / key, payload, compress, truncate)))
        while len(self._pending) > 2 * self.workers:  # bounds the memory held by queued payloads
            self._collect()

    def finish(self) -> None:
        while self._pending:
            self._collect()

    def _collect(self) -> None:
        key, future = self._pending.popleft()
        self.sizes[key] = future.result()
