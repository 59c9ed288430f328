"""What the realtime feed publishes and when: the objects of each fetch day, the objects each
measurement appears in, and what its record leaves out.

A measurement becomes available some minutes to hours after its averaging period ends and
appears in the first object published from then on; some are re-published in 1-3 later
objects. So a fetch day holds measurements of that day and of the two days before.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import NamedTuple

import numpy as np

from sample_data.clock import SECONDS_PER_DAY, day_start
from sample_data.concentrations import ConcentrationModel
from sample_data.randomness import Stream, random_stream

NAMINGS = ("legacy", "suffixed", "mixed")
SUFFIXED_SHARE = 1 / 6  # share of newer-style objects with naming "mixed"
MAX_REPUBLICATIONS = 3
DAYS_SPANNED = 3  # a measurement appears in objects of its own day or of the two days after


class DayObjects(NamedTuple):
    """The objects of one fetch day, in publishing order."""

    publish_times: np.ndarray  # unix seconds, increasing, inside the day
    suffixed: np.ndarray  # bool: newer-style name <unix>_<suffix>.ndjson (plain text)
    suffixes: list[str]

    def name(self, number: int) -> str:
        unix = self.publish_times[number]
        return f"{unix}_{self.suffixes[number]}.ndjson" if self.suffixed[number] else f"{unix}.ndjson.gz"


def day_objects(seed: int, day: date, count: int, naming: str) -> DayObjects:
    rng = random_stream(seed, Stream.OBJECTS, day.toordinal())
    spacing = SECONDS_PER_DAY / count
    jitter = rng.integers(0, int(spacing * 0.3) + 1, count)  # less than the spacing: names stay unique
    publish_times = day_start(day) + np.floor(np.arange(count) * spacing).astype(np.int64) + jitter
    style_draw = rng.random(count)  # always drawn: stable streams
    uuids = rng.integers(0, 256, (count, 16), dtype=np.uint8)  # the suffixes, UUID-shaped
    suffixes = [
        f"{b[:4].hex()}-{b[4:6].hex()}-{b[6:8].hex()}-{b[8:10].hex()}-{b[10:].hex()}"
        for b in (bytes(row) for row in uuids)
    ]
    if naming == "legacy":
        suffixed = np.zeros(count, bool)
    elif naming == "suffixed":
        suffixed = np.ones(count, bool)
    else:  # mixed, with both styles present whenever there are 2+ objects
        suffixed = style_draw < SUFFIXED_SHARE
        if count >= 2 and not suffixed.any():
            suffixed[np.argmin(style_draw)] = True
        if count >= 2 and suffixed.all():
            suffixed[np.argmax(style_draw)] = False
    return DayObjects(publish_times, suffixed, suffixes)


@dataclass(frozen=True)
class Measurements:
    """Measurements as the feed shows them: columns of equal length, one row per measurement."""

    series: np.ndarray
    period_end: np.ndarray  # unix seconds
    value: np.ndarray  # in the series unit, rounded as reported
    without_coordinates: np.ndarray  # bool: the record leaves out coordinates
    without_averaging_period: np.ndarray  # bool: the record leaves out averagingPeriod
    latitude_jitter: np.ndarray  # degrees from the station; moves mobile stations only
    longitude_jitter: np.ndarray

    def columns(self) -> list[np.ndarray]:
        return [getattr(self, f.name) for f in fields(self)]

    def take(self, rows: np.ndarray) -> Measurements:
        return Measurements(*(column[rows] for column in self.columns()))

    @staticmethod
    def concatenate(parts: list[Measurements]) -> Measurements:
        return Measurements(
            *(np.concatenate(column) for column in zip(*(part.columns() for part in parts), strict=True))
        )


@dataclass(frozen=True)
class MeasurementDay:
    """The measurements whose averaging period ends in one UTC day, and their appearances."""

    measurements: Measurements
    # One entry per appearance: the object, numbered on the timeline of the objects of this
    # day and the next two, and the row in ``measurements``.
    appearance_object: np.ndarray
    appearance_row: np.ndarray


class FetchDay(NamedTuple):
    """What the objects of one fetch day hold, ordered by object, series and time."""

    objects: DayObjects
    object_of_row: np.ndarray  # the object (number within the day) each row appears in
    rows: Measurements


class Publisher:
    """Publishes the model's measurements; each day's objects and measurements made once."""

    def __init__(self, model: ConcentrationModel, objects_per_day: int, naming: str, republish: float):
        self.model = model
        self.objects_per_day = objects_per_day
        self.naming = naming
        self.republish = republish
        self._objects: dict[int, DayObjects] = {}
        self._measurement_days: dict[int, MeasurementDay] = {}

    def objects(self, day: date) -> DayObjects:
        ordinal = day.toordinal()
        if ordinal not in self._objects:
            self._objects[ordinal] = day_objects(self.model.seed, day, self.objects_per_day, self.naming)
        return self._objects[ordinal]

    def fetch_day(self, day: date) -> FetchDay:
        object_parts, row_parts = [], []
        for days_back in reversed(range(DAYS_SPANNED)):
            measured = self._measurement_day(day - timedelta(days_back))
            here = measured.appearance_object // self.objects_per_day == days_back
            object_parts.append(measured.appearance_object[here] % self.objects_per_day)
            row_parts.append(measured.measurements.take(measured.appearance_row[here]))
        object_of_row = np.concatenate(object_parts)
        rows = Measurements.concatenate(row_parts)
        order = np.lexsort((rows.period_end, rows.series, object_of_row))
        return FetchDay(self.objects(day), object_of_row[order], rows.take(order))

    def _measurement_day(self, day: date) -> MeasurementDay:
        ordinal = day.toordinal()
        if ordinal not in self._measurement_days:
            self._measurement_days[ordinal] = self._publish(day)
            for old in [k for k in self._measurement_days if k <= ordinal - DAYS_SPANNED]:
                del self._measurement_days[old]  # fetch days ask for their own day and the two before
        return self._measurement_days[ordinal]

    def _publish(self, day: date) -> MeasurementDay:
        network = self.model.network
        max_gap = max(1, min(4, self.objects_per_day // 3))  # in objects: ~2 hours at 144 per day
        parts, available_parts, republication_parts, gap_parts = [], [], [], []
        for group in self.model.measure_day(day):
            rng, shape = group.rng, group.values.shape  # the order of the draws is part of the output
            stations = network.series_station[group.series]
            without_coordinates = (rng.random(shape) < 0.01) | ~network.sends_coordinates[stations][:, None]
            without_averaging_period = rng.random(shape) < 0.01
            lag = network.publication_lag[stations][:, None]
            available_parts.append((group.period_ends[None, :] + lag + rng.uniform(0, 1800, shape)).ravel())
            republished = rng.random(shape) < self.republish
            republications = np.where(republished, rng.integers(1, MAX_REPUBLICATIONS + 1, shape), 0)
            republication_parts.append(republications.ravel())
            gaps = rng.integers(1, max_gap + 1, shape + (MAX_REPUBLICATIONS,))  # in objects
            gap_parts.append(gaps.reshape(-1, MAX_REPUBLICATIONS))
            latitude_jitter, longitude_jitter = rng.normal(0, 0.01, shape), rng.normal(0, 0.01, shape)
            parts.append(
                Measurements(
                    series=np.repeat(group.series, len(group.period_ends)),
                    period_end=np.tile(group.period_ends, len(group.series)),
                    value=group.values.ravel(),
                    without_coordinates=without_coordinates.ravel(),
                    without_averaging_period=without_averaging_period.ravel(),
                    latitude_jitter=latitude_jitter.ravel(),
                    longitude_jitter=longitude_jitter.ravel(),
                )
            )
        # The timeline numbers the objects of this day and the next two; the first appearance
        # is the object published at or after availability, republications follow it.
        timeline = np.concatenate([self.objects(day + timedelta(d)).publish_times for d in range(DAYS_SPANNED)])
        first = np.searchsorted(timeline, np.concatenate(available_parts), side="left")
        republication_count = np.concatenate(republication_parts)
        later = np.cumsum(np.concatenate(gap_parts), axis=1)
        object_parts, row_parts = [first], [np.arange(len(first))]
        for repeat in range(MAX_REPUBLICATIONS):
            again = np.flatnonzero(republication_count > repeat)
            object_parts.append(first[again] + later[again, repeat])
            row_parts.append(again)
        objects, rows = np.concatenate(object_parts), np.concatenate(row_parts)
        published = objects < len(timeline)  # the rest would appear after the third day
        return MeasurementDay(Measurements.concatenate(parts), objects[published], rows[published])
