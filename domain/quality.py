"""Flags, value limits and quarantine reasons: what the automatic quality control may say."""

from __future__ import annotations

import pandas as pd

# Flags: near-real-time values are preliminary and not checked by a human. The automatic
# plausibility tests can only make a value doubtful; values that cannot be physical are
# quarantined instead of flagged.
FLAG_OK = "OKPreliminaryNotChecked"
FLAG_NEGATIVE = "DoubtfulPreliminaryNegative"
FLAG_HIGH = "DoubtfulPreliminaryHigh"
FLAGS = {
    FLAG_OK: "preliminary near-real-time value that passed the automatic plausibility tests",
    FLAG_NEGATIVE: "preliminary value below zero but above the quarantine floor (instrument noise near zero)",
    FLAG_HIGH: "preliminary value above the doubtful ceiling of its variable but physically possible",
}

# Per variable, in the target unit: (quarantine floor, doubtful ceiling, quarantine ceiling).
# Floors allow the small negatives instruments report near zero; ceilings sit well above the
# highest surface concentrations on record (e.g. dust storms for PM, street canyons for NO).
# Air temperature (°C): the surface records are about -89 °C (Vostok) and 57 °C (Death
# Valley), so below -90 or above 60 is no air a station stood in; above 50 is doubtful.
VALUE_LIMITS = {
    "o3": (-10.0, 250.0, 1000.0),
    "no2": (-10.0, 500.0, 2000.0),
    "no": (-10.0, 1000.0, 5000.0),
    "so2": (-10.0, 500.0, 5000.0),
    "co": (-100.0, 20000.0, 100000.0),
    "pm2p5": (-10.0, 1000.0, 5000.0),
    "pm10": (-10.0, 2000.0, 10000.0),
    "bc": (-5.0, 100.0, 1000.0),
    "temp": (-90.0, 50.0, 60.0),
}
# Variables whose values below zero are ordinary readings, not instrument noise: never
# flagged FLAG_NEGATIVE (a frost is not doubtful).
SIGNED_VARIABLES = {"temp"}

# Tolerated clock skew between a measurement's end time and its object's publish time.
PUBLICATION_SKEW = pd.Timedelta(hours=1)

# No measurement of the OpenAQ real-time feed ends before this (naive UTC). The feed began
# later; the bound is generous and catches clocks reset to 1970 and default dates.
EARLIEST_MEASUREMENT = pd.Timestamp("2013-01-01")

# Averaging periods a series may have, in minutes: at least a minute, at most a year (366 days).
# Zero, negative, infinite or absurd periods are quarantined; a missing period, or one in a
# unit not in domain.vocabulary.MINUTES_PER_UNIT, makes the series' frequency "unknown".
AVERAGING_PERIOD_MINUTES = (1.0, 366 * 1440.0)

# Why a raw record was quarantined, in the order the harmonization rules test them.
# Values providers write for "no measurement" (seen in OpenAQ's v3 archive): never a reading.
SENTINEL_VALUES = (-999.0, -9999.0)

REASONS = (
    "unparseable_line",
    "unsupported_parameter",
    "unknown_unit",
    "incompatible_unit",
    "missing_value",
    "value_not_finite",
    "sentinel_value",
    "invalid_timestamp",
    "timestamp_before_source",
    "timestamp_after_publication",
    "missing_coordinates",
    "invalid_coordinates",
    "mobile_platform",
    "invalid_averaging_period",
    "value_out_of_range",
)
