"""End to end through Dagster: features, training with MLflow, promotion, forecasts, provenance, serving."""

import os
from datetime import date, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, materialize

import forecasting.tables
import toar.bulk_load
import toar.database
from forecasting.features import FEATURE_COLUMNS, features_for_window
from ml_assets.assets import ozone_features, ozone_forecast_model, ozone_forecasts
from ml_assets.provenance import gaps, provenance_chain, render
from ml_assets.serving import invocation_payload
from resources.mlflow_resources import ModelRegistry
from resources.openaq_bucket import OpenAQBucket
from sample_data.generator import generate_bucket
from tests.conftest import project_resources
from tests.helpers import check_evaluation, materialize_days, metadata_of, served_predictions, with_stored_upstreams
from toar_assets.assets import harmonized_toar_series, raw_openaq_measurements

pytestmark = pytest.mark.slow

ALL_ASSETS = [raw_openaq_measurements, harmonized_toar_series, ozone_features, ozone_forecast_model, ozone_forecasts]
LAST_DAY = "2014-01-08"


def run(resources, instance, selection, first, last=None, run_config=None):
    return materialize_days(
        ALL_ASSETS, resources, first, last, instance=instance, selection=selection, run_config=run_config
    )


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Eight days through data logistics and features, then a model for the last day."""
    root = tmp_path_factory.mktemp("ml")
    generate_bucket(root / "bucket", date(2014, 1, 1), days=8, stations=12, seed=11, objects_per_day=24)
    with project_resources(root, root / "bucket") as resources:
        instance = DagsterInstance.ephemeral()
        logistics = run(resources, instance, [raw_openaq_measurements, harmonized_toar_series], "2014-01-01", LAST_DAY)
        features = run(resources, instance, [ozone_features], "2014-01-02", LAST_DAY)
        trained = run(resources, instance, [ozone_forecast_model, ozone_forecasts], LAST_DAY)
        tracking_uri = os.environ["MLFLOW_TRACKING_URI"]
        yield {
            "root": root,
            "resources": resources,
            "instance": instance,
            "trained": trained,
            "results": [logistics, features, trained],
            "registry": ModelRegistry(tracking_uri=tracking_uri),
            "engine": toar.database.create_engine(os.environ["TOAR_DATABASE_URL"]),
            "tracking_uri": tracking_uri,
        }


def test_first_model_beats_persistence_and_becomes_champion(pipeline):
    meta = metadata_of(pipeline["trained"], "ozone_forecast_model")
    assert meta["model_version"] == "1" and meta["promoted"] is True
    assert meta["candidate_rmse"] < meta["baseline_rmse"] * 0.98
    # The holdout report heads the materialization's metadata: decision, scores, plot.
    assert next(iter(meta)) == "holdout_report"
    report = meta["holdout_report"]
    assert report.startswith(f"### Model version 1: {meta['decision']}")
    assert f"| candidate | {meta['candidate_rmse']:.3f} |" in report
    assert "![holdout forecasts against observations](data:image/png;base64," in report
    registry = pipeline["registry"]
    assert str(registry.version("champion").version) == "1"
    assert str(registry.version("challenger").version) == "1"


def test_mlflow_run_carries_the_dagster_side(pipeline):
    meta = metadata_of(pipeline["trained"], "ozone_forecast_model")
    client = pipeline["registry"].client()
    run = client.get_run(meta["mlflow_run_id"])
    tags = run.data.tags
    assert tags["dagster_run_id"] == pipeline["trained"].run_id
    assert tags["dagster_asset_key"] == "ozone_forecast_model" and tags["dagster_partition"] == LAST_DAY
    assert tags["feature_partitions"].split(",") == [f"2014-01-0{d}" for d in range(2, 9)]  # the 7-day window
    assert all(len(item.split("=")[1]) == 16 for item in tags["feature_fingerprints"].split(","))
    assert run.info.status == "FINISHED"
    assert {"candidate_rmse", "candidate_mae", "candidate_r2", "baseline_rmse"} <= set(run.data.metrics)
    contexts = {t.value for i in run.inputs.dataset_inputs for t in i.tags if t.key == "mlflow.data.context"}
    assert contexts == {"training", "evaluation"}
    assert all(i.dataset.digest for i in run.inputs.dataset_inputs)
    model_version = client.get_model_version("ozone-forecast", "1")
    assert model_version.tags["dagster_run_id"] == pipeline["trained"].run_id
    import mlflow

    mlflow.set_tracking_uri(pipeline["tracking_uri"])
    info = mlflow.models.get_model_info("models:/ozone-forecast/1")
    assert [c.name for c in info.signature.inputs] == FEATURE_COLUMNS


def test_worse_candidate_is_registered_but_not_promoted(pipeline):
    weak = {"ops": {"ozone_forecast_model": {"config": {"n_estimators": 1, "max_depth": 2, "min_samples_leaf": 50}}}}
    result = run(pipeline["resources"], pipeline["instance"], [ozone_forecast_model], LAST_DAY, run_config=weak)
    meta = metadata_of(result, "ozone_forecast_model")
    assert meta["model_version"] == "2" and meta["promoted"] is False
    assert meta["champion_compared"] == "1" and "champion_rmse" in meta
    assert "does not beat" in meta["decision"]
    registry = pipeline["registry"]
    assert str(registry.version("champion").version) == "1"
    assert str(registry.version("challenger").version) == "2"


def test_forecasts_come_from_the_champion_and_are_stored_for_scoring(pipeline):
    meta = metadata_of(pipeline["trained"], "ozone_forecasts")
    with pipeline["engine"].connect() as conn:
        rows = conn.execute(sa.select(forecasting.tables.ozone_forecast)).mappings().all()
    assert len(rows) == meta["dagster/row_count"] > 0
    assert {r["model_version"] for r in rows} == {"1"}
    assert {str(r["issue_time"]) for r in rows} == {"2014-01-08 23:00:00"}
    assert all(r["horizon_hours"] == 1 and np.isfinite(r["value"]) for r in rows)
    # A past day is judged as if forecast at its end: the newest hour (23:00) is an hour old.
    fresh = check_evaluation(pipeline["trained"], "data_fresh_at_issue")
    assert fresh.passed and fresh.partition == LAST_DAY
    assert fresh.metadata["data_age_hours"].value == 1.0 == meta["data_age_hours"]


def test_provenance_chain_is_complete(pipeline):
    chain = provenance_chain(pipeline["registry"], "1", pipeline["instance"], pipeline["engine"])
    assert gaps(chain) == []
    assert chain["dagster_run"]["run_id"] == pipeline["trained"].run_id
    assert [f["partition"] for f in chain["feature_partitions"]] == [f"2014-01-0{d}" for d in range(2, 9)]
    assert {s["variable"] for s in chain["toar_series"]} >= {"o3"}
    keys = [o["key"] for r in chain["raw_partitions"] for o in r["objects"]]
    bucket = OpenAQBucket(url=str(pipeline["root"] / "bucket"))
    listed = {o.key: o.etag for day in range(1, 9) for o in bucket.list_day(f"2014-01-0{day}")}
    assert keys and all(listed[o["key"]] == o["etag"] for r in chain["raw_partitions"] for o in r["objects"])
    text = render(chain)
    assert text.endswith("chain complete") and keys[0] in text


def test_served_champion_answers_like_the_in_process_model(pipeline):
    issue = datetime(2014, 1, 8, 23)
    features, _ = features_for_window(pipeline["engine"], issue, issue + timedelta(hours=1), 1)
    assert len(features) > 0
    served = served_predictions(
        "models:/ozone-forecast@champion", pipeline["tracking_uri"], invocation_payload(features)
    )
    in_process = pipeline["registry"].load("1").predict(features[FEATURE_COLUMNS])
    assert np.allclose(served, in_process, rtol=0, atol=1e-9)


def test_every_materialization_records_numeric_plausible_qoa(pipeline):
    seen = set()
    for result in pipeline["results"]:
        for event in result.get_asset_materialization_events():
            m = event.materialization
            qoa = {k: v.value for k, v in m.metadata.items() if k.startswith("qoa/")}
            seen.add(m.asset_key.path[-1])
            assert all(isinstance(v, (int, float)) for v in qoa.values()), (m.asset_key, qoa)
            assert qoa["qoa/wall_seconds"] > 0 and qoa["qoa/cpu_seconds"] > 0 and qoa["qoa/peak_rss_mb"] > 50
            expected = (
                qoa["qoa/cpu_seconds"] / 3600 * 0.04048
                + qoa["qoa/peak_rss_mb"] / 1024 * qoa["qoa/wall_seconds"] / 3600 * 0.004445
            )
            # Figures are rounded for reading (ms, 0.1 MB, 6 significant digits of cost).
            assert qoa["qoa/cost_usd"] == pytest.approx(expected, rel=2e-3)
            assert all(len(f"{qoa[k]}".partition(".")[2]) <= 3 for k in ("qoa/wall_seconds", "qoa/cpu_seconds"))
            assert "qoa/rows_in" in qoa and "qoa/rows_out" in qoa
    assert seen == {
        "raw_openaq_measurements",
        "harmonized_toar_series",
        "ozone_features",
        "ozone_forecast_model",
        "ozone_forecasts",
    }
    model = metadata_of(pipeline["trained"], "ozone_forecast_model")
    assert model["qoa/model_rmse"] == model["candidate_rmse"] and "qoa/model_r2" in model
    harmonized = [
        e.materialization.metadata
        for e in pipeline["results"][0].get_asset_materialization_events()
        if e.materialization.asset_key.path[-1] == "harmonized_toar_series"
    ]
    assert all(h["qoa/rows_quarantined"].value == h["quarantined"].value for h in harmonized)
    assert all(h["qoa/data_quality_score"].value == 1.0 for h in harmonized)


def test_checks_ran_in_the_same_runs_and_passed(pipeline):
    evaluations = [
        e.event_specific_data
        for r in pipeline["results"]
        for e in r.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    by_check = {(ev.asset_key.path[-1], ev.check_name): ev for ev in evaluations}
    assert set(by_check) >= {
        ("raw_openaq_measurements", "records_valid"),
        ("raw_openaq_measurements", "cost_within_budget"),
        ("harmonized_toar_series", "values_valid"),
        ("harmonized_toar_series", "quarantine_share_within_limit"),
        ("ozone_features", "features_valid"),
        ("ozone_features", "hourly_continuity"),
        ("ozone_forecast_model", "beats_persistence"),
        ("ozone_forecast_model", "predictions_valid"),
        ("ozone_forecast_model", "quality_floor"),
        ("ozone_forecasts", "cost_within_budget"),
        ("ozone_forecasts", "data_fresh_at_issue"),
    }
    blocking = [ev for ev in evaluations if ev.blocking]
    assert blocking and all(ev.passed for ev in blocking)
    # The batched run checked exactly the partitions it materialized, each once.
    raw = [ev.partition for ev in evaluations if ev.check_name == "records_valid"]
    assert sorted(raw) == [f"2014-01-0{d}" for d in range(1, 9)]


def sensor_resources(pipeline):
    from resources.toar_database import ToarDatabase
    from sensors.retraining import RetrainingPolicy

    return {
        "model_registry": pipeline["registry"],
        "retraining_policy": RetrainingPolicy(),
        "toar_database": ToarDatabase(url=str(pipeline["engine"].url)),
    }


def test_retraining_sensor_waits_then_fires_on_drift_and_the_model_records_why(pipeline):
    from dagster import RunRequest, build_sensor_context

    from sensors.retraining import retraining

    context = build_sensor_context(instance=pipeline["instance"], resources=sensor_resources(pipeline))
    assert not isinstance(retraining(context), RunRequest)  # champion trained on the newest day

    # The champion's forecasts for day 8 turn out 15 nmol/mol off the actuals that arrived.
    features, _ = features_for_window(pipeline["engine"], datetime(2014, 1, 8), datetime(2014, 1, 9), 1)
    scored = features.dropna(subset=["target_o3"])
    rows = scored[["station_id", "issue_time", "target_time"]].assign(
        horizon_hours=1,
        value=scored["target_o3"] + 15.0,
        model_name="ozone-forecast",
        model_version=str(pipeline["registry"].version("champion").version),
        mlflow_run_id="r",
        dagster_run_id="d",
    )
    with pipeline["engine"].begin() as conn:
        conn.execute(forecasting.tables.ozone_forecast.delete())
        toar.bulk_load.bulk_insert(
            conn, forecasting.tables.ozone_forecast, rows[[c.name for c in forecasting.tables.ozone_forecast.columns]]
        )

    request = retraining(build_sensor_context(instance=pipeline["instance"], resources=sensor_resources(pipeline)))
    assert isinstance(request, RunRequest)
    assert request.partition_key == LAST_DAY and request.tags["retrain/reason"] == "drift"
    assert "RMSE 15.000" in request.tags["retrain/detail"]

    # Run what the sensor asked for, as the daemon would.
    result = materialize(
        with_stored_upstreams(ALL_ASSETS),
        selection=request.asset_selection,
        resources=pipeline["resources"],
        instance=pipeline["instance"],
        partition_key=request.partition_key,
        tags=request.tags,
    )
    assert result.success
    model = metadata_of(result, "ozone_forecast_model")
    assert model["trigger"] == "drift" and "RMSE 15.000" in model["trigger_detail"]
    client = pipeline["registry"].client()
    assert client.get_run(model["mlflow_run_id"]).data.tags["trigger"] == "drift"


def test_automation_refreshes_features_after_new_harmonized_data(pipeline):
    from dagster import AssetKey, evaluate_automation_conditions

    from definitions import defs

    now = datetime(2014, 1, 8, 18)
    first = evaluate_automation_conditions(defs=defs(), instance=pipeline["instance"], evaluation_time=now)
    run(pipeline["resources"], pipeline["instance"], [raw_openaq_measurements, harmonized_toar_series], LAST_DAY)
    second = evaluate_automation_conditions(
        defs=defs(), instance=pipeline["instance"], evaluation_time=now, cursor=first.cursor
    )
    assert LAST_DAY in set(second.get_requested_partitions(AssetKey("ozone_features")))
    assert second.get_num_requested(AssetKey("ozone_forecast_model")) == 0  # retraining is the sensor's decision

    # A day the archive re-publishes five days later (a patched file) is refreshed too: the
    # automation covers the days the archive sensor watches, not only today and yesterday.
    run(pipeline["resources"], pipeline["instance"], [raw_openaq_measurements, harmonized_toar_series], "2014-01-03")
    third = evaluate_automation_conditions(
        defs=defs(), instance=pipeline["instance"], evaluation_time=now, cursor=second.cursor
    )
    assert {"2014-01-03", "2014-01-04"} <= set(third.get_requested_partitions(AssetKey("ozone_features")))
