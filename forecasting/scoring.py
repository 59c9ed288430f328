"""Scoring stored forecasts against the measurements that arrived later."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from forecasting.dma8eu import LEADS, LeadScores, lead_scores
from forecasting.features import hourly_means, select_measurements
from forecasting.tables import dma8eu_forecast, ozone_forecast
from toar.schema import daily_metric


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


def daily_forecast_scores(
    engine, model_name: str, versions: list[str], first_target: date, last_target: date
) -> tuple[dict[str, list[LeadScores]], int]:
    """Per lead, the scores of each version's stored dma8eu forecasts for target dates
    first_target .. last_target whose observed dma8eu is valid, on the forecasts all versions
    made (same stations, issue dates and leads: a fair side-by-side), with the persistence and
    climatology stored beside them. Also returns the number of target dates scored."""
    f, m = dma8eu_forecast.c, daily_metric.c
    query = (
        sa.select(f.model_version, f.station_id, f.issue_date, f.lead_days, f.value, f.persistence, f.climatology)
        .add_columns(m.o3_dma8eu.label("observed"), f.target_date)
        .join(daily_metric, sa.and_(m.station_id == f.station_id, m.date == f.target_date))
        .where(
            f.model_name == model_name,
            f.model_version.in_([str(v) for v in versions]),
            f.target_date >= first_target,
            f.target_date <= last_target,
            m.o3_dma8eu.is_not(None),
        )
    )
    with engine.connect() as conn:
        rows = pd.DataFrame(conn.execute(query).all(), columns=[c.name for c in query.selected_columns])
    keys = ["station_id", "issue_date", "lead_days"]
    common = rows.groupby(keys)["model_version"].transform("nunique") == len(versions)
    rows = rows[common]
    if rows.empty:
        return {str(v): [] for v in versions}, 0
    scores = {}
    for version, own in rows.groupby("model_version"):
        values = own[[*keys, "value", "persistence", "climatology", "observed"]]
        wide = values.pivot_table(index=["station_id", "issue_date"], columns="lead_days", aggfunc="first")

        def matrix(column: str, wide=wide) -> np.ndarray:
            return wide[column].reindex(columns=list(LEADS)).to_numpy(dtype=float)

        references = {"persistence": matrix("persistence"), "climatology": matrix("climatology")}
        scores[str(version)] = lead_scores(matrix("observed"), matrix("value"), references)
    return {str(v): scores.get(str(v), []) for v in versions}, int(rows["target_date"].nunique())
