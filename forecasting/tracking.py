"""MLflow tracking of a training run: its experiment, and what the run logs.

No Dagster here: the code location's ``mlflow`` resource starts one MLflow run per Dagster run
(dagster-mlflow); these functions log to whichever MLflow run is active. mlflow is imported on
first use, never at import.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from domain.secrets import mask_secrets, url_secrets
from forecasting.features import FEATURE_COLUMNS, KEY_COLUMNS, TARGET
from forecasting.training import Decision, Evaluation, TrainingWindow


def artifact_location(tracking_uri: str) -> str | None:
    """Where a new experiment keeps artifacts: ``MLFLOW_ARTIFACT_LOCATION``, else beside a
    SQLite tracking store, else (a tracking server) wherever the server decides."""
    if os.environ.get("MLFLOW_ARTIFACT_LOCATION"):
        return os.environ["MLFLOW_ARTIFACT_LOCATION"]
    if tracking_uri.startswith("sqlite:///"):
        return (Path(tracking_uri.removeprefix("sqlite:///")).resolve().parent / "mlflow-artifacts").as_uri()
    return None


def ensure_experiment(tracking_uri: str, name: str) -> str:
    """The experiment's id; created (with ``artifact_location``) if it does not exist yet."""
    from mlflow import MlflowClient

    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        return client.create_experiment(name, artifact_location=artifact_location(tracking_uri))
    except Exception as exc:
        failure = exc
    # Raised outside the except block and unchained: the original text may hold the URI's password.
    raise RuntimeError(
        f"MLflow at {mask_secrets(tracking_uri, url_secrets(tracking_uri))} is not usable: "
        f"{type(failure).__name__}: {mask_secrets(str(failure), url_secrets(tracking_uri))}"
    ) from None


def masked(values: dict) -> dict:
    """Parameters or tags for MLflow with any credential inside a text value masked."""
    return {name: mask_secrets(value) if isinstance(value, str) else value for name, value in values.items()}


@contextmanager
def ending_active_run() -> Iterator[str]:
    """The active MLflow run's id; the run is ended when the block ends: FINISHED, or FAILED when
    the block raised (dagster-mlflow's end-of-run hook fires for op jobs only, not for
    materialized assets, and a run left active was later ended FINISHED, empty)."""
    import mlflow

    active = mlflow.active_run()
    if active is None:
        raise RuntimeError("no active MLflow run: the mlflow resource starts one per Dagster run")
    run_id = active.info.run_id
    try:
        yield run_id
    except BaseException:
        mlflow.end_run(status="FAILED")
        raise
    mlflow.end_run()


def log_training_run(
    model, window: TrainingWindow, evaluation: Evaluation, *, settings: dict, tags: dict[str, str], plot_png: bytes
):
    """Log to the active run: ``settings`` and the data's sizes as parameters, the holdout
    scores as metrics, the lineage ``tags``, the training and holdout datasets, the holdout
    plot and the model. Returns the logged model's info (its URI and input signature)."""
    import mlflow
    import mlflow.sklearn
    from mlflow.data.pandas_dataset import from_pandas

    train, holdout = window.train, window.holdout
    mlflow.log_params(
        masked({**settings, "features": len(FEATURE_COLUMNS), "train_rows": len(train), "holdout_rows": len(holdout)})
    )
    metrics = {**evaluation.candidate.as_metrics("candidate"), **evaluation.baseline.as_metrics("baseline")}
    if evaluation.champion is not None:
        metrics.update(evaluation.champion.as_metrics("champion"))
    mlflow.log_metrics(metrics)
    mlflow.set_tags(masked(tags))
    columns = KEY_COLUMNS + FEATURE_COLUMNS + [TARGET]
    with warnings.catch_warnings():
        # The datasets keep integer station ids on purpose (lineage); MLflow hints about it.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        mlflow.log_input(
            from_pandas(train[columns], name=f"ozone_features {window.days[0]}..{window.days[-1]}", targets=TARGET),
            context="training",
        )
        mlflow.log_input(
            from_pandas(holdout[columns], name=f"ozone_features {window.days[-1]} holdout", targets=TARGET),
            context="evaluation",
        )
        mlflow.log_image(_png_image(plot_png), artifact_file="holdout_forecasts.png")
        return mlflow.sklearn.log_model(
            model,
            name="model",
            signature=mlflow.models.infer_signature(holdout[FEATURE_COLUMNS], evaluation.predictions["candidate"]),
            input_example=holdout[FEATURE_COLUMNS].head(3),
            serialization_format="skops",
            skops_trusted_types=["sklearn.tree._tree.Tree"],
            pip_requirements=pip_requirements(),
        )


def log_decision(decision: Decision, version: str) -> None:
    """Tag the active run with the model version it registered and whether it was promoted, and why."""
    import mlflow

    mlflow.set_tags(masked({"promoted": str(decision.promote), "decision": decision.reason, "model_version": version}))


def pip_requirements() -> list[str]:
    """Pinned from the running environment (faster and exacter than MLflow's inference)."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("mlflow", "scikit-learn", "skops", "pandas", "numpy")]


def _png_image(png: bytes):
    from PIL import Image

    return Image.open(io.BytesIO(png))


@contextmanager
def started_run(tracking_uri: str, experiment: str, run_name: str) -> Iterator[str]:
    """An MLflow run of its own in ``experiment`` (the dma8eu model logs outside dagster-mlflow's
    one run per Dagster run, which the hourly model of the same Dagster run owns); ended
    FINISHED, or FAILED when the block raised. Yields the run's id."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    experiment_id = ensure_experiment(tracking_uri, experiment)
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=run_name, nested=mlflow.active_run() is not None
    ) as run:
        yield run.info.run_id


def log_dma8eu_run(
    model, window, scores, champion_scores, *, settings: dict, tags: dict[str, str], plots: dict[int, bytes]
):
    """Log the dma8eu model's training to the active run: settings and sizes as parameters, per
    lead the candidate's (and the champion's) RMSE, MAE, bias and skill against persistence and
    climatology as metrics (``lead1_rmse`` ...; also as steps of one series per score, so MLflow
    draws them over the leads), one holdout plot per lead, the datasets and the model."""
    import mlflow
    import mlflow.sklearn
    from mlflow.data.pandas_dataset import from_pandas

    from forecasting.dma8eu import FEATURE_COLUMNS as DAILY_FEATURES
    from forecasting.dma8eu import KEY_COLUMNS as DAILY_KEYS
    from forecasting.dma8eu import TARGETS

    mlflow.log_params(
        masked(
            {
                **settings,
                "features": len(DAILY_FEATURES),
                "train_rows": len(window.train),
                "holdout_rows": len(window.holdout),
            }
        )
    )
    for prefix, lead_scores in (("candidate", scores), ("champion", champion_scores or [])):
        for s in lead_scores:
            values = {
                "rmse": s.rmse,
                "mae": s.mae,
                "bias": s.bias,
                "skill_persistence": s.skill_persistence,
                "skill_climatology": s.skill_climatology,
            }
            mlflow.log_metrics({f"{prefix}_lead{s.lead}_{k}": v for k, v in values.items()})
            mlflow.log_metrics({f"{prefix}_{k}": v for k, v in values.items()}, step=s.lead)
    mlflow.set_tags(masked(tags))
    columns = DAILY_KEYS + DAILY_FEATURES + TARGETS
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        mlflow.log_input(
            from_pandas(window.train[columns], name="daily features, training", targets=TARGETS[0]), context="training"
        )
        mlflow.log_input(
            from_pandas(window.holdout[columns], name="daily features, holdout", targets=TARGETS[0]),
            context="evaluation",
        )
        for lead, png in plots.items():
            mlflow.log_image(_png_image(png), artifact_file=f"holdout_lead_{lead}d.png")
        holdout = window.holdout[DAILY_FEATURES]
        return mlflow.sklearn.log_model(
            model,
            name="model",
            signature=mlflow.models.infer_signature(holdout, model.predict(holdout)),
            input_example=holdout.head(3),
            serialization_format="skops",
            skops_trusted_types=["sklearn.tree._tree.Tree"],
            pip_requirements=pip_requirements(),
        )
