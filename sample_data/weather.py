"""Regional weather: slow anomalies that many stations of a country share.

Each region has two fields, each a sum of three sinusoids of absolute time with periods of
2-10 days, so a day's weather does not depend on which days are generated. ``surface_weather``
adds the temperature and humidity a station feels (the v3 archive reports them).
"""

from __future__ import annotations

import numpy as np

from sample_data.clock import SECONDS_PER_DAY
from sample_data.randomness import Stream, random_stream

PHOTOCHEMISTRY = 0  # sunny, ozone-forming weather
STAGNATION = 1  # still air in which primary pollutants accumulate
FIELDS = 2
WAVES = 3  # sinusoids per field


class RegionalWeather:
    def __init__(self, seed: int, region_count: int):
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

    def anomaly(self, regions: np.ndarray, times: np.ndarray, field: int) -> np.ndarray:
        """The field at ``times`` (unix seconds, one row per entry of ``regions``), shape of times."""
        period = self.period[regions, field][:, None, :]
        amplitude = self.amplitude[regions, field][:, None, :]
        phase = self.phase[regions, field][:, None, :]
        return (amplitude * np.sin(2 * np.pi * times[..., None] / period + phase)).sum(axis=-1)


def surface_weather(
    latitude: np.ndarray, unix_seconds: np.ndarray, local_hour: np.ndarray, photochemistry: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Air temperature (°C) and relative humidity (%) without noise: warmer towards the equator,
    in the local summer, in the afternoon and in sunny weather; humidity falls as it warms.
    ``latitude`` broadcasts against the other arrays (a column: one station per row)."""
    day_of_year = (unix_seconds / SECONDS_PER_DAY) % 365.2425  # the epoch starts on 1 January
    summer = np.cos(2 * np.pi * (day_of_year - 200) / 365.2425) * np.where(latitude >= 0, 1.0, -1.0)
    diurnal = np.cos(2 * np.pi * (local_hour - 15) / 24)
    distance = np.abs(latitude)
    temperature = 27.0 - 0.4 * np.maximum(distance - 15.0, 0.0) + (3.0 + 0.2 * distance) * summer
    temperature = temperature + 4.0 * diurnal + 2.0 * photochemistry
    humidity = 65.0 - 12.0 * diurnal - 6.0 * photochemistry
    return temperature, humidity
