"""Checks of ozone_forecast_model: better than persistence, sane predictions, good enough."""

from __future__ import annotations

import numpy as np

from checks.core import Outcome, cost_spec, spec
from forecasting.training import Scores

ASSET = "ozone_forecast_model"

BEATS_PERSISTENCE = spec(
    ASSET,
    "beats_persistence",
    "The candidate's holdout RMSE is below the persistence baseline's (a warning: such a model is "
    "registered but not promoted).",
    blocking=False,
)
PREDICTIONS_VALID = spec(
    ASSET,
    "predictions_valid",
    "Holdout predictions are finite and the logged model has an input signature.",
)
QUALITY_FLOOR = spec(ASSET, "quality_floor", "QoA control rule: holdout R² at least the configured floor.")
SPECS = [BEATS_PERSISTENCE, PREDICTIONS_VALID, QUALITY_FLOOR, cost_spec(ASSET)]
# A candidate failing one of these is registered, but never promoted.
PROMOTION_VETOES = [PREDICTIONS_VALID.name, QUALITY_FLOOR.name]


def beats_persistence(candidate: Scores, baseline: Scores) -> Outcome:
    return Outcome(
        candidate.rmse < baseline.rmse, {"candidate_rmse": candidate.rmse, "baseline_rmse": baseline.rmse}, severe=False
    )


def predictions_valid(predictions: np.ndarray, signature) -> Outcome:
    finite = bool(np.isfinite(np.asarray(predictions, float)).all())
    inputs = [] if signature is None else signature.inputs.input_names()
    return Outcome(finite and bool(inputs), {"predictions_finite": finite, "signature_inputs": len(inputs)})


def quality_floor(candidate: Scores, min_r2: float) -> Outcome:
    return Outcome(candidate.r2 >= min_r2, {"candidate_r2": candidate.r2, "min_model_r2": min_r2})
