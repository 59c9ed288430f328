"""Resources, chosen from the environment in one place (see ``environment.py``)."""

from __future__ import annotations

import os

from dagster import EnvVar

from forecasting.settings import FORECAST_HORIZON_HOURS, TRAINING_WINDOW_DAYS
from resources.dma8eu_rules import Dma8euPromotionRules
from resources.environment import SAMPLE_CATALOG_FILE, uses_sample_archive
from resources.forecast_settings import ForecastSettings
from resources.mlflow_resources import ModelRegistry, mlflow_run
from resources.openaq_api import OPENAQ_API_URL
from resources.openaq_bucket import OpenAQBucket
from resources.openaq_catalog import OpenAQCatalog
from resources.openaq_latest import OpenAQLatest
from resources.openaq_sources import DEFAULT_ARCHIVE_WATCH_DAYS, DEFAULT_LIVE, OpenAQSources, parse_sources
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


def _listed(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def _bucket(url: str, endpoint: str, unsigned: str) -> OpenAQBucket:
    return OpenAQBucket(
        url=EnvVar(url),
        endpoint_url=os.environ.get(endpoint),
        unsigned=os.environ.get(unsigned, "true").lower() != "false",
    )


def _api_key() -> EnvVar | None:
    # Through EnvVar only when set: the UI shows the variable's name, and an unset key means keyless.
    return EnvVar("OPENAQ_API_KEY") if os.environ.get("OPENAQ_API_KEY") else None


def _parameters() -> list[str]:
    return _listed("OPENAQ_PARAMETERS") or ["o3", "no2"]


def build_catalog() -> OpenAQCatalog:
    """The locations catalog's settings: OPENAQ_LOCATIONS (ids, or a CSV or JSON file), else the
    v3 API with OPENAQ_API_KEY and its filters, else keyless discovery from the archive. With
    the embedded archive and no setting, the sample's own catalog file."""
    locations = os.environ.get("OPENAQ_LOCATIONS", "").strip()
    if not locations and uses_sample_archive():
        locations = os.path.join(os.environ["OPENAQ_ARCHIVE_URL"], SAMPLE_CATALOG_FILE)
    ids = [int(item) for item in locations.split(",")] if locations.replace(",", "").strip().isdigit() else []
    bbox = _listed("OPENAQ_BBOX")
    return OpenAQCatalog(
        api_key=_api_key(),
        base_url=os.environ.get("OPENAQ_API_URL", OPENAQ_API_URL),
        parameters=_parameters(),
        countries=[code.upper() for code in _listed("OPENAQ_COUNTRIES")],
        bbox=[float(edge) for edge in bbox] if bbox else None,
        location_ids=ids,
        locations_file=None if ids or not locations else locations,
    )


def build_resources() -> dict:
    """The resources of the code location, configured by the environment variables of the README (Configuration)."""
    return {
        "openaq_bucket": _bucket("OPENAQ_BUCKET_URL", "OPENAQ_S3_ENDPOINT_URL", "OPENAQ_S3_UNSIGNED"),
        # Its own endpoint and signing: a private copy of the v1 bucket may live elsewhere.
        "openaq_archive": _bucket("OPENAQ_ARCHIVE_URL", "OPENAQ_ARCHIVE_S3_ENDPOINT_URL", "OPENAQ_ARCHIVE_S3_UNSIGNED"),
        "openaq_catalog": build_catalog(),
        # The same key, API and parameters as the catalog: the latest values of the followed locations.
        "openaq_latest": OpenAQLatest(
            api_key=_api_key(), base_url=os.environ.get("OPENAQ_API_URL", OPENAQ_API_URL), parameters=_parameters()
        ),
        "openaq_sources": OpenAQSources(
            live=parse_sources(os.environ.get("OPENAQ_SOURCES", ",".join(DEFAULT_LIVE))),
            archive_watch_days=int(os.environ.get("OPENAQ_ARCHIVE_WATCH_DAYS", DEFAULT_ARCHIVE_WATCH_DAYS)),
        ),
        "toar_database": ToarDatabase(url=EnvVar("TOAR_DATABASE_URL")),
        "mlflow": mlflow_run.configured(
            {"experiment_name": "ozone-forecast", "mlflow_tracking_uri": {"env": "MLFLOW_TRACKING_URI"}}
        ),
        "model_registry": ModelRegistry(tracking_uri=EnvVar("MLFLOW_TRACKING_URI")),
        "dma8eu_registry": ModelRegistry(tracking_uri=EnvVar("MLFLOW_TRACKING_URI"), model_name="ozone-dma8eu"),
        "dma8eu_rules": Dma8euPromotionRules(),
        "qoa": QoAMonitor(),
        "quality_gates": QualityGates(),
        "forecast_settings": ForecastSettings(horizon_hours=forecast_horizon_hours()),
        "retraining_policy": RetrainingPolicy(),
        "lake_io_manager": ParquetIOManager(
            base_url=EnvVar("DATA_LAKE_URL"), s3_endpoint_url=os.environ.get("DATA_LAKE_S3_ENDPOINT_URL")
        ),
    }
