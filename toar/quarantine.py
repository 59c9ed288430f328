"""Quarantine rows: each rejected raw record as it came, with its reason and a readable why."""

from __future__ import annotations

import numpy as np
import pandas as pd

from domain.raw_schema import ERROR_COLUMNS, ORIGIN_COLUMNS, PROVENANCE_ONLY_COLUMNS, RAW_SCHEMA
from domain.vocabulary import UNIT_SPELLINGS


# Why each reason quarantined a row, from the row's fields (only rows with that reason are described).
def _text(rows: pd.DataFrame, column: str) -> pd.Series:
    return rows[column].astype(str)


DETAILS = {
    "unparseable_line": lambda r: r["parse_error"],
    "unsupported_parameter": lambda r: "parameter '" + _text(r, "parameter") + "' has no TOAR variable",
    "unknown_unit": lambda r: "unit '" + _text(r, "unit") + "' is not one of " + ", ".join(sorted(UNIT_SPELLINGS)),
    "incompatible_unit": lambda r: "unit '" + _text(r, "unit") + "' cannot express " + _text(r, "parameter"),
    "missing_value": lambda r: "the record has no value",
    "value_not_finite": lambda r: "value " + _text(r, "value") + " is not a finite number",
    "invalid_timestamp": lambda r: "date.utc '" + _text(r, "date_utc") + "' is not an ISO 8601 time",
    "timestamp_after_publication": lambda r: (
        "date.utc " + _text(r, "date_utc") + " is after the object's publish time " + _text(r, "published_at")
    ),
    "missing_coordinates": lambda r: "no coordinates: the record cannot be attributed to a station",
    "invalid_coordinates": lambda r: (
        "coordinates (" + _text(r, "latitude") + ", " + _text(r, "longitude") + ") are not a place on Earth"
    ),
    "mobile_platform": lambda r: "mobile platforms are not fixed TOAR stations",
    "value_out_of_range": lambda r: (
        _text(r, "value") + " " + _text(r, "unit") + " of " + _text(r, "parameter") + " is outside the physical range"
    ),
}


def quarantine_rows(bad: pd.DataFrame, reason: np.ndarray) -> pd.DataFrame:
    """Quarantine rows keep the whole record (its raw line, or its fields as JSON) and why."""
    strings = [c for c in bad.columns if isinstance(bad[c].dtype, pd.CategoricalDtype)]
    bad = bad.astype({c: object for c in strings})
    bad[strings] = bad[strings].where(bad[strings].notna(), None)  # missing strings read as None, as in the record
    detail = pd.Series("", index=bad.index, dtype=object)
    for name, describe in DETAILS.items():
        mask = reason == name
        if mask.any():
            detail[mask] = describe(bad[mask])
    record_columns = [c for c in RAW_SCHEMA.names if c not in (*ORIGIN_COLUMNS, *ERROR_COLUMNS, *PROVENANCE_ONLY_COLUMNS)]
    as_json = bad[record_columns].to_json(orient="records", lines=True, force_ascii=False).rstrip("\n").split("\n") if len(bad) else []
    record = bad["raw_line"].where(bad["raw_line"].notna(), pd.Series(as_json, index=bad.index, dtype=object))
    return pd.DataFrame(
        {
            "source_key": bad["source_key"].to_numpy(),
            "line_number": bad["line_number"].astype("int64").to_numpy(),
            "reason": reason,
            "detail": detail.to_numpy(),
            "record": record.to_numpy(),
        }
    )
