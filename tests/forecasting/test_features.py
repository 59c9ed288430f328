from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import toar.database
import toar.writer
from forecasting.features import (
    FEATURE_COLUMNS,
    HISTORY,
    TARGET,
    build_features,
    features_for_window,
    hourly_means,
    measurement_query,
    series_query,
)
from tests.openaq_fixtures import raw_table, record
from toar.harmonize import harmonize

DAY = datetime(2014, 1, 5)
STATIONS = pd.DataFrame({"station_id": [1, 2], "latitude": [40.4, 4.6], "longitude": [-3.7, -74.1]})


def measurements(values: dict[datetime, float], station_id=1, variable="o3") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timeseries_id": 10 + station_id,
            "station_id": station_id,
            "variable": variable,
            "datetime": list(values),
            "value": list(values.values()),
        }
    )


def ramp(start=DAY - HISTORY - timedelta(hours=1), hours=80, station_id=1) -> pd.DataFrame:
    """Hourly ozone equal to the hour's index: every lag can be checked by arithmetic."""
    return measurements({start + timedelta(hours=h): float(h) for h in range(hours)}, station_id)


def features(frame, horizon=1, start=DAY, end=DAY + timedelta(days=1)):
    return build_features(hourly_means(frame), STATIONS, start, end, horizon)


def test_lags_and_rolling_means_are_the_past_hours():
    rows = features(ramp()).set_index("issue_time")
    t = pd.Timestamp(DAY + timedelta(hours=5))
    now = rows.loc[t, "o3_lag_0h"]
    for k in range(24):
        assert rows.loc[t, f"o3_lag_{k}h"] == now - k
    assert rows.loc[t, "o3_mean_3h"] == pytest.approx(now - 1)
    assert rows.loc[t, "o3_mean_24h"] == pytest.approx(now - 11.5)
    assert rows.loc[t, TARGET] == now + 1
    assert rows.loc[t, "target_time"] == t + pd.Timedelta(hours=1)


def test_rows_cover_issue_times_of_the_window_only():
    rows = features(ramp())
    assert rows["issue_time"].min() == pd.Timestamp(DAY)
    assert rows["issue_time"].max() == pd.Timestamp(DAY + timedelta(hours=23))
    assert len(rows) == 24
    assert list(rows.columns[3:-1]) == FEATURE_COLUMNS


def test_no_leakage_values_after_the_issue_time_change_only_the_target():
    base = ramp()
    t = pd.Timestamp(DAY + timedelta(hours=10))
    changed = base.copy()
    changed.loc[changed["datetime"] > t, "value"] += 1000.0
    before = features(base).set_index("issue_time").loc[t]
    after = features(changed).set_index("issue_time").loc[t]
    pd.testing.assert_series_equal(before[FEATURE_COLUMNS], after[FEATURE_COLUMNS])
    assert after[TARGET] == before[TARGET] + 1000.0


def test_horizon_is_configurable():
    rows = features(ramp(), horizon=3).set_index("issue_time")
    t = pd.Timestamp(DAY + timedelta(hours=2))
    assert rows.loc[t, TARGET] == rows.loc[t, "o3_lag_0h"] + 3
    assert rows.loc[t, "target_time"] == t + pd.Timedelta(hours=3)
    hour = (t + pd.Timedelta(hours=3)).hour  # the time features describe the target hour
    assert rows.loc[t, "hour_sin"] == pytest.approx(np.sin(2 * np.pi * hour / 24))


def test_short_gaps_carry_the_past_forward_and_long_gaps_drop_rows():
    frame = ramp()
    gap_short = [DAY + timedelta(hours=3)]  # one missing hour
    gap_long = [DAY + timedelta(hours=h) for h in range(12, 15)]  # three missing hours
    frame = frame[~frame["datetime"].isin(gap_short + gap_long)]
    rows = features(frame).set_index("issue_time")
    filled = rows.loc[pd.Timestamp(gap_short[0])]
    assert filled["o3_lag_0h"] == filled["o3_lag_1h"]  # carried forward from the hour before
    assert np.isnan(rows.loc[pd.Timestamp(DAY + timedelta(hours=2)), TARGET])  # a target is never filled
    for h in range(12, 15):
        # The third missing hour is beyond the carry-forward limit: no row can use it.
        assert (pd.Timestamp(DAY + timedelta(hours=h)) in rows.index) == (h < 14)
    assert pd.Timestamp(DAY + timedelta(hours=15)) not in rows.index  # its lag 1 is the gap
    assert rows[FEATURE_COLUMNS].notna().all().all()


def test_quarter_hour_values_average_into_the_hour_they_end_in():
    start = DAY - HISTORY
    values = {start + timedelta(minutes=15 * q): float(q // 4) * 10 + (q % 4) for q in range(1, 4 * 60)}
    hourly = hourly_means(measurements(values))
    hour = pd.Timestamp(start + timedelta(hours=2))
    # Quarter hours ending 01:15, 01:30, 01:45, 02:00 make the hour ending 02:00.
    assert hourly.loc[(1, hour), "o3"] == pytest.approx(np.mean([11, 12, 13, 20]))


def test_no2_is_used_where_present_and_flagged_where_absent():
    no2 = measurements({t: 20.0 for t in ramp()["datetime"]}, variable="no2")
    both = pd.concat([ramp(), no2, ramp(station_id=2)])
    rows = features(both)
    with_no2, without = rows[rows["station_id"] == 1], rows[rows["station_id"] == 2]
    assert (with_no2["has_no2"] == 1).all() and (with_no2["no2_lag_0h"] == 20.0).all()
    assert (without["has_no2"] == 0).all() and (without["no2_lag_0h"] == 0.0).all()


def test_stations_without_ozone_get_no_rows():
    only_no2 = measurements({t: 20.0 for t in ramp()["datetime"]}, variable="no2")
    assert features(only_no2).empty


@pytest.fixture
def filled_database(database_url):
    """Two days of hourly ozone at two stations, through harmonization and the writer."""
    engine = toar.database.create_engine(database_url)
    toar.database.ensure_schema(engine)
    hours = [DAY - timedelta(days=1, hours=6) + timedelta(hours=h) for h in range(60)]
    for lat in (40.4168, 4.5981):
        items = [
            record(
                value=0.030 + (h % 24) / 1000,
                utc=t.strftime("%Y-%m-%dT%H:00:00.000Z"),
                coordinates={"latitude": lat, "longitude": -3.7},
            )
            for h, t in enumerate(hours)
        ]
        toar.writer.write_partition(
            engine, "2014-01-05", harmonize(raw_table(items, key=f"2014-01-06/{1388966400 + int(lat)}.ndjson.gz"))
        )
    yield engine
    engine.dispose()


def test_features_for_window_reads_the_database(filled_database):
    rows, read = features_for_window(filled_database, DAY, DAY + timedelta(days=1), 1)
    assert len(read["station_ids"]) == 2 and len(read["timeseries_ids"]) == 2
    assert rows["station_id"].nunique() == 2
    assert rows["issue_time"].min() == pd.Timestamp(DAY)
    assert rows[FEATURE_COLUMNS].notna().all().all()
    one = rows.iloc[5]
    assert one[TARGET] == pytest.approx(30 + ((one["target_time"].hour + 6) % 24))


def test_selection_searches_each_series_on_the_primary_key(filled_database):
    with filled_database.connect() as conn:
        ids = [row.id for row in conn.execute(series_query())]
        sql = str(
            measurement_query(DAY - timedelta(days=1), DAY, ids).compile(conn, compile_kwargs={"literal_binds": True})
        )
        if conn.dialect.name == "sqlite":
            plan = " ".join(str(row) for row in conn.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}")))
            assert (
                "SEARCH data USING INDEX sqlite_autoindex_data_1 (timeseries_id=? AND datetime>? AND datetime<?)"
                in plan
            ), plan
        else:
            conn.execute(sa.text("SET enable_seqscan = off"))  # is the key usable for this shape?
            plan = " ".join(row[0] for row in conn.execute(sa.text(f"EXPLAIN {sql}")))
            assert "using data_pkey on data" in plan and "Index Cond: ((timeseries_id = ANY " in plan, plan


def test_selection_in_chunks_of_series_reads_the_same_rows(filled_database, monkeypatch):
    whole, read = features_for_window(filled_database, DAY, DAY + timedelta(days=1), 1)
    monkeypatch.setattr("toar.series.SERIES_PER_QUERY", 1)  # one values query per series
    chunked, read_chunked = features_for_window(filled_database, DAY, DAY + timedelta(days=1), 1)
    assert len(read["timeseries_ids"]) > 1 and read_chunked == read
    pd.testing.assert_frame_equal(chunked, whole)
