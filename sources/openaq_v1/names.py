"""OpenAQ v1 real-time object names: ``<unix-seconds>[_<suffix>].ndjson[.gz]`` in day prefixes.

A name's time is its publish time. Only times in ``[EARLIEST_PUBLISHED, LATEST_PUBLISHED)``
are plausible: OpenAQ's real-time feed did not exist before 2013, and a name for, say, the year
5138 is a garbled or overflowing number, not a publish time. Keys with any other time are
skipped with the reason, like other odd names. The upper bound is a fixed date, not the clock:
a day's raw rows must not depend on when the day is read.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_OBJECT_NAME = re.compile(r"^(?P<seconds>\d{9,11})(?:_(?P<suffix>[A-Za-z0-9-]+))?\.ndjson(?:\.gz)?$")

EARLIEST_PUBLISHED = datetime(2013, 1, 1, tzinfo=UTC)
LATEST_PUBLISHED = datetime(2100, 1, 1, tzinfo=UTC)
# Skip reasons start with one of these.
ODD_NAME = "object name"
IMPLAUSIBLE_TIME = "implausible publish time"


def object_name_error(key: str) -> str | None:
    """Why a key is not an OpenAQ real-time object name, or None if it is one.

    Names are ``<unix-seconds>.ndjson[.gz]`` (up to 2021) or ``<unix-seconds>_<suffix>.ndjson[.gz]``,
    for a time from 2013 to 2099 (see the module docstring).
    """
    name = key.rsplit("/", 1)[-1]
    match = _OBJECT_NAME.match(name)
    if match is None:
        return f"{ODD_NAME} {name!r} is not <unix-seconds>[_<suffix>].ndjson[.gz]"
    when = datetime.fromtimestamp(int(match["seconds"]), tz=UTC)  # 11 digits reach 5138: no overflow
    if not EARLIEST_PUBLISHED <= when < LATEST_PUBLISHED:
        return (
            f"{IMPLAUSIBLE_TIME}: object name {name!r} is for {when:%Y-%m-%d %H:%M:%S} UTC, not within "
            f"{EARLIEST_PUBLISHED:%Y}-{LATEST_PUBLISHED.year - 1} (OpenAQ's real-time feed)"
        )
    return None


def published_at(key: str) -> datetime:
    """Publish time encoded in a valid object name (UTC)."""
    problem = object_name_error(key)
    match = _OBJECT_NAME.match(key.rsplit("/", 1)[-1])
    if problem is not None or match is None:
        raise ValueError(problem)
    return datetime.fromtimestamp(int(match["seconds"]), tz=UTC)
