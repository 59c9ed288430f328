"""Sensor: retrain the dma8eu model on new daily metrics, on age, or when its scored skill fell."""

from __future__ import annotations

from datetime import date, timedelta

from dagster import AssetKey, DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from domain.keys import DAILY_METRICS, DMA8EU_FORECASTS, DMA8EU_MODEL
from forecasting.dma8eu import LeadScores, SkillRules
from forecasting.settings import DMA8EU_MIN_DAYS
from resources.dma8eu_rules import Dma8euPromotionRules
from resources.mlflow_resources import ModelRegistry
from resources.retraining_policy import RetrainingPolicy
from resources.toar_database import ToarDatabase
from sensors.retraining import data_reasons, retraining_request


def skill_drift(scores: list[LeadScores], days_scored: int, rules: SkillRules) -> tuple[str, str] | None:
    """The champion's own forecasts, scored over the last days: retrain when, with at least
    rules.shadow_days target days scored, its skill against persistence is no longer above the
    promotion rule's at some lead (the evidence a challenger must beat it on)."""
    if days_scored < rules.shadow_days:
        return None
    fallen = [s for s in scores if not s.skill_persistence > rules.min_skill_persistence]
    if not fallen:
        return None
    leads = "; ".join(f"lead {s.lead}: {s.skill_persistence:.3f}" for s in fallen)
    return (
        "skill_drift",
        f"skill vs persistence over {days_scored} scored target days at or below {rules.min_skill_persistence}: {leads}",
    )


@sensor(
    asset_selection=[AssetKey(DMA8EU_MODEL), AssetKey(DMA8EU_FORECASTS)],
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description="Retrains dma8eu_forecast_model (and forecasts) on the newest daily metrics day when there is no "
    "champion yet, when enough new days arrived or the champion is too old (retraining_policy), or when the "
    "champion's forecasts scored over the last shadow_window_days lost their skill against persistence "
    "(dma8eu_rules). The reasons go into the run's tags and the model's MLflow tags.",
)
def dma8eu_retraining(
    context: SensorEvaluationContext,
    dma8eu_registry: ModelRegistry,
    dma8eu_rules: Dma8euPromotionRules,
    toar_database: ToarDatabase,
    retraining_policy: RetrainingPolicy,
):
    from forecasting.scoring import daily_forecast_scores

    days = sorted(date.fromisoformat(d) for d in context.instance.get_materialized_partitions(AssetKey(DAILY_METRICS)))
    if not days:
        return SkipReason("no daily metrics yet")
    champion = dma8eu_registry.version("champion")
    trained_day = date.fromisoformat(champion.tags["dagster_partition"]) if champion is not None else None
    drift = None
    if champion is not None:
        newest = max(days)
        first = newest - timedelta(days=dma8eu_rules.shadow_window_days - 1)
        scored, days_scored = daily_forecast_scores(
            toar_database.engine(), dma8eu_registry.model_name, [str(champion.version)], first, newest
        )
        drift = skill_drift(scored[str(champion.version)], days_scored, dma8eu_rules.rules())
    reasons = data_reasons(trained_day, days, "daily metrics", DMA8EU_MIN_DAYS, retraining_policy, drift)
    if not reasons:
        return SkipReason("champion is current" if champion else f"fewer than {DMA8EU_MIN_DAYS} days of daily metrics")
    return retraining_request("dma8eu-retrain", max(days), str(champion.version) if champion else None, reasons)
