"""Checks of toar_daily_metrics: values within their definitions, enough valid days."""

from __future__ import annotations

import pandas as pd

from checks.core import Expectation, Outcome, SuiteOutcome, cost_spec, run_suite, spec

ASSET = "toar_daily_metrics"

METRICS_VALID = spec(
    ASSET,
    "metrics_valid",
    "great-expectations: counts of hours and 8-hour windows within 0-24, dma8eu only with at least 18 valid "
    "windows, metrics within plausible ranges. Blocks the dma8eu model and forecasts.",
)
DMA8EU_CAPTURE = spec(
    ASSET,
    "dma8eu_capture",
    "The share of the day's stations with a valid dma8eu (at least 18 of 24 valid 8-hour means) is above the "
    "floor (a warning: gaps in the network are real, but many mean the day's forecasts rest on few stations).",
    blocking=False,
)
SPECS = [METRICS_VALID, DMA8EU_CAPTURE, cost_spec(ASSET)]

MAX_O3 = 500.0  # nmol/mol: beyond any hourly ozone ever measured near the surface


def validate(metrics: pd.DataFrame, min_score: float) -> Outcome:
    """The day's metric rows against their definitions (an empty day passes: no station reported)."""
    suite: list[Expectation] = [
        ("ExpectColumnValuesToBeBetween", {"column": c, "min_value": 0, "max_value": 24})
        for c in ("o3_dma8eu_windows", "o3_hours", "no2_hours", "temp_hours")
    ]
    suite += [
        ("ExpectColumnValuesToBeBetween", {"column": c, "min_value": 0, "max_value": MAX_O3})
        for c in ("o3_dma8eu", "o3_mean", "o3_max", "o3_last8h_mean")
    ]
    suite.append(
        (
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {"column_A": "o3_max", "column_B": "o3_mean", "or_equal": True, "ignore_row_if": "either_value_is_missing"},
        )
    )
    if metrics.empty:
        return SuiteOutcome(0, []).outcome(min_score)
    outcome = run_suite(ASSET, metrics, suite).outcome(min_score)
    # The validity rule itself, checked on the rows: a dma8eu stored from fewer than 18 windows
    # would be a computation error, not bad data.
    wrong = metrics[metrics["o3_dma8eu"].notna() & (metrics["o3_dma8eu_windows"] < 18)]
    if len(wrong):
        outcome.passed = False
        outcome.severe = True
        outcome.details["dma8eu_from_too_few_windows"] = len(wrong)
    return outcome


def dma8eu_capture(metrics: pd.DataFrame, min_share: float) -> Outcome:
    stations = len(metrics)
    valid = int(metrics["o3_dma8eu"].notna().sum()) if stations else 0
    share = valid / stations if stations else 0.0
    return Outcome(
        share >= min_share,
        {"stations": stations, "valid_dma8eu": valid, "dma8eu_capture": share, "min_dma8eu_capture": min_share},
        severe=False,
    )
