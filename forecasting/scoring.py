"""Scoring stored forecasts against the measurements that arrived later."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from forecasting.features import hourly_means, select_measurements
from forecasting.tables import ozone_forecast


@dataclass(frozen=True)
class ForecastErrors:
    rmse: float
    n: int  # forecasts whose target hour has been observed


def forecast_errors(engine, model_name: str, version: str, since: datetime) -> ForecastErrors:
    """RMSE of a model version's forecasts with target times after ``since``, against the
    observed hourly ozone (the same hourly means the features use)."""
    with engine.connect() as conn:
        forecasts = pd.DataFrame(
            conn.execute(
                sa.select(ozone_forecast.c.station_id, ozone_forecast.c.target_time, ozone_forecast.c.value).where(
                    ozone_forecast.c.model_name == model_name,
                    ozone_forecast.c.model_version == str(version),
                    ozone_forecast.c.target_time > since,
                )
            ).all(),
            columns=["station_id", "hour", "forecast"],
        )
        if forecasts.empty:
            return ForecastErrors(float("nan"), 0)
        forecasts["hour"] = pd.to_datetime(forecasts["hour"])
        start = (forecasts["hour"].min() - pd.Timedelta(hours=1)).to_pydatetime()
        end = forecasts["hour"].max().to_pydatetime()
        observed = hourly_means(
            select_measurements(conn, start, end, sorted(forecasts["station_id"].unique().tolist()))
        )
    scored = forecasts.join(observed["o3"].rename("observed"), on=["station_id", "hour"], how="inner").dropna()
    if scored.empty:
        return ForecastErrors(float("nan"), 0)
    return ForecastErrors(float(np.sqrt(np.mean((scored["forecast"] - scored["observed"]) ** 2))), len(scored))
