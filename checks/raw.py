"""Checks of the raw assets (raw_openaq_measurements, raw_openaq_archive, raw_openaq_latest): the records as read.

Single bad records are harmonization's business: it quarantines each with its reason. This
check asks whether the source itself is broken or changed, rule by rule: it blocks a day only
when the share of the day's records that break one rule exceeds ``max_bad_share`` (the
quality gates' ``max_bad_record_share``), and never below it. A failed rule says how many
records broke it, shows some of their values, and names the objects that hold most of them.

The vocabularies are the domain's (``domain.vocabulary``): a spelling harmonization accepts
(``ug/m3``, ``O3``, ``Pm25``) is never bad here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from checks.core import Expectation, Outcome, cost_spec, run_suite, spec
from domain.keys import RAW_ARCHIVE, RAW_LATEST, RAW_MEASUREMENTS
from domain.quality import PUBLICATION_SKEW
from domain.times import parse_utc_times, per_distinct
from domain.vocabulary import is_openaq_parameter, is_openaq_unit

ISO_8601 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
# The default share of a day's records that may break one rule (QualityGates.max_bad_record_share).
MAX_BAD_SHARE = 0.05
OBJECTS_SHOWN = 10  # objects named per failed rule, those with the most bad records first

RECORDS_VALID = "records_valid"


def specs_of(asset: str) -> list:
    """The checks of a raw asset: the same rules for every source (one raw schema)."""
    valid = spec(
        asset,
        RECORDS_VALID,
        "great-expectations, one rule at a time: lines are records, required fields present, parameter and unit "
        "in OpenAQ's vocabulary, ISO 8601 timestamps not after the object's publish time. Blocks downstream when "
        "the share of records breaking one rule exceeds the quality gates' max_bad_record_share.",
    )
    return [valid, cost_spec(asset)]


SPECS = specs_of(RAW_MEASUREMENTS)
ARCHIVE_SPECS = specs_of(RAW_ARCHIVE)
LATEST_SPECS = specs_of(RAW_LATEST)

# Each rule's column holds what a record did wrong (null if it did nothing wrong), but for the
# publication lag, which is measured for every record and may not exceed the clock skew.
RULES = {
    "parse_error": "the line is not an OpenAQ record",
    "missing_fields": "required fields (date_utc, parameter, value, unit, location) are missing",
    "parameter": "the parameter is not one OpenAQ publishes",
    "unit": "the unit is not one OpenAQ publishes",
    "date_utc_not_iso8601": "the time is not ISO 8601",
    "seconds_after_publication": "the measurement ends after its object was published (beyond the clock skew)",
}
REQUIRED = ["date_utc", "parameter", "value", "unit", "location"]


LAG = "seconds_after_publication"


def suite(max_bad_share: float) -> list[Expectation]:
    mostly = 1.0 - max_bad_share
    return [("ExpectColumnValuesToBeNull", {"column": rule, "mostly": mostly}) for rule in RULES if rule != LAG] + [
        (
            "ExpectColumnValuesToBeBetween",
            {"column": LAG, "max_value": PUBLICATION_SKEW.total_seconds(), "mostly": mostly},
        )
    ]


def broken(frame: pd.DataFrame, rule: str) -> pd.Series:
    """Which records break a rule."""
    return frame[LAG] > PUBLICATION_SKEW.total_seconds() if rule == LAG else frame[rule].notna()


def validation_frame(table: pa.Table) -> pd.DataFrame:
    """One column per rule, null where the record keeps it, else what it did wrong; strings as
    categoricals, each distinct value judged once (a day repeats few values in many rows)."""
    strings = ["parse_error", "date_utc", "parameter", "unit", "location", "source_key"]
    frame = pa.table({c: pc.dictionary_encode(table.column(c)) for c in strings}).to_pandas()
    rules = pd.DataFrame(index=frame.index)
    rules["parse_error"] = frame["parse_error"]
    rules["missing_fields"] = missing_fields(table, record=frame["parse_error"].isna().to_numpy())
    rules["parameter"] = pd.Categorical(
        per_distinct(frame["parameter"], lambda s: s.where(~s.map(is_openaq_parameter), None), None)
    )
    rules["unit"] = pd.Categorical(per_distinct(frame["unit"], lambda s: s.where(~s.map(is_openaq_unit), None), None))
    rules["date_utc_not_iso8601"] = pd.Categorical(
        per_distinct(frame["date_utc"], lambda s: s.where(~s.str.match(ISO_8601), None), None)
    )
    measured = parse_utc_times(frame["date_utc"])
    published = table.column("published_at").to_numpy(zero_copy_only=False).astype("datetime64[ns]")
    rules[LAG] = (measured - published) / np.timedelta64(1, "s")
    rules["source_key"] = frame["source_key"]
    return rules


def missing_fields(table: pa.Table, record: np.ndarray) -> pd.Categorical:
    """Per row, the required fields it lacks ("value,unit"), null if none; a line that is no
    record misses every field and counts once, under parse_error. A bit per field, named once
    per combination present: strings built per row took 0.3 s of a realistic day's check."""
    absent = np.zeros(table.num_rows, dtype=np.uint8)
    for bit, column in enumerate(REQUIRED):
        absent |= (table.column(column).is_null().to_numpy(zero_copy_only=False) & record).astype(np.uint8) << bit
    combinations = [code for code in np.unique(absent).tolist() if code]
    names = [",".join(c for bit, c in enumerate(REQUIRED) if code >> bit & 1) for code in combinations]
    category = np.full(1 << len(REQUIRED), -1, dtype=np.int8)
    category[combinations] = np.arange(len(combinations))
    return pd.Categorical.from_codes(category[absent], categories=names)


def validate(
    table: pa.Table, min_score: float, max_bad_share: float = MAX_BAD_SHARE, asset: str = RAW_MEASUREMENTS
) -> Outcome:
    if table.num_rows == 0:
        return Outcome(True, {"data_quality_score": 1.0, "note": "no records: nothing to validate"})
    frame = validation_frame(table)
    outcome = run_suite(asset, frame.drop(columns="source_key"), suite(max_bad_share)).outcome(min_score)
    for failure in outcome.details["failed_expectations"]:
        rule = failure.get("column")
        if rule in RULES:
            bad = broken(frame, rule)
            failure["rule"] = RULES[rule]
            failure["bad_share"] = float(bad.mean())
            failure["max_bad_share"] = max_bad_share
            counts = frame.loc[bad, "source_key"].astype(object).fillna("(unknown)").value_counts()
            failure["objects"] = {str(key): int(n) for key, n in counts.head(OBJECTS_SHOWN).items()}
            failure["objects_with_bad_records"] = int(len(counts))
    failed_rules = [f for f in outcome.details["failed_expectations"] if "rule" in f]
    if failed_rules:
        outcome.details["summary"] = "; ".join(
            f"{f['rule']}: {f['unexpected_count']} records ({f['bad_share']:.1%} > {max_bad_share:.0%}) "
            f"in {f['objects_with_bad_records']} object(s)"
            for f in failed_rules
        )
    return outcome
