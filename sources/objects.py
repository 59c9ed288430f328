"""What a source bucket lists (objects by key, size, ETag and time) and what parsing one gives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa


@dataclass(frozen=True)
class ObjectInfo:
    """One object of a source bucket (its ETag identifies the content).

    ``last_modified`` is S3's LastModified (a local mirror's file mtime), None when the listing
    does not say: for the v3 archive it is the object's publication time, so a patched file's
    rows are published after the earlier version's.
    """

    key: str
    size: int
    etag: str
    last_modified: datetime | None = None


@dataclass(frozen=True)
class ParsedObject:
    """An object's rows (RAW_SCHEMA), and why it is listed as broken (None if it is not)."""

    table: pa.Table
    problem: str | None
