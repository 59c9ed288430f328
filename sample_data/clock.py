"""UTC days as unix seconds."""

from __future__ import annotations

from datetime import UTC, date, datetime

SECONDS_PER_DAY = 86400


def day_start(day: date) -> int:
    """Unix seconds of 00:00 UTC of ``day``."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
