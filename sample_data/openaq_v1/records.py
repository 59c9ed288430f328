"""The text of the records: one OpenAQ v1 measurement per line, with OpenAQ's keys in its order.

A line is ``date + head + value + tail``. The head and tail of every series are built once,
in the variants a record can take (renamed or not, with or without averagingPeriod and
coordinates); only mobile stations, which move, get their tails built per line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import numpy as np

from sample_data.network import COUNTRIES, Network
from sample_data.openaq_v1.publication import FetchDay

# (time, UTC offset) packed into one integer: time * 64 + offset + 32; offsets are within ±12 h.
_OFFSET_BIAS = 32


def json_text(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def coordinates_json(latitude: float, longitude: float) -> str:
    return f',"coordinates":{{"latitude":{latitude:.6f},"longitude":{longitude:.6f}}}'


def date_json(unix: int, utc_offset_hours: int) -> str:
    """The opening of a record up to its date; the time is the end of the averaging period."""
    utc = datetime.fromtimestamp(unix, UTC)
    local = utc.astimezone(timezone(timedelta(hours=utc_offset_hours)))
    return f'{{"date":{{"utc":"{utc:%Y-%m-%dT%H:%M:%S}.000Z","local":"{local.isoformat(timespec="seconds")}"}},'


@dataclass
class DayLines:
    """The lines of a fetch day's objects, in object order, and the pieces each line is made of
    (fault injection rewrites parts of lines)."""

    lines: list[str]
    lines_per_object: np.ndarray
    dates: list[str]
    heads: list[str]
    values: list[str]
    series: np.ndarray


class RecordFormatter:
    def __init__(self, network: Network, rename_at: int):
        self.network = network
        self.rename_at = rename_at  # unix seconds from which the renamed station has its new name
        heads: list[str] = []  # 2 per series: [location, renamed location]
        tails: list[str] = []  # 4 per series: [has averagingPeriod * 2 + has coordinates]
        # Mobile series -> their tail in pieces: up to averagingPeriod, it, after the coordinates.
        self.mobile_tails: dict[int, tuple[str, str, str]] = {}
        for number, (station, parameter, unit, averaging_hours) in enumerate(network.series):
            country = COUNTRIES[station.country_index]
            for location in (station.location, station.renamed_location or station.location):
                heads.append(f'"parameter":"{parameter}","location":{json_text(location)},"value":')
            before = f',"unit":"{unit}","city":{json_text(station.city)},"attribution":' + json_text(
                [{"name": name, "url": url} for name, url in country.attribution]
            )
            averaging = f',"averagingPeriod":{{"value":{averaging_hours:g},"unit":"hours"}}'
            after = (
                f',"country":"{country.code}","sourceName":'
                + json_text("Mobile Monitoring Campaign" if station.mobile else country.source_name)
                + f',"sourceType":"{"research" if station.mobile else country.source_type}"'
                + f',"mobile":{"true" if station.mobile else "false"}}}'
            )
            for has_averaging in (False, True):
                for has_coordinates in (False, True):
                    coordinates = coordinates_json(station.latitude, station.longitude) if has_coordinates else ""
                    tails.append(before + (averaging if has_averaging else "") + coordinates + after)
            if station.mobile:
                self.mobile_tails[number] = (before, averaging, after)
        self.heads = np.array(heads, dtype=object)
        self.tails = np.array(tails, dtype=object)

    def day_lines(self, fetch_day: FetchDay) -> DayLines:
        network, rows = self.network, fetch_day.rows
        stations = network.series_station[rows.series]

        # One date text per distinct (time, UTC offset), far fewer than lines.
        time_and_offset = rows.period_end * 64 + (network.utc_offset_hours[stations] + _OFFSET_BIAS)
        distinct, which = np.unique(time_and_offset, return_inverse=True)
        date_texts = np.array(
            [date_json(int(key // 64), int(key % 64) - _OFFSET_BIAS) for key in distinct], dtype=object
        )
        dates = date_texts[which].tolist()

        renamed = network.renamed[stations] & (rows.period_end >= self.rename_at)
        heads = self.heads[rows.series * 2 + renamed].tolist()
        tails = self.tails[
            rows.series * 4 + (~rows.without_averaging_period) * 2 + (~rows.without_coordinates)
        ].tolist()
        values = list(map(repr, rows.value.tolist()))  # shortest round-trip float, as json.dumps
        lines = [
            date + head + value + tail for date, head, value, tail in zip(dates, heads, values, tails, strict=True)
        ]

        for i in np.flatnonzero(network.mobile[stations]).tolist():  # a position of its own per line
            before, averaging, after = self.mobile_tails[int(rows.series[i])]
            coordinates = (
                ""
                if rows.without_coordinates[i]
                else coordinates_json(
                    network.latitude[stations[i]] + rows.latitude_jitter[i],
                    network.longitude[stations[i]] + rows.longitude_jitter[i],
                )
            )
            averaging = "" if rows.without_averaging_period[i] else averaging
            lines[i] = dates[i] + heads[i] + values[i] + before + averaging + coordinates + after
        lines_per_object = np.bincount(fetch_day.object_of_row, minlength=len(fetch_day.objects.publish_times))
        return DayLines(lines, lines_per_object, dates, heads, values, rows.series)
