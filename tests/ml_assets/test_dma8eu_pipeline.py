"""The dma8eu forecast end to end through Dagster: the generated archive -> TOAR database ->
daily metrics -> model (MLflow, per-lead skill, promotion) -> forecasts, a worse challenger in
shadow, provenance back to the archive files, and the champion served over REST."""

import os
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, materialize
from mlflow import MlflowClient

import toar.database
from forecasting.dma8eu import FEATURE_COLUMNS, LEADS
from forecasting.tables import dma8eu_forecast
from ml_assets.dma8eu import dma8eu_forecast_model, dma8eu_forecasts, read_daily_rows
from ml_assets.provenance import gaps, provenance_chain
from ml_assets.serving import invocation_payload
from resources.mlflow_resources import ModelRegistry
from sample_data.generator import generate_archive
from tests.conftest import project_resources
from tests.helpers import check_evaluations, materialize_days, metadata_by_partition, metadata_of, served_predictions
from toar_assets.archive import openaq_locations, raw_openaq_archive
from toar_assets.assets import harmonized_toar_series
from toar_assets.daily_metrics import toar_daily_metrics

pytestmark = pytest.mark.slow

FIRST = date(2024, 6, 1)
DAYS = 30  # the models' window
LAST = FIRST + timedelta(days=DAYS - 1)
LIVE_DAYS = 6  # the days after it, when the challenger forecasts in shadow
LOCATIONS = 30  # fewer leave the forest too few rows to beat climatology at lead 2
ASSETS = [
    openaq_locations,
    raw_openaq_archive,
    harmonized_toar_series,
    toar_daily_metrics,
    dma8eu_forecast_model,
    dma8eu_forecasts,
]
# A challenger that cannot be good: one stump.
WORSE = {"ops": {"dma8eu_forecast_model": {"config": {"n_estimators": 1, "max_depth": 1}}}}


def days(first: date, last: date) -> tuple[str, str]:
    return first.isoformat(), last.isoformat()


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("dma8eu")
    archive = root / "archive"
    generate_archive(archive, FIRST, DAYS + LIVE_DAYS, LOCATIONS, 2024)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENAQ_LOCATIONS", str(archive / "locations.json"))
        with project_resources(root, root / "mirror", archive=str(archive)) as resources:
            instance = DagsterInstance.ephemeral()
            assert materialize([openaq_locations], resources=resources, instance=instance).success

            def run(selection, first, last=None, run_config=None):
                return materialize_days(
                    ASSETS,
                    resources,
                    *days(first, last or first),
                    instance=instance,
                    selection=selection,
                    run_config=run_config,
                )

            def logistics(first, last):
                run([raw_openaq_archive, harmonized_toar_series], first, last)
                return run([toar_daily_metrics], first + timedelta(1), last)

            metrics = logistics(FIRST, LAST)
            first_model = run([dma8eu_forecast_model, dma8eu_forecasts], LAST)
            # A worse model trained on the same window becomes the challenger; then the days go on,
            # and both forecast each new day, the challenger in shadow.
            worse_model = run([dma8eu_forecast_model], LAST, run_config=WORSE)
            live = logistics(LAST, LAST + timedelta(LIVE_DAYS))
            shadow = run([dma8eu_forecasts], LAST + timedelta(1), LAST + timedelta(LIVE_DAYS))
            backfill = run([dma8eu_forecasts], LAST - timedelta(1))
            tracking_uri = os.environ["MLFLOW_TRACKING_URI"]
            yield {
                "instance": instance,
                "metrics": metrics,
                "first_model": first_model,
                "worse_model": worse_model,
                "shadow": shadow,
                "live": live,
                "run": run,
                "backfill": backfill,
                "registry": ModelRegistry(tracking_uri=tracking_uri, model_name="ozone-dma8eu"),
                "engine": toar.database.create_engine(os.environ["TOAR_DATABASE_URL"]),
                "tracking_uri": tracking_uri,
            }


def test_daily_metrics_are_stored_and_checked_per_day(pipeline):
    by_day = {
        day: m
        for (asset, day), m in metadata_by_partition(pipeline["metrics"]).items()
        if asset == "toar_daily_metrics"
    }
    assert len(by_day) == DAYS - 1
    evaluations = check_evaluations(pipeline["metrics"], "metrics_valid")
    for day, meta in by_day.items():
        assert meta["stations_with_dma8eu"] >= 8, day
        assert 20 < meta["dma8eu_mean"] < 120
        assert evaluations[day].passed, day


def test_first_model_has_skill_per_lead_in_mlflow_and_the_ui_and_is_champion(pipeline):
    meta = metadata_of(pipeline["first_model"], "dma8eu_forecast_model")
    assert meta["promoted"] and meta["evidence"] == "holdout"
    for lead in LEADS:
        assert meta[f"candidate_lead{lead}_skill_persistence"] > 0, lead
        assert f"lead {lead}: SS_pers" in meta["decision"]
    assert meta["skill_report"].count("data:image/png;base64,") == len(LEADS)
    run = MlflowClient(pipeline["tracking_uri"]).get_run(meta["mlflow_run_id"])
    for lead in LEADS:
        assert run.data.metrics[f"candidate_lead{lead}_skill_persistence"] == pytest.approx(
            meta[f"candidate_lead{lead}_skill_persistence"]
        )
        assert f"candidate_lead{lead}_skill_climatology" in run.data.metrics
    assert run.data.tags["feature_asset"] == "toar_daily_metrics"
    assert str(pipeline["registry"].version("champion").version) == "1"


def test_a_worse_challenger_is_scored_in_shadow_and_not_promoted(pipeline):
    worse = metadata_of(pipeline["worse_model"], "dma8eu_forecast_model")
    assert worse["model_version"] == "2" and not worse["promoted"]
    last = metadata_by_partition(pipeline["shadow"])[("dma8eu_forecasts", (LAST + timedelta(LIVE_DAYS)).isoformat())]
    assert last["challenger_version"] == "2" and last["scored_target_days"] >= 3
    assert not last["shadow_promoted"]
    assert last["shadow_evidence"].startswith("shadow, ")
    assert "does not beat the champion" in last["shadow_decision"] or "skill rules not met" in last["shadow_decision"]
    assert str(pipeline["registry"].version("champion").version) == "1"
    with pipeline["engine"].connect() as conn:
        roles = dict(
            conn.execute(
                sa.select(dma8eu_forecast.c.role, sa.func.count())
                .where(dma8eu_forecast.c.issue_date > LAST)  # the champion's first forecast came alone
                .group_by(dma8eu_forecast.c.role)
            ).all()
        )
    assert roles["champion"] == roles["challenger"] > 0


def test_a_model_never_forecasts_a_day_it_learned_from(pipeline):
    meta = metadata_of(pipeline["backfill"], "dma8eu_forecasts")
    assert meta["dagster/row_count"] == 0
    assert meta["not_issued"].startswith(f"champion v1 (trained through {LAST}")


def test_provenance_reaches_the_archive_files_through_the_daily_metrics(pipeline):
    chain = provenance_chain(pipeline["registry"], "1", pipeline["instance"], pipeline["engine"])
    assert gaps(chain) == []
    assert chain["feature_asset"] == "toar_daily_metrics"
    keys = [o["key"] for r in chain["raw_partitions"] for o in r["objects"]]
    assert keys and all(k.startswith("records/csv.gz/locationid=") for k in keys)


def test_served_champion_answers_four_leads_like_the_in_process_model(pipeline):
    rows, _ = read_daily_rows(pipeline["engine"], LAST, LAST, LAST)
    assert len(rows) > 0
    served = np.asarray(
        served_predictions(
            "models:/ozone-dma8eu@champion", pipeline["tracking_uri"], invocation_payload(rows, FEATURE_COLUMNS)
        )
    )
    in_process = pipeline["registry"].load("1").predict(rows[FEATURE_COLUMNS])
    assert served.shape == (len(rows), len(LEADS))
    assert np.allclose(served, in_process, rtol=0, atol=1e-9)


def test_stored_forecasts_carry_both_references_for_scoring(pipeline):
    with pipeline["engine"].connect() as conn:
        stored = pd.DataFrame(
            conn.execute(
                sa.select(dma8eu_forecast).where(
                    dma8eu_forecast.c.issue_date == LAST, dma8eu_forecast.c.role == "champion"
                )
            )
            .mappings()
            .all()
        )
    assert sorted(stored["lead_days"].unique()) == list(LEADS)
    assert (pd.to_datetime(stored["target_date"]) - pd.to_datetime(stored["issue_date"])).dt.days.tolist() == stored[
        "lead_days"
    ].tolist()
    assert stored[["value", "persistence", "climatology"]].notna().all().all()


def test_the_retraining_sensor_asks_for_a_model_on_the_newest_day_with_its_reasons(pipeline):
    from dagster import RunRequest, build_sensor_context

    from resources.dma8eu_rules import Dma8euPromotionRules
    from resources.retraining_policy import RetrainingPolicy
    from resources.toar_database import ToarDatabase
    from sensors.dma8eu_retraining import dma8eu_retraining

    resources = {
        "dma8eu_registry": pipeline["registry"],
        "dma8eu_rules": Dma8euPromotionRules(),
        "retraining_policy": RetrainingPolicy(),
        "toar_database": ToarDatabase(url=str(pipeline["engine"].url)),
    }
    request = dma8eu_retraining(build_sensor_context(instance=pipeline["instance"], resources=resources))
    # Six days of daily metrics arrived after the champion's (three are enough).
    assert isinstance(request, RunRequest)
    assert request.partition_key == (LAST + timedelta(LIVE_DAYS)).isoformat()
    assert request.tags["retrain/reason"].split(",")[0] == "new_data"
    assert f"6 daily metrics days after {LAST}" in request.tags["retrain/detail"]


def test_new_daily_metrics_make_the_days_forecasts_due_without_a_training_run(pipeline):
    from datetime import datetime

    from dagster import AssetKey, evaluate_automation_conditions

    from definitions import defs

    day = LAST + timedelta(LIVE_DAYS)
    now = datetime(day.year, day.month, day.day, 23)
    first = evaluate_automation_conditions(defs=defs(), instance=pipeline["instance"], evaluation_time=now)
    pipeline["run"]([toar_daily_metrics], day)  # the day's metrics again, as a patched archive file brings
    second = evaluate_automation_conditions(
        defs=defs(), instance=pipeline["instance"], evaluation_time=now, cursor=first.cursor
    )
    # The champion was trained on LAST; the day's forecasts are due all the same.
    assert day.isoformat() in set(second.get_requested_partitions(AssetKey("dma8eu_forecasts")))
    assert second.get_num_requested(AssetKey("dma8eu_forecast_model")) == 0  # retraining is the sensor's
