"""Quarantine rows: each rejected raw record as it came, with its reason and a readable why.

Rules for ``record`` (what came) and ``record_bytes`` (how long it was):

- A line the raw layer kept as text (``raw_line``: a line that did not parse, or one salvaged
  line by line) is kept as that text.
- A record that parsed is written back as OpenAQ JSON from the fields harmonization reads, in
  OpenAQ's nesting and key order (``date.utc``, ``averagingPeriod``, ``coordinates``,
  ``sourceName``, ...): strings as JSON strings (control characters escaped, NUL as
  ``\\u0000``), numbers in their shortest round-trip form, NaN and infinities spelled ``NaN``,
  ``Infinity`` and ``-Infinity`` as the feed spells them, and a field that is null, or absent,
  left out (the raw layer cannot tell the two apart). ``date.local`` and ``attribution``
  are provenance only and stay in the raw layer (find them by ``source_key`` and
  ``line_number``).
- ``record_bytes`` is the whole record's length in UTF-8 bytes: the raw layer's
  ``raw_line_bytes`` where it reports one (its line may already be cut), else the length of
  the text above. ``record`` then keeps its first ``toar.text.MAX_RECORD_CHARS`` characters,
  with NUL replaced (``toar.text``), so it is storable on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from domain.quality import AVERAGING_PERIOD_MINUTES, EARLIEST_MEASUREMENT, VALUE_LIMITS
from domain.raw_schema import PROVENANCE_ONLY_COLUMNS
from domain.stations import at_null_island
from domain.vocabulary import (
    ACCEPTED_UNITS,
    TEMPERATURE_UNIT_SPELLINGS,
    TOAR_UNITS,
    UNIT_SPELLINGS,
    canonical_unit,
    conversion,
    toar_variable,
)
from sources.openaq_v1.fields import RECORD_FIELDS, nested_layout
from toar.text import MAX_DETAIL_CHARS, MAX_RECORD_CHARS, clean


# Why each reason quarantined a row, from the row's fields (only rows with that reason are described).
def _text(rows: pd.DataFrame, column: str) -> pd.Series:
    return rows[column].astype(str)


def _coordinates(rows: pd.DataFrame) -> pd.Series:
    where = "coordinates (" + _text(rows, "latitude") + ", " + _text(rows, "longitude") + ")"
    island = at_null_island(rows["latitude"].to_numpy(float), rows["longitude"].to_numpy(float))
    return where + np.where(island, " round to (0, 0), the position of a broken locator", " are not a place on Earth")


# Unit spellings harmonization accepts, as a reader of a detail needs them.
KNOWN_UNITS = ", ".join([*sorted(UNIT_SPELLINGS), *sorted(TEMPERATURE_UNIT_SPELLINGS)]) + " (c, f in any case)"


def _variables(rows: pd.DataFrame) -> pd.Series:
    """Each row's TOAR variable (rows of these reasons all have one), looked up once per spelling."""
    parameter = rows["parameter"].astype(str)
    return parameter.map({p: toar_variable(p) for p in parameter.unique()})


def _cannot_express(rows: pd.DataFrame) -> pd.Series:
    """A temperature in ppb, a concentration in °C: the variable's TOAR unit and the units it is
    accepted in."""
    variable = _variables(rows)
    accepted = variable.map({v: ", ".join(ACCEPTED_UNITS.get(v, ())) for v in variable.unique()})
    return (
        "unit '"
        + _text(rows, "unit")
        + "' cannot express "
        + _text(rows, "parameter")
        + ": "
        + variable.astype(str)
        + " is stored in "
        + variable.map(TOAR_UNITS).astype(str)
        + ", from "
        + accepted
    )


def _out_of_range(rows: pd.DataFrame) -> pd.Series:
    """The value as published, in its variable's TOAR unit, and the range it is outside."""
    pairs = pd.DataFrame({"variable": _variables(rows), "unit": _text(rows, "unit")}, index=rows.index)
    # Offset and factor per distinct (variable, unit): a day repeats a few in many rows.
    distinct = pairs.drop_duplicates()
    converts = [conversion(v, canonical_unit(u) or "") or (np.nan, np.nan) for v, u in distinct.itertuples(index=False)]
    factors = distinct.assign(offset=[c[0] for c in converts], factor=[c[1] for c in converts])
    factors = pairs.merge(factors, on=["variable", "unit"], how="left").set_index(rows.index)
    converted = ((rows["value"].astype(float) + factors["offset"]) * factors["factor"]).round(2)
    toar_unit = pairs["variable"].map(TOAR_UNITS).astype(str)
    limits = pairs["variable"].map({v: "{:g} to {:g} ".format(*VALUE_LIMITS[v][::2]) for v in VALUE_LIMITS})
    return (
        _text(rows, "value")
        + " "
        + _text(rows, "unit")
        + " of "
        + _text(rows, "parameter")
        + " is "
        + converted.astype(str)
        + " "
        + toar_unit
        + ", outside the physical range of "
        + pairs["variable"]
        + ": "
        + limits
        + toar_unit
    )


DETAILS = {
    "unparseable_line": lambda r: r["parse_error"],
    "unsupported_parameter": lambda r: "parameter '" + _text(r, "parameter") + "' has no TOAR variable",
    "unknown_unit": lambda r: "unit '" + _text(r, "unit") + "' is not one of " + KNOWN_UNITS,
    "incompatible_unit": _cannot_express,
    "missing_value": lambda r: "the record has no value",
    "value_not_finite": lambda r: "value " + _text(r, "value") + " is not a finite number",
    "sentinel_value": lambda r: "value " + _text(r, "value") + " is a provider's 'no data' sentinel, not a reading",
    "invalid_timestamp": lambda r: "date.utc '" + _text(r, "date_utc") + "' is not an ISO 8601 time",
    "timestamp_before_source": lambda r: (
        "date.utc " + _text(r, "date_utc") + f" is before {EARLIEST_MEASUREMENT:%Y-%m-%d}: earlier than any "
        "record of the source"
    ),
    "timestamp_after_publication": lambda r: (
        "date.utc " + _text(r, "date_utc") + " is after the object's publish time " + _text(r, "published_at")
    ),
    "missing_coordinates": lambda r: "no coordinates: the record cannot be attributed to a station",
    "invalid_coordinates": _coordinates,
    "mobile_platform": lambda r: "mobile platforms are not fixed TOAR stations",
    "invalid_averaging_period": lambda r: (
        "averaging period "
        + _text(r, "averaging_period_value")
        + " "
        + _text(r, "averaging_period_unit")
        + f" is not between {AVERAGING_PERIOD_MINUTES[0]:g} minute and {AVERAGING_PERIOD_MINUTES[1] / 1440:g} days"
    ),
    "value_out_of_range": _out_of_range,
}

# The OpenAQ record's fields that harmonization reads, in OpenAQ's order: (key, raw column), or
# (key, [(key, raw column), ...]) for an object.
RECORD_LAYOUT = nested_layout([c for c in RECORD_FIELDS if c not in PROVENANCE_ONLY_COLUMNS])
RECORD_COLUMNS = [
    c for _, column in RECORD_LAYOUT for c in ([column] if isinstance(column, str) else [c for _, c in column])
]
# What a quarantine row is made of: where it came from, why the raw layer refused it, the
# record's fields (raw_line_bytes is read where the raw layer has it).
INPUT_COLUMNS = ["source_key", "line_number", "published_at", "parse_error", "raw_line", *RECORD_COLUMNS]
# The columns DETAILS read, and the row's origin.
_DETAIL_COLUMNS = [
    "source_key",
    "line_number",
    "published_at",
    "parse_error",
    "date_utc",
    "parameter",
    "value",
    "unit",
    "averaging_period_value",
    "averaging_period_unit",
    "latitude",
    "longitude",
]


def quarantine_rows(rows: pa.Table, reason: np.ndarray) -> tuple[pd.DataFrame, int]:
    """Quarantine rows for raw rows (``INPUT_COLUMNS``, and ``raw_line_bytes`` if there) and
    their reasons: each keeps its record and why (see the module docstring). Also returns how
    many rows' text (record or detail) was altered to be stored (``toar.text``)."""
    fields = rows.select(_DETAIL_COLUMNS).to_pandas()
    detail = pd.Series("", index=fields.index, dtype=object)
    for name, describe in DETAILS.items():
        mask = reason == name
        if mask.any():
            detail[mask] = describe(fields[mask])
    raw_line = rows.column("raw_line").combine_chunks().cast(pa.large_string())
    record = pc.coalesce(raw_line, _as_json(rows))
    record_bytes = pc.binary_length(record)
    if "raw_line_bytes" in rows.column_names:  # the raw layer's length of a line it may have cut
        reported = rows.column("raw_line_bytes").combine_chunks().cast(pa.int64())
        record_bytes = pc.if_else(pc.is_null(raw_line), record_bytes, pc.coalesce(reported, record_bytes))
    record, record_altered = clean(record, MAX_RECORD_CHARS)
    detail, detail_altered = clean(detail.to_numpy(), MAX_DETAIL_CHARS)
    frame = pd.DataFrame(
        {
            "source_key": fields["source_key"].to_numpy(object),
            "line_number": fields["line_number"].to_numpy(np.int64),
            "reason": reason,
            "detail": detail.to_numpy(zero_copy_only=False),
            "record": record.to_numpy(zero_copy_only=False),
            "record_bytes": record_bytes.to_numpy(zero_copy_only=False).astype(np.int64),
        }
    )
    return frame, int((record_altered | detail_altered).sum())


def _as_json(rows: pa.Table) -> pa.Array:
    """Each row's record as OpenAQ JSON (see the module docstring), built column by column."""
    members = []
    for key, column in RECORD_LAYOUT:
        if isinstance(column, str):
            members.append(_member(key, _json_values(rows.column(column))))
        else:
            inner = _object([_member(k, _json_values(rows.column(c))) for k, c in column])
            present = pc.not_equal(inner, "{}")  # every field of the object absent: the object is absent
            members.append(_member(key, pc.if_else(present, inner, _text_scalar(None))))
    return _object(members)


def _member(key: str, values: pa.Array) -> pa.Array:
    """``,"key":value`` per row, with a leading comma; "" where the value is null."""
    nothing = _text_scalar("")
    return pc.coalesce(pc.binary_join_element_wise(_text_scalar("," + json.dumps(key) + ":"), values, nothing), nothing)


def _object(members: list[pa.Array]) -> pa.Array:
    """Members (from _member) as one JSON object per row, less the first member's comma (the
    first "{," of a row is its start). Arrow's own null_handling="skip" would have returned an
    empty array when every input is all null."""
    nothing = _text_scalar("")
    joined = pc.binary_join_element_wise(_text_scalar("{"), *members, _text_scalar("}"), nothing)
    return pc.replace_substring(joined, "{,", "{", max_replacements=1)


def _text_scalar(text: str | None) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


def _json_values(column: pa.ChunkedArray) -> pa.Array:
    """A column's values as JSON text (null where null)."""
    column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        # Escaped once per distinct string: names and vocabularies repeat.
        encoded = column.dictionary_encode()
        texts = [json.dumps(s, ensure_ascii=False) for s in encoded.dictionary.to_pylist()]
        return pa.array(texts, pa.large_string()).take(encoded.indices)
    if pa.types.is_floating(column.type):
        text = pc.cast(column, pa.large_string())  # shortest round-trip form
        for test, spelling in (
            (pc.is_nan(column), "NaN"),
            (pc.equal(column, np.inf), "Infinity"),
            (pc.equal(column, -np.inf), "-Infinity"),
        ):
            text = pc.if_else(test.fill_null(False), _text_scalar(spelling), text)
        return text
    return pc.cast(column, pa.large_string())  # booleans: true, false
