"""What the stations measure: concentrations from diurnal cycles, seasons, regional weather and noise.

Ozone (ppb) is the station's level (its annual mean) plus
- a seasonal cycle: highest in late spring and summer of the station's hemisphere, ±9 ppb
  at latitudes of 30 degrees and more, less towards the equator (``OZONE_SEASON``);
- a diurnal cycle peaking mid-afternoon, the station's amplitude in winter, up to
  ``DIURNAL_SUMMER`` ppb more in the warm half of the year;
- the regional temperature anomaly (``weather.temperature_anomaly``, °C) times
  ``OZONE_PER_DEGREE``: warm spells bring ozone, so the temperature the archive reports and
  ozone share the multi-day weather regimes;
- the photochemical regime beyond what temperature says (``OZONE_PHOTOCHEMISTRY``);
- a day-to-day regional anomaly drawn per (seed, region, day) (``weather.daily``,
  ``OZONE_DAILY``), persistent from day to day but renewed every day, so that neither the
  regimes nor today's values give tomorrow's ozone;
- minus titration by local NO, strongest in the rush hours, and AR(1) hourly noise restarted
  each day.
NO2, NO and CO follow the rush hours; particles and SO2 accumulate in stagnant air. On top,
each series carries AR(1) noise, and low gases read slightly negative at times.
The values are independent of the output format: a format draws its own details (missing
fields, publication times) from the group's random stream after the values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

import numpy as np

from sample_data.clock import SECONDS_PER_DAY, day_start
from sample_data.network import COUNTRIES, PARAMETERS, Network
from sample_data.randomness import Stream, random_stream
from sample_data.weather import DAILY_OZONE, PHOTOCHEMISTRY, STAGNATION, RegionalWeather, season

# Per parameter, AR(1) noise: standard deviation, autocorrelation at a lag of one hour, and the
# station level the deviation is relative to (None: the deviation is in ppb).
NOISE = {
    "o3": (2.5, 0.8, None),
    "no2": (0.15, 0.7, "no2"),
    "no": (0.2, 0.6, "no"),
    "nox": (0.15, 0.7, "no2"),
    "so2": (0.25, 0.7, "so2"),
    "co": (0.1, 0.7, "co"),
    "pm25": (0.12, 0.8, "pm25"),
    "pm10": (0.15, 0.8, "pm25"),
    "pm1": (0.12, 0.8, "pm25"),
    "bc": (0.15, 0.7, "pm25"),
}
PARTICLES = {"pm25": 1.0, "pm10": 1.6, "pm1": 0.65, "bc": 0.07}  # concentration relative to pm25
LOW_GASES = ("no2", "so2", "no", "nox")  # near zero at times: deliberate small negatives

# Ozone (ppb). The season: half the annual range where it is full (|latitude| >= 30), and the
# day of year of its northern maximum (late May). Sunnier days make a larger diurnal cycle.
OZONE_SEASON, OZONE_SEASON_FULL_LATITUDE, OZONE_PEAK_DAY = 9.0, 30.0, 150
DIURNAL_SUMMER = 4.0  # added to the diurnal amplitude at the season's peak, nothing in winter
OZONE_PER_DEGREE = 1.3  # per °C of the regional temperature anomaly
OZONE_PHOTOCHEMISTRY = 3.0  # per unit of the photochemical regime, beyond its temperature
OZONE_DAILY = 4.0  # standard deviation of the day-to-day anomaly beyond temperature


def diurnal_ozone(local_hour: np.ndarray) -> np.ndarray:
    """Peak mid-afternoon, minimum in the early morning."""
    x = 2 * np.pi * (local_hour - 15) / 24
    return 0.8 * np.cos(x) + 0.25 * np.cos(2 * x)


def rush_hours(local_hour: np.ndarray) -> np.ndarray:
    """Traffic emissions: morning and evening rush hours around a night-time base."""
    return 0.55 + 0.6 * np.exp(-(((local_hour - 8) / 1.6) ** 2)) + 0.5 * np.exp(-(((local_hour - 18.5) / 2.2) ** 2))


class Drivers(NamedTuple):
    """What moves the values, each of the values' shape (the ozone ones are None for other
    parameters: not computed)."""

    photochemistry: np.ndarray
    stagnation: np.ndarray
    ozone_season: np.ndarray | None = None  # the annual cycle's contribution to ozone, ppb
    diurnal_summer: np.ndarray | None = None  # the warm season's addition to the diurnal amplitude, ppb
    temperature_anomaly: np.ndarray | None = None  # °C
    ozone_daily: np.ndarray | None = None  # unit variance


def noise_free_concentration(
    parameter: str, levels: dict[str, np.ndarray], local_hour: np.ndarray, drivers: Drivers
) -> np.ndarray:
    """Concentration without noise, in ppb (gases) or µg/m³ (particles). ``levels``: the
    stations' levels as columns, one row per series."""
    rush = rush_hours(local_hour)
    photochemistry, stagnation = drivers.photochemistry, drivers.stagnation
    if parameter == "o3":  # season, temperature and regional weather, minus titration by local NO
        assert drivers.ozone_season is not None and drivers.diurnal_summer is not None
        assert drivers.temperature_anomaly is not None and drivers.ozone_daily is not None
        return (
            levels["o3"]
            + drivers.ozone_season
            + (levels["o3_diurnal_amplitude"] + drivers.diurnal_summer) * diurnal_ozone(local_hour)
            + OZONE_PER_DEGREE * drivers.temperature_anomaly
            + OZONE_PHOTOCHEMISTRY * photochemistry
            + OZONE_DAILY * drivers.ozone_daily
            - 0.3 * levels["no2"] * (rush - 1)
        )
    if parameter in PARTICLES:
        pm25 = levels["pm25"] * np.exp(0.3 * stagnation) * (0.85 + 0.3 * np.exp(-(((local_hour - 20) / 3) ** 2)))
        return PARTICLES[parameter] * pm25
    no2 = levels["no2"] * rush * (1 - 0.2 * photochemistry) * (1 + 0.15 * stagnation)
    no = levels["no"] * rush**2 * (1 + 0.2 * stagnation)
    return {
        "no2": no2,
        "no": no,
        "nox": no2 + no,
        "so2": levels["so2"] * (1 + 0.25 * stagnation),
        "co": levels["co"] * rush * (1 + 0.2 * stagnation),
    }[parameter]


def ar1_noise(innovations: np.ndarray, hourly_autocorrelation: float, period: int) -> np.ndarray:
    """Unit-variance AR(1) noise from standard normal ``innovations`` along the rows' steps of
    ``period`` seconds, stationary from the first step (each day starts afresh). Daily means
    are independent."""
    phi = hourly_autocorrelation ** (period / 3600) if period < SECONDS_PER_DAY else 0.0
    noise = np.empty_like(innovations)
    noise[:, 0] = innovations[:, 0]
    innovation_scale = math.sqrt(1 - phi * phi)
    for step in range(1, innovations.shape[1]):
        noise[:, step] = phi * noise[:, step - 1] + innovation_scale * innovations[:, step]
    return noise


class NoiseDraws(NamedTuple):
    """The random numbers behind a block of values (one row per series, one column per period)."""

    innovations: np.ndarray  # standard normal: the AR(1) noise
    negative_draw: np.ndarray  # uniform [0, 1): which low-gas readings are small negatives
    negative_size: np.ndarray  # uniform [1, 3): how negative

    @staticmethod
    def draw(rng: np.random.Generator, shape: tuple[int, int]) -> NoiseDraws:
        # The order of the draws is part of the output.
        return NoiseDraws(rng.standard_normal(shape), rng.random(shape), rng.uniform(1, 3, shape))


@dataclass
class GroupDay:
    """The values of one group of series (one parameter and averaging period) in one UTC day."""

    series: np.ndarray  # series numbers, one row each
    period_ends: np.ndarray  # unix seconds: the averaging periods that end inside the day
    values: np.ndarray  # (series, period_ends), in each series' unit, rounded as reported
    rng: np.random.Generator  # the group's stream, for the output format's own draws


class ConcentrationModel:
    def __init__(self, seed: int, station_count: int):
        self.seed = seed
        self.network = Network(seed, station_count)
        self.weather = RegionalWeather(seed, len(COUNTRIES))

    def measure_day(self, day: date) -> list[GroupDay]:
        return [self._measure_group(day, series) for series in self.network.series_groups]

    def _measure_group(self, day: date, series: np.ndarray) -> GroupDay:
        network = self.network
        parameter_number, period = int(network.series_parameter[series[0]]), int(network.series_period[series[0]])
        # One stream per (day, parameter, period): the same values whichever fetch day needs them.
        rng = random_stream(self.seed, Stream.MEASUREMENTS, day.toordinal(), parameter_number, period)
        steps = SECONDS_PER_DAY // period
        period_ends = day_start(day) + np.arange(steps, dtype=np.int64) * period
        draws = NoiseDraws.draw(rng, (len(series), steps))
        values = self.concentrations(
            PARAMETERS[parameter_number], network.series_station[series], period_ends, period, draws
        )
        scale = 10.0 ** network.series_decimals[series][:, None]
        # + 0.0 turns -0.0 into 0.0, which would print as "-0.0".
        values = np.round(values * network.series_unit_factor[series][:, None] * scale) / scale + 0.0
        return GroupDay(series=series, period_ends=period_ends, values=values, rng=rng)

    def drivers(self, parameter: str, stations: np.ndarray, regions: np.ndarray, times: np.ndarray) -> Drivers:
        """The drivers of ``parameter`` at ``times`` (unix seconds, one row per station)."""
        weather = self.weather
        photochemistry = weather.anomaly(regions, times, PHOTOCHEMISTRY)
        stagnation = weather.anomaly(regions, times, STAGNATION)
        if parameter != "o3":
            return Drivers(photochemistry, stagnation)
        latitude = self.network.latitude[stations][:, None]
        full = np.minimum(np.abs(latitude) / OZONE_SEASON_FULL_LATITUDE, 1.0)  # the tropics vary less
        annual = season(latitude, times, OZONE_PEAK_DAY)
        return Drivers(
            photochemistry,
            stagnation,
            ozone_season=OZONE_SEASON * full * annual,
            diurnal_summer=DIURNAL_SUMMER * np.maximum(annual, 0.0),
            temperature_anomaly=weather.temperature_anomaly(regions, times, photochemistry),
            ozone_daily=weather.daily(regions, times, DAILY_OZONE),
        )

    def concentrations(
        self, parameter: str, stations: np.ndarray, period_ends: np.ndarray, period: int, draws: NoiseDraws
    ) -> np.ndarray:
        """Values of ``parameter`` at ``stations`` (one row each) for the consecutive averaging
        periods of ``period`` seconds ending at ``period_ends`` (unix seconds: one row for all
        stations, or one row per station), in ppb (gases) or µg/m³ (particles), not rounded."""
        network = self.network
        mid_period = np.broadcast_to(period_ends - period / 2, draws.innovations.shape)
        local_hour = ((mid_period + network.utc_offset_hours[stations][:, None] * 3600) % SECONDS_PER_DAY) / 3600
        regions = network.country_index[stations]
        levels = {name: level[stations][:, None] for name, level in network.levels.items()}
        clean = noise_free_concentration(
            parameter, levels, local_hour, self.drivers(parameter, stations, regions, mid_period)
        )

        deviation, hourly_autocorrelation, relative_to = NOISE[parameter]
        if relative_to is not None:
            deviation = deviation * levels[relative_to] * PARTICLES.get(parameter, 1.0)
        noise = ar1_noise(draws.innovations, hourly_autocorrelation, period)
        values = np.maximum(clean + deviation * noise, 0.0)
        if parameter in LOW_GASES:  # instrument noise around zero: small negative readings
            values = np.where(draws.negative_draw < 0.005, -draws.negative_size, values)
        return values
