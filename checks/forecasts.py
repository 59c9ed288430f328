"""Checks of ozone_forecasts: forecasts are issued from fresh data.

A forecast is issued from its station's newest hour in the day's features. Its data age is the
time from that hour to when the forecast is made: now, for the current day; the end of the day,
for a past day materialized later (a backfill), so a replay is judged as if it ran live. The
check warns (it never blocks: forecasts are the graph's last asset) when the newest hour of the
day is older than the quality gates' ``max_data_age_hours``, and names the stations whose own
newest hour is older than that.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from checks.core import Outcome, cost_spec, spec

ASSET = "ozone_forecasts"
STATIONS_SHOWN = 20  # stale stations named in a failure, the stalest first

DATA_FRESH = spec(
    ASSET,
    "data_fresh_at_issue",
    "The newest hour the day's forecasts are issued from is at most max_data_age_hours old when they are made "
    "(now for today, the day's end for a past day); stale stations are named. A warning, never blocking.",
    blocking=False,
)
SPECS = [DATA_FRESH, cost_spec(ASSET)]


def data_fresh(issue_times: pd.DataFrame, day: str, now: datetime, max_age_hours: float) -> Outcome:
    """``issue_times``: station_id and issue_time (naive UTC) of the day's forecasts."""
    made_at = min(pd.Timestamp(now).tz_localize(None), pd.Timestamp(day) + timedelta(days=1))
    if issue_times.empty:
        return Outcome(False, {"note": "no forecasts: no feature rows for the day", "made_at": str(made_at)}, False)
    age_hours = (made_at - pd.to_datetime(issue_times["issue_time"])) / pd.Timedelta(hours=1)
    stale = issue_times.assign(age_hours=age_hours)[age_hours > max_age_hours].sort_values("age_hours", ascending=False)
    newest_age = float(age_hours.min())
    return Outcome(
        newest_age <= max_age_hours,
        {
            "made_at": str(made_at),
            "newest_issue_time": str(pd.to_datetime(issue_times["issue_time"]).max()),
            "data_age_hours": round(newest_age, 2),
            "max_data_age_hours": max_age_hours,
            "stations": len(issue_times),
            "stale_stations": len(stale),
            "stalest": {
                str(station): round(float(age), 1)
                for station, age in stale[["station_id", "age_hours"]].head(STATIONS_SHOWN).itertuples(index=False)
            },
        },
        severe=False,
    )
