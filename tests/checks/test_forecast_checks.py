"""data_fresh_at_issue: how old the newest hour a day's forecasts come from is when they are made."""

from datetime import UTC, datetime

import pandas as pd

from checks.forecasts import data_fresh


def issued(**newest_hour_by_station: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "station_id": [int(s.removeprefix("s")) for s in newest_hour_by_station],
            "issue_time": pd.to_datetime(list(newest_hour_by_station.values())),
        }
    )


def test_today_is_judged_against_now():
    now = datetime(2026, 12, 2, 13, 20, tzinfo=UTC)
    fresh = data_fresh(issued(s1="2026-12-02 12:00", s2="2026-12-02 11:00"), "2026-12-02", now, 3.0)
    assert fresh.passed and fresh.details["data_age_hours"] == 1.33 and fresh.details["stale_stations"] == 0


def test_a_past_day_is_judged_as_if_forecast_at_its_end():
    later = datetime(2026, 12, 2, tzinfo=UTC)
    fresh = data_fresh(issued(s1="2014-01-08 23:00"), "2014-01-08", later, 3.0)
    assert fresh.passed and fresh.details["made_at"] == "2014-01-09 00:00:00"
    assert fresh.details["data_age_hours"] == 1.0


def test_old_data_warns_and_names_the_stalest_stations():
    now = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)
    stale = data_fresh(
        issued(s1="2026-12-02 12:00", s2="2026-12-02 06:00", s3="2026-12-02 14:00"), "2026-12-02", now, 3.0
    )
    assert not stale.passed and not stale.severe  # a warning: forecasts are the last asset
    assert stale.details["data_age_hours"] == 4.0
    assert stale.details["stalest"] == {"2": 12.0, "1": 6.0, "3": 4.0}


def test_no_forecast_is_a_warning_that_says_why():
    fresh = data_fresh(issued(), "2026-12-02", datetime(2026, 12, 2, tzinfo=UTC), 3.0)
    assert not fresh.passed and not fresh.severe and "no feature rows" in fresh.details["note"]
