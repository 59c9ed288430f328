"""OpenAQ v1 real-time object names: ``<unix-seconds>[_<suffix>].ndjson[.gz]`` in day prefixes."""

from __future__ import annotations

import re
from datetime import datetime, timezone

_OBJECT_NAME = re.compile(r"^(?P<seconds>\d{9,11})(?:_(?P<suffix>[A-Za-z0-9-]+))?\.ndjson(?:\.gz)?$")


def object_name_error(key: str) -> str | None:
    """Why a key is not an OpenAQ real-time object name, or None if it is one.

    Names are ``<unix-seconds>.ndjson[.gz]`` (up to 2021) or ``<unix-seconds>_<suffix>.ndjson[.gz]``.
    """
    name = key.rsplit("/", 1)[-1]
    if _OBJECT_NAME.match(name):
        return None
    return f"object name {name!r} is not <unix-seconds>[_<suffix>].ndjson[.gz]"


def published_at(key: str) -> datetime:
    """Publish time encoded in a valid object name (UTC)."""
    name = key.rsplit("/", 1)[-1]
    match = _OBJECT_NAME.match(name)
    if match is None:
        raise ValueError(object_name_error(key))
    return datetime.fromtimestamp(int(match["seconds"]), tz=timezone.utc)
