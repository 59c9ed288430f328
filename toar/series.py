"""Reading series values back from the TOAR database: the series of stations and variables, their
values in a time range, the stations' coordinates, and hourly station means (no Dagster).

Shared by the layers that read the database (forecast features, daily metrics). Hours are
labelled by their end, as the data table labels values.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from toar.schema import data, stationmeta_core, timeseries

# Series ids per values query: short enough for any database's parameter limit.
SERIES_PER_QUERY = 1000
DEFAULT_VARIABLES = ("o3", "no2")


def series_query(station_ids: list[int] | None = None, variables: Sequence[str] = DEFAULT_VARIABLES) -> sa.Select:
    """The series of the given variables (of the given stations, or of all)."""
    query = sa.select(timeseries.c.id, timeseries.c.station_id, timeseries.c.variable).where(
        timeseries.c.variable.in_(list(variables))
    )
    if station_ids is not None:
        query = query.where(timeseries.c.station_id.in_(station_ids))
    return query


def measurement_query(start: datetime, end: datetime, timeseries_ids: list[int]) -> sa.Select:
    """The values of the given series with start < datetime <= end.

    Each series is searched on the primary key ``(timeseries_id, datetime)`` for its time
    range, so the cost follows the series and rows selected, not the table size. The series
    are named by id (not joined) so no planner can choose to walk the table by time instead.
    """
    return sa.select(data.c.timeseries_id, data.c.datetime, data.c.value).where(
        data.c.timeseries_id.in_(timeseries_ids), data.c.datetime > start, data.c.datetime <= end
    )


def select_measurements(
    conn,
    start: datetime,
    end: datetime,
    station_ids: list[int] | None = None,
    variables: Sequence[str] = DEFAULT_VARIABLES,
) -> pd.DataFrame:
    """Values of the given variables with start < datetime <= end, with their series and station."""
    series = pd.DataFrame(
        conn.execute(series_query(station_ids, variables)).all(), columns=["timeseries_id", "station_id", "variable"]
    )
    ids = series["timeseries_id"].tolist()
    rows = []
    for first in range(0, len(ids), SERIES_PER_QUERY):
        rows += conn.execute(measurement_query(start, end, ids[first : first + SERIES_PER_QUERY])).all()
    values = pd.DataFrame(rows, columns=["timeseries_id", "datetime", "value"])
    frame = values.merge(series, on="timeseries_id")[["timeseries_id", "station_id", "variable", "datetime", "value"]]
    frame["datetime"] = pd.to_datetime(frame["datetime"])
    return frame


def select_stations(conn, station_ids) -> pd.DataFrame:
    """The stations' coordinates: columns station_id, latitude, longitude."""
    query = sa.select(
        stationmeta_core.c.id.label("station_id"), stationmeta_core.c.latitude, stationmeta_core.c.longitude
    )
    query = query.where(stationmeta_core.c.id.in_([int(s) for s in station_ids]))
    return pd.DataFrame(conn.execute(query).all(), columns=["station_id", "latitude", "longitude"])


def hourly_means(measurements: pd.DataFrame, variables: Sequence[str] = DEFAULT_VARIABLES) -> pd.DataFrame:
    """Mean per (station, hour ending) of every series of a variable: one column per variable,
    in the order given (all NaN for a variable without values)."""
    columns = list(variables)
    if measurements.empty:
        return pd.DataFrame(columns=columns, index=pd.MultiIndex.from_arrays([[], []], names=["station_id", "hour"]))
    hour = measurements["datetime"].dt.ceil("h")  # a 15-min value ending 10:15 belongs to the hour ending 11:00
    means = measurements.assign(hour=hour).groupby(["station_id", "hour", "variable"])["value"].mean()
    return means.unstack("variable").reindex(columns=columns)
