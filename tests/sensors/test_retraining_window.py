"""The retraining sensor waits, naming the days, while its training window lacks feature days."""

from datetime import date, timedelta

from dagster import AssetKey, AssetMaterialization, DagsterInstance, RunRequest, SkipReason, build_sensor_context

from resources.mlflow_resources import ModelRegistry
from resources.retraining_policy import RetrainingPolicy
from resources.toar_database import ToarDatabase
from sensors.retraining import missing_feature_days, retraining

FIRST = date(2014, 1, 1)
DAYS = [FIRST + timedelta(days=n) for n in range(8)]  # 2014-01-01..08: enough for a first model


def test_missing_feature_days_are_the_windows_earlier_days_without_features():
    day = date(2014, 1, 8)
    assert missing_feature_days(day, 7, set(DAYS)) == []
    assert missing_feature_days(day, 7, {date(2014, 1, 3), date(2014, 1, 5)}) == [
        date(2014, 1, 2),
        date(2014, 1, 4),
        date(2014, 1, 6),
        date(2014, 1, 7),
    ]
    assert missing_feature_days(day, 1, set()) == []  # the day itself is made by the requested run


def _evaluate(instance: DagsterInstance, tmp_path):
    resources = {
        "model_registry": ModelRegistry(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.sqlite'}"),
        "toar_database": ToarDatabase(url=f"sqlite:///{tmp_path / 'toar.sqlite'}"),
        "retraining_policy": RetrainingPolicy(),
    }
    return retraining(build_sensor_context(instance=instance, resources=resources))


def _materialized(instance: DagsterInstance, asset: str, days: list[date]) -> None:
    for day in days:
        instance.report_runless_asset_event(AssetMaterialization(AssetKey(asset), partition=day.isoformat()))


def test_the_sensor_skips_naming_the_missing_feature_days_then_requests_the_training(tmp_path, monkeypatch):
    monkeypatch.delenv("TRAINING_WINDOW_DAYS", raising=False)  # the code's window: 7 days
    instance = DagsterInstance.ephemeral()
    _materialized(instance, "harmonized_toar_series", DAYS)
    _materialized(instance, "ozone_features", [DAYS[-1], DAYS[-3]])  # the 8th and the 6th

    skipped = _evaluate(instance, tmp_path)
    assert isinstance(skipped, SkipReason)
    assert skipped.skip_message == (
        "would retrain on 2014-01-08 (no_champion), but its 7-day training window lacks ozone_features "
        "for 5 days: 2014-01-02, 2014-01-03, 2014-01-04, 2014-01-05, 2014-01-07; backfill ozone_features for them"
    )

    _materialized(instance, "ozone_features", DAYS[1:7])
    requested = _evaluate(instance, tmp_path)
    assert isinstance(requested, RunRequest)
    assert requested.partition_key == "2014-01-08" and requested.tags["retrain/reason"] == "no_champion"


def test_a_newest_day_after_a_gap_gives_way_to_the_newest_day_whose_window_is_whole(tmp_path, monkeypatch):
    """As on make ui's first day: the archive's days, then none, then today's API polls."""
    monkeypatch.delenv("TRAINING_WINDOW_DAYS", raising=False)  # 7 days
    instance = DagsterInstance.ephemeral()
    today = DAYS[-1] + timedelta(days=3)  # 2014-01-11: 01-09 and 01-10 have no data
    _materialized(instance, "harmonized_toar_series", [*DAYS, today])
    _materialized(instance, "ozone_features", DAYS[1:])  # every day that has its history

    requested = _evaluate(instance, tmp_path)
    assert isinstance(requested, RunRequest)
    assert requested.partition_key == "2014-01-08" and requested.tags["retrain/reason"] == "no_champion"
    assert requested.tags["retrain/detail"].endswith(
        "on 2014-01-08, the newest day whose training window is whole (2014-01-11's lacks 2 feature days)"
    )
    # With no whole window newer, the sensor waits and names what the newest day lacks.
    instance = DagsterInstance.ephemeral()
    _materialized(instance, "harmonized_toar_series", [*DAYS, today])
    _materialized(instance, "ozone_features", [DAYS[-1]])
    skipped = _evaluate(instance, tmp_path)
    assert isinstance(skipped, SkipReason) and skipped.skip_message.startswith(
        "would retrain on 2014-01-11 (no_champion)"
    )
