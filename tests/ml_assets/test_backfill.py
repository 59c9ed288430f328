"""A backfill of the model and its forecasts, planned and run by Dagster's backfill daemon."""

import logging
import os
import time
from datetime import date

import pytest
import sqlalchemy as sa
from dagster import AssetKey, DagsterInstance
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.test_utils import create_test_daemon_workspace_context, instance_for_test
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.backfill import execute_backfill_iteration

import forecasting.tables
import toar.database
from ml_assets.assets import ozone_features, ozone_forecast_model, ozone_forecasts
from resources.environment import PROJECT_ROOT
from sample_data.generator import generate_bucket
from tests.conftest import project_resources
from tests.helpers import materialize_days
from toar_assets.assets import harmonized_toar_series, raw_openaq_measurements

pytestmark = pytest.mark.slow

ALL_ASSETS = [raw_openaq_measurements, harmonized_toar_series, ozone_features, ozone_forecast_model, ozone_forecasts]
DAY = "2014-01-08"


def _run_backfill(instance: DagsterInstance, assets: list[AssetKey], day: str) -> PartitionBackfill:
    """Submit a backfill of ``assets`` for ``day`` and iterate the daemon until it is done; each
    run is executed in this process (the instance's synchronous run launcher)."""
    target = ModuleTarget(
        module_name="definitions", attribute=None, working_directory=str(PROJECT_ROOT), location_name="main"
    )
    with create_test_daemon_workspace_context(target, instance) as workspace:
        asset_graph = workspace.create_request_context().asset_graph
        backfill = PartitionBackfill.from_asset_partitions(
            backfill_id="model_and_forecasts",
            asset_graph=asset_graph,
            partition_names=[day],
            asset_selection=assets,
            backfill_timestamp=time.time(),
            tags={},
            dynamic_partitions_store=instance,
            all_partitions=False,
            title=None,
            description=None,
            run_config=None,
        )
        instance.add_backfill(backfill)
        for _ in range(10):
            list(execute_backfill_iteration(workspace, logging.getLogger("backfill")))
            backfill = instance.get_backfill(backfill.backfill_id)
            if backfill.status != BulkActionStatus.REQUESTED:
                return backfill
    raise AssertionError(f"the backfill did not finish: {backfill.status}")


def test_a_backfill_of_model_and_forecasts_for_one_day_produces_the_days_forecasts(tmp_path):
    generate_bucket(tmp_path / "bucket", date(2014, 1, 1), days=8, stations=12, seed=11, objects_per_day=24)
    coordinator = {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"}
    launcher = {"module": "dagster._core.launcher.sync_in_memory_run_launcher", "class": "SyncInMemoryRunLauncher"}
    with (
        project_resources(tmp_path, tmp_path / "bucket") as resources,
        instance_for_test(overrides={"run_launcher": launcher, "run_coordinator": coordinator}) as instance,
    ):
        materialize_days(
            ALL_ASSETS,
            resources,
            "2014-01-01",
            DAY,
            instance=instance,
            selection=[raw_openaq_measurements, harmonized_toar_series, ozone_features],
        )
        backfill = _run_backfill(instance, [ozone_forecast_model.key, ozone_forecasts.key], DAY)

        assert backfill.status == BulkActionStatus.COMPLETED_SUCCESS
        assert DAY in instance.get_materialized_partitions(ozone_forecasts.key)
        engine = toar.database.create_engine(os.environ["TOAR_DATABASE_URL"])
        with engine.connect() as conn:
            issued = conn.execute(sa.select(forecasting.tables.ozone_forecast.c.issue_time)).scalars().all()
        assert issued and {str(t.date()) for t in issued} == {DAY}
