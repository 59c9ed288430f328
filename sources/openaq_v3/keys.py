"""Archive keys: ``records/csv.gz/locationid={id}/year={YYYY}/month={MM}/location-{id}-{YYYYMMDD}.csv.gz``.

The archive has no inventory: a month of one location is one LIST of its month prefix, which
returns every day's key with its ETag. Keys are relative to the archive root (the bucket URL
may carry a prefix such as ``records/csv.gz``).
"""

from __future__ import annotations

import re
from datetime import date

_KEY = re.compile(
    r"(?:^|/)locationid=(?P<id>\d+)/year=(?P<year>\d{4})/month=(?P<month>\d{2})/"
    r"location-(?P=id)-(?P<day>\d{8})\.csv(?:\.gz)?$"
)


def month_prefix(location_id: int, year: int, month: int) -> str:
    """The prefix holding one location's objects of one month."""
    return f"locationid={location_id}/year={year:04d}/month={month:02d}/"


def object_key(location_id: int, day: date) -> str:
    """The key of one location's object for one local day."""
    return f"{month_prefix(location_id, day.year, day.month)}location-{location_id}-{day:%Y%m%d}.csv.gz"


def parse_key(key: str) -> tuple[int, date] | None:
    """(location id, local day) of an archive key, or None if the key is not one."""
    match = _KEY.search(key)
    if match is None:
        return None
    try:
        day = date(int(match["day"][:4]), int(match["day"][4:6]), int(match["day"][6:]))
    except ValueError:
        return None
    if (day.year, day.month) != (int(match["year"]), int(match["month"])):
        return None  # the day is filed under another month: not an archive key
    return int(match["id"]), day
