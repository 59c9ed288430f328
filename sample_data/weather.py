"""Regional weather: anomalies that many stations of a country share, and the season.

Each region (a country) has two slow fields, each a sum of three sinusoids of absolute time
with periods of 2-10 days (the multi-day weather regimes), and two day-to-day random fields
(``daily``): each UTC day of each region draws its own innovations from the stream keyed by
(seed, region, day), and a field's value at a day's noon is a geometric moving average of the
last ``DAILY_MEMORY`` days' innovations (an AR(1) of day-to-day autocorrelation
``DAILY_PERSISTENCE``, truncated), interpolated linearly between noons. So tomorrow keeps part
of today's anomaly but never all of it, and a day's weather depends only on the draws of the
days around it, never on which days are generated.

The regional temperature anomaly (``temperature_anomaly``, °C) is the photochemical regime
plus the daily temperature field: the temperature stations report (``surface_weather``, on
top of the climate of their latitude, season and hour) and the driver of ozone
(``sample_data.concentrations``), so both share the regimes. ``season`` is the hemisphere-aware
annual cycle.
"""

from __future__ import annotations

import numpy as np

from sample_data.clock import SECONDS_PER_DAY
from sample_data.randomness import Stream, random_stream

PHOTOCHEMISTRY = 0  # sunny, ozone-forming weather
STAGNATION = 1  # still air in which primary pollutants accumulate
FIELDS = 2
WAVES = 3  # sinusoids per field

# Day-to-day random fields (``daily``).
DAILY_TEMPERATURE = 0  # warmer or colder than the regimes say
DAILY_OZONE = 1  # what makes ozone differ beyond temperature: clouds, transport, mixing
DAILY_FIELDS = 2
DAILY_PERSISTENCE = 0.7  # autocorrelation of a daily field from one noon to the next
DAILY_MEMORY = 12  # days of innovations a noon's value sums (0.7^12 < 1.5 %: the rest is dropped)
_NOON = SECONDS_PER_DAY // 2
_EPOCH_ORDINAL = 719163  # date(1970, 1, 1).toordinal(): days are keyed by their date ordinal

# The regional temperature anomaly (°C): per unit of the photochemical regime, and of the daily field.
TEMPERATURE_PER_PHOTOCHEMISTRY = 2.5
TEMPERATURE_DAILY = 2.5

DAYS_PER_YEAR = 365.2425
TEMPERATURE_PEAK_DAY = 200  # day of year of the northern summer's warmest (mid-July)


class RegionalWeather:
    def __init__(self, seed: int, region_count: int):
        self.seed = seed
        shape = (region_count, FIELDS, WAVES)
        self.period = np.empty(shape)  # seconds
        self.amplitude = np.empty(shape)
        self.phase = np.empty(shape)
        for region in range(region_count):
            rng = random_stream(seed, Stream.WEATHER, region)
            self.period[region] = rng.uniform(2, 10, (FIELDS, WAVES)) * SECONDS_PER_DAY
            amplitude = rng.uniform(0.5, 1.0, (FIELDS, WAVES))
            # Scaled so that each field has unit variance (a sinusoid's variance is amplitude²/2).
            self.amplitude[region] = amplitude / np.sqrt((amplitude**2).sum(axis=1, keepdims=True) / 2)
            self.phase[region] = rng.uniform(0, 2 * np.pi, (FIELDS, WAVES))
        self._innovations: dict[tuple[int, int], np.ndarray] = {}  # (region, day ordinal) -> draws

    def anomaly(self, regions: np.ndarray, times: np.ndarray, field: int) -> np.ndarray:
        """The field at ``times`` (unix seconds, one row per entry of ``regions``), shape of times."""
        period = self.period[regions, field][:, None, :]
        amplitude = self.amplitude[regions, field][:, None, :]
        phase = self.phase[regions, field][:, None, :]
        return (amplitude * np.sin(2 * np.pi * times[..., None] / period + phase)).sum(axis=-1)

    def daily(self, regions: np.ndarray, times: np.ndarray, field: int) -> np.ndarray:
        """The day-to-day random ``field`` (unit variance at noon UTC) at ``times`` (unix seconds,
        one row per entry of ``regions``), shape of times."""
        since_noon = (np.asarray(times, dtype=float) - _NOON) / SECONDS_PER_DAY
        day = np.floor(since_noon)
        weight = since_noon - day  # towards the next noon
        first, last = int(day.min()), int(day.max()) + 1
        distinct, row = np.unique(regions, return_inverse=True)
        noons = np.stack([self._noon_values(int(region), first, last, field) for region in distinct])
        at = day.astype(np.int64) - first
        row = row.reshape(-1, *([1] * (np.ndim(times) - 1)))  # one region per row of times
        return (1 - weight) * noons[row, at] + weight * noons[row, at + 1]

    def temperature_anomaly(
        self, regions: np.ndarray, times: np.ndarray, photochemistry: np.ndarray | None = None
    ) -> np.ndarray:
        """The regional temperature anomaly (°C): the photochemical regime (``photochemistry``
        if the caller has it: the same field at the same times) and the daily field."""
        if photochemistry is None:
            photochemistry = self.anomaly(regions, times, PHOTOCHEMISTRY)
        daily = self.daily(regions, times, DAILY_TEMPERATURE)
        return TEMPERATURE_PER_PHOTOCHEMISTRY * photochemistry + TEMPERATURE_DAILY * daily

    def _noon_values(self, region: int, first: int, last: int, field: int) -> np.ndarray:
        """The field at the noons of unix days ``first``..``last`` (inclusive) of ``region``."""
        days = range(first - DAILY_MEMORY + 1, last + 1)
        innovations = np.array([self._innovation(region, day)[field] for day in days])
        weights = DAILY_PERSISTENCE ** np.arange(DAILY_MEMORY)
        weights /= np.sqrt((weights**2).sum())  # unit variance
        return np.convolve(innovations, weights, mode="valid")

    def _innovation(self, region: int, day: int) -> np.ndarray:
        """The day's draws of the region, from the stream of (seed, region, day): cached."""
        key = (region, day)
        drawn = self._innovations.get(key)
        if drawn is None:
            rng = random_stream(self.seed, Stream.DAILY_WEATHER, region, day + _EPOCH_ORDINAL)
            drawn = self._innovations[key] = rng.standard_normal(DAILY_FIELDS)
        return drawn


def season(latitude: np.ndarray, unix_seconds: np.ndarray, peak_day: float) -> np.ndarray:
    """The annual cycle in [-1, 1]: 1 on day of year ``peak_day`` in the northern hemisphere,
    half a year later in the southern. ``latitude`` broadcasts against ``unix_seconds``."""
    day_of_year = (unix_seconds / SECONDS_PER_DAY) % DAYS_PER_YEAR  # the epoch starts on 1 January
    return np.cos(2 * np.pi * (day_of_year - peak_day) / DAYS_PER_YEAR) * np.where(latitude >= 0, 1.0, -1.0)


def surface_weather(
    latitude: np.ndarray, unix_seconds: np.ndarray, local_hour: np.ndarray, temperature_anomaly: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Air temperature (°C) and relative humidity (%) without noise: warmer towards the equator,
    in the local summer, in the afternoon and by the regional ``temperature_anomaly`` (°C);
    humidity falls as it warms. ``latitude`` broadcasts against the other arrays (a column: one
    station per row)."""
    summer = season(latitude, unix_seconds, TEMPERATURE_PEAK_DAY)
    diurnal = np.cos(2 * np.pi * (local_hour - 15) / 24)
    distance = np.abs(latitude)
    temperature = 27.0 - 0.4 * np.maximum(distance - 15.0, 0.0) + (3.0 + 0.2 * distance) * summer
    temperature = temperature + 4.0 * diurnal + temperature_anomaly
    humidity = 65.0 - 12.0 * diurnal - 2.4 * temperature_anomaly
    return temperature, humidity
