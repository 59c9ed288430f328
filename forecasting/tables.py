"""The forecast table, owned by the forecasting layer and created beside the TOAR tables."""

from __future__ import annotations

import sqlalchemy as sa

from toar.schema import stationmeta_core

# Its own MetaData: the TOAR schema does not depend on this layer (toar.database.ensure_schema
# creates it when the resources ask for it).
forecast_metadata = sa.MetaData()

ozone_forecast = sa.Table(
    "ozone_forecast",
    forecast_metadata,
    sa.Column("station_id", sa.Integer, sa.ForeignKey(stationmeta_core.c.id), primary_key=True),
    sa.Column("target_time", sa.DateTime, primary_key=True),
    sa.Column("model_name", sa.Text, primary_key=True),
    sa.Column("model_version", sa.Text, primary_key=True),
    sa.Column("issue_time", sa.DateTime, nullable=False),
    sa.Column("horizon_hours", sa.Integer, nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("mlflow_run_id", sa.Text, nullable=False),
    sa.Column("dagster_run_id", sa.Text, nullable=False),
    comment="Ozone forecasts (nmol/mol) with the model version that made them; scored later against data.",
)

dma8eu_forecast = sa.Table(
    "dma8eu_forecast",
    forecast_metadata,
    sa.Column("station_id", sa.Integer, sa.ForeignKey(stationmeta_core.c.id), primary_key=True),
    sa.Column("issue_date", sa.Date, primary_key=True),  # the local standard-time day it is issued at the end of
    sa.Column("lead_days", sa.Integer, primary_key=True),
    sa.Column("model_name", sa.Text, primary_key=True),
    sa.Column("model_version", sa.Text, primary_key=True),
    sa.Column("target_date", sa.Date, nullable=False),  # issue_date + lead_days
    # champion: served and published; challenger: made in shadow beside it, scored, never served.
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("value", sa.Float, nullable=False),  # dma8eu, nmol/mol
    # The references at issue time, stored so a forecast's skill can be scored when the target arrives.
    sa.Column("persistence", sa.Float, nullable=False),
    sa.Column("climatology", sa.Float, nullable=False),
    sa.Column("mlflow_run_id", sa.Text, nullable=False),
    sa.Column("dagster_run_id", sa.Text, nullable=False),
    comment="dma8eu forecasts 1-4 days ahead per station, of the champion and (in shadow) the challenger; "
    "scored against daily_metric.o3_dma8eu of the target date once it is valid.",
)

# What the forecasting layer adds to the TOAR database (created by toar.database.ensure_schema).
FORECAST_TABLES = (ozone_forecast, dma8eu_forecast)
