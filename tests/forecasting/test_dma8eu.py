"""The dma8eu forecast's pure parts: features without leakage, the time split, references, skill, rules."""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from forecasting.dma8eu import (
    FEATURE_COLUMNS,
    LEADS,
    TARGETS,
    LeadScores,
    NotEnoughDays,
    SkillRules,
    build_daily_features,
    climatology,
    decide_on_holdout,
    decide_on_shadow,
    lead_scores,
    split_window,
    train_daily_forest,
)

START = date(2024, 5, 1)
STATIONS = pd.DataFrame({"station_id": [1, 2], "latitude": [50.0, 40.0], "longitude": [8.0, -3.0]})


def metrics_frame(days: int = 40, seed: int = 0) -> pd.DataFrame:
    """Daily metrics of two stations: a smooth regime, a station offset and noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for station, offset in ((1, 0.0), (2, 10.0)):
        for i in range(days):
            dma8 = 45 + offset + 8 * np.sin(2 * np.pi * i / 9) + rng.normal(0, 2)
            rows.append(
                {
                    "station_id": station,
                    "date": START + timedelta(days=i),
                    "o3_dma8eu": dma8,
                    "o3_mean": dma8 - 12,
                    "o3_max": dma8 + 5,
                    "o3_last8h_mean": dma8 - 8,
                    "no2_mean": 10.0 if station == 1 else np.nan,
                    "temp_mean": 18 + 3 * np.sin(2 * np.pi * i / 9),
                    "temp_max": 24 + 3 * np.sin(2 * np.pi * i / 9),
                }
            )
    return pd.DataFrame(rows)


def test_targets_are_the_next_days_dma8eu_and_lags_the_past_ones():
    metrics = metrics_frame()
    issue = START + timedelta(days=10)
    rows = build_daily_features(metrics, STATIONS, issue, issue)
    observed = metrics.set_index(["station_id", "date"])["o3_dma8eu"]
    row = rows[rows["station_id"] == 1].iloc[0]
    assert row["issue_date"] == issue
    for lead in LEADS:
        assert row[f"dma8eu_lead_{lead}d"] == pytest.approx(observed[(1, issue + timedelta(days=lead))])
    for k in range(3):
        assert row[f"dma8eu_lag_{k}d"] == pytest.approx(observed[(1, issue - timedelta(days=k))])
    assert row["has_no2"] == 1.0 and rows[rows["station_id"] == 2].iloc[0]["has_no2"] == 0.0


def test_features_do_not_change_when_the_future_does():
    """No leakage across the issue time: only the targets may see days after it."""
    metrics = metrics_frame()
    issue = START + timedelta(days=20)
    before = build_daily_features(metrics, STATIONS, issue, issue)
    future = pd.to_datetime(metrics["date"]) > pd.Timestamp(issue)
    changed = metrics.copy()
    changed.loc[future, ["o3_dma8eu", "o3_mean", "o3_max", "o3_last8h_mean", "temp_mean", "temp_max"]] += 50.0
    after = build_daily_features(changed, STATIONS, issue, issue)
    pd.testing.assert_frame_equal(before[FEATURE_COLUMNS], after[FEATURE_COLUMNS])
    np.testing.assert_allclose(after[TARGETS].to_numpy() - before[TARGETS].to_numpy(), 50.0)


def test_a_day_without_a_valid_dma8eu_issues_no_row_and_a_missing_target_is_nan():
    metrics = metrics_frame()
    issue = START + timedelta(days=12)
    metrics.loc[(metrics["station_id"] == 1) & (metrics["date"] == issue), "o3_dma8eu"] = np.nan
    metrics.loc[(metrics["station_id"] == 2) & (metrics["date"] == issue + timedelta(days=2)), "o3_dma8eu"] = np.nan
    rows = build_daily_features(metrics, STATIONS, issue, issue)
    assert rows["station_id"].tolist() == [2]
    assert np.isnan(rows.iloc[0]["dma8eu_lead_2d"]) and not np.isnan(rows.iloc[0]["dma8eu_lead_1d"])


def test_split_keeps_every_training_target_before_the_holdout():
    metrics = metrics_frame()
    rows = build_daily_features(metrics, STATIONS, START + timedelta(days=3), START + timedelta(days=39))
    window = split_window(rows, metrics, holdout_days=5)
    # Issue dates with an observed next day end on day 38; the last five of them are the holdout.
    assert window.holdout_start == START + timedelta(days=34)
    assert sorted(set(window.holdout["issue_date"])) == [START + timedelta(days=d) for d in range(34, 39)]
    newest_target = max(window.train["issue_date"]) + timedelta(days=max(LEADS))
    assert newest_target <= window.holdout_start
    assert window.train[TARGETS].notna().all().all()


def test_climatology_of_the_holdout_uses_only_days_before_it():
    metrics = metrics_frame()
    rows = build_daily_features(metrics, STATIONS, START + timedelta(days=3), START + timedelta(days=39))
    window = split_window(rows, metrics, holdout_days=5)
    later = pd.to_datetime(metrics["date"]) >= pd.Timestamp(window.holdout_start)
    changed = metrics.copy()
    changed.loc[later, "o3_dma8eu"] += 30.0
    changed_rows = build_daily_features(changed, STATIONS, START + timedelta(days=3), START + timedelta(days=39))
    again = split_window(changed_rows, changed, holdout_days=5)
    np.testing.assert_allclose(again.references["climatology"], window.references["climatology"])


def test_climatology_by_hand():
    history = pd.DataFrame(
        {
            "station_id": [1, 1, 1, 2],
            "date": [date(2023, 6, 1), date(2023, 6, 20), date(2023, 12, 1), date(2023, 1, 5)],
            "o3_dma8eu": [50.0, 60.0, 20.0, 30.0],
        }
    )
    # Station 1 on 2024-06-10: 2023-06-01 and 06-20 are within 15 days of its day of year, 12-01 not.
    # Station 1 on 2024-03-01: nothing near, so its mean over all days (130 / 3).
    # Station 3 has no history: the mean of all stations' days (160 / 4).
    values = climatology(history, [1, 1, 3], [date(2024, 6, 10), date(2024, 3, 1), date(2024, 6, 10)])
    np.testing.assert_allclose(values, [55.0, 130 / 3, 40.0])


def test_skill_by_hand():
    observed = np.array([[40.0, 40, 40, 40], [50, 50, 50, 50]])
    predicted = np.array([[42.0, 42, 42, 42], [48, 48, 48, 48]])  # errors 2, -2: MSE 4
    references = {
        "persistence": np.full((2, 4), 45.0),  # errors -5, 5: MSE 25
        "climatology": np.array([[40.0, 40, 40, 40], [50, 50, 50, 51]]),  # MSE 0, except lead 4: 0.5
    }
    scores = lead_scores(observed, predicted, references)
    assert [s.lead for s in scores] == [1, 2, 3, 4]
    first = scores[0]
    assert (first.n, first.rmse, first.mae, first.bias) == (2, 2.0, 2.0, 0.0)
    assert first.skill_persistence == pytest.approx(1 - 4 / 25)
    assert first.skill_climatology == float("-inf")  # a perfect reference cannot be beaten
    assert scores[3].skill_climatology == pytest.approx(1 - 4 / 0.5)


def test_unobserved_targets_are_left_out_of_a_lead():
    observed = np.array([[40.0, np.nan, 40, 40], [50, 50, 50, 50]])
    predicted = np.full((2, 4), 45.0)
    references = {"persistence": np.full((2, 4), 40.0), "climatology": np.full((2, 4), 40.0)}
    scores = lead_scores(observed, predicted, references)
    assert [s.n for s in scores] == [2, 1, 2, 2]


def scores(skills: list[tuple[float, float]], rmse: float = 5.0) -> list[LeadScores]:
    return [LeadScores(lead, 10, rmse, 4.0, 0.0, p, c) for lead, (p, c) in zip(LEADS, skills, strict=True)]


def test_default_rules_need_persistence_everywhere_and_climatology_at_leads_one_and_two():
    rules = SkillRules()
    assert rules.failures(scores([(0.2, 0.1), (0.1, 0.05), (0.05, -0.3), (0.01, -0.5)])) == []
    broken = rules.failures(scores([(0.2, 0.1), (0.1, -0.05), (-0.02, 0.3), (0.01, -0.5)]))
    assert broken == ["lead 2: skill vs climatology -0.050 <= 0.0", "lead 3: skill vs persistence -0.020 <= 0.0"]


def test_first_model_is_promoted_on_the_holdout_and_a_challenger_waits_for_shadow_evidence():
    good = scores([(0.2, 0.1)] * 4)
    first = decide_on_holdout(good, None, SkillRules())
    assert first.promote and first.evidence == "holdout" and "lead 1: SS_pers 0.200" in first.reason
    second = decide_on_holdout(good, good, SkillRules(shadow_days=3))
    assert not second.promote and "3 days of shadow forecasts" in second.reason
    without_shadow = decide_on_holdout(scores([(0.3, 0.2)] * 4, rmse=4.0), good, SkillRules(shadow_days=0))
    assert without_shadow.promote and "beats the champion" in without_shadow.reason


def test_a_worse_challenger_in_shadow_is_not_promoted_and_a_better_one_is():
    champion = scores([(0.2, 0.1)] * 4, rmse=5.0)
    worse = scores([(0.1, 0.05)] * 4, rmse=6.0)
    better = scores([(0.3, 0.2)] * 4, rmse=4.0)
    rules = SkillRules(shadow_days=3)
    assert not decide_on_shadow(better, champion, 2, rules).promote  # too few scored days yet
    refused = decide_on_shadow(worse, champion, 3, rules)
    assert not refused.promote and "MSE at lead 1 36.000 does not beat the champion's 25.000" in refused.reason
    assert refused.evidence == "shadow, 3 scored target days"
    assert decide_on_shadow(better, champion, 3, rules).promote


def test_winning_the_far_leads_does_not_buy_a_worse_next_day():
    champion = scores([(0.2, 0.1)] * 4, rmse=5.0)
    far = [LeadScores(1, 10, 6.0, 4.0, 0.0, 0.1, 0.1), LeadScores(2, 10, 4.0, 4.0, 0.0, 0.1, 0.1)]
    far += [LeadScores(lead, 10, 2.0, 2.0, 0.0, 0.5, 0.5) for lead in (3, 4)]  # mean MSE 15 < 25
    decision = decide_on_shadow(far, champion, 5, SkillRules())
    assert not decision.promote and decision.reason == "MSE at lead 1 36.000 does not beat the champion's 25.000"


def test_one_forest_answers_all_four_leads():
    metrics = metrics_frame()
    rows = build_daily_features(metrics, STATIONS, START + timedelta(days=3), START + timedelta(days=39))
    window = split_window(rows, metrics, holdout_days=5)
    model = train_daily_forest(
        window.train, n_estimators=10, max_depth=None, min_samples_leaf=2, max_features=0.5, seed=0
    )
    assert model.predict(window.holdout[FEATURE_COLUMNS]).shape == (len(window.holdout), 4)


def test_too_few_days_is_said_plainly():
    metrics = metrics_frame(days=8)
    rows = build_daily_features(metrics, STATIONS, START + timedelta(days=2), START + timedelta(days=7))
    with pytest.raises(NotEnoughDays, match="need more than 5"):
        split_window(rows, metrics, holdout_days=5)
