"""Daily metrics per station and local standard-time day: ozone's dma8eu (EU Directive 2008/50/EC,
Annex VII) and the daily mean, maximum and hours of ozone, NO2 and temperature (no Dagster).

The rules, in short (docs/DAILY_METRICS.md has them in full, with a worked example):

- Hourly values are labelled by the end of their hour. The 8-hour mean ending at E averages
  the hours labelled E-7h .. E and is valid with at least 6 of them.
- A day has 24 such means, one ending at each of its hours: the first runs from 17:00 the day
  before to 01:00, the last from 16:00 to 24:00. dma8eu, their maximum, is valid with at least
  18 valid means; the daily mean and maximum of a variable with at least 18 of the 24 hours.
- Days are the station's local days in standard time (no daylight saving time, as TOAR
  statistics count them): the standard UTC offset of the IANA timezone found from the
  station's coordinates. An hour or a window belongs to the local day that contains its end
  minus a microsecond, so a label at 24:00 belongs to the day that ends there.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from toar.schema import daily_metric
from toar.series import hourly_means, select_measurements, select_stations

VARIABLES = ("o3", "no2", "temp")
COLUMNS = [column.name for column in daily_metric.columns]
_INTEGER_COLUMNS = ["station_id", "utc_offset_minutes", "o3_dma8eu_windows", "o3_hours", "no2_hours", "temp_hours"]
_FLOAT_COLUMNS = [c.name for c in daily_metric.columns if isinstance(c.type, sa.Float)]

WINDOW_HOURS = 8
MIN_WINDOW_HOURS = 6  # of 8: a valid 8-hour mean
DAY_HOURS = 24
MIN_DAY_VALUES = 18  # of 24: a valid dma8eu (means), a valid daily mean and maximum (hours)
# The standard offsets of all timezones lie within these, so reads cover any station.
MIN_OFFSET_MINUTES = -12 * 60
MAX_OFFSET_MINUTES = 14 * 60
# Stations per delete statement: short enough for any database's parameter limit.
KEYS_PER_STATEMENT = 1000


@functools.cache
def _finder():
    # Built on first use: it loads the timezone polygons (a third of a second), which an import
    # must not do.
    from timezonefinder import TimezoneFinder

    return TimezoneFinder()


def _nautical_zone(longitude: float) -> str:
    """The Etc/GMT zone of a longitude's 15-degree band (Etc names count west as positive)."""
    hours = math.floor(longitude / 15 + 0.5)
    return "Etc/GMT" if hours == 0 else f"Etc/GMT{-hours:+d}"


def station_timezones(stations: pd.DataFrame) -> pd.DataFrame:
    """The IANA timezone of each station (columns station_id, latitude, longitude), from its
    coordinates: columns station_id, timezone."""
    zones = {}
    for latitude, longitude in stations[["latitude", "longitude"]].drop_duplicates().itertuples(index=False):
        zone = _finder().timezone_at(lng=float(longitude), lat=float(latitude))
        # None where the polygons have no zone (open ocean in data sets without ocean zones):
        # the nautical zone of the longitude is what a ship there would keep.
        zones[(latitude, longitude)] = zone if zone is not None else _nautical_zone(float(longitude))
    names = [zones[(lat, lon)] for lat, lon in zip(stations["latitude"], stations["longitude"], strict=True)]
    return pd.DataFrame({"station_id": stations["station_id"].to_numpy(), "timezone": names})


def standard_offset_minutes(timezone: str, day: date) -> int:
    """The timezone's UTC offset without daylight saving time on that day, in minutes."""
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo(timezone))  # away from any switch
    offset, dst = noon.utcoffset(), noon.dst()
    assert offset is not None and dst is not None  # a ZoneInfo always knows both
    return int((offset - dst).total_seconds()) // 60


def _first_label_hour(day_start_minutes: np.ndarray, offset_minutes: np.ndarray) -> np.ndarray:
    """Hours since the epoch of the first hour-end label of each local day: the first whole UTC
    hour after the day's start (00:00 local standard time is 00:00 UTC minus the offset)."""
    return (day_start_minutes - offset_minutes) // 60 + 1


def _epoch_minutes(days: list[date]) -> np.ndarray:
    return np.array(days, dtype="datetime64[D]").astype("datetime64[m]").astype(np.int64)


def _hours_to_datetime(hours: int) -> datetime:
    return datetime(1970, 1, 1) + timedelta(hours=int(hours))


def _days(days: Iterable[date]) -> list[date]:
    return sorted({pd.Timestamp(d).date() for d in days})


def utc_read_range(days: Iterable[date]) -> tuple[datetime, datetime]:
    """The naive-UTC hour-end labels the days need at any standard offset (-12 h .. +14 h), as
    (start, end) with start < label <= end: the convention of ``select_measurements``, so
    values read with start < datetime <= end make exactly those hours.

    The earliest label is the first hour of the first window (17:00 the day before) of the first
    day at +14 h; the latest, the last hour of the last day at -12 h."""
    ordered = _days(days)
    if not ordered:
        raise ValueError("no days given")
    first = _first_label_hour(_epoch_minutes(ordered[:1]), np.array([MAX_OFFSET_MINUTES]))[0]
    last = _first_label_hour(_epoch_minutes(ordered[-1:]), np.array([MIN_OFFSET_MINUTES]))[0]
    return _hours_to_datetime(first - WINDOW_HOURS), _hours_to_datetime(last + DAY_HOURS - 1)


def _empty() -> pd.DataFrame:
    return _typed(pd.DataFrame({name: [] for name in COLUMNS}))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The table's columns with fixed dtypes: int64, float64 (NaN for NULL), datetime64[ns] for
    computed_at, and datetime.date objects for date."""
    frame = frame[COLUMNS].copy()
    frame[_INTEGER_COLUMNS] = frame[_INTEGER_COLUMNS].astype(np.int64)
    frame[_FLOAT_COLUMNS] = frame[_FLOAT_COLUMNS].astype(float)
    frame["timezone"] = frame["timezone"].astype(object)
    frame["date"] = pd.Series([pd.Timestamp(d).date() for d in frame["date"]], index=frame.index, dtype=object)
    frame["computed_at"] = pd.to_datetime(frame["computed_at"]).astype("datetime64[ns]")
    return frame


def _day_statistics(hours: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hours with a value, mean and maximum of each row of a day's 24 hours (NaN: no value);
    mean and maximum NaN unless at least MIN_DAY_VALUES hours have a value."""
    present = ~np.isnan(hours)
    count = present.sum(axis=1)
    enough = count >= MIN_DAY_VALUES
    total = np.where(present, hours, 0.0).sum(axis=1)
    mean = np.divide(total, count, out=np.full(len(hours), np.nan), where=enough)
    maximum = np.where(enough, np.where(present, hours, -np.inf).max(axis=1, initial=-np.inf), np.nan)
    return count, mean, maximum


def daily_metrics(
    hourly: pd.DataFrame, timezones: pd.DataFrame, days: Iterable[date], computed_at: datetime
) -> pd.DataFrame:
    """The daily_metric rows of the given local days for every station with any value in ``hourly``.

    ``hourly`` is indexed by (station_id, hour), hour a naive-UTC whole-hour end label, with
    columns among o3, no2, temp (a missing column is a variable not measured). ``timezones``
    (station_id, timezone) must name every such station. Returns exactly the table's columns,
    one row per station and day, date as datetime.date objects; metrics that are not valid are
    NaN, the counts say why.
    """
    ordered = _days(days)
    values = hourly.reindex(columns=list(VARIABLES))
    values = values[values.notna().any(axis=1)]
    if values.empty or not ordered:
        return _empty()
    station_ids = pd.Index(values.index.get_level_values("station_id").unique()).sort_values()
    zones = timezones.drop_duplicates("station_id").set_index("station_id")["timezone"].reindex(station_ids)
    if zones.isna().any():
        raise ValueError(f"no timezone for stations {sorted(int(s) for s in zones[zones.isna()].index)}")

    # One row per (station, day); the standard offset is looked up once per (timezone, day).
    n_days = len(ordered)
    row_station = np.repeat(np.arange(len(station_ids)), n_days)
    row_day = np.tile(np.arange(n_days), len(station_ids))
    zone_names = pd.Index(pd.unique(zones.to_numpy()))
    offsets = np.array([[standard_offset_minutes(z, d) for d in ordered] for z in zone_names], dtype=np.int64)
    row_offset = offsets[zone_names.get_indexer(zones.to_numpy())[row_station], row_day]
    first_label = _first_label_hour(_epoch_minutes(ordered)[row_day], row_offset)

    # Every station's values on one grid of UTC hours covering each row's day and the seven
    # hours before it (its first windows reach back to 17:00 the day before).
    grid_start = int(first_label.min()) - (WINDOW_HOURS - 1)
    grid_hours = int(first_label.max()) + DAY_HOURS - grid_start
    station_pos = station_ids.get_indexer(values.index.get_level_values("station_id"))
    labels = values.index.get_level_values("hour").to_numpy(dtype="datetime64[ns]")
    hour_pos = labels.astype("datetime64[h]").astype(np.int64) - grid_start
    inside = (hour_pos >= 0) & (hour_pos < grid_hours)
    span = first_label[:, None] - grid_start + np.arange(-(WINDOW_HOURS - 1), DAY_HOURS)  # (rows, 31)

    out: dict[str, object] = {
        "station_id": station_ids.to_numpy(dtype=np.int64)[row_station],
        "date": np.array(ordered, dtype=object)[row_day],
        "timezone": zones.to_numpy()[row_station],
        "utc_offset_minutes": row_offset,
    }
    for variable in VARIABLES:
        grid = np.full((len(station_ids), grid_hours), np.nan)
        grid[station_pos[inside], hour_pos[inside]] = values[variable].to_numpy(dtype=float)[inside]
        rows = grid[row_station[:, None], span]  # each row's 7 hours before its day, then the day's 24
        count, mean, maximum = _day_statistics(rows[:, WINDOW_HOURS - 1 :])
        out[f"{variable}_hours"], out[f"{variable}_mean"], out[f"{variable}_max"] = count, mean, maximum
        if variable == "o3":
            # Window k (0..23) ends at the day's k-th hour label and holds the 8 labels up to it.
            windows = np.lib.stride_tricks.sliding_window_view(rows, WINDOW_HOURS, axis=1)
            present = ~np.isnan(windows)
            in_window = present.sum(axis=2)
            valid = in_window >= MIN_WINDOW_HOURS
            sums = np.where(present, windows, 0.0).sum(axis=2)
            means = np.divide(sums, in_window, out=np.full(sums.shape, np.nan), where=valid)
            n_valid = valid.sum(axis=1)
            best = np.where(valid, means, -np.inf).max(axis=1)
            out["o3_dma8eu"] = np.where(n_valid >= MIN_DAY_VALUES, best, np.nan)
            out["o3_dma8eu_windows"] = n_valid
            out["o3_last8h_mean"] = means[:, -1]  # NaN unless valid
    stamp = pd.Timestamp(computed_at)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    out["computed_at"] = stamp
    return _typed(pd.DataFrame(out))


def metrics_for_days(engine: Engine, days: Iterable[date], computed_at: datetime) -> tuple[pd.DataFrame, dict]:
    """Read what the days need from the TOAR database and compute their daily_metric rows.

    Returns the rows and what was read (for provenance and QoA): rows selected, the stations and
    series, and the interval of values read (start < datetime <= end)."""
    ordered = _days(days)
    start, end = utc_read_range(ordered)
    with engine.connect() as conn:
        measurements = select_measurements(conn, start, end, variables=VARIABLES)
        stations = (
            select_stations(conn, measurements["station_id"].unique())
            if len(measurements)
            else pd.DataFrame(columns=["station_id", "latitude", "longitude"])
        )
    frame = daily_metrics(hourly_means(measurements, VARIABLES), station_timezones(stations), ordered, computed_at)
    read = {
        "rows_selected": len(measurements),
        "station_ids": sorted(int(s) for s in measurements["station_id"].unique()),
        "timeseries_ids": sorted(int(s) for s in measurements["timeseries_id"].unique()),
        "read_start": str(pd.Timestamp(start)),
        "read_end": str(pd.Timestamp(end)),
    }
    return frame, read


def write_daily_metrics(conn: Connection, frame: pd.DataFrame) -> None:
    """Replace the stored rows of the frame's (station_id, date) keys with the frame's rows, in
    the caller's transaction (delete, then insert).

    Rows go in through executemany, not toar.bulk_load's binary COPY: that encodes no DATE
    column, and a few thousand rows a day need no COPY."""
    if frame.empty:
        return
    rows = _typed(frame)
    for day, stations in rows.groupby("date")["station_id"]:
        ids = sorted(int(s) for s in stations.unique())
        for first in range(0, len(ids), KEYS_PER_STATEMENT):
            conn.execute(
                daily_metric.delete().where(
                    daily_metric.c.date == day, daily_metric.c.station_id.in_(ids[first : first + KEYS_PER_STATEMENT])
                )
            )
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    conn.execute(daily_metric.insert(), records)


def select_daily_metrics(
    conn: Connection, first_day: date, last_day: date, station_ids: Iterable[int] | None = None
) -> pd.DataFrame:
    """The stored rows with first_day <= date <= last_day (of the given stations, or of all),
    ordered by station and date, typed as ``daily_metrics`` returns them: date as
    datetime.date objects, computed_at datetime64[ns], NULL as NaN."""
    query = (
        sa.select(*(daily_metric.c[name] for name in COLUMNS))
        .where(daily_metric.c.date >= first_day, daily_metric.c.date <= last_day)
        .order_by(daily_metric.c.station_id, daily_metric.c.date)
    )
    if station_ids is None:
        rows = conn.execute(query).all()
    else:
        ids = sorted({int(s) for s in station_ids})
        rows = []
        for first in range(0, len(ids), KEYS_PER_STATEMENT):
            chunk = ids[first : first + KEYS_PER_STATEMENT]
            rows += conn.execute(query.where(daily_metric.c.station_id.in_(chunk))).all()
    if not rows:
        return _empty()
    return _typed(pd.DataFrame(rows, columns=COLUMNS))
