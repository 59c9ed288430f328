"""Sensor: retrain the forecast model when new data, drift or age call for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from resources import training_window_days
from resources.mlflow_resources import ModelRegistry
from resources.retraining_policy import RetrainingPolicy
from resources.toar_database import ToarDatabase

RETRAIN_ASSETS = [AssetKey("ozone_features"), AssetKey("ozone_forecast_model"), AssetKey("ozone_forecasts")]


@dataclass(frozen=True)
class Champion:
    version: str
    trained_day: date  # its holdout day: the newest data it saw
    holdout_rmse: float


@dataclass(frozen=True)
class RecentError:
    rmse: float
    n: int


def retraining_reasons(
    champion: Champion | None, harmonized_days: list[date], recent: RecentError | None, policy: RetrainingPolicy
) -> list[tuple[str, str]]:
    """Each reason to retrain that holds, as (name, human detail); empty means leave it."""
    drift = None
    if (
        champion is not None
        and recent is not None
        and recent.n >= policy.min_scored_forecasts
        and recent.rmse > champion.holdout_rmse * policy.drift_factor
    ):
        drift = (
            "drift",
            f"RMSE {recent.rmse:.3f} on {recent.n} recent forecasts > "
            f"{policy.drift_factor} x holdout RMSE {champion.holdout_rmse:.3f}",
        )
    trained_day = champion.trained_day if champion is not None else None
    return data_reasons(trained_day, harmonized_days, "harmonized", policy.min_days_for_first_model, policy, drift)


def data_reasons(
    trained_day: date | None,
    days: list[date],
    what: str,
    first_model_days: int,
    policy: RetrainingPolicy,
    drift: tuple[str, str] | None = None,
) -> list[tuple[str, str]]:
    """The reasons both models share: no champion yet (with ``first_model_days`` of ``what``
    days), new days since the champion's, the champion's age; and ``drift``, each model's own
    verdict on its recent forecasts."""
    if not days:
        return []
    if trained_day is None:
        if len(days) >= first_model_days:
            return [("no_champion", f"{len(days)} {what} days and no champion yet")]
        return []
    reasons = []
    newer = [d for d in days if d > trained_day]
    if len(newer) >= policy.min_new_partitions:
        reasons.append(("new_data", f"{len(newer)} {what} days after {trained_day}"))
    if drift is not None:
        reasons.append(drift)
    if (max(days) - trained_day).days >= policy.max_age_days:
        reasons.append(("age", f"trained on data up to {trained_day}, newest data {max(days)}"))
    return reasons


def missing_feature_days(day: date, window_days: int, materialized: set[date]) -> list[date]:
    """The days of the training window ending with ``day`` whose features are not materialized,
    ``day`` itself aside: the requested run makes its features before it trains."""
    earlier_days = [day - timedelta(days=back) for back in range(window_days - 1, 0, -1)]
    return [d for d in earlier_days if d not in materialized]


def current_champion(registry: ModelRegistry) -> Champion | None:
    found = registry.version("champion")
    if found is None:
        return None
    run = registry.client().get_run(found.run_id)
    return Champion(
        version=str(found.version),
        trained_day=date.fromisoformat(found.tags["dagster_partition"]),
        holdout_rmse=run.data.metrics["candidate_rmse"],
    )


@sensor(
    asset_selection=RETRAIN_ASSETS,
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description="Retrains ozone_forecast_model on the newest harmonized day when enough new days arrived, "
    "when the champion's error on recent actuals drifted above its holdout error, or when it is too old "
    "(thresholds: the retraining_policy resource). The reasons go into the run's tags and the model's metadata. "
    "When the newest day's training window lacks feature days, trains on the newest day whose window is whole "
    "if that one calls for it; otherwise skips, naming the missing days.",
)
def retraining(
    context: SensorEvaluationContext,
    model_registry: ModelRegistry,
    toar_database: ToarDatabase,
    retraining_policy: RetrainingPolicy,
):
    from forecasting.scoring import forecast_errors

    harmonized = sorted(
        date.fromisoformat(day)
        for day in context.instance.get_materialized_partitions(AssetKey("harmonized_toar_series"))
    )
    champion = current_champion(model_registry)
    recent = None
    if champion is not None and harmonized:
        since = datetime.combine(
            max(harmonized) - timedelta(days=retraining_policy.drift_window_days - 1), datetime.min.time()
        )
        errors = forecast_errors(toar_database.engine(), model_registry.model_name, champion.version, since)
        recent = RecentError(errors.rmse, errors.n)
    reasons = retraining_reasons(champion, harmonized, recent, retraining_policy)
    if not reasons:
        return SkipReason("champion is current" if champion else "not enough data for a first model")
    # A window with missing feature days would train on a fraction of its rows (the model
    # accepts a shorter history, for the first days of the data). A newest day whose window has
    # a gap (days without data: an outage, or the days between the archive's newest and the API's
    # polls of today) gives way to the newest day whose window is whole, if that one still
    # calls for a retraining; otherwise the sensor waits, naming the missing days.
    window_days = training_window_days()
    featured = {date.fromisoformat(d) for d in context.instance.get_materialized_partitions(AssetKey("ozone_features"))}
    newest = max(harmonized)
    day = training_day(harmonized, featured, window_days)
    note = None
    if day != newest:
        missing = missing_feature_days(newest, window_days, featured)
        whole = [d for d in harmonized if day is not None and d <= day]
        reasons_on_day = retraining_reasons(champion, whole, recent, retraining_policy) if whole else []
        if not reasons_on_day:
            return SkipReason(
                f"would retrain on {newest} ({', '.join(name for name, _ in reasons)}), but its "
                f"{window_days}-day training window lacks ozone_features for {len(missing)} days: "
                f"{', '.join(d.isoformat() for d in missing)}; backfill ozone_features for them"
            )
        reasons = reasons_on_day
        note = f"on {day}, the newest day whose training window is whole ({newest}'s lacks {len(missing)} feature days)"
    assert day is not None  # the newest day, or a whole one with reasons
    return retraining_request("retrain", day, champion.version if champion else None, reasons, note)


def training_day(harmonized: list[date], featured: set[date], window_days: int) -> date | None:
    """The newest of the (sorted) harmonized days whose training window has its feature days
    (the day's own features are made by the retraining run), or None."""
    return next((d for d in reversed(harmonized) if not missing_feature_days(d, window_days, featured)), None)


def retraining_request(
    prefix: str, day: date, champion_version: str | None, reasons: list[tuple[str, str]], note: str | None = None
) -> RunRequest:
    """A retraining run of ``day``, its reasons (and ``note``, why this day) in the tags the
    model's metadata and MLflow read."""
    names = ",".join(name for name, _ in reasons)
    details = [detail for _, detail in reasons] + ([note] if note else [])
    return RunRequest(
        # One retraining per champion, day and reasons: later ticks do not repeat it.
        run_key=f"{prefix}:{day.isoformat()}:{champion_version or 'none'}:{names}",
        partition_key=day.isoformat(),
        tags={"retrain/reason": names, "retrain/detail": "; ".join(details)},
    )
