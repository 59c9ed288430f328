"""What a source bucket lists: objects by key, size and ETag."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectInfo:
    """One object of a source bucket (its ETag identifies the content)."""

    key: str
    size: int
    etag: str
