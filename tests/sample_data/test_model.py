"""The generator's ozone carries what daily-maximum forecasts 1-4 days ahead need: a season, a
temperature driver shared with the temperature the archive reports, multi-day regimes, and a
day-to-day part that the regimes do not give (sample_data.concentrations, sample_data.weather)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from sample_data.clock import SECONDS_PER_DAY, day_start
from sample_data.concentrations import OZONE_PEAK_DAY, OZONE_SEASON, ConcentrationModel, NoiseDraws
from sample_data.openaq_v3.catalog import WEATHER_LOCATION, build_locations
from sample_data.openaq_v3.readings import Readings
from sample_data.weather import DAILY_OZONE, DAILY_TEMPERATURE, PHOTOCHEMISTRY, RegionalWeather

DAYS = 730  # two years from 2022-01-01


def hourly_ozone(model: ConcentrationModel, stations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hourly ozone (ppb) of ``stations`` over DAYS days, and the hours' ends (unix seconds)."""
    ends = day_start(date(2022, 1, 1)) + 3600 * np.arange(1, DAYS * 24 + 1)
    draws = NoiseDraws.draw(np.random.default_rng(1), (len(stations), len(ends)))
    return model.concentrations("o3", stations, ends, 3600, draws), ends


def ozone_stations(model: ConcentrationModel) -> np.ndarray:
    return np.array([i for i, s in enumerate(model.network.stations) if "o3" in s.instruments])


@pytest.mark.parametrize("seed", [0, 3])
def test_ozone_peaks_in_the_warm_season_of_its_hemisphere(seed):
    model = ConcentrationModel(seed, 40)
    stations = ozone_stations(model)
    latitude = model.network.latitude[stations]
    stations, latitude = stations[np.abs(latitude) >= 30], latitude[np.abs(latitude) >= 30]
    assert (latitude > 0).any() and (latitude < 0).any()
    values, _ = hourly_ozone(model, stations)
    month = np.array([(date(2022, 1, 1) + timedelta(k)).month for k in range(DAYS)])  # UTC days
    daily = values.reshape(len(stations), DAYS, 24).mean(axis=2)
    may_to_july = daily[:, np.isin(month, (5, 6, 7))].mean(axis=1)
    november_to_january = daily[:, np.isin(month, (11, 12, 1))].mean(axis=1)
    # About 2 x 9 ppb x 0.9 (the cycle's mean over three months about its peak) apart.
    northern = latitude > 0
    assert (may_to_july - november_to_january)[northern].min() > 10
    assert (november_to_january - may_to_july)[~northern].min() > 10


def test_season_is_the_documented_amplitude_at_its_peak():
    model = ConcentrationModel(0, 40)
    stations = ozone_stations(model)
    peak = day_start(date(2023, 1, 1)) + (OZONE_PEAK_DAY - 0.5) * SECONDS_PER_DAY  # noon of its day of year
    drivers = model.drivers("o3", stations, model.network.country_index[stations], np.full((len(stations), 1), peak))
    latitude = model.network.latitude[stations]
    full = np.abs(latitude) >= 30
    expected = np.where(latitude > 0, OZONE_SEASON, -OZONE_SEASON)[full]
    assert drivers.ozone_season[full, 0] == pytest.approx(expected, abs=0.05)
    assert (np.abs(drivers.ozone_season[~full, 0]) < OZONE_SEASON).all()  # the tropics vary less


@pytest.mark.parametrize("seed", [0, 1, 4])
def test_daily_ozone_maximum_follows_the_temperature_the_archive_reports(seed):
    """Location 0 reports ozone and temperature: from one day to the next they move together."""
    model = ConcentrationModel(seed, 8)
    location = build_locations(model.network, seed)[WEATHER_LOCATION]
    readings = Readings(model)
    ozone_max, temperature_mean = [], []
    for k in range(120):
        (sensors,) = readings.day(date(2024, 4, 1) + timedelta(k), [location])
        values = {reading.sensor.parameter: reading.values for reading in sensors}
        ozone_max.append(values["o3"].max())
        temperature_mean.append(values["temperature"].mean())
    assert np.corrcoef(np.diff(ozone_max), np.diff(temperature_mean))[0, 1] > 0.5


@pytest.mark.parametrize("seed", [0, 7])
def test_tomorrows_ozone_maximum_is_not_given_by_the_regimes_nor_by_today(seed):
    """What the season and the photochemical regime do not explain of a day's maximum is
    persistent (yesterday's says something) but renewed every day by at least 3 ppb."""
    model = ConcentrationModel(seed, 12)
    stations = ozone_stations(model)
    values, ends = hourly_ozone(model, stations)
    daily_max = values.reshape(len(stations), DAYS, 24).max(axis=2)
    regions = model.network.country_index[stations]
    mid = np.broadcast_to(ends - 1800, values.shape)
    regime = model.weather.anomaly(regions, mid, PHOTOCHEMISTRY).reshape(len(stations), DAYS, 24)
    year = 2 * np.pi * (np.arange(DAYS) + 0.5) / 365.2425
    persistence, renewed = [], []
    for k in range(len(stations)):
        known = np.column_stack([np.ones(DAYS), np.cos(year), np.sin(year), regime[k].mean(1), regime[k].max(1)])
        coefficients, *_ = np.linalg.lstsq(known, daily_max[k], rcond=None)
        rest = daily_max[k] - known @ coefficients
        lag1 = np.corrcoef(rest[:-1], rest[1:])[0, 1]
        persistence.append(lag1)
        renewed.append(np.std(rest[1:] - lag1 * rest[:-1]))
    assert 0.35 < np.median(persistence) < 0.85
    assert min(renewed) > 3.0


def test_daily_fields_have_unit_variance_and_day_to_day_persistence():
    weather = RegionalWeather(5, 3)
    noons = day_start(date(2000, 1, 1)) + SECONDS_PER_DAY // 2 + SECONDS_PER_DAY * np.arange(4000)
    for field in (DAILY_TEMPERATURE, DAILY_OZONE):
        values = weather.daily(np.arange(3), np.tile(noons, (3, 1)), field)
        assert np.abs(values.mean(axis=1)).max() < 0.15
        assert values.std(axis=1) == pytest.approx(1.0, abs=0.1)
        lag1 = [np.corrcoef(row[:-1], row[1:])[0, 1] for row in values]
        assert lag1 == pytest.approx([0.7] * 3, abs=0.07)
    regions = np.arange(3)
    assert np.corrcoef(weather.daily(regions, np.tile(noons, (3, 1)), DAILY_TEMPERATURE))[0, 1] < 0.2  # own regions


def test_a_days_daily_weather_does_not_depend_on_the_days_computed_with_it():
    day = day_start(date(2024, 7, 10))
    hours = day + 3600 * np.arange(24)
    month = day_start(date(2024, 6, 25)) + 3600 * np.arange(24 * 30)
    regions = np.array([0, 4, 13])
    alone = RegionalWeather(2, 14).daily(regions, np.tile(hours, (3, 1)), DAILY_OZONE)
    used = RegionalWeather(2, 14)
    used.daily(np.array([2]), np.tile(day_start(date(1999, 1, 1)) + np.arange(3), (1, 1)), DAILY_OZONE)
    within = used.daily(regions, np.tile(month, (3, 1)), DAILY_OZONE)
    start = (day - month[0]) // 3600
    assert np.array_equal(alone, within[:, start : start + 24])
    # and it moves within the day without jumps at midnight (it is interpolated between noons)
    steps = np.abs(np.diff(within, axis=1))
    assert steps.max() < 0.25
