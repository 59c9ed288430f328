"""Resources, chosen from the environment in one place (see ``environment.py``)."""

from __future__ import annotations

import os

from dagster import EnvVar

from forecasting.settings import FORECAST_HORIZON_HOURS, TRAINING_WINDOW_DAYS
from resources.forecast_settings import ForecastSettings
from resources.mlflow_resources import ModelRegistry, mlflow_run
from resources.openaq_bucket import OpenAQBucket
from resources.parquet_io_manager import ParquetIOManager
from resources.qoa import QoAMonitor
from resources.quality_gates import QualityGates
from resources.retraining_policy import RetrainingPolicy
from resources.toar_database import ToarDatabase


def forecast_horizon_hours() -> int:
    """FORECAST_HORIZON_HOURS, else the code's default: the horizon the resources are built with."""
    return int(os.environ.get("FORECAST_HORIZON_HOURS", FORECAST_HORIZON_HOURS))


def training_window_days() -> int:
    """TRAINING_WINDOW_DAYS, else the code's default. Not a resource field: the window is a
    partition mapping of the asset graph, so ``definitions.defs`` builds the model asset with it."""
    return int(os.environ.get("TRAINING_WINDOW_DAYS", TRAINING_WINDOW_DAYS))


def build_resources() -> dict:
    """The resources of the code location, configured by the environment variables of the README (Configuration)."""
    return {
        "openaq_bucket": OpenAQBucket(
            url=EnvVar("OPENAQ_BUCKET_URL"),
            endpoint_url=os.environ.get("OPENAQ_S3_ENDPOINT_URL"),
            unsigned=os.environ.get("OPENAQ_S3_UNSIGNED", "true").lower() != "false",
        ),
        "toar_database": ToarDatabase(url=EnvVar("TOAR_DATABASE_URL")),
        "mlflow": mlflow_run.configured(
            {"experiment_name": "ozone-forecast", "mlflow_tracking_uri": {"env": "MLFLOW_TRACKING_URI"}}
        ),
        "model_registry": ModelRegistry(tracking_uri=EnvVar("MLFLOW_TRACKING_URI")),
        "qoa": QoAMonitor(),
        "quality_gates": QualityGates(),
        "forecast_settings": ForecastSettings(horizon_hours=forecast_horizon_hours()),
        "retraining_policy": RetrainingPolicy(),
        "lake_io_manager": ParquetIOManager(
            base_url=EnvVar("DATA_LAKE_URL"), s3_endpoint_url=os.environ.get("DATA_LAKE_S3_ENDPOINT_URL")
        ),
    }
