"""Training, evaluation and the promotion rule (no Dagster, no MLflow)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from forecasting.features import FEATURE_COLUMNS, TARGET
from forecasting.plots import forecast_plot

# The persistence baseline: ozone at the target time equals ozone now.
PERSISTENCE_FEATURE = "o3_lag_0h"


@dataclass(frozen=True)
class Scores:
    rmse: float
    mae: float
    r2: float
    n: int

    def as_metrics(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}_rmse": self.rmse, f"{prefix}_mae": self.mae, f"{prefix}_r2": self.r2}


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


class NotEnoughData(ValueError):
    """The window of feature days cannot train and score a model."""


@dataclass(frozen=True)
class TrainingWindow:
    """The feature rows of a model's window with an observed target, split in time."""

    days: list[str]  # the feature days read, oldest first; the last one is the holdout day
    train: pd.DataFrame
    holdout: pd.DataFrame


@dataclass(frozen=True)
class ChampionModel:
    """The registry's current champion, scored beside the candidate."""

    version: str
    model: Any  # a fitted regressor of the registry

    @property
    def label(self) -> str:
        return f"champion v{self.version}"


@dataclass(frozen=True)
class Evaluation:
    """Holdout predictions and scores of the candidate, the persistence baseline and the
    champion (if there is one), and the promotion decision they lead to."""

    predictions: dict[str, np.ndarray]  # by name: candidate, persistence, champion vN
    candidate: Scores
    baseline: Scores
    champion: Scores | None
    decision: Decision


def score(observed, predicted) -> Scores:
    observed, predicted = np.asarray(observed, float), np.asarray(predicted, float)
    if len(observed) == 0:
        raise ValueError("nothing to score: the holdout is empty")
    error = predicted - observed
    spread = np.sum((observed - observed.mean()) ** 2)
    r2 = 1.0 - np.sum(error**2) / spread if spread > 0 else float("nan")
    return Scores(
        rmse=float(np.sqrt(np.mean(error**2))), mae=float(np.mean(np.abs(error))), r2=float(r2), n=len(observed)
    )


def time_ordered_split(features: pd.DataFrame, holdout_start) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows with a known target: training before ``holdout_start``, holdout from it on.

    Training rows whose target time reaches into the holdout are dropped too, so no target
    the model is scored on was seen in training.
    """
    known = features[features[TARGET].notna()]
    holdout_start = pd.Timestamp(holdout_start)
    train = known[known["target_time"] < holdout_start]
    holdout = known[known["issue_time"] >= holdout_start]
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


def training_window(feature_days: dict[str, pd.DataFrame], holdout_day: str) -> TrainingWindow:
    """The window of feature days ending with ``holdout_day``: training rows before it, holdout rows of it.

    Raises NotEnoughData when the holdout day is missing or either side has no observed target.
    """
    days = sorted(feature_days)
    if not days or days[-1] != holdout_day:
        raise NotEnoughData(f"ozone_features for {holdout_day} is not materialized: it is the holdout of this model")
    features = pd.concat([feature_days[day] for day in days], ignore_index=True)
    train, holdout = time_ordered_split(features, datetime.fromisoformat(holdout_day))
    if train.empty or holdout.empty:
        raise NotEnoughData(
            f"{len(train)} training and {len(holdout)} holdout rows with observed targets in {days}: need both"
        )
    return TrainingWindow(days, train, holdout)


def train_forest(train: pd.DataFrame, *, n_estimators: int, max_depth: int | None, min_samples_leaf: int, seed: int):
    from sklearn.ensemble import RandomForestRegressor

    if train.empty:
        raise ValueError("no training rows: the window has no feature rows with an observed target")
    model = RandomForestRegressor(
        n_estimators=n_estimators, max_depth=max_depth, min_samples_leaf=min_samples_leaf, random_state=seed, n_jobs=-1
    )
    model.fit(train[FEATURE_COLUMNS], train[TARGET])
    # Fit on every core, predict on one: served requests are single rows, for which spreading
    # the trees over threads costs more than it saves (benchmarks/serving.py). Same predictions.
    model.set_params(n_jobs=1)
    return model


def decide_promotion(candidate: Scores, baseline: Scores, champion: Scores | None, margin: float) -> Decision:
    """Promote only a candidate whose RMSE beats the baseline and the champion by ``margin`` (relative)."""
    needed = 1.0 - margin
    if candidate.rmse > baseline.rmse * needed:
        return Decision(
            False, f"RMSE {candidate.rmse:.3f} does not beat persistence {baseline.rmse:.3f} by {margin:.0%}"
        )
    if champion is not None and candidate.rmse > champion.rmse * needed:
        return Decision(
            False, f"RMSE {candidate.rmse:.3f} does not beat the champion {champion.rmse:.3f} by {margin:.0%}"
        )
    against = "persistence" if champion is None else "persistence and the champion"
    return Decision(True, f"RMSE {candidate.rmse:.3f} beats {against} by at least {margin:.0%}")


def evaluate(model, holdout: pd.DataFrame, margin: float, champion: ChampionModel | None = None) -> Evaluation:
    """Score the candidate ``model``, persistence and the champion on the holdout; decide promotion by ``margin``."""
    predictions = {
        "candidate": model.predict(holdout[FEATURE_COLUMNS]),
        "persistence": holdout[PERSISTENCE_FEATURE].to_numpy(),
    }
    if champion is not None:
        predictions[champion.label] = champion.model.predict(holdout[FEATURE_COLUMNS])
    scores = {name: score(holdout[TARGET], values) for name, values in predictions.items()}
    champion_scores = scores[champion.label] if champion is not None else None
    decision = decide_promotion(scores["candidate"], scores["persistence"], champion_scores, margin)
    return Evaluation(predictions, scores["candidate"], scores["persistence"], champion_scores, decision)


def withhold_promotion(decision: Decision, failed_checks: list[str]) -> Decision:
    """A promotion is withheld when blocking checks of the candidate failed; the reason names them."""
    if decision.promote and failed_checks:
        return Decision(False, f"{decision.reason}, but failed {', '.join(failed_checks)}")
    return decision


def holdout_plot(holdout: pd.DataFrame, predictions: dict[str, np.ndarray], station_id: int | None = None) -> bytes:
    """PNG: observed ozone against each model's holdout forecasts, for one station."""
    if station_id is None:
        station_id = holdout["station_id"].value_counts().idxmax()
    rows = (holdout["station_id"] == station_id).to_numpy()
    return forecast_plot(
        holdout.loc[rows, "target_time"],
        holdout.loc[rows, TARGET],
        {name: np.asarray(values)[rows] for name, values in predictions.items()},
        ylabel="O3 (nmol/mol)",
        title=f"Holdout forecasts, station {station_id}",
    )
