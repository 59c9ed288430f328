"""Checks of dma8eu_forecast_model: sane predictions for four leads, skill against the references."""

from __future__ import annotations

import numpy as np

from checks.core import Outcome, cost_spec, spec
from forecasting.dma8eu import LEADS, LeadScores, SkillRules

ASSET = "dma8eu_forecast_model"

PREDICTIONS_VALID = spec(
    ASSET,
    "predictions_valid",
    "Holdout predictions are finite, one per lead (1-4 days), and the logged model has an input signature. "
    "A candidate failing it is registered but never promoted.",
)
MEETS_SKILL_RULES = spec(
    ASSET,
    "meets_skill_rules",
    "On the holdout, skill against persistence and climatology meets the promotion rules at each lead "
    "(default: above 0 against persistence at every lead, against climatology at leads 1 and 2). A warning: "
    "such a model is registered, not promoted.",
    blocking=False,
)
SPECS = [PREDICTIONS_VALID, MEETS_SKILL_RULES, cost_spec(ASSET)]
PROMOTION_VETOES = [PREDICTIONS_VALID.name]


def predictions_valid(predictions: np.ndarray, signature) -> Outcome:
    predictions = np.asarray(predictions, float)
    finite = bool(np.isfinite(predictions).all())
    leads = predictions.shape[1] if predictions.ndim == 2 else 1
    inputs = [] if signature is None else signature.inputs.input_names()
    return Outcome(
        finite and leads == len(LEADS) and bool(inputs),
        {"predictions_finite": finite, "leads": leads, "signature_inputs": len(inputs)},
    )


def meets_skill_rules(scores: list[LeadScores], rules: SkillRules) -> Outcome:
    broken = rules.failures(scores)
    details: dict = {f"lead_{s.lead}_skill_persistence": s.skill_persistence for s in scores}
    details.update({f"lead_{s.lead}_skill_climatology": s.skill_climatology for s in scores})
    details["broken_rules"] = broken
    return Outcome(not broken, details, severe=False)


FORECASTS_ASSET = "dma8eu_forecasts"
FORECASTS_SPECS = [cost_spec(FORECASTS_ASSET)]
