"""The code location: one function builds the Definitions (assets, checks, jobs, sensors,
resources). Importing this module does nothing else; Dagster's loader calls ``defs``, which
prepares the process first (embedded defaults, Arrow's allocator)."""

import dagster as dg

from ml_assets.assets import build_ozone_forecast_model, ozone_features, ozone_forecasts
from ml_assets.dma8eu import dma8eu_forecast_model, dma8eu_forecasts
from resources import build_resources, training_window_days
from resources.environment import prepare_process
from resources.qoa import freeze_long_lived_objects
from sensors.dma8eu_retraining import dma8eu_retraining
from sensors.failures import record_run_failures
from sensors.latest_values import latest_openaq_values
from sensors.new_archive_objects import new_archive_objects
from sensors.new_objects import new_openaq_objects
from sensors.retraining import retraining
from toar_assets.archive import openaq_data_archive, openaq_locations, raw_openaq_archive
from toar_assets.assets import harmonized_toar_series, openaq_realtime_bucket, raw_openaq_measurements
from toar_assets.daily_metrics import toar_daily_metrics
from toar_assets.latest import openaq_api_latest, raw_openaq_latest

# Every job's executor, and the asset jobs' the UI and `dagster asset materialize` launch: a
# run's steps in the run's own process by default (measured in benchmarks/README.md, section 8:
# a process per step cost each step its interpreter, imports and code-location load, and the
# raw table's round trip through the lake). Dagster's own selector, with the other default:
# run config `execution: {config: {multiprocess: {}}}` starts a process per step instead.
executor = dg.ExecutorDefinition(
    name="in_process_or_multiprocess",
    config_schema=dg.Field(dg.multi_or_in_process_executor.config_schema.config_type, default_value={"in_process": {}}),
    requirements=dg.multi_or_in_process_executor.get_requirements,
    executor_creation_fn=dg.multi_or_in_process_executor.executor_creation_fn,
    description="The run's steps in its own process (in_process, the default), or one process per step (multiprocess).",
)


@dg.definitions
def defs() -> dg.Definitions:
    prepare_process()  # before resources read their EnvVars
    # The training window is a partition mapping of the graph: chosen here, at load time.
    ozone_forecast_model = build_ozone_forecast_model(training_window_days())
    definitions = dg.Definitions(
        assets=[
            openaq_realtime_bucket,
            raw_openaq_measurements,
            openaq_data_archive,
            openaq_locations,
            raw_openaq_archive,
            openaq_api_latest,
            raw_openaq_latest,
            harmonized_toar_series,
            ozone_features,
            ozone_forecast_model,
            ozone_forecasts,
            toar_daily_metrics,
            dma8eu_forecast_model,
            dma8eu_forecasts,
        ],
        jobs=[
            dg.define_asset_job(
                "data_logistics",
                selection=dg.AssetSelection.assets(raw_openaq_measurements, harmonized_toar_series),
                description="OpenAQ v1 objects of a fetch day -> raw Parquet partition -> TOAR database "
                "(with the day's archive partition, if there is one).",
            ),
            dg.define_asset_job(
                "locations",
                selection=dg.AssetSelection.assets(openaq_locations),
                description="The followed OpenAQ v3 locations: the API, a user's ids or file, or keyless discovery.",
            ),
            dg.define_asset_job(
                "archive_logistics",
                selection=dg.AssetSelection.assets(raw_openaq_archive, harmonized_toar_series),
                description="OpenAQ v3 archive files of a local day -> raw Parquet partition -> TOAR database "
                "(with the day's v1 partition, if there is one).",
            ),
            dg.define_asset_job(
                "latest_logistics",
                selection=dg.AssetSelection.assets(raw_openaq_latest, harmonized_toar_series),
                description="OpenAQ v3 API latest values, one poll -> appended to the UTC day's raw Parquet "
                "partition -> TOAR database, preliminary (with the day's v1 and archive partitions, if any).",
            ),
            dg.define_asset_job(
                "features", selection=dg.AssetSelection.assets(ozone_features), description="Feature rows for the day."
            ),
            dg.define_asset_job(
                "train_and_forecast",
                selection=dg.AssetSelection.assets(ozone_forecast_model, ozone_forecasts),
                description="Train on the feature window ending with the day, promote if better, forecast with the champion.",
            ),
            dg.define_asset_job(
                "daily_metrics",
                selection=dg.AssetSelection.assets(toar_daily_metrics),
                description="TOAR daily metrics (dma8eu, daily mean and maximum) of the local day, from the TOAR database.",
            ),
            dg.define_asset_job(
                "dma8eu_train",
                selection=dg.AssetSelection.assets(dma8eu_forecast_model),
                description="Train the dma8eu model on the daily metrics ending with the day; promote it by the skill rules.",
            ),
            dg.define_asset_job(
                "dma8eu_forecast",
                selection=dg.AssetSelection.assets(dma8eu_forecasts),
                description="dma8eu forecasts 1-4 days ahead from the day: the champion's and, in shadow, the challenger's.",
            ),
        ],
        sensors=[
            new_openaq_objects,
            new_archive_objects,
            latest_openaq_values,
            retraining,
            dma8eu_retraining,
            record_run_failures,
            # Evaluates the assets' automation conditions (features after new harmonized data,
            # forecasts after new features or a new model).
            dg.AutomationConditionSensorDefinition(
                "freshness",
                target=dg.AssetSelection.all(),
                default_status=dg.DefaultSensorStatus.RUNNING,
                minimum_interval_seconds=30,
            ),
        ],
        resources=build_resources(),
        executor=executor,
    )
    freeze_long_lived_objects()  # what the code location loaded lives as long as the process
    return definitions
