"""TRAINING_WINDOW_DAYS and FORECAST_HORIZON_HOURS (README, Configuration) take effect when the
code location loads, never when a module is imported."""

import os
import subprocess
import sys
from datetime import date

import pandas as pd
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey

from asset_base.partitions import partition_range_tags
from resources import build_resources
from resources.environment import PROJECT_ROOT
from sample_data.generator import generate_bucket
from tests.conftest import project_resources
from tests.helpers import with_stored_upstreams

MODEL, FEATURES = AssetKey("ozone_forecast_model"), AssetKey("ozone_features")


def window_offset(definitions) -> int:
    return definitions.resolve_asset_graph().get_partition_mapping(MODEL, FEATURES).start_offset


def test_the_training_window_is_seven_days_unless_TRAINING_WINDOW_DAYS_says_otherwise(monkeypatch):
    from definitions import defs

    monkeypatch.delenv("TRAINING_WINDOW_DAYS", raising=False)
    assert window_offset(defs()) == -6
    monkeypatch.setenv("TRAINING_WINDOW_DAYS", "3")
    assert window_offset(defs()) == -2


def test_importing_the_assets_reads_no_setting_from_the_environment():
    script = (
        "import ml_assets.assets as a; from dagster import AssetKey; "
        "print(a.ozone_forecast_model.get_partition_mapping(AssetKey('ozone_features')).start_offset)"
    )
    env = {**os.environ, "TRAINING_WINDOW_DAYS": "3", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["-6"]  # the code's window: only the code location's load reads the variable


def test_the_horizon_is_one_hour_unless_FORECAST_HORIZON_HOURS_says_otherwise(monkeypatch):
    monkeypatch.delenv("FORECAST_HORIZON_HOURS", raising=False)
    assert build_resources()["forecast_settings"].horizon_hours == 1
    monkeypatch.setenv("FORECAST_HORIZON_HOURS", "3")
    assert build_resources()["forecast_settings"].horizon_hours == 3


@pytest.mark.slow
def test_feature_rows_target_the_configured_horizon(tmp_path, monkeypatch):
    from dagster import materialize

    from ml_assets.assets import ozone_features
    from toar_assets.assets import harmonized_toar_series, raw_openaq_measurements

    generate_bucket(tmp_path / "bucket", date(2014, 1, 1), days=2, stations=6, seed=3, objects_per_day=12)
    monkeypatch.setenv("FORECAST_HORIZON_HOURS", "3")
    assets = with_stored_upstreams([raw_openaq_measurements, harmonized_toar_series, ozone_features])
    with project_resources(tmp_path, tmp_path / "bucket") as resources:
        assert materialize(
            assets,
            selection=[raw_openaq_measurements, harmonized_toar_series],
            resources=resources,
            tags=partition_range_tags("2014-01-01", "2014-01-02"),
        ).success
        result = materialize(assets, selection=[ozone_features], resources=resources, partition_key="2014-01-02")
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["horizon_hours"].value == 3
    rows = pq.read_table(tmp_path / "lake" / "ozone_features" / "2014-01-02.parquet").to_pandas()
    assert len(rows) and ((rows["target_time"] - rows["issue_time"]) == pd.Timedelta(hours=3)).all()
