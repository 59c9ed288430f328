"""Ozone forecast features: one function for training and for serving (no Dagster).

A feature row describes a station at an *issue time* t (the latest hour whose measurements
are known) and predicts ozone at the *target time* t + horizon. Every input is a value at or
before t; only the target looks ahead. Values are hourly station means in nmol/mol, hours
labelled by their end (as OpenAQ and the TOAR table label measurements).

Gaps of up to ``MAX_FILL_HOURS`` are carried forward from the past (never interpolated from
the future, which would leak); rows whose ozone inputs still have gaps are left out.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

# Re-exported: the readers moved to toar.series (shared with the daily metrics); callers and
# tests still import them from here.
from toar.series import (  # noqa: F401
    SERIES_PER_QUERY,
    hourly_means,
    measurement_query,
    select_measurements,
    select_stations,
    series_query,
)

LAG_HOURS = 24
MAX_FILL_HOURS = 2
ROLLING_HOURS = (3, 6, 24)
# History a feature row needs before its issue time: the lags, plus the longest carry-forward.
HISTORY = timedelta(hours=LAG_HOURS - 1 + MAX_FILL_HOURS)

FEATURE_COLUMNS = (
    [f"o3_lag_{k}h" for k in range(LAG_HOURS)]
    + [f"o3_mean_{w}h" for w in ROLLING_HOURS]
    + ["no2_lag_0h", "no2_lag_1h", "no2_mean_3h", "has_no2"]
    + ["hour_sin", "hour_cos", "dow_sin", "dow_cos", "latitude", "longitude"]
)
KEY_COLUMNS = ["station_id", "issue_time", "target_time"]
TARGET = "target_o3"


def build_features(
    hourly: pd.DataFrame, stations: pd.DataFrame, issue_start: datetime, issue_end: datetime, horizon_hours: int
) -> pd.DataFrame:
    """Feature rows for issue times in [issue_start, issue_end), every station with ozone.

    ``hourly`` must cover issue_start - HISTORY .. issue_end + horizon (what it lacks is a gap).
    The target is the observed hourly ozone at t + horizon, NaN where not (yet) observed.
    """
    horizon = pd.Timedelta(hours=horizon_hours)
    columns = KEY_COLUMNS + FEATURE_COLUMNS + [TARGET]
    with_o3 = hourly["o3"].dropna().index.get_level_values("station_id").unique() if len(hourly) else []
    if len(with_o3) == 0:
        return pd.DataFrame(columns=columns)
    hours = pd.date_range(
        pd.Timestamp(issue_start) - HISTORY, pd.Timestamp(issue_end) + horizon, freq="h", inclusive="left"
    )
    grid = hourly.reindex(pd.MultiIndex.from_product([sorted(with_o3), hours], names=["station_id", "hour"]))
    by_station = grid.groupby(level="station_id", group_keys=False)
    filled = by_station.ffill(limit=MAX_FILL_HOURS)  # past only: no value from after t
    o3, no2 = filled["o3"].groupby(level="station_id"), filled["no2"].groupby(level="station_id")

    out = pd.DataFrame(index=grid.index)
    for k in range(LAG_HOURS):
        out[f"o3_lag_{k}h"] = o3.shift(k)
    for w in ROLLING_HOURS:
        out[f"o3_mean_{w}h"] = o3.transform(lambda s, w=w: s.rolling(w, min_periods=w).mean())
    out["no2_lag_0h"] = filled["no2"]
    out["no2_lag_1h"] = no2.shift(1)
    out["no2_mean_3h"] = no2.transform(lambda s: s.rolling(3, min_periods=1).mean())
    out["has_no2"] = out["no2_lag_0h"].notna().astype(float)
    out[["no2_lag_0h", "no2_lag_1h", "no2_mean_3h"]] = out[["no2_lag_0h", "no2_lag_1h", "no2_mean_3h"]].fillna(0.0)
    # The target is what was observed, never a carried-forward value.
    out[TARGET] = grid["o3"].groupby(level="station_id").shift(-horizon_hours)

    out = out.reset_index().rename(columns={"hour": "issue_time"})
    out["target_time"] = out["issue_time"] + horizon
    hour_angle = 2 * np.pi * out["target_time"].dt.hour / 24  # the diurnal phase being predicted
    day_angle = 2 * np.pi * out["target_time"].dt.dayofweek / 7
    out["hour_sin"], out["hour_cos"] = np.sin(hour_angle), np.cos(hour_angle)
    out["dow_sin"], out["dow_cos"] = np.sin(day_angle), np.cos(day_angle)
    out = out.merge(stations[["station_id", "latitude", "longitude"]], on="station_id", how="left")

    in_window = (out["issue_time"] >= pd.Timestamp(issue_start)) & (out["issue_time"] < pd.Timestamp(issue_end))
    complete = out[FEATURE_COLUMNS].notna().all(axis=1)
    return out.loc[in_window & complete, columns].reset_index(drop=True)


def features_for_window(
    engine, issue_start: datetime, issue_end: datetime, horizon_hours: int, station_ids: list[int] | None = None
) -> tuple[pd.DataFrame, dict]:
    """Read what the window needs from the TOAR database and build its feature rows.

    Returns the rows and what was read (for provenance and QoA): rows selected, the stations
    and the measurement interval.
    """
    read_start = pd.Timestamp(issue_start) - HISTORY - pd.Timedelta(hours=1)
    read_end = pd.Timestamp(issue_end) + pd.Timedelta(hours=horizon_hours)
    with engine.connect() as conn:
        measurements = select_measurements(conn, read_start.to_pydatetime(), read_end.to_pydatetime(), station_ids)
        stations = (
            select_stations(conn, measurements["station_id"].unique())
            if len(measurements)
            else pd.DataFrame(columns=["station_id", "latitude", "longitude"])
        )
    features = build_features(hourly_means(measurements), stations, issue_start, issue_end, horizon_hours)
    read = {
        "rows_selected": len(measurements),
        "station_ids": sorted(int(s) for s in measurements["station_id"].unique()),
        "timeseries_ids": sorted(int(s) for s in measurements["timeseries_id"].unique()),
        "read_start": str(read_start),
        "read_end": str(read_end),
    }
    return features, read
