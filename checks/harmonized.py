"""Checks of harmonized_toar_series: the values, series and stations a partition wrote."""

from __future__ import annotations

import pandas as pd

from checks.core import Expectation, Outcome, SuiteOutcome, cost_spec, run_suite, spec
from domain.quality import FLAGS, VALUE_LIMITS
from domain.vocabulary import TOAR_UNITS
from toar.harmonize import SERIES_KEY, Harmonized

ASSET = "harmonized_toar_series"

VALUES_VALID = spec(
    ASSET,
    "values_valid",
    "great-expectations: values within each TOAR variable's physical range in its unit, one value per "
    "(series, datetime), flags from the documented set, every station with valid coordinates; and the "
    "conservation counts add up. Blocks downstream below the data-quality floor.",
)
QUARANTINE_SHARE = spec(
    ASSET,
    "quarantine_share_within_limit",
    "QoA control rule: the share of raw records quarantined stays under the configured limit.",
)
SPECS = [VALUES_VALID, QUARANTINE_SHARE, cost_spec(ASSET)]

VALUE_SUITE: list[Expectation] = [
    ("ExpectCompoundColumnsToBeUnique", {"column_list": SERIES_KEY + ["datetime"]}),
    ("ExpectColumnValuesToBeInSet", {"column": "flags", "value_set": sorted(FLAGS)}),
    # Each value within its variable's range: the limits are columns beside the value (one
    # vectorized comparison, where a condition per variable would filter the frame 8 times).
    ("ExpectColumnPairValuesAToBeGreaterThanB", {"column_A": "value", "column_B": "value_floor", "or_equal": True}),
    ("ExpectColumnPairValuesAToBeGreaterThanB", {"column_A": "value_ceiling", "column_B": "value", "or_equal": True}),
]
# The unit is a series attribute: checked once per series, not once per value, against the
# TOAR unit of its variable in a column beside it (a row condition per unit would filter the
# series with pandas' query, slower than the check itself).
SERIES_SUITE: list[Expectation] = [
    ("ExpectColumnPairValuesToBeEqual", {"column_A": "unit", "column_B": "toar_unit"}),
]
STATION_SUITE: list[Expectation] = [
    ("ExpectColumnValuesToNotBeNull", {"column": "latitude"}),
    ("ExpectColumnValuesToNotBeNull", {"column": "longitude"}),
    ("ExpectColumnValuesToBeBetween", {"column": "latitude", "min_value": -90, "max_value": 90}),
    ("ExpectColumnValuesToBeBetween", {"column": "longitude", "min_value": -180, "max_value": 180}),
]


def validate(harmonized: Harmonized, min_score: float) -> Outcome:
    values = harmonized.observations[SERIES_KEY + ["datetime", "value", "flags"]]
    variable = values["variable"]
    values = values.assign(
        **{
            f"value_{limit}": variable.map({v: limits[i] for v, limits in VALUE_LIMITS.items()})
            for i, limit in ((0, "floor"), (2, "ceiling"))
        }
    )
    # Every series' station: the stations of the series written, with their coordinates.
    stations = (
        harmonized.series[["lat_key", "lon_key"]]
        .drop_duplicates()
        .merge(harmonized.stations, on=["lat_key", "lon_key"], how="left")
    )
    series = harmonized.series[["variable", "unit"]]
    # A variable outside the vocabulary has no TOAR unit: its series fails the comparison.
    series = series.assign(toar_unit=series["variable"].map(TOAR_UNITS))
    # Both as categoricals of one vocabulary: pandas compares categoricals only then.
    units = pd.CategoricalDtype(sorted(set(series["unit"]) | set(TOAR_UNITS.values())))
    series = series.astype({"unit": units, "toar_unit": units})
    evaluated, failures = 0, list[dict]()
    for name, frame, suite in (
        ("values", values, VALUE_SUITE),
        ("series", series, SERIES_SUITE),
        ("stations", stations, STATION_SUITE),
    ):
        if len(frame):
            result = run_suite(f"{ASSET}.{name}", frame, suite)
            evaluated, failures = evaluated + result.evaluated, failures + result.failures
    evaluated += 1
    if not harmonized.conserved:
        failures.append(
            {
                "expectation": "conservation",
                "rows_in": harmonized.rows_in,
                "values": len(harmonized.observations),
                "duplicates": harmonized.duplicates,
                "quarantined": len(harmonized.quarantine),
            }
        )
    return SuiteOutcome(evaluated, failures).outcome(min_score)


def quarantine_share(harmonized: Harmonized, max_share: float) -> Outcome:
    share = len(harmonized.quarantine) / harmonized.rows_in if harmonized.rows_in else 0.0
    by_reason = harmonized.quarantined_by_reason()
    return Outcome(
        share <= max_share,
        {"quarantined_share": share, "max_quarantined_share": max_share, "quarantined_by_reason": by_reason},
    )
