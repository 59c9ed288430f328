"""ML assets: TOAR database -> feature tables -> forecast model (MLflow) -> forecasts."""

import base64
import os
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    TimeWindowPartitionMapping,
    asset,
)
from pydantic import Field

import checks.features
import checks.forecasts
import checks.model
from asset_base.partition_step import PartitionStep, materialize_partitions
from asset_base.partitions import FRESH, daily_asset, daily_partitions
from asset_base.run_guard import ensure_run_alive
from asset_base.table_metadata import features_metadata
from domain.fingerprint import table_fingerprint
from domain.keys import OWNERS_BY_GROUP
from forecasting.features import FEATURE_COLUMNS, TARGET, features_for_window
from forecasting.settings import TRAINING_WINDOW_DAYS
from forecasting.tables import ozone_forecast
from forecasting.tracking import ending_active_run, log_decision, log_training_run
from forecasting.training import (
    ChampionModel,
    NotEnoughData,
    evaluate,
    holdout_plot,
    train_forest,
    training_window,
    withhold_promotion,
)
from ml_assets.provenance import latest_materializations
from resources.forecast_settings import ForecastSettings
from resources.mlflow_resources import ModelRegistry
from resources.qoa import QoAMonitor
from resources.quality_gates import QualityGates
from resources.toar_database import ToarDatabase
from toar.bulk_load import bulk_insert

FEATURES_CODE_VERSION = "1"
MODEL_CODE_VERSION = "1"
FORECASTS_CODE_VERSION = "1"


@daily_asset(
    group_name="ml",
    code_version=FEATURES_CODE_VERSION,
    io_manager_key="lake_io_manager",
    kinds={"pandas", "parquet"},
    # A day's rows need the previous day's measurements as history.
    deps=[AssetDep("harmonized_toar_series", partition_mapping=TimeWindowPartitionMapping(start_offset=-1))],
    metadata=features_metadata(FEATURE_COLUMNS, TARGET),
    check_specs=checks.features.SPECS,
    automation_condition=FRESH,
)
def ozone_features(
    context: AssetExecutionContext,
    toar_database: ToarDatabase,
    qoa: QoAMonitor,
    quality_gates: QualityGates,
    forecast_settings: ForecastSettings,
):  # returns MaterializeResult(value={partition key: table}); an annotation would be type-checked
    """Hourly feature rows per station for issue times within the day, with the ozone target.

    Ozone lags 0-23 h before the issue time, rolling means, co-located NO2, target-time hour
    and weekday, station coordinates; target: observed ozone FORECAST_HORIZON_HOURS later
    (empty where not yet observed). The same function builds serving rows.
    """
    engine = toar_database.engine()
    horizon = forecast_settings.horizon_hours

    def build_day(day: str) -> PartitionStep:
        start = datetime.fromisoformat(day)
        began = time.perf_counter()
        features, read = features_for_window(engine, start, start + timedelta(days=1), horizon)
        selection_seconds = time.perf_counter() - began
        table = pa.Table.from_pandas(features, preserve_index=False)
        valid = checks.features.validate(features, quality_gates.min_feature_rows, quality_gates.min_data_quality_score)
        continuity = checks.features.hourly_continuity(features, quality_gates.min_hourly_continuity)
        return PartitionStep(
            outcomes={"features_valid": valid, "hourly_continuity": continuity},
            metadata={
                "dagster/row_count": len(features),
                "stations": int(features["station_id"].nunique()),
                "rows_with_target": int(features[TARGET].notna().sum()),
                "rows_selected": read["rows_selected"],
                "selection_seconds": selection_seconds,
                "horizon_hours": horizon,
                "measurement_window": f"{read['read_start']} .. {read['read_end']}",
                "timeseries_ids": MetadataValue.json(read["timeseries_ids"]),
                "hourly_continuity": continuity.details["hourly_continuity"],
                "data_fingerprint": table_fingerprint(table),
            },
            qoa={"rows_in": read["rows_selected"], "rows_out": len(features), "bytes_out": table.nbytes},
            value=table,
        )

    return materialize_partitions(context, checks.features.SPECS, qoa, quality_gates, build_day)


class TrainingConfig(Config):
    n_estimators: int = Field(default=100, description="trees in the random forest")
    max_depth: int | None = Field(default=None, description="tree depth limit (None: unlimited)")
    min_samples_leaf: int = Field(default=3, description="smallest leaf")
    seed: int = Field(default=0, description="random seed of the forest")
    promotion_margin: float = Field(
        default=0.02, description="relative RMSE improvement over persistence and champion needed to promote"
    )


def holdout_report(version: str, decision: str, evaluation, png: bytes) -> str:
    """The model version's holdout, as one Markdown page: the decision, the scores, the plot."""
    rows = [("candidate", evaluation.candidate), ("persistence", evaluation.baseline)]
    if evaluation.champion is not None:
        rows.append(("champion", evaluation.champion))
    table = "\n".join(f"| {name} | {m.rmse:.3f} | {m.mae:.3f} | {m.r2:.3f} |" for name, m in rows)
    return (
        f"### Model version {version}: {decision}\n\n"
        f"| O3, nmol/mol | RMSE | MAE | R² |\n|---|---|---|---|\n{table}\n\n"
        f"![holdout forecasts against observations](data:image/png;base64,{base64.b64encode(png).decode()})"
    )


def build_ozone_forecast_model(training_window_days: int = TRAINING_WINDOW_DAYS) -> AssetsDefinition:
    """The model asset, trained on windows of ``training_window_days`` feature days.

    The window is a partition mapping of the asset graph, so it is fixed when the definitions
    are built, not per run: ``definitions.defs`` builds the asset with TRAINING_WINDOW_DAYS.
    """

    @asset(
        partitions_def=daily_partitions,
        group_name="ml",
        owners=OWNERS_BY_GROUP["ml"],
        code_version=MODEL_CODE_VERSION,
        kinds={"sklearn", "mlflow"},
        ins={
            "ozone_features": AssetIn(
                partition_mapping=TimeWindowPartitionMapping(start_offset=-(training_window_days - 1)),
                metadata={"allow_missing_partitions": True},  # early days have a shorter history
            )
        },
        # dagster-mlflow's resource is a classic one, so all are requested the classic way.
        required_resource_keys={"mlflow", "model_registry", "qoa", "quality_gates", "forecast_settings"},
        check_specs=checks.model.SPECS,
    )
    def ozone_forecast_model(
        context: AssetExecutionContext, config: TrainingConfig, ozone_features
    ) -> MaterializeResult:
        """A random forest trained on the window of feature days ending with this partition.

        The last day is the holdout. The candidate, the persistence baseline and the current
        champion are scored on it; the candidate is registered in MLflow as `challenger` and
        becomes `champion` only if it beats both by the promotion margin.
        """
        settings = {
            **config.model_dump(),
            "horizon_hours": context.resources.forecast_settings.horizon_hours,
            "training_window_days": training_window_days,
        }

        def train(day: str) -> PartitionStep:
            # The whole training in dagster-mlflow's run for this Dagster run, so a failure at
            # any point (no training rows included) ends that run FAILED.
            with ending_active_run() as mlflow_run_id:
                return _train_register_promote(context, config, settings, ozone_features, day, mlflow_run_id)

        return materialize_partitions(
            context, checks.model.SPECS, context.resources.qoa, context.resources.quality_gates, train
        )

    return ozone_forecast_model


# The model asset with the code's window, for tools and tests that import it; the code
# location's own comes from the same builder (definitions.defs).
ozone_forecast_model = build_ozone_forecast_model()


def _train_register_promote(
    context: AssetExecutionContext, config: TrainingConfig, settings: dict, ozone_features, day: str, run_id: str
) -> PartitionStep:
    """Train on the window ending with ``day`` and score the candidate, log the MLflow run,
    register the candidate as challenger, and promote it if it won and no vetoing check failed."""
    registry: ModelRegistry = context.resources.model_registry
    gates: QualityGates = context.resources.quality_gates
    try:
        window = training_window({d: ozone_features[d].to_pandas() for d in ozone_features}, day)
    except NotEnoughData as exc:
        raise Failure(str(exc)) from exc
    model = train_forest(
        window.train,
        n_estimators=config.n_estimators,
        max_depth=config.max_depth,
        min_samples_leaf=config.min_samples_leaf,
        seed=config.seed,
    )
    champion = registry.version("champion")
    evaluation = evaluate(
        model,
        window.holdout,
        config.promotion_margin,
        None if champion is None else ChampionModel(str(champion.version), registry.load(champion.version)),
    )
    candidate, baseline = evaluation.candidate, evaluation.baseline
    outcomes = {
        "beats_persistence": checks.model.beats_persistence(candidate, baseline),
        "quality_floor": checks.model.quality_floor(candidate, gates.min_model_r2),
    }
    fingerprints = _feature_fingerprints(context, window.days)
    tags = _lineage_tags(context, window.days, fingerprints)
    png = holdout_plot(window.holdout, evaluation.predictions)

    logged = log_training_run(model, window, evaluation, settings=settings, tags=tags, plot_png=png)
    version = registry.register_challenger(logged.model_uri, run_id, tags)
    outcomes["predictions_valid"] = checks.model.predictions_valid(
        evaluation.predictions["candidate"], logged.signature
    )
    vetoes = [name for name in checks.model.PROMOTION_VETOES if not outcomes[name].passed]
    decision = withhold_promotion(evaluation.decision, vetoes)
    previous = registry.promote(version) if decision.promote else None
    log_decision(decision, version)

    return PartitionStep(
        outcomes=outcomes,
        metadata={
            # First: the UI lists metadata in this order, so the report heads the materialization.
            "holdout_report": MetadataValue.md(holdout_report(version, decision.reason, evaluation, png)),
            "model_name": registry.model_name,
            "model_version": version,
            "trigger": tags["trigger"],
            "trigger_detail": context.run.tags.get("retrain/detail", "materialized by a user or job"),
            "mlflow_run_id": run_id,
            "promoted": decision.promote,
            "decision": decision.reason,
            "previous_champion": previous or "",
            "champion_compared": str(champion.version) if champion is not None else "",
            **{f"candidate_{k}": v for k, v in vars(candidate).items()},
            **{f"baseline_{k}": v for k, v in vars(baseline).items() if k != "n"},
            **(
                {f"champion_{k}": v for k, v in vars(evaluation.champion).items() if k != "n"}
                if evaluation.champion is not None
                else {}
            ),
            "train_rows": len(window.train),
            "holdout_rows": len(window.holdout),
            "feature_partitions": MetadataValue.json(fingerprints),
        },
        qoa={
            "rows_in": len(window.train) + len(window.holdout),
            "rows_out": len(window.holdout),  # holdout predictions
            "model_rmse": candidate.rmse,
            "model_mae": candidate.mae,
            "model_r2": candidate.r2,
            "baseline_rmse": baseline.rmse,
        },
        log=f"model version {version}: {decision.reason}",
    )


@asset(
    partitions_def=daily_partitions,
    group_name="ml",
    owners=OWNERS_BY_GROUP["ml"],
    code_version=FORECASTS_CODE_VERSION,
    kinds={"mlflow", "sql"},
    # Forecasts use the registry's champion, which the model's run for the same day may change.
    # The same day, not the model's newest partition (LastPartitionMapping): Dagster's backfills
    # put an asset in its parent's run only through an identity mapping, so a backfill of both
    # for a day forecasts that day after training (with the newest partition it never did).
    deps=[AssetDep("ozone_forecast_model", partition_mapping=TimeWindowPartitionMapping())],
    pool="toar_database",  # a database writer: the instance caps how many run at once
    check_specs=checks.forecasts.SPECS,
    automation_condition=FRESH,
)
def ozone_forecasts(
    context: AssetExecutionContext,
    model_registry: ModelRegistry,
    toar_database: ToarDatabase,
    qoa: QoAMonitor,
    quality_gates: QualityGates,
    ozone_features,
) -> MaterializeResult:
    """Forecasts from the champion for each station's latest issue hour of the day.

    Stored in the TOAR database (table ozone_forecast) with the model version that made them,
    so they can be scored once the target hour's measurements arrive.
    """
    champion = model_registry.version("champion")
    if champion is None:
        raise Failure(f"{model_registry.model_name} has no champion yet: materialize ozone_forecast_model first")
    model = model_registry.load(champion.version)
    version = str(champion.version)

    def forecast(day: str) -> PartitionStep:
        rows = _forecast_day(
            ozone_features[day].to_pandas(),
            model,
            model_registry.model_name,
            version,
            champion.run_id,
            context.run.run_id,
        )
        _store_forecasts(
            toar_database,
            model_registry.model_name,
            version,
            rows,
            lambda: ensure_run_alive(context, f"{day}'s forecasts"),
        )
        fresh = checks.forecasts.data_fresh(
            rows[["station_id", "issue_time"]], day, datetime.now(UTC), quality_gates.max_data_age_hours
        )
        return PartitionStep(
            outcomes={checks.forecasts.DATA_FRESH.name: fresh},
            metadata={
                "dagster/row_count": len(rows),
                "model_version": version,
                "mlflow_run_id": champion.run_id,
                "issue_time": str(rows["issue_time"].max()) if len(rows) else "",
                "data_age_hours": fresh.details.get("data_age_hours", -1.0),
                "stale_stations": fresh.details.get("stale_stations", 0),
                "forecast_mean": float(rows["value"].mean()) if len(rows) else 0.0,
            },
            qoa={"rows_in": len(rows), "rows_out": len(rows)},
        )

    return materialize_partitions(context, checks.forecasts.SPECS, qoa, quality_gates, forecast)


def _forecast_day(
    features: pd.DataFrame, model, model_name: str, version: str, mlflow_run_id: str, dagster_run_id: str
) -> pd.DataFrame:
    """One forecast per station, from its latest issue hour of the day."""
    latest = features[features["issue_time"] == features.groupby("station_id")["issue_time"].transform("max")]
    return latest[["station_id", "issue_time", "target_time"]].assign(
        horizon_hours=((latest["target_time"] - latest["issue_time"]) / pd.Timedelta(hours=1)).astype(int),
        value=model.predict(latest[FEATURE_COLUMNS]) if len(latest) else [],
        model_name=model_name,
        model_version=version,
        mlflow_run_id=mlflow_run_id,
        dagster_run_id=dagster_run_id,
    )


def _store_forecasts(
    toar_database: ToarDatabase, model_name: str, version: str, rows: pd.DataFrame, before_commit: Callable[[], None]
) -> None:
    """Upsert: a forecast of the same station, target hour and model version is replaced (idempotent);
    the day's earlier forecasts stay, to be scored when their hour is observed. ``before_commit``
    (the run-alive guard) is called inside the transaction: raising rolls it back."""
    if rows.empty:
        return
    with toar_database.engine().begin() as conn:
        conn.execute(
            ozone_forecast.delete().where(
                ozone_forecast.c.model_name == model_name,
                ozone_forecast.c.model_version == version,
                ozone_forecast.c.station_id.in_([int(s) for s in rows["station_id"].unique()]),
                ozone_forecast.c.target_time.in_([t.to_pydatetime() for t in rows["target_time"].unique()]),
            )
        )
        bulk_insert(conn, ozone_forecast, rows[[c.name for c in ozone_forecast.columns]])
        before_commit()


def _feature_fingerprints(context: AssetExecutionContext, days: list[str]) -> dict[str, dict]:
    """For each feature partition used: its latest materialization's run and fingerprint."""
    latest = latest_materializations(context.instance, "ozone_features", days)
    return {
        day: {
            "run_id": latest.get(day, {}).get("run_id", ""),
            "fingerprint": latest.get(day, {}).get("metadata", {}).get("data_fingerprint", ""),
        }
        for day in days
    }


def _lineage_tags(context: AssetExecutionContext, days: list[str], fingerprints: dict[str, dict]) -> dict[str, str]:
    """MLflow tags of the run and the model version: the Dagster side of the model's provenance."""
    return {
        "dagster_run_id": context.run.run_id,
        "dagster_asset_key": context.asset_key.to_user_string(),
        "dagster_partition": days[-1],
        "dagster_code_version": MODEL_CODE_VERSION,
        "feature_partitions": ",".join(days),
        "feature_fingerprints": ",".join(f"{d}={fingerprints[d]['fingerprint']}" for d in days),
        "feature_runs": ",".join(f"{d}={fingerprints[d]['run_id']}" for d in days),
        "git_commit": git_commit(),
        "trigger": context.run.tags.get("retrain/reason", "manual"),
    }


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=os.path.dirname(__file__)
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
