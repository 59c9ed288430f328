"""The text of an archive file: the CSV of one location and local day, in the style of its time.

Files written since late 2023 quote the header and every field but the ids and end lines with
CRLF; older ones are unquoted with LF. Rows are grouped by sensor (in the location's order),
each sensor's rows in time order. ``datetime`` is the local end of the averaging period with
the UTC offset in force then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np

from sample_data.openaq_v3.catalog import Location
from sample_data.openaq_v3.readings import SensorReadings

HEADER = ("location_id", "sensors_id", "location", "datetime", "lat", "lon", "parameter", "units", "value")
QUOTED_SINCE = date(2023, 11, 1)  # the first day whose file is written in the quoted style
BOM = "\ufeff"
SENTINEL = "-999"  # what the archive writes for a value the instrument did not have
NOT_A_NUMBER = "n/a"
MOBILE_SPREAD = 0.01  # degrees: how far a mobile location's readings stray from its position


def quoted_style(location: Location, day: date, quoted_since: date) -> bool:
    """Whether the file is quoted with CRLF (else unquoted with LF)."""
    if location.alternating_style:  # its days were re-exported in the new style one by one
        return day.toordinal() % 2 == 0
    return day >= quoted_since


class LocalTimes:
    """The ``datetime`` texts of period ends, made once per time zone, day and interval."""

    def __init__(self) -> None:
        self._texts: dict[tuple[str, int, int, int], list[str]] = {}

    def texts(self, timezone: str, period_ends: np.ndarray) -> list[str]:
        interval = int(period_ends[1] - period_ends[0]) if len(period_ends) > 1 else 0
        key = (timezone, int(period_ends[0]), interval, len(period_ends))
        if key not in self._texts:
            zone = ZoneInfo(timezone)
            self._texts[key] = [datetime.fromtimestamp(t, zone).isoformat() for t in period_ends.tolist()]
        return self._texts[key]


@dataclass(frozen=True)
class FileText:
    payload: bytes  # the CSV, not yet compressed
    rows: int  # data lines, broken ones included
    sentinels: int
    broken_lines: int


def file_text(
    location: Location,
    readings: list[SensorReadings],
    local_times: LocalTimes,
    *,
    quoted: bool,
    bom: bool,
    rng: np.random.Generator,
    sentinel_share: float,
    broken_share: float,
) -> FileText:
    """The file's text; ``rng`` (the file's stream) draws sentinels, broken lines and the
    positions of a mobile location."""
    rows = sum(len(reading.period_ends) for reading in readings)
    # The order of the draws below is part of the output.
    sentinel_draw, broken_draw, kind_draw = rng.random((3, rows))  # always drawn: stable streams
    sentinel = sentinel_draw < sentinel_share
    cut = (broken_draw < broken_share) & (kind_draw < 0.5)  # cut after the coordinates: 6 fields of 9
    not_a_number = (broken_draw < broken_share) & ~cut
    q = '"' if quoted else ""  # the quote around string fields (and lat, lon, value)
    if location.mobile:
        spread = rng.normal(0, MOBILE_SPREAD, (2, rows))
        latitudes = np.round(location.latitude + spread[0], 6).tolist()
        longitudes = np.round(location.longitude + spread[1], 6).tolist()
        coordinates = [f"{q}{lat!r}{q},{q}{lon!r}{q}" for lat, lon in zip(latitudes, longitudes, strict=True)]
    else:
        coordinates = [f"{q}{location.latitude!r}{q},{q}{location.longitude!r}{q}"] * rows

    values: list[str] = []
    for reading in readings:
        values += map(repr, reading.values.tolist())  # the shortest text that reads back the same
    for i in np.flatnonzero(sentinel).tolist():
        values[i] = SENTINEL
    for i in np.flatnonzero(not_a_number).tolist():
        values[i] = NOT_A_NUMBER
    cut_rows = np.flatnonzero(cut).tolist()

    name = location.location_field.replace('"', '""') if quoted else location.location_field
    lines: list[str] = []
    first = 0  # the file row of the sensor's first reading
    for reading in readings:
        sensor, end = reading.sensor, first + len(reading.period_ends)
        head = f"{location.id},{sensor.id},{q}{name}{q},{q}"
        tail = f",{q}{sensor.parameter}{q},{q}{sensor.units}{q},{q}"
        times = local_times.texts(location.timezone, reading.period_ends)
        lines += [
            f"{head}{time}{q},{place}{tail}{value}{q}"
            for time, place, value in zip(times, coordinates[first:end], values[first:end], strict=True)
        ]
        for i in cut_rows:
            if first <= i < end:
                lines[i] = f"{head}{times[i - first]}{q},{coordinates[i]}"
        first = end

    newline = "\r\n" if quoted else "\n"
    header = ",".join(f"{q}{column}{q}" for column in HEADER)
    text = (BOM if bom else "") + newline.join([header, *lines]) + newline
    broken = cut | not_a_number
    return FileText(text.encode("utf-8"), rows, int((sentinel & ~broken).sum()), int(broken.sum()))
