"""The code location: one Definitions object with the assets, jobs and resources."""

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
    define_asset_job,
)

from resources.environment import apply_defaults

apply_defaults()  # before resources read their EnvVars

from ml_assets.assets import ozone_features, ozone_forecast_model, ozone_forecasts  # noqa: E402
from resources import build_resources  # noqa: E402
from resources.qoa import freeze_long_lived_objects  # noqa: E402
from sensors.failures import record_run_failures  # noqa: E402
from sensors.new_objects import new_openaq_objects  # noqa: E402
from sensors.retraining import retraining  # noqa: E402
from toar_assets.assets import harmonized_toar_series, openaq_realtime_bucket, raw_openaq_measurements  # noqa: E402

data_logistics_job = define_asset_job(
    "data_logistics",
    selection=AssetSelection.assets(raw_openaq_measurements, harmonized_toar_series),
    description="OpenAQ objects of a fetch day -> raw Parquet partition -> TOAR database.",
)

features_job = define_asset_job(
    "features", selection=AssetSelection.assets(ozone_features), description="Feature rows for the day."
)

train_and_forecast_job = define_asset_job(
    "train_and_forecast",
    selection=AssetSelection.assets(ozone_forecast_model, ozone_forecasts),
    description="Train on the feature window ending with the day, promote if better, forecast with the champion.",
)

defs = Definitions(
    assets=[
        openaq_realtime_bucket,
        raw_openaq_measurements,
        harmonized_toar_series,
        ozone_features,
        ozone_forecast_model,
        ozone_forecasts,
    ],
    jobs=[data_logistics_job, features_job, train_and_forecast_job],
    sensors=[
        new_openaq_objects,
        retraining,
        record_run_failures,
        # Evaluates the assets' automation conditions (features after new harmonized data,
        # forecasts after new features or a new model).
        AutomationConditionSensorDefinition(
            "freshness", target=AssetSelection.all(), default_status=DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=30,
        ),
    ],
    resources=build_resources(),
)
freeze_long_lived_objects()  # what the code location loaded lives as long as the process
