"""Checks of raw_openaq_measurements: the records as read from the bucket."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from checks.core import Expectation, Outcome, cost_spec, run_suite, spec
from domain.times import parse_utc_times, per_distinct

ASSET = "raw_openaq_measurements"

# Vocabularies of the OpenAQ v1 real-time feed (harmonization later keeps the TOAR subset).
OPENAQ_PARAMETERS = ["pm25", "pm10", "no2", "so2", "o3", "co", "bc", "no", "nox", "pm1"]
OPENAQ_UNITS = ["µg/m³", "μg/m³", "ppm", "ppb"]
ISO_8601 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$"
# Share of records each expectation tolerates failing: single bad records are quarantined by
# harmonization; more than this points at a broken or changed source.
MOSTLY = 0.99

RECORDS_VALID = spec(
    ASSET, "records_valid",
    "great-expectations: required fields present, parameter and unit vocabularies, numeric values, "
    "ISO 8601 timestamps not after the object's publish time. Blocks downstream below the data-quality floor.",
)
SPECS = [RECORDS_VALID, cost_spec(ASSET)]

SUITE: list[Expectation] = [
    ("ExpectColumnValuesToBeNull", {"column": "parse_error", "mostly": MOSTLY}),
    *[("ExpectColumnValuesToNotBeNull", {"column": c, "mostly": MOSTLY})
      for c in ("date_utc", "parameter", "value", "unit", "location")],
    ("ExpectColumnValuesToBeInSet", {"column": "parameter", "value_set": OPENAQ_PARAMETERS, "mostly": MOSTLY}),
    ("ExpectColumnValuesToBeInSet", {"column": "unit", "value_set": OPENAQ_UNITS, "mostly": MOSTLY}),
    ("ExpectColumnValuesToBeInTypeList", {"column": "value", "type_list": ["float64", "float32"]}),
    # date_utc matches ISO_8601: the regex runs once per distinct time (see validation_frame).
    ("ExpectColumnValuesToBeNull", {"column": "date_utc_not_iso8601", "mostly": MOSTLY}),
    # Measurement end times after the publish time (beyond an hour of clock skew) cannot be real.
    ("ExpectColumnValuesToBeBetween", {"column": "seconds_after_publication", "max_value": 3600, "mostly": 0.999}),
]


def validation_frame(table: pa.Table) -> pd.DataFrame:
    """The suite's columns; strings as categoricals (few distinct values in millions of rows).

    ``date_utc_not_iso8601`` holds the times that do not match ISO_8601 (null otherwise): GX
    would run the regex on every row, where a day repeats a few thousand distinct times.
    """
    strings = ["parse_error", "date_utc", "parameter", "unit", "location"]
    frame = pa.table({**{c: pc.dictionary_encode(table.column(c)) for c in strings}, "value": table.column("value")}).to_pandas()
    odd_time = per_distinct(frame["date_utc"], lambda s: s.where(~s.str.match(ISO_8601), None), None)
    frame["date_utc_not_iso8601"] = pd.Categorical(odd_time)
    measured = parse_utc_times(frame["date_utc"])
    published = table.column("published_at").to_numpy(zero_copy_only=False).astype("datetime64[ns]")
    frame["seconds_after_publication"] = (measured - published) / np.timedelta64(1, "s")
    return frame


def validate(table: pa.Table, min_score: float) -> Outcome:
    if table.num_rows == 0:
        return Outcome(True, {"data_quality_score": 1.0, "note": "no records: nothing to validate"})
    return run_suite(ASSET, validation_frame(table), SUITE).outcome(min_score)
