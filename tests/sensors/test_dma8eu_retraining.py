"""When the dma8eu model is due for retraining: the champion's scored skill, new days, age."""

from datetime import date, timedelta

from forecasting.dma8eu import LeadScores, SkillRules
from resources.retraining_policy import RetrainingPolicy
from sensors.dma8eu_retraining import skill_drift
from sensors.retraining import data_reasons

TRAINED = date(2024, 7, 1)


def scores(*skills: float) -> list[LeadScores]:
    return [LeadScores(lead, 20, 5.0, 4.0, 0.0, skill, 0.1) for lead, skill in zip((1, 2, 3, 4), skills, strict=True)]


def test_lost_skill_against_persistence_calls_for_retraining_once_enough_days_are_scored():
    rules = SkillRules(shadow_days=3)
    assert skill_drift(scores(0.3, 0.2, 0.1, 0.05), 5, rules) is None
    assert skill_drift(scores(0.3, -0.2, 0.1, 0.0), 2, rules) is None  # two scored days are no evidence yet
    name, detail = skill_drift(scores(0.3, -0.2, 0.1, 0.0), 3, rules)
    assert name == "skill_drift"
    assert detail == "skill vs persistence over 3 scored target days at or below 0.0: lead 2: -0.200; lead 4: 0.000"


def test_the_shared_reasons_name_the_daily_metrics():
    policy = RetrainingPolicy()
    days = [TRAINED + timedelta(d) for d in range(-30, 4)]
    assert data_reasons(None, days[:20], "daily metrics", 25, policy) == []
    assert data_reasons(None, days, "daily metrics", 25, policy) == [
        ("no_champion", "34 daily metrics days and no champion yet")
    ]
    drift = ("skill_drift", "lead 1: -0.1")
    assert data_reasons(TRAINED, days, "daily metrics", 25, policy, drift) == [
        ("new_data", "3 daily metrics days after 2024-07-01"),
        drift,
    ]
    later = days + [TRAINED + timedelta(7)]
    assert ("age", "trained on data up to 2024-07-01, newest data 2024-07-08") in data_reasons(
        TRAINED, later, "daily metrics", 25, policy
    )
