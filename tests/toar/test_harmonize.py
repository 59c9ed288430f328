import json
from datetime import date

import pandas as pd
import pyarrow as pa
import pytest

from domain.quality import FLAG_HIGH, FLAG_NEGATIVE, FLAG_OK
from domain.vocabulary import UNIT_CELSIUS, UNIT_PPB, UNIT_UG_M3
from resources.openaq_bucket import OpenAQBucket
from sample_data.generator import generate_bucket
from sources.openaq_v1.reader import read_objects
from tests.openaq_fixtures import ABSENT, raw_table, record
from toar.harmonize import SERIES_KEY, Harmonized, harmonize, harmonize_in_parts


def harmonized(items, **kwargs):
    result = harmonize(raw_table(items, **kwargs))
    assert result.conserved, "every raw row must be a value, a duplicate or quarantined"
    return result


def only_value(result):
    assert len(result.observations) == 1, result.quarantine
    return result.observations.iloc[0]


def reasons(result):
    return list(result.quarantine["reason"])


@pytest.mark.parametrize(
    ("overrides", "variable", "value", "unit"),
    [
        ({"parameter": "o3", "unit": "ppm", "value": 0.04}, "o3", 40.0, UNIT_PPB),
        ({"parameter": "o3", "unit": "µg/m³", "value": 79.8}, "o3", 40.0, UNIT_PPB),
        ({"parameter": "o3", "unit": "ppb", "value": 40.0}, "o3", 40.0, UNIT_PPB),
        ({"parameter": "no2", "unit": "µg/m³", "value": 38.26}, "no2", 20.0, UNIT_PPB),
        ({"parameter": "so2", "unit": "µg/m³", "value": 26.63}, "so2", 10.0, UNIT_PPB),
        ({"parameter": "no", "unit": "µg/m³", "value": 12.47}, "no", 10.0, UNIT_PPB),
        ({"parameter": "co", "unit": "ppm", "value": 0.3}, "co", 300.0, UNIT_PPB),
        ({"parameter": "co", "unit": "µg/m³", "value": 1164.0}, "co", 1000.0, UNIT_PPB),
        ({"parameter": "pm25", "unit": "µg/m³", "value": 12.0}, "pm2p5", 12.0, UNIT_UG_M3),
        ({"parameter": "pm10", "unit": "μg/m³", "value": 30.0}, "pm10", 30.0, UNIT_UG_M3),  # Greek mu spelling
        ({"parameter": "bc", "unit": "µg/m³", "value": 1.5}, "bc", 1.5, UNIT_UG_M3),
        ({"parameter": "temperature", "unit": "c", "value": 21.5}, "temp", 21.5, UNIT_CELSIUS),
        ({"parameter": "temperature", "unit": "°C", "value": 21.5}, "temp", 21.5, UNIT_CELSIUS),
        ({"parameter": "temperature", "unit": "f", "value": 98.6}, "temp", 37.0, UNIT_CELSIUS),  # (98.6 - 32) * 5 / 9
        ({"parameter": "Temperature", "unit": "F", "value": 50.0}, "temp", 10.0, UNIT_CELSIUS),  # 18 * 5 / 9
        ({"parameter": "temperature", "unit": "°f", "value": -40.0}, "temp", -40.0, UNIT_CELSIUS),  # where they meet
    ],
)
def test_variables_get_toar_names_and_units(overrides, variable, value, unit):
    row = only_value(harmonized([record(**overrides)]))
    assert row["variable"] == variable
    assert row["value"] == pytest.approx(value, rel=1e-9)
    series = harmonized([record(**overrides)]).series.iloc[0]
    assert series["unit"] == unit


def test_ozone_in_ppm_and_in_ug_m3_at_one_station_become_one_unit():
    result = harmonized(
        [
            record(unit="ppm", value=0.04, sourceName="A"),
            record(unit="µg/m³", value=79.8, sourceName="B"),
        ]
    )
    assert set(result.observations["value"].round(9)) == {40.0}
    assert set(result.series["unit"]) == {UNIT_PPB}
    assert len(result.stations) == 1 and len(result.series) == 2  # one series per provider


def test_shared_location_name_in_two_cities_is_two_stations():
    result = harmonized(
        [
            record(location="Centro", city="Madrid", coordinates={"latitude": 40.4168, "longitude": -3.7038}),
            record(location="Centro", city="Bogotá", coordinates={"latitude": 4.5981, "longitude": -74.0758}),
        ]
    )
    assert len(result.stations) == 2
    assert sorted(result.stations["city"]) == ["Bogotá", "Madrid"]
    assert len(result.observations) == 2


def test_renamed_station_at_same_coordinates_is_one_station_with_both_names():
    result = harmonized(
        [
            record(location="Old Name", utc="2014-01-01T10:00:00.000Z"),
            record(location="New Name", utc="2014-01-01T11:00:00.000Z"),
        ]
    )
    assert len(result.stations) == 1
    assert result.stations.iloc[0]["name"] == "Old Name"  # the name first seen
    aliases = result.aliases.set_index("name")
    assert set(aliases.index) == {"Old Name", "New Name"}
    assert str(aliases.loc["New Name", "first_seen"]) == "2014-01-01 11:00:00"
    assert len(result.series) == 1 and len(result.observations) == 2


def test_coordinates_within_the_rounding_tolerance_are_one_station():
    result = harmonized(
        [
            record(coordinates={"latitude": 40.416775, "longitude": -3.70379}, utc="2014-01-01T10:00:00.000Z"),
            record(coordinates={"latitude": 40.41680, "longitude": -3.70380}, utc="2014-01-01T11:00:00.000Z"),
        ]
    )
    assert len(result.stations) == 1
    station = result.stations.iloc[0]
    assert (station["latitude"], station["longitude"]) == (40.4168, -3.7038)


@pytest.mark.parametrize(
    ("overrides", "reason", "detail"),
    [
        ({"parameter": "pm1"}, "unsupported_parameter", "'pm1'"),
        ({"parameter": "nox", "unit": "ppb"}, "unsupported_parameter", "'nox'"),
        ({"unit": "mg/m³"}, "unknown_unit", "'mg/m³'"),
        ({"unit": ABSENT}, "unknown_unit", "None"),
        ({"parameter": "pm25", "unit": "ppm"}, "incompatible_unit", "pm25"),
        ({"value": ABSENT}, "missing_value", "no value"),
        ({"utc": "yesterday"}, "invalid_timestamp", "'yesterday'"),
        ({"utc": "2014-01-01T15:00:00.000Z"}, "timestamp_after_publication", "after the object's publish time"),
        ({"coordinates": ABSENT}, "missing_coordinates", "cannot be attributed"),
        ({"coordinates": {"latitude": 95.0, "longitude": 10.0}}, "invalid_coordinates", "95.0"),
        ({"coordinates": {"latitude": 0.0, "longitude": 0.0}}, "invalid_coordinates", "(0.0, 0.0)"),
        ({"mobile": True}, "mobile_platform", "mobile"),
        ({"value": 99999.0}, "value_out_of_range", "99999"),
        ({"value": -500.0, "unit": "µg/m³"}, "value_out_of_range", "-500"),  # -999 is a sentinel: its own reason
        ({"parameter": "relativehumidity", "unit": "%", "value": 55.0}, "unsupported_parameter", "'relativehumidity'"),
        ({"parameter": "temperature", "unit": "K", "value": 280.0}, "unknown_unit", "'K'"),
        (
            {"parameter": "temperature", "unit": "ppb", "value": 20.0},
            "incompatible_unit",
            "unit 'ppb' cannot express temperature: temp is stored in degree_Celsius, from c, f",
        ),
        ({"parameter": "temperature", "unit": "µg/m³", "value": 20.0}, "incompatible_unit", "'µg/m³'"),
        (
            {"parameter": "o3", "unit": "c", "value": 20.0},
            "incompatible_unit",
            "unit 'c' cannot express o3: o3 is stored in nmol/mol, from ppb, ppm, ug/m3",
        ),
        ({"parameter": "pm25", "unit": "F", "value": 20.0}, "incompatible_unit", "pm2p5 is stored in µg/m³"),
        (
            {"parameter": "temperature", "unit": "c", "value": -95.0},
            "value_out_of_range",
            "-95.0 c of temperature is -95.0 degree_Celsius, outside the physical range of temp: "
            "-90 to 60 degree_Celsius",
        ),
        (
            {"parameter": "temperature", "unit": "f", "value": 150.0},  # (150 - 32) * 5 / 9 = 65.56 °C
            "value_out_of_range",
            "150.0 f of temperature is 65.56 degree_Celsius, outside",
        ),
        ({"parameter": "temperature", "unit": "F", "value": -135.0}, "value_out_of_range", "is -92.78 degree_Celsius"),
    ],
)
def test_each_rule_quarantines_with_its_reason_and_keeps_the_record(overrides, reason, detail):
    result = harmonized([record(**overrides), record(value=0.03, utc="2014-01-01T11:00:00.000Z")])
    assert reasons(result) == [reason]
    row = result.quarantine.iloc[0]
    assert detail in row["detail"]
    assert row["source_key"] == "2014-01-01/1388577600.ndjson.gz" and row["line_number"] == 1
    stored = json.loads(row["record"])
    assert stored["location"] == "Centro"
    assert len(result.observations) == 1  # the good record beside it is kept


def test_nan_value_is_quarantined_as_not_finite():
    line = json.dumps(record(value=123.5)).replace("123.5", "NaN")
    result = harmonized([line])
    assert reasons(result) == ["value_not_finite"]


def test_unparseable_line_is_quarantined_with_its_text():
    result = harmonized(['{"parameter": "o3", "value": ', record()])
    row = result.quarantine.iloc[0]
    assert row["reason"] == "unparseable_line" and row["detail"].startswith("invalid JSON")
    assert row["record"] == '{"parameter": "o3", "value": '


def test_first_failing_rule_names_the_reason():
    result = harmonized([record(parameter="pm1", coordinates=ABSENT, value=ABSENT)])
    assert reasons(result) == ["unsupported_parameter"]


def test_preliminary_flags_and_suspicious_values():
    result = harmonized(
        [
            record(value=0.04, utc="2014-01-01T09:00:00.000Z"),
            record(value=-0.002, utc="2014-01-01T10:00:00.000Z"),  # -2 ppb: noise near zero
            record(value=0.3, utc="2014-01-01T11:00:00.000Z"),  # 300 ppb: possible, doubtful
        ]
    )
    flags = result.observations.set_index("datetime")["flags"].astype(str).tolist()
    assert flags == [FLAG_OK, FLAG_NEGATIVE, FLAG_HIGH]


def temperature(value, hour, unit="c"):
    return record(parameter="temperature", unit=unit, value=value, utc=f"2014-01-01T{hour:02d}:00:00.000Z")


def test_temperatures_below_zero_are_ordinary_readings_not_doubtful():
    result = harmonized(
        [
            temperature(-45.0, 6),
            temperature(-0.5, 7),
            temperature(-90.0, 8),  # the floor itself: the coldest air measured is near it
            temperature(-130.0, 9, unit="f"),  # = -90 °C
            temperature(14.0, 10, unit="F"),  # = -10 °C
            record(value=-0.002, utc="2014-01-01T10:00:00.000Z"),  # ozone below zero: doubtful
        ]
    )
    assert result.quarantine.empty
    values = result.observations.set_index(["variable", "datetime"])
    temp = values.loc["temp"]
    assert temp["value"].round(9).tolist() == [-45.0, -0.5, -90.0, -90.0, -10.0]
    assert set(temp["flags"].astype(str)) == {FLAG_OK}
    assert values.loc["o3", "flags"].astype(str).tolist() == [FLAG_NEGATIVE]


def test_temperature_above_the_doubtful_ceiling_is_flagged_and_kept_up_to_the_quarantine_ceiling():
    result = harmonized([temperature(49.9, 9), temperature(51.0, 10), temperature(140.0, 11, unit="f")])
    assert result.quarantine.empty  # 140 °F = 60 °C, the ceiling itself
    flags = result.observations.set_index("datetime")["flags"].astype(str).tolist()
    assert flags == [FLAG_OK, FLAG_HIGH, FLAG_HIGH]
    assert result.observations["value"].round(9).tolist() == [49.9, 51.0, 60.0]


def test_temperature_in_celsius_and_fahrenheit_at_one_station_is_one_unit():
    result = harmonized([temperature(20.0, 10, unit="c") | {"sourceName": "A"}, temperature(68.0, 10, unit="f")])
    assert result.observations["value"].round(9).tolist() == [20.0, 20.0]
    assert set(result.series["unit"]) == {UNIT_CELSIUS}
    assert len(result.stations) == 1 and len(result.series) == 2  # one series per provider


def test_republished_value_counts_as_duplicate_and_latest_publication_wins():
    earlier = raw_table([record(value=0.040)], key="2014-01-01/1388577600.ndjson.gz")
    later = raw_table([record(value=0.041), record(value=0.041)], key="2014-01-01/1388578200_x.ndjson")
    result = harmonize(pa.concat_tables([later, earlier]))  # order of objects must not matter
    assert result.conserved
    row = only_value(result)
    assert row["value"] == pytest.approx(41.0)
    assert row["source_key"] == "2014-01-01/1388578200_x.ndjson"
    assert result.duplicates == 2
    assert result.duplicates_with_other_value == 1


def test_sampling_frequency_comes_from_the_averaging_period():
    result = harmonized(
        [
            record(averagingPeriod={"value": 0.25, "unit": "hours"}, sourceName="A"),
            record(averagingPeriod={"value": 1, "unit": "hours"}, sourceName="B"),
            record(averagingPeriod={"value": 24, "unit": "hours"}, sourceName="C"),
            record(averagingPeriod=ABSENT, sourceName="D"),
            record(averagingPeriod={"value": 8, "unit": "hours"}, sourceName="E"),
        ]
    )
    by_provider = result.series.set_index("provider")["sampling_frequency"].to_dict()
    assert by_provider == {"A": "15min", "B": "hourly", "C": "daily", "D": "unknown", "E": "480min"}


def test_same_time_different_frequency_are_different_series_not_duplicates():
    result = harmonized(
        [
            record(averagingPeriod={"value": 0.25, "unit": "hours"}),
            record(averagingPeriod={"value": 1, "unit": "hours"}),
        ]
    )
    assert result.duplicates == 0 and len(result.series) == 2


def test_conservation_over_a_mixed_partition():
    items = [
        record(value=0.04),
        record(value=0.04),  # duplicate
        record(coordinates=ABSENT),
        record(parameter="pm1"),
        "{broken",
        record(value=0.05, utc="2014-01-01T11:00:00.000Z"),
    ]
    result = harmonized(items)
    assert (result.rows_in, len(result.observations), result.duplicates, len(result.quarantine)) == (6, 2, 1, 3)
    assert result.quarantined_by_reason() == {
        "missing_coordinates": 1,
        "unparseable_line": 1,
        "unsupported_parameter": 1,
    }
    assert list(result.objects["source_key"]) == ["2014-01-01/1388577600.ndjson.gz"]


def test_datetimes_are_naive_utc():
    row = only_value(harmonized([record(utc="2014-01-01T11:00:00+01:00")]))
    assert str(row["datetime"]) == "2014-01-01 10:00:00"


def comparable(h) -> dict:
    """A harmonized partition's rows in a canonical order, each value with its series' key."""
    series_key = h.series[SERIES_KEY].iloc[h.observations["series_index"]].reset_index(drop=True)
    values = pd.concat([h.observations.drop(columns=SERIES_KEY + ["series_index"]), series_key], axis=1)
    return {
        "values": values.sort_values(SERIES_KEY + ["datetime"], ignore_index=True),
        "stations": h.stations,
        "aliases": h.aliases,
        "series": h.series.sort_values(SERIES_KEY, ignore_index=True),
        "quarantine": h.quarantine.sort_values(["source_key", "line_number"], ignore_index=True),
        "objects": h.objects.sort_values("source_key", ignore_index=True),
        "counts": pd.DataFrame([(h.rows_in, h.duplicates, h.duplicates_with_other_value)]),
    }


def test_a_day_harmonized_in_parts_is_the_day_harmonized_whole(tmp_path):
    generate_bucket(tmp_path, date(2014, 1, 1), days=1, stations=30, seed=3, objects_per_day=24)
    bucket = OpenAQBucket(url=str(tmp_path))
    raw, _ = read_objects(bucket.list_day("2014-01-01"), bucket.read)
    parts = list(harmonize_in_parts(raw, raw.num_rows // 4))
    assert len(parts) == 4 and sum(p.rows_in for p in parts) == raw.num_rows
    stations = [set(zip(p.stations["lat_key"], p.stations["lon_key"], strict=True)) for p in parts]
    assert all(s for s in stations) and sum(map(len, stations)) == len(set().union(*stations))  # none in two parts
    whole, combined = comparable(harmonize(raw)), comparable(Harmonized.combine(parts))
    for name in whole:
        pd.testing.assert_frame_equal(combined[name], whole[name], check_dtype=False, obj=name)


def test_no_data_sentinels_are_quarantined_with_their_own_reason():
    items = [
        record(value=-999, utc="2014-01-01T10:00:00.000Z"),
        record(value=-9999, utc="2014-01-01T11:00:00.000Z"),
        record(value=0.03, utc="2014-01-01T12:00:00.000Z"),
        record(value=-0.001, utc="2014-01-01T13:00:00.000Z"),
    ]
    result = harmonize(raw_table(items))
    assert result.quarantined_by_reason() == {"sentinel_value": 2}
    assert "'no data' sentinel" in result.quarantine["detail"].iloc[0]
    assert len(result.observations) == 2  # a small negative is a reading (flagged doubtful), not a sentinel
