"""Checks of ozone_features: model inputs complete, hours continuous, enough rows."""

from __future__ import annotations

import pandas as pd

from checks.core import Expectation, Outcome, SuiteOutcome, cost_spec, run_suite, spec
from forecasting.features import FEATURE_COLUMNS

ASSET = "ozone_features"

FEATURES_VALID = spec(
    ASSET,
    "features_valid",
    "great-expectations: no nulls in model inputs and at least the configured number of rows. "
    "Blocks downstream below the data-quality floor.",
)
HOURLY_CONTINUITY = spec(
    ASSET,
    "hourly_continuity",
    "The share of station-hours of the day with a feature row is above the floor (a warning: the first days "
    "of a data set lack the history a row needs).",
    blocking=False,
)
SPECS = [FEATURES_VALID, HOURLY_CONTINUITY, cost_spec(ASSET)]


def continuity(features: pd.DataFrame) -> float:
    """Share of the day's station-hours (stations with any row x 24) that have a feature row."""
    stations = features["station_id"].nunique()
    return len(features) / (stations * 24) if stations else 0.0


def validate(features: pd.DataFrame, min_rows: int, min_score: float) -> Outcome:
    suite: list[Expectation] = [("ExpectColumnValuesToNotBeNull", {"column": c}) for c in FEATURE_COLUMNS]
    suite.append(("ExpectTableRowCountToBeBetween", {"min_value": min_rows}))
    if len(features) == 0:  # an empty frame has no columns for GX to look at
        failure: dict[str, str | int] = {
            "expectation": "expect_table_row_count_to_be_between",
            "min_value": min_rows,
            "observed_value": 0,
        }
        return SuiteOutcome(len(suite), [failure]).outcome(min_score)
    return run_suite(ASSET, features, suite).outcome(min_score)


def hourly_continuity(features: pd.DataFrame, min_continuity: float) -> Outcome:
    share = continuity(features)
    return Outcome(
        share >= min_continuity, {"hourly_continuity": share, "min_hourly_continuity": min_continuity}, severe=False
    )
