"""Stored dma8eu forecasts scored against the daily metrics that arrive later, on SQLite and PostgreSQL."""

from datetime import date, datetime, timedelta
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import toar.database
from forecasting.dma8eu import LEADS
from forecasting.scoring import daily_forecast_scores
from forecasting.tables import FORECAST_TABLES, dma8eu_forecast
from ml_assets.dma8eu import forecast_rows, store_daily_forecasts
from toar.daily_metrics import write_daily_metrics
from toar.schema import daily_metric, stationmeta_core

ISSUE = date(2024, 7, 1)


@pytest.fixture
def engine(database_url):
    engine = toar.database.create_engine(database_url)
    toar.database.ensure_schema(engine, extra_tables=FORECAST_TABLES)
    yield engine
    engine.dispose()


def observed_days(conn, station: int, values: dict[date, float | None]) -> None:
    rows = [
        {c.name: None for c in daily_metric.columns}
        | {
            "station_id": station,
            "date": day,
            "timezone": "UTC",
            "utc_offset_minutes": 0,
            "o3_dma8eu": value,
            "o3_dma8eu_windows": 24 if value is not None else 10,
            "o3_hours": 24,
            "no2_hours": 0,
            "temp_hours": 0,
            "computed_at": datetime(2024, 7, 10),
        }
        for day, value in values.items()
    ]
    write_daily_metrics(conn, pd.DataFrame(rows))


def test_versions_are_scored_on_the_same_targets_with_the_stored_references(engine):
    with engine.begin() as conn:
        station = conn.execute(
            stationmeta_core.insert()
            .values(lat_key=1, lon_key=1, name="S", city="C", country="XX", latitude=50.0, longitude=8.0)
            .returning(stationmeta_core.c.id)
        ).scalar_one()
        # Targets 2, 3, 4 July observed; 5 July's dma8eu not valid (NULL): lead 4 is not scored.
        observed_days(
            conn, station, {ISSUE + timedelta(d): v for d, v in zip(LEADS, (40.0, 50.0, 60.0, None), strict=True)}
        )
    rows = pd.DataFrame({"station_id": [station], "issue_date": [ISSUE]})
    references = {"persistence": np.full((1, 4), 45.0), "climatology": np.array([[40.0, 50.0, 50.0, 50.0]])}
    champion = SimpleNamespace(version="1", run_id="run-1")
    challenger = SimpleNamespace(version="2", run_id="run-2")
    for version, role, values in (
        (champion, "champion", [42.0, 48, 63, 70]),
        (challenger, "challenger", [30.0, 50, 60, 70]),
    ):
        frame = forecast_rows(rows, np.array([values]), references, "ozone-dma8eu", version, role, "dagster-run")
        store_daily_forecasts(engine, frame, lambda: None)
    # A second store of the same forecasts replaces them.
    store_daily_forecasts(
        engine,
        forecast_rows(rows, np.array([[42.0, 48, 63, 70]]), references, "ozone-dma8eu", champion, "champion", "again"),
        lambda: None,
    )
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(dma8eu_forecast)).scalar_one()
        target_dates = (
            conn.execute(
                sa.select(dma8eu_forecast.c.target_date)
                .where(dma8eu_forecast.c.model_version == "1")
                .order_by(dma8eu_forecast.c.lead_days)
            )
            .scalars()
            .all()
        )
    assert stored == 8
    assert target_dates == [ISSUE + timedelta(d) for d in LEADS]

    scores, days = daily_forecast_scores(engine, "ozone-dma8eu", ["1", "2"], ISSUE, ISSUE + timedelta(days=10))
    assert days == 3  # 2, 3 and 4 July
    first = {s.lead: s for s in scores["1"]}
    assert sorted(first) == [1, 2, 3]
    # Champion, lead 1: error +2 against persistence's +5 and climatology's 0.
    assert first[1].rmse == pytest.approx(2.0)
    assert first[1].skill_persistence == pytest.approx(1 - 4 / 25)
    assert first[1].skill_climatology == float("-inf")
    # Lead 3: error +3; persistence -15, climatology -10.
    assert first[3].bias == pytest.approx(3.0) and first[3].skill_climatology == pytest.approx(1 - 9 / 100)
    second = {s.lead: s for s in scores["2"]}
    assert second[1].rmse == pytest.approx(10.0) and second[2].rmse == 0.0
    # Only the target days in the window count.
    _, none = daily_forecast_scores(engine, "ozone-dma8eu", ["1", "2"], ISSUE + timedelta(5), ISSUE + timedelta(9))
    assert none == 0
