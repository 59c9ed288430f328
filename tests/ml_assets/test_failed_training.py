"""A training that fails ends its MLflow run FAILED, not FINISHED and empty."""

import os

import pytest
from dagster import DagsterInstance

from ml_assets.assets import ozone_features, ozone_forecast_model, ozone_forecasts
from resources.mlflow_resources import ModelRegistry
from tests.conftest import project_resources
from tests.helpers import materialize_days
from toar_assets.assets import harmonized_toar_series, raw_openaq_measurements

pytestmark = pytest.mark.slow

ALL_ASSETS = [raw_openaq_measurements, harmonized_toar_series, ozone_features, ozone_forecast_model, ozone_forecasts]


def test_a_training_without_rows_fails_and_marks_its_mlflow_run_failed(tmp_path):
    with project_resources(tmp_path, tmp_path / "bucket") as resources:
        result = materialize_days(
            ALL_ASSETS,
            resources,
            "2014-01-08",
            instance=DagsterInstance.ephemeral(),
            selection=[ozone_forecast_model],
            raise_on_error=False,
        )
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert "ozone_features for 2014-01-08 is not materialized" in str(failure.event_specific_data.error)

        client = ModelRegistry(tracking_uri=os.environ["MLFLOW_TRACKING_URI"]).client()
        runs = client.search_runs(
            [client.get_experiment_by_name("ozone-forecast").experiment_id],
            filter_string=f"tags.dagster_run_id = '{result.run_id}'",
        )
        assert [run.info.status for run in runs] == ["FAILED"]
