"""toar.daily_metrics: dma8eu and the daily statistics, checked against numbers worked out by hand.

Hour labels are naive UTC and mark the END of their hour, as the data table stores them. Each
expected number is written out in the test with the arithmetic that gives it."""

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import toar.daily_metrics
import toar.writer
from tests.openaq_fixtures import raw_table, record
from toar.daily_metrics import (
    daily_metrics,
    metrics_for_days,
    select_daily_metrics,
    standard_offset_minutes,
    station_timezones,
    utc_read_range,
    write_daily_metrics,
)
from toar.harmonize import harmonize
from toar.schema import daily_metric, stationmeta_core

COMPUTED_AT = datetime(2024, 8, 1, 6, 30)
TABLE_COLUMNS = [
    "station_id",
    "date",
    "timezone",
    "utc_offset_minutes",
    "o3_dma8eu",
    "o3_dma8eu_windows",
    "o3_hours",
    "o3_mean",
    "o3_max",
    "o3_last8h_mean",
    "no2_mean",
    "no2_max",
    "no2_hours",
    "temp_mean",
    "temp_max",
    "temp_hours",
    "computed_at",
]


def labels(first: str, last: str) -> pd.DatetimeIndex:
    """Hour-end labels from first to last, both included."""
    return pd.date_range(first, last, freq="h")


def constant(first: str, last: str, value: float) -> dict:
    return dict.fromkeys(labels(first, last), value)


def hourly(*stations: tuple[int, dict[str, dict]]) -> pd.DataFrame:
    """The hourly frame daily_metrics reads: (station_id, {variable: {label: value}}) per station."""
    rows = [
        (station_id, pd.Timestamp(t), variable, value)
        for station_id, series in stations
        for variable, values in series.items()
        for t, value in values.items()
    ]
    long = pd.DataFrame(rows, columns=["station_id", "hour", "variable", "value"])
    return long.pivot(index=["station_id", "hour"], columns="variable", values="value")


def zones(**by_station: str) -> pd.DataFrame:
    """zones(s1="UTC") -> station 1 in UTC."""
    return pd.DataFrame({"station_id": [int(k[1:]) for k in by_station], "timezone": list(by_station.values())})


def metrics(frame: pd.DataFrame, days: list[date], timezones: pd.DataFrame) -> dict[tuple[int, date], dict]:
    out = daily_metrics(frame, timezones, days, COMPUTED_AT)
    return {(row["station_id"], row["date"]): row for row in out.to_dict("records")}


D = date(2024, 7, 10)


def test_a_full_day_with_an_eight_hour_plateau():
    # 30 everywhere; 70 for the eight hours labelled 13:00..20:00 (the hours 12:00-20:00).
    o3 = constant("2024-07-09 18:00", "2024-07-11 00:00", 30.0) | constant("2024-07-10 13:00", "2024-07-10 20:00", 70.0)
    row = metrics(hourly((1, {"o3": o3})), [D], zones(s1="UTC"))[(1, D)]
    assert row["o3_dma8eu"] == 70.0  # the window ending 20:00 holds the plateau exactly
    assert row["o3_dma8eu_windows"] == 24
    assert row["o3_hours"] == 24
    assert row["o3_mean"] == pytest.approx((16 * 30 + 8 * 70) / 24)  # 43.33
    assert row["o3_max"] == 70.0
    # 16:00-24:00 holds labels 17..24: four of the plateau (17..20), four of 30.
    assert row["o3_last8h_mean"] == pytest.approx((4 * 70 + 4 * 30) / 8)  # 50
    assert row["timezone"] == "UTC" and row["utc_offset_minutes"] == 0
    assert row["computed_at"] == pd.Timestamp(COMPUTED_AT)


def test_a_missing_hour_leaves_a_window_of_seven_valid_and_averaged_over_seven():
    # 40 everywhere, 96 at the label 09:00, nothing at 10:00.
    o3 = constant("2024-07-09 18:00", "2024-07-11 00:00", 40.0) | {pd.Timestamp("2024-07-10 09:00"): 96.0}
    del o3[pd.Timestamp("2024-07-10 10:00")]
    row = metrics(hourly((1, {"o3": o3})), [D], zones(s1="UTC"))[(1, D)]
    # Windows ending 10:00..16:00 hold 96 and six 40s (7 values): (96 + 6 * 40) / 7 = 48.
    # Over 8 hours it would have been 42, and the window ending 09:00 (all 8 hours) gives
    # (96 + 7 * 40) / 8 = 47: only the mean of the seven makes 48 the maximum.
    assert row["o3_dma8eu"] == pytest.approx(48.0)
    assert row["o3_dma8eu_windows"] == 24
    assert row["o3_hours"] == 23


def test_a_window_of_five_hours_is_not_valid():
    # 40 everywhere, 100 at labels 13..17, nothing at 18, 19, 20.
    o3 = constant("2024-07-09 18:00", "2024-07-11 00:00", 40.0) | constant(
        "2024-07-10 13:00", "2024-07-10 17:00", 100.0
    )
    for hour in ("18:00", "19:00", "20:00"):
        del o3[pd.Timestamp(f"2024-07-10 {hour}")]
    row = metrics(hourly((1, {"o3": o3})), [D], zones(s1="UTC"))[(1, D)]
    # Window ending 20:00 (labels 13..20) has only 13..17: five 100s, mean 100, but invalid.
    # Windows ending 21..24 have five values too. Valid: those ending 01:00..19:00 = 19.
    # Best valid: ending 19:00 (labels 12..19): 40 + 5 * 100 over 6 = 90.
    assert row["o3_dma8eu"] == pytest.approx(90.0)
    assert row["o3_dma8eu_windows"] == 19
    assert np.isnan(row["o3_last8h_mean"])  # labels 17..24 hold 17, 21, 22, 23, 24: five
    assert row["o3_hours"] == 21
    assert row["o3_mean"] == pytest.approx((16 * 40 + 5 * 100) / 21)  # 54.29
    assert row["o3_max"] == 100.0


def test_eighteen_valid_windows_make_a_valid_dma8eu_seventeen_do_not():
    # Values from the first window's first hour through label L: the window ending E holds
    # L - (E - 7) + 1 = L - E + 8 values, valid while E <= L + 2. So windows 01:00 .. L+2.
    through_16 = constant("2024-07-09 18:00", "2024-07-10 16:00", 40.0)  # windows 01..18: 18
    through_15 = constant("2024-07-09 18:00", "2024-07-10 15:00", 40.0)  # windows 01..17: 17
    rows = metrics(hourly((1, {"o3": through_16}), (2, {"o3": through_15})), [D], zones(s1="UTC", s2="UTC"))
    assert rows[(1, D)]["o3_dma8eu_windows"] == 18 and rows[(1, D)]["o3_dma8eu"] == 40.0
    assert rows[(2, D)]["o3_dma8eu_windows"] == 17 and np.isnan(rows[(2, D)]["o3_dma8eu"])
    # The hours are counted on their own: 16 and 15 hours, too few for a daily mean.
    assert rows[(1, D)]["o3_hours"] == 16 and np.isnan(rows[(1, D)]["o3_mean"])
    assert rows[(2, D)]["o3_hours"] == 15 and np.isnan(rows[(2, D)]["o3_max"])


def test_the_first_window_runs_from_17_00_the_day_before():
    # 100 at labels 2024-07-09 17:00 .. 2024-07-10 00:00 (the previous day's hours 16:00-24:00),
    # 20 at every label of 2024-07-10.
    o3 = constant("2024-07-09 17:00", "2024-07-10 00:00", 100.0) | constant(
        "2024-07-10 01:00", "2024-07-11 00:00", 20.0
    )
    previous = date(2024, 7, 9)
    rows = metrics(hourly((1, {"o3": o3})), [previous, D], zones(s1="UTC"))
    today = rows[(1, D)]
    # The window ending 01:00 holds labels 18:00 .. 01:00: seven 100s and one 20 = 720 / 8 = 90
    # (had it held 17:00 .. 00:00 instead, it would be 100).
    assert today["o3_dma8eu"] == pytest.approx(90.0)
    assert today["o3_dma8eu_windows"] == 24
    assert (today["o3_hours"], today["o3_mean"], today["o3_max"]) == (24, 20.0, 20.0)  # the peak is not its hour
    # The previous day ends with the window 16:00-24:00: labels 17:00 .. 00:00, all 100. Only its
    # windows ending 22:00, 23:00, 24:00 have 6 or more of their hours (from 17:00 on).
    before = rows[(1, previous)]
    assert before["o3_last8h_mean"] == 100.0
    assert before["o3_dma8eu_windows"] == 3 and np.isnan(before["o3_dma8eu"])
    assert before["o3_hours"] == 8


def test_berlin_keeps_standard_time_all_year_on_the_dst_day_and_in_summer():
    # Europe/Berlin: +01:00 standard; summer time starts 2024-03-31 at 01:00 UTC. The local
    # standard day D runs 23:00 UTC on D-1 .. 23:00 UTC on D: its hour labels are 00:00 ..
    # 23:00 UTC of D, whatever the season (24 of them, also on the DST day).
    # Each value is its label's hours since 00:00 UTC the day before, so every mean tells which
    # labels it holds: D's labels are 24 .. 47.
    spring, summer = date(2024, 3, 31), date(2024, 7, 1)
    ramp = {}
    for day in ("2024-03-30", "2024-06-30"):
        ramp |= {t: float(i) for i, t in enumerate(labels(f"{day} 00:00", pd.Timestamp(day) + pd.Timedelta("2D")))}
    # Station 2 measures on 2024-07-01 only up to the label 14:00 UTC.
    until_14 = {
        t: v for t, v in ramp.items() if pd.Timestamp("2024-06-30 12:00") <= t <= pd.Timestamp("2024-07-01 14:00")
    }
    rows = metrics(
        hourly((1, {"o3": ramp}), (2, {"o3": until_14})),
        [spring, summer],
        zones(s1="Europe/Berlin", s2="Europe/Berlin"),
    )
    for day in (spring, summer):
        row = rows[(1, day)]
        assert row["utc_offset_minutes"] == 60
        assert row["o3_hours"] == 24  # not 23 on the DST day
        assert row["o3_mean"] == pytest.approx((24 + 47) / 2)  # 35.5; with summer time: 34.5
        assert row["o3_max"] == 47.0  # the label 23:00 UTC, local standard 24:00
        assert row["o3_last8h_mean"] == pytest.approx(sum(range(40, 48)) / 8)  # labels 16..23 UTC: 43.5
        assert row["o3_dma8eu"] == pytest.approx(43.5)  # a rising ramp peaks in the last window
        assert row["o3_dma8eu_windows"] == 24
    # The label 14:00 UTC is local standard 15:00: the 15th hour of the day (01:00 .. 15:00).
    # In summer time it would be 16:00, and the day would have 16 hours (from 23:00 UTC on D-1).
    cut = rows[(2, summer)]
    assert cut["o3_hours"] == 15
    # Windows ending 00:00 .. 16:00 UTC (labels 09..16 have six values, 10..17 five): 17, invalid.
    assert cut["o3_dma8eu_windows"] == 17 and np.isnan(cut["o3_dma8eu"])


def test_kolkata_days_start_at_18_30_utc():
    # Asia/Kolkata: +05:30. The local day 2024-01-15 runs 2024-01-14 18:30 .. 2024-01-15 18:30 UTC;
    # its hour labels (ends) are 19:00 UTC on the 14th (local 00:30) .. 18:00 UTC on the 15th
    # (local 23:30). Values: hours since 2024-01-14 00:00 UTC, so the day's labels are 19 .. 42.
    day = date(2024, 1, 15)
    ramp = {t: float(i) for i, t in enumerate(labels("2024-01-14 00:00", "2024-01-16 12:00"))}
    row = metrics(hourly((1, {"o3": ramp})), [day], zones(s1="Asia/Kolkata"))[(1, day)]
    assert row["utc_offset_minutes"] == 330
    assert row["o3_hours"] == 24
    assert row["o3_mean"] == pytest.approx((19 + 42) / 2)  # 30.5
    assert row["o3_max"] == 42.0
    # The last window ends 23:30 local (18:00 UTC): labels 11:00 .. 18:00 UTC = 35 .. 42.
    assert row["o3_last8h_mean"] == pytest.approx(sum(range(35, 43)) / 8)  # 38.5


def test_a_us_day_reaches_into_the_next_utc_day():
    # America/New_York: -05:00 standard (summer time is not used). The local day 2024-07-01 runs
    # 05:00 UTC on 07-01 .. 05:00 UTC on 07-02: labels 06:00 UTC 07-01 .. 05:00 UTC 07-02.
    # Values: hours since 2024-07-01 00:00 UTC, so the day's labels are 6 .. 29.
    day = date(2024, 7, 1)
    ramp = {t: float(i) for i, t in enumerate(labels("2024-07-01 00:00", "2024-07-02 12:00"))}
    row = metrics(hourly((1, {"o3": ramp})), [day], zones(s1="America/New_York"))[(1, day)]
    assert row["utc_offset_minutes"] == -300
    assert row["o3_hours"] == 24
    assert row["o3_mean"] == pytest.approx((6 + 29) / 2)  # 17.5
    assert row["o3_max"] == 29.0  # the label 2024-07-02 05:00 UTC
    assert row["o3_last8h_mean"] == pytest.approx(sum(range(22, 30)) / 8)  # 25.5
    # The first window (ending 06:00 UTC) reaches back to 23:00 UTC of 06-30, before the data
    # starts: it holds labels 00:00 .. 06:00 only, 7 values, (0 + ... + 6) / 7 = 3.
    assert row["o3_dma8eu_windows"] == 24 and row["o3_dma8eu"] == pytest.approx(25.5)


def test_daily_mean_and_max_need_18_hours():
    # no2: 18 hours (labels 01..18), 10 each but 28 at 05:00; temp: 17 hours (labels 01..17).
    no2 = constant("2024-07-10 01:00", "2024-07-10 18:00", 10.0) | {pd.Timestamp("2024-07-10 05:00"): 28.0}
    temp = constant("2024-07-10 01:00", "2024-07-10 17:00", 21.5)
    row = metrics(hourly((1, {"no2": no2, "temp": temp})), [D], zones(s1="UTC"))[(1, D)]
    assert row["no2_hours"] == 18
    assert row["no2_mean"] == pytest.approx((17 * 10 + 28) / 18)  # 11
    assert row["no2_max"] == 28.0
    assert row["temp_hours"] == 17 and np.isnan(row["temp_mean"]) and np.isnan(row["temp_max"])
    # No ozone at all: the station still has its row, counts 0 saying why the ozone is NULL.
    assert (row["o3_hours"], row["o3_dma8eu_windows"]) == (0, 0)
    assert np.isnan(row["o3_dma8eu"]) and np.isnan(row["o3_mean"]) and np.isnan(row["o3_last8h_mean"])


def test_a_station_without_temperature_has_zero_hours_and_nulls():
    frame = hourly((1, {"o3": constant("2024-07-09 18:00", "2024-07-11 00:00", 30.0)}))
    assert "temp" not in frame.columns and "no2" not in frame.columns
    row = metrics(frame, [D], zones(s1="UTC"))[(1, D)]
    assert (row["temp_hours"], row["no2_hours"]) == (0, 0)
    assert all(np.isnan(row[c]) for c in ("temp_mean", "temp_max", "no2_mean", "no2_max"))
    assert row["o3_dma8eu"] == 30.0


def test_one_row_per_station_and_day_with_the_table_columns():
    frame = hourly(
        (1, {"o3": constant("2024-07-10 05:00", "2024-07-10 06:00", 30.0)}),
        (2, {"no2": {pd.Timestamp("2024-01-01 00:00"): 5.0}}),  # a value outside every asked day
    )
    days = [date(2024, 7, 11), D, D]  # repeated and out of order
    out = daily_metrics(frame, zones(s1="UTC", s2="Europe/Berlin"), days, COMPUTED_AT)
    assert list(out.columns) == TABLE_COLUMNS == [c.name for c in daily_metric.columns]
    assert list(zip(out["station_id"], out["date"], strict=True)) == [
        (1, D),
        (1, date(2024, 7, 11)),
        (2, D),
        (2, date(2024, 7, 11)),
    ]
    assert all(type(d) is date for d in out["date"])
    assert out.loc[out["station_id"] == 2, ["o3_hours", "no2_hours", "temp_hours"]].to_numpy().sum() == 0
    assert daily_metrics(frame.iloc[:0], zones(), days, COMPUTED_AT).columns.tolist() == TABLE_COLUMNS
    with pytest.raises(ValueError, match=r"no timezone for stations \[2\]"):
        daily_metrics(frame, zones(s1="UTC"), days, COMPUTED_AT)


def test_standard_offsets_leave_out_daylight_saving_time():
    assert standard_offset_minutes("Europe/Berlin", date(2024, 1, 15)) == 60
    assert standard_offset_minutes("Europe/Berlin", date(2024, 7, 1)) == 60  # summer time is +02:00
    assert standard_offset_minutes("America/New_York", date(2024, 7, 1)) == -300
    assert standard_offset_minutes("America/St_Johns", date(2024, 7, 1)) == -210  # -03:30
    assert standard_offset_minutes("Asia/Kolkata", date(2024, 7, 1)) == 330
    assert standard_offset_minutes("Etc/GMT+2", date(2024, 7, 1)) == -120  # Etc names count west as +


def test_timezones_come_from_the_coordinates():
    stations = pd.DataFrame(
        {
            "station_id": [1, 2, 3, 4],
            "latitude": [52.52, 28.61, 40.71, 52.52],
            "longitude": [13.40, 77.21, -74.01, 13.40],
        }
    )
    found = station_timezones(stations)
    assert found.to_dict("list") == {
        "station_id": [1, 2, 3, 4],
        "timezone": ["Europe/Berlin", "Asia/Kolkata", "America/New_York", "Europe/Berlin"],
    }


def test_a_position_without_a_zone_gets_its_longitudes_nautical_zone(monkeypatch):
    class NoZones:
        def timezone_at(self, lng, lat):
            return None

    monkeypatch.setattr(toar.daily_metrics, "_finder", NoZones)
    stations = pd.DataFrame({"station_id": [1, 2, 3, 4], "latitude": [0.0] * 4, "longitude": [-47.0, 75.0, 3.0, 180.0]})
    # -47 / 15 = -3.1 -> UTC-3 is Etc/GMT+3; 75 / 15 = 5 -> Etc/GMT-5; 3 / 15 = 0.2 -> Etc/GMT;
    # 180 / 15 = 12 -> Etc/GMT-12.
    assert station_timezones(stations)["timezone"].tolist() == ["Etc/GMT+3", "Etc/GMT-5", "Etc/GMT", "Etc/GMT-12"]


def test_the_read_range_covers_every_offset():
    # First day 2024-07-01 at +14:00 starts 2024-06-30 10:00 UTC; its first window's first hour
    # is labelled 11:00 - 7 h = 04:00, so values after 03:00 are read. Last day 2024-07-02 at
    # -12:00 ends 2024-07-03 12:00 UTC, its last label.
    assert utc_read_range([date(2024, 7, 2), date(2024, 7, 1)]) == (datetime(2024, 6, 30, 3), datetime(2024, 7, 3, 12))
    assert utc_read_range([D]) == (datetime(2024, 7, 9, 3), datetime(2024, 7, 11, 12))


def _stations(conn, count: int) -> list[int]:
    ids = []
    for i in range(count):
        ids.append(
            conn.execute(
                stationmeta_core.insert()
                .values(lat_key=i, lon_key=i, name=f"S{i}", city="C", country="XX", latitude=float(i), longitude=0.0)
                .returning(stationmeta_core.c.id)
            ).scalar_one()
        )
    return ids


def test_writing_replaces_the_rows_of_the_same_keys(engine):
    with engine.begin() as conn:
        s1, s2 = _stations(conn, 2)
    day_two = date(2024, 7, 11)
    frame = daily_metrics(
        hourly(
            (s1, {"o3": constant("2024-07-09 18:00", "2024-07-12 00:00", 30.0)}),
            (s2, {"no2": constant("2024-07-10 01:00", "2024-07-10 20:00", 12.0)}),
        ),
        zones(**{f"s{s1}": "UTC", f"s{s2}": "Europe/Berlin"}),
        [D, day_two],
        COMPUTED_AT,
    )
    with engine.begin() as conn:
        write_daily_metrics(conn, frame)
    with engine.connect() as conn:
        stored = select_daily_metrics(conn, D, day_two)
    pd.testing.assert_frame_equal(stored, frame)
    assert all(type(d) is date for d in stored["date"])
    assert stored["computed_at"].dtype == "datetime64[ns]"
    assert stored.loc[(stored["station_id"] == s2) & (stored["date"] == D), "no2_mean"].item() == 12.0
    assert stored["temp_mean"].isna().all() and (stored["temp_hours"] == 0).all()

    # Rewriting the same rows changes nothing; rewriting one key replaces that row only.
    changed = frame[(frame["station_id"] == s1) & (frame["date"] == D)].assign(
        o3_dma8eu=55.0, computed_at=pd.Timestamp("2024-08-02 00:00")
    )
    with engine.begin() as conn:
        write_daily_metrics(conn, frame)
        write_daily_metrics(conn, changed)
    with engine.connect() as conn:
        again = select_daily_metrics(conn, D, day_two)
        count = conn.execute(sa.select(sa.func.count()).select_from(daily_metric)).scalar_one()
        only = select_daily_metrics(conn, day_two, day_two, station_ids=[s2])
        none = select_daily_metrics(conn, date(2020, 1, 1), date(2020, 1, 2))
    assert count == 4
    expected = frame.copy()
    expected.loc[changed.index, ["o3_dma8eu", "computed_at"]] = [55.0, pd.Timestamp("2024-08-02 00:00")]
    pd.testing.assert_frame_equal(again, expected)
    assert list(zip(only["station_id"], only["date"], strict=True)) == [(s2, day_two)]
    assert none.empty and list(none.columns) == TABLE_COLUMNS


@pytest.fixture
def madrid_and_new_york(engine):
    """Ozone at a Madrid and a New York station, NO2 and temperature at Madrid, through
    harmonization and the writer.

    Madrid (Europe/Madrid, +01:00 standard): 0.040 ppm (40 nmol/mol) at every label 2014-01-04
    16:00 .. 2014-01-06 00:00 UTC, but 0.080 ppm at 2014-01-05 12:00 and 0.200 ppm at
    2014-01-06 00:00 (local standard 01:00 on the 6th: not the 5th). New York (-05:00):
    0.030 ppm at labels 2014-01-05 06:00 .. 2014-01-06 05:00 UTC, its local 5th."""
    madrid = {"latitude": 40.416775, "longitude": -3.70379}
    new_york = {"latitude": 40.7128, "longitude": -74.0060}
    ozone = constant("2014-01-04 16:00", "2014-01-06 00:00", 0.040)
    ozone |= {pd.Timestamp("2014-01-05 12:00"): 0.080, pd.Timestamp("2014-01-06 00:00"): 0.200}
    utc = "%Y-%m-%dT%H:%M:%S.000Z"
    items = [record(value=v, utc=t.strftime(utc), coordinates=madrid) for t, v in ozone.items()]
    items += [
        record(parameter="no2", unit="ppm", value=0.012, utc=t.strftime(utc), coordinates=madrid)
        for t in labels("2014-01-05 00:00", "2014-01-05 17:00")  # 18 hours of the 5th
    ]
    items += [
        record(value=0.030, utc=t.strftime(utc), coordinates=new_york, location="Queens", city="New York")
        for t in labels("2014-01-05 06:00", "2014-01-06 05:00")
    ]
    # Temperature at 20 hours of Madrid's 5th: 10 degC each, 15 at 11:00 UTC.
    temp = constant("2014-01-05 00:00", "2014-01-05 19:00", 10.0) | {pd.Timestamp("2014-01-05 11:00"): 15.0}
    items += [
        record(parameter="temperature", unit="c", value=v, utc=t.strftime(utc), coordinates=madrid)
        for t, v in temp.items()
    ]
    toar.writer.write_partition(engine, "2014-01-06", harmonize(raw_table(items, key="2014-01-06/1.ndjson.gz")))
    return engine


def test_metrics_for_days_reads_the_database(madrid_and_new_york):
    day = date(2014, 1, 5)
    frame, read = metrics_for_days(madrid_and_new_york, [day], COMPUTED_AT)
    assert read["read_start"] == "2014-01-04 03:00:00" and read["read_end"] == "2014-01-06 12:00:00"
    assert len(read["station_ids"]) == 2 and len(read["timeseries_ids"]) == 4  # o3 x 2, no2, temp
    # Madrid: 33 ozone + 18 NO2 + 20 temperature values; New York: 24 ozone values.
    assert read["rows_selected"] == 33 + 18 + 20 + 24
    by_zone = frame.set_index("timezone")
    assert list(frame["date"]) == [day, day]

    madrid = by_zone.loc["Europe/Madrid"]
    assert madrid["utc_offset_minutes"] == 60
    # The 5th is labels 00:00 .. 23:00 UTC: 23 at 40 and 80 at 12:00 UTC.
    assert madrid["o3_hours"] == 24
    assert madrid["o3_mean"] == pytest.approx((23 * 40 + 80) / 24)  # 41.67: the 200 is the 6th's
    assert madrid["o3_max"] == pytest.approx(80.0)
    assert madrid["o3_dma8eu"] == pytest.approx((80 + 7 * 40) / 8)  # 45
    assert madrid["o3_last8h_mean"] == pytest.approx(40.0)  # labels 16..23 UTC
    assert madrid["o3_dma8eu_windows"] == 24
    assert (madrid["no2_hours"], madrid["no2_mean"]) == (18, pytest.approx(12.0))
    assert madrid["temp_hours"] == 20
    assert madrid["temp_mean"] == pytest.approx((19 * 10 + 15) / 20)  # 10.25
    assert madrid["temp_max"] == 15.0

    new_york = by_zone.loc["America/New_York"]
    assert new_york["utc_offset_minutes"] == -300
    assert (new_york["o3_hours"], new_york["o3_mean"], new_york["o3_max"]) == (24, pytest.approx(30.0), 30.0)
    # Windows ending 06:00 .. 10:00 UTC hold 1..5 values; 11:00 UTC .. 05:00 UTC next day: 19 valid.
    assert new_york["o3_dma8eu_windows"] == 19 and new_york["o3_dma8eu"] == pytest.approx(30.0)
    assert new_york["no2_hours"] == 0 and new_york["temp_hours"] == 0

    with madrid_and_new_york.begin() as conn:
        write_daily_metrics(conn, frame)
    with madrid_and_new_york.connect() as conn:
        pd.testing.assert_frame_equal(select_daily_metrics(conn, day, day), frame)
