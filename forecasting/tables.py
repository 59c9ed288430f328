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
