"""ML assets: TOAR database -> feature tables -> forecast model (MLflow) -> forecasts."""

import base64
import os
import subprocess
import time
import warnings
from datetime import datetime, timedelta
from typing import Optional

import pandas as pd
import pyarrow as pa
from dagster import (
    AssetDep,
    AutomationCondition,
    LastPartitionMapping,
    AssetExecutionContext,
    AssetIn,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    TimeWindowPartitionMapping,
    asset,
)
from pydantic import Field

import checks.features
import checks.model
from checks.core import Outcome, check_result, cost_outcome, cost_spec
from resources.quality_gates import QualityGates
from forecasting.features import FEATURE_COLUMNS, KEY_COLUMNS, TARGET, features_for_window
from ml_assets.provenance import latest_materializations
from forecasting.training import Decision, PERSISTENCE_FEATURE, decide_promotion, holdout_plot, score, time_ordered_split, train_forest
from resources.mlflow_resources import ModelRegistry
from resources.qoa import QoAMonitor
from resources.toar_database import ToarDatabase
from domain.fingerprint import table_fingerprint
from asset_base.partitions import daily_asset, daily_partitions
from asset_base.table_metadata import features_metadata
from forecasting.tables import ozone_forecast
from toar.bulk_load import bulk_insert

FEATURES_CODE_VERSION = "1"
MODEL_CODE_VERSION = "1"
FORECASTS_CODE_VERSION = "1"

# Days of feature partitions a model sees: training days plus the last day as holdout. The
# window is part of the asset graph (a partition mapping), so it is set when the code loads.
TRAINING_WINDOW_DAYS = int(os.environ.get("TRAINING_WINDOW_DAYS", "7"))
# Hours between the issue time and the forecast target.
FORECAST_HORIZON_HOURS = int(os.environ.get("FORECAST_HORIZON_HOURS", "1"))

# Materialize as soon as upstream data changed, for the last two days (today's and yesterday's
# partitions keep receiving objects); older days are backfilled on purpose, not automatically.
FRESH = AutomationCondition.eager().replace(
    AutomationCondition.in_latest_time_window(), AutomationCondition.in_latest_time_window(timedelta(days=2))
)


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
    context: AssetExecutionContext, toar_database: ToarDatabase, qoa: QoAMonitor, quality_gates: QualityGates
):  # returns MaterializeResult(value={partition key: table}); an annotation would be type-checked
    """Hourly feature rows per station for issue times within the day, with the ozone target.

    Ozone lags 0-23 h before the issue time, rolling means, co-located NO2, target-time hour
    and weekday, station coordinates; target: observed ozone FORECAST_HORIZON_HOURS later
    (empty where not yet observed). The same function builds serving rows.
    """
    engine = toar_database.engine()
    tables = {}
    outcomes: dict[str, dict[str, Outcome]] = {spec.name: {} for spec in checks.features.SPECS}
    for day in context.partition_keys:
        start = datetime.fromisoformat(day)
        with qoa.measure() as measured:
            began = time.perf_counter()
            features, read = features_for_window(engine, start, start + timedelta(days=1), FORECAST_HORIZON_HOURS)
            selection_seconds = time.perf_counter() - began
            table = pa.Table.from_pandas(features, preserve_index=False)
            valid = checks.features.validate(features, quality_gates.min_feature_rows, quality_gates.min_data_quality_score)
            continuity = checks.features.hourly_continuity(features, quality_gates.min_hourly_continuity)
        outcomes["features_valid"][day] = valid
        outcomes["hourly_continuity"][day] = continuity
        outcomes["cost_within_budget"][day] = cost_outcome(measured.cost_usd, quality_gates.max_cost_usd_per_partition)
        context.add_asset_metadata(
            {
                "dagster/row_count": len(features),
                "stations": int(features["station_id"].nunique()),
                "rows_with_target": int(features[TARGET].notna().sum()),
                "rows_selected": read["rows_selected"],
                "selection_seconds": selection_seconds,
                "horizon_hours": FORECAST_HORIZON_HOURS,
                "measurement_window": f"{read['read_start']} .. {read['read_end']}",
                "timeseries_ids": MetadataValue.json(read["timeseries_ids"]),
                "hourly_continuity": continuity.details["hourly_continuity"],
                "data_fingerprint": table_fingerprint(table),
                **measured.metadata(
                    rows_in=read["rows_selected"], rows_out=len(features), bytes_out=table.nbytes,
                    data_quality_score=valid.details["data_quality_score"],
                ),
            },
            partition_key=day,
        )
        tables[day] = table
    return MaterializeResult(
        value=tables, check_results=[check_result(spec, outcomes[spec.name]) for spec in checks.features.SPECS]
    )


class TrainingConfig(Config):
    n_estimators: int = Field(default=100, description="trees in the random forest")
    max_depth: Optional[int] = Field(default=None, description="tree depth limit (None: unlimited)")
    min_samples_leaf: int = Field(default=3, description="smallest leaf")
    seed: int = Field(default=0, description="random seed of the forest")
    promotion_margin: float = Field(
        default=0.02, description="relative RMSE improvement over persistence and champion needed to promote"
    )


@asset(
    partitions_def=daily_partitions,
    group_name="ml",
    code_version=MODEL_CODE_VERSION,
    kinds={"sklearn", "mlflow"},
    ins={
        "ozone_features": AssetIn(
            partition_mapping=TimeWindowPartitionMapping(start_offset=-(TRAINING_WINDOW_DAYS - 1)),
            metadata={"allow_missing_partitions": True},  # early days have a shorter history
        )
    },
    # dagster-mlflow's resource is a classic one, so all are requested the classic way.
    required_resource_keys={"mlflow", "model_registry", "qoa", "quality_gates"},
    check_specs=checks.model.SPECS,
)
def ozone_forecast_model(context: AssetExecutionContext, config: TrainingConfig, ozone_features) -> MaterializeResult:
    """A random forest trained on the window of feature days ending with this partition.

    The last day is the holdout. The candidate, the persistence baseline and the current
    champion are scored on it; the candidate is registered in MLflow as `challenger` and
    becomes `champion` only if it beats both by the promotion margin.
    """
    # The logged datasets keep integer station ids on purpose (lineage); MLflow hints about it.
    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
    model_registry: ModelRegistry = context.resources.model_registry
    qoa: QoAMonitor = context.resources.qoa
    gates: QualityGates = context.resources.quality_gates
    with qoa.measure() as measured:
        result = _train_register_promote(context, config, model_registry, gates, ozone_features)
    result.metadata.update(measured.metadata(
        rows_in=result.metadata["train_rows"] + result.metadata["holdout_rows"],
        rows_out=result.metadata["holdout_rows"],  # holdout predictions
        model_rmse=result.metadata["candidate_rmse"], model_mae=result.metadata["candidate_mae"],
        model_r2=result.metadata["candidate_r2"], baseline_rmse=result.metadata["baseline_rmse"],
    ))
    cost = {context.partition_key: cost_outcome(measured.cost_usd, gates.max_cost_usd_per_partition)}
    return MaterializeResult(
        metadata=result.metadata,
        check_results=[*result.check_results, check_result(cost_spec("ozone_forecast_model"), cost)],
    )


def _train_register_promote(context, config: TrainingConfig, model_registry: ModelRegistry, gates: QualityGates,
                            ozone_features) -> MaterializeResult:
    import mlflow
    import mlflow.sklearn

    day = context.partition_key
    days = sorted(ozone_features)
    if not days or days[-1] != day:
        raise Failure(f"ozone_features for {day} is not materialized: it is the holdout of this model")
    frames = {d: ozone_features[d].to_pandas() for d in days}
    features = pd.concat(frames.values(), ignore_index=True)
    train, holdout = time_ordered_split(features, datetime.fromisoformat(day))
    if train.empty or holdout.empty:
        raise Failure(f"{len(train)} training and {len(holdout)} holdout rows with observed targets in {days}: need both")

    model = train_forest(
        train, n_estimators=config.n_estimators, max_depth=config.max_depth,
        min_samples_leaf=config.min_samples_leaf, seed=config.seed,
    )
    predictions = {"candidate": model.predict(holdout[FEATURE_COLUMNS]), "persistence": holdout[PERSISTENCE_FEATURE].to_numpy()}
    champion = model_registry.version("champion")
    if champion is not None:
        predictions[f"champion v{champion.version}"] = model_registry.load(champion.version).predict(holdout[FEATURE_COLUMNS])
    scores = {name: score(holdout[TARGET], values) for name, values in predictions.items()}
    candidate, baseline = scores["candidate"], scores["persistence"]
    champion_scores = scores.get(f"champion v{champion.version}") if champion is not None else None
    decision = decide_promotion(candidate, baseline, champion_scores, config.promotion_margin)
    outcomes = {
        "beats_persistence": checks.model.beats_persistence(candidate, baseline),
        "quality_floor": checks.model.quality_floor(candidate, gates.min_model_r2),
    }

    fingerprints = _feature_fingerprints(context, days)
    lineage_tags = {
        "dagster_run_id": context.run.run_id,
        "dagster_asset_key": context.asset_key.to_user_string(),
        "dagster_partition": day,
        "dagster_code_version": MODEL_CODE_VERSION,
        "feature_partitions": ",".join(days),
        "feature_fingerprints": ",".join(f"{d}={fingerprints[d]['fingerprint']}" for d in days),
        "feature_runs": ",".join(f"{d}={fingerprints[d]['run_id']}" for d in days),
        "git_commit": _git_commit(),
        "trigger": context.run.tags.get("retrain/reason", "manual"),
    }
    png = holdout_plot(holdout, predictions)
    plot_markdown = f"![holdout forecasts](data:image/png;base64,{base64.b64encode(png).decode()})"

    mlflow_client = context.resources.mlflow  # dagster-mlflow: the active run is this Dagster run's
    run_id = mlflow.active_run().info.run_id
    try:
        mlflow_client.log_params(
            {**config.model_dump(), "features": len(FEATURE_COLUMNS), "horizon_hours": FORECAST_HORIZON_HOURS,
             "training_window_days": TRAINING_WINDOW_DAYS, "train_rows": len(train), "holdout_rows": len(holdout)}
        )
        metrics = {**candidate.as_metrics("candidate"), **baseline.as_metrics("baseline")}
        if champion_scores is not None:
            metrics.update(champion_scores.as_metrics("champion"))
        mlflow.log_metrics(metrics)
        mlflow.set_tags(lineage_tags)
        mlflow.log_input(mlflow.data.from_pandas(train[KEY_COLUMNS + FEATURE_COLUMNS + [TARGET]], name=f"ozone_features {days[0]}..{days[-1]}", targets=TARGET), context="training")
        mlflow.log_input(mlflow.data.from_pandas(holdout[KEY_COLUMNS + FEATURE_COLUMNS + [TARGET]], name=f"ozone_features {day} holdout", targets=TARGET), context="evaluation")
        mlflow.log_image(_png_image(png), artifact_file="holdout_forecasts.png")
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=mlflow.models.infer_signature(holdout[FEATURE_COLUMNS], predictions["candidate"]),
            input_example=holdout[FEATURE_COLUMNS].head(3),
            serialization_format="skops",
            skops_trusted_types=["sklearn.tree._tree.Tree"],
            pip_requirements=_pip_requirements(),
        )
        version = str(model_registry.register(info.model_uri, run_id, lineage_tags).version)
        model_registry.set_alias("challenger", version)
        outcomes["predictions_valid"] = checks.model.predictions_valid(predictions["candidate"], info.signature)
        blocked = [name for name in ("predictions_valid", "quality_floor") if not outcomes[name].passed]
        if decision.promote and blocked:
            decision = Decision(False, f"{decision.reason}, but failed {', '.join(blocked)}")
        previous = model_registry.promote(version) if decision.promote else None
        mlflow.set_tags({"promoted": str(decision.promote), "decision": decision.reason, "model_version": version})
    finally:
        mlflow.end_run()

    context.log.info(f"model version {version}: {decision.reason}")
    return MaterializeResult(
        metadata={
            "model_name": model_registry.model_name,
            "model_version": version,
            "trigger": lineage_tags["trigger"],
            "trigger_detail": context.run.tags.get("retrain/detail", "materialized by a user or job"),
            "mlflow_run_id": run_id,
            "promoted": decision.promote,
            "decision": decision.reason,
            "previous_champion": previous or "",
            "champion_compared": str(champion.version) if champion is not None else "",
            **{f"candidate_{k}": v for k, v in vars(candidate).items()},
            **{f"baseline_{k}": v for k, v in vars(baseline).items() if k != "n"},
            **({f"champion_{k}": v for k, v in vars(champion_scores).items() if k != "n"} if champion_scores else {}),
            "train_rows": len(train),
            "holdout_rows": len(holdout),
            "feature_partitions": MetadataValue.json(fingerprints),
            "holdout_plot": MetadataValue.md(plot_markdown),
        },
        check_results=[check_result(spec, {day: outcomes[spec.name]}) for spec in checks.model.SPECS[:3]],
    )


@asset(
    partitions_def=daily_partitions,
    group_name="ml",
    code_version=FORECASTS_CODE_VERSION,
    kinds={"mlflow", "sql"},
    # Forecasts use the registry's champion; the newest model run is what can change it.
    deps=[AssetDep("ozone_forecast_model", partition_mapping=LastPartitionMapping())],
    pool="toar_database",  # a database writer: the instance caps how many run at once
    check_specs=[cost_spec("ozone_forecasts")],
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
    costs = {}
    for day in context.partition_keys:
        with qoa.measure() as measured:
            version = str(champion.version)
            rows = _forecast_day(ozone_features[day].to_pandas(), model, model_registry.model_name,
                                 version, champion.run_id, context.run.run_id)
            _store_forecasts(toar_database, model_registry.model_name, version, rows)
        costs[day] = cost_outcome(measured.cost_usd, quality_gates.max_cost_usd_per_partition)
        context.add_asset_metadata(
            {
                "dagster/row_count": len(rows),
                "model_version": str(champion.version),
                "mlflow_run_id": champion.run_id,
                "issue_time": str(rows["issue_time"].max()) if len(rows) else "",
                "forecast_mean": float(rows["value"].mean()) if len(rows) else 0.0,
                **measured.metadata(rows_in=len(rows), rows_out=len(rows)),
            },
            partition_key=day,
        )
    return MaterializeResult(check_results=[check_result(cost_spec("ozone_forecasts"), costs)])


def _forecast_day(features: pd.DataFrame, model, model_name: str, version: str, mlflow_run_id: str,
                  dagster_run_id: str) -> pd.DataFrame:
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


def _store_forecasts(toar_database: ToarDatabase, model_name: str, version: str, rows: pd.DataFrame) -> None:
    """Upsert: a forecast of the same station, target hour and model version is replaced (idempotent);
    the day's earlier forecasts stay, to be scored when their hour is observed."""
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


def _feature_fingerprints(context: AssetExecutionContext, days: list[str]) -> dict[str, dict]:
    """For each feature partition used: its latest materialization's run and fingerprint."""
    latest = latest_materializations(context.instance, "ozone_features", days)
    return {
        day: {"run_id": latest.get(day, {}).get("run_id", ""),
              "fingerprint": latest.get(day, {}).get("metadata", {}).get("data_fingerprint", "")}
        for day in days
    }


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=os.path.dirname(__file__))
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _pip_requirements() -> list[str]:
    """Pinned from the running environment (faster and exacter than MLflow's inference)."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("mlflow", "scikit-learn", "skops", "pandas", "numpy")]


def _png_image(png: bytes):
    import io

    from PIL import Image

    return Image.open(io.BytesIO(png))
