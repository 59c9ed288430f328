"""What each sensor of a location reports in one local day.

A local day runs from local midnight to the next (23 or 25 hours on DST days); a sensor's
readings end every ``interval`` seconds from one interval after midnight up to and including
the next midnight. Where those ends lie on the model's UTC grid of the sensor's series (whole-hour
UTC offsets, the series' own period), the values are the ``ConcentrationModel``'s, the
numbers the v1 mirror of the same seed publishes (converted if the archive reports another
unit; see ``generate_archive`` for the mirror's number of stations).
Otherwise (10-minute sensors, hourly ones in Asia/Kolkata, temperature and humidity) they are
the same physics with noise from the location-day's own random stream; they are computed for
all locations of a day at once, each row from its own draws, so a file never depends on which
other locations are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

from sample_data.clock import SECONDS_PER_DAY, day_start
from sample_data.concentrations import ConcentrationModel, GroupDay, NoiseDraws, ar1_noise
from sample_data.network import reported_decimals, unit_factor
from sample_data.openaq_v3.catalog import WEATHER_UNITS, Location, Sensor
from sample_data.randomness import Stream, random_stream
from sample_data.weather import surface_weather

# Noise of the weather readings: standard deviation (°C, %) and autocorrelation at one hour.
TEMPERATURE_NOISE, HUMIDITY_NOISE, WEATHER_AUTOCORRELATION = 0.8, 5.0, 0.9


@lru_cache(maxsize=4096)
def local_day_bounds(timezone: str, day: date) -> tuple[int, int]:
    """Unix seconds of the local midnights that begin and end ``day`` in ``timezone``."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone))
    return int(midnight.timestamp()), int((midnight + timedelta(days=1)).timestamp())  # wall-clock day


@dataclass
class SensorReadings:
    sensor: Sensor
    period_ends: np.ndarray  # unix seconds
    values: np.ndarray  # in the sensor's units, rounded as reported


@dataclass(frozen=True)
class _Drawn:
    """Readings the model's days do not give, waiting to be computed with others like them."""

    location: Location
    readings: SensorReadings  # its values are filled in
    start: int  # unix seconds of the local midnight
    draws: NoiseDraws  # one row


class ModelWindow:
    """The model's values of the UTC days before, of and after one local day, side by side per
    group of series: any local day's readings of a series are one slice (UTC offsets are within
    -12 h and +14 h)."""

    def __init__(self, model: ConcentrationModel):
        self.model = model
        network = model.network
        self.group_of_series = np.empty(len(network.series), dtype=np.int64)
        self.row_of_series = np.empty(len(network.series), dtype=np.int64)
        for group, series in enumerate(network.series_groups):
            self.group_of_series[series] = group
            self.row_of_series[series] = np.arange(len(series))
        self._days: dict[int, list[GroupDay]] = {}  # UTC day ordinal -> the model's day
        self._values: list[np.ndarray] = []  # per group: (series, the three days' period ends)
        self.start = 0  # unix seconds of the first UTC day held

    def move_to(self, day: date) -> None:
        ordinals = [day.toordinal() + offset for offset in (-1, 0, 1)]
        self._days = {
            ordinal: self._days.get(ordinal) or self.model.measure_day(date.fromordinal(ordinal))
            for ordinal in ordinals
        }
        days = [self._days[ordinal] for ordinal in ordinals]
        self._values = [np.hstack([groups[g].values for groups in days]) for g in range(len(days[0]))]
        self.start = day_start(date.fromordinal(ordinals[0]))

    def holds(self, series: int, interval: int, start: int) -> bool:
        """Whether readings every ``interval`` seconds from ``start`` are on the series' grid."""
        return self.model.network.series_period[series] == interval and start % interval == 0

    def values(self, series: int, period_ends: np.ndarray) -> np.ndarray:
        """The series' values at ``period_ends``, which lie on its grid inside the window."""
        period = int(self.model.network.series_period[series])
        first = (int(period_ends[0]) - self.start) // period
        return self._values[self.group_of_series[series]][self.row_of_series[series], first : first + len(period_ends)]


class Readings:
    def __init__(self, model: ConcentrationModel):
        self.model = model
        self.window = ModelWindow(model)

    def day(self, day: date, locations: list[Location]) -> list[list[SensorReadings]]:
        """The readings of each of ``locations`` in its local ``day``, sensor by sensor."""
        self.window.move_to(day)
        network = self.model.network
        readings: list[list[SensorReadings]] = []
        drawn: dict[tuple[str, int], list[_Drawn]] = {}  # by parameter and interval
        for location in locations:
            start, end = local_day_bounds(location.timezone, day)
            rng: np.random.Generator | None = None  # made when a sensor needs it: most do not
            readings.append([])
            for sensor in location.sensors:
                period_ends = start + sensor.interval * np.arange(1, (end - start) // sensor.interval + 1)
                series = sensor.series
                if series is not None and self.window.holds(series, sensor.interval, start):
                    values = self.window.values(series, period_ends)
                    if sensor.units != network.series_unit[series]:
                        values = _in_units(values / network.series_unit_factor[series], [sensor])[0]
                    readings[-1].append(SensorReadings(sensor, period_ends, values))
                    continue
                if rng is None:
                    rng = random_stream(self.model.seed, Stream.ARCHIVE_VALUES, location.index, day.toordinal())
                unfilled = SensorReadings(sensor, period_ends, np.empty(0))
                draws = NoiseDraws.draw(rng, (1, len(period_ends)))
                drawn.setdefault((sensor.parameter, sensor.interval), []).append(
                    _Drawn(location, unfilled, start, draws)
                )
                readings[-1].append(unfilled)
        for (parameter, interval), waiting in drawn.items():
            self._draw_values(parameter, interval, waiting)
        return readings

    def _draw_values(self, parameter: str, interval: int, waiting: list[_Drawn]) -> None:
        """Fill in the values of readings of one parameter and interval, one row each."""
        steps = max(len(w.readings.period_ends) for w in waiting)  # shorter days: the rest is unused
        stations = np.array([w.location.index for w in waiting])
        period_ends = np.array([w.start for w in waiting])[:, None] + interval * np.arange(1, steps + 1)
        draws = NoiseDraws(
            np.zeros((len(waiting), steps)), np.ones((len(waiting), steps)), np.ones((len(waiting), steps))
        )
        for row, w in enumerate(waiting):
            for padded, own in zip(draws, w.draws, strict=True):
                padded[row, : own.shape[1]] = own[0]
        if parameter in WEATHER_UNITS:
            values = self._weather(parameter, stations, period_ends, interval, draws.innovations)
        else:
            values = self.model.concentrations(parameter, stations, period_ends, interval, draws)
            values = _in_units(values, [w.readings.sensor for w in waiting])
        for row, w in enumerate(waiting):
            w.readings.values = values[row, : len(w.readings.period_ends)]

    def _weather(
        self, parameter: str, stations: np.ndarray, period_ends: np.ndarray, interval: int, innovations: np.ndarray
    ) -> np.ndarray:
        network = self.model.network
        mid_period = period_ends - interval / 2
        local_hour = ((mid_period + network.utc_offset_hours[stations][:, None] * 3600) % SECONDS_PER_DAY) / 3600
        # The same regional anomaly that drives the stations' ozone (sample_data.concentrations).
        anomaly = self.model.weather.temperature_anomaly(network.country_index[stations], mid_period)
        temperature, humidity = surface_weather(network.latitude[stations][:, None], mid_period, local_hour, anomaly)
        noise = ar1_noise(innovations, WEATHER_AUTOCORRELATION, interval)
        if parameter == "temperature":
            values = temperature + TEMPERATURE_NOISE * noise
        else:
            values = np.clip(humidity + HUMIDITY_NOISE * noise, 5.0, 100.0)
        return np.round(values, 1) + 0.0


def _in_units(model_values: np.ndarray, sensors: list[Sensor]) -> np.ndarray:
    """From the model's unit (ppb, µg/m³) to each row's sensor's, rounded as reported."""
    factor = np.array([unit_factor(s.parameter, s.units) for s in sensors])[:, None]
    scale = 10.0 ** np.array([reported_decimals(s.parameter, s.units) for s in sensors])[:, None]
    # + 0.0 turns -0.0 into 0.0, which would print as "-0.0".
    return np.round(np.atleast_2d(model_values) * factor * scale) / scale + 0.0
