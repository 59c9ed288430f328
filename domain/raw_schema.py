"""The raw layer's one schema: the source fields flattened, plus where each row came from.

A raw row is one line of one source object. Lines that are not valid records keep their text
(``raw_line``) and why (``parse_error``), so the raw layer conserves every record it read.
"""

from __future__ import annotations

import pyarrow as pa

ATTRIBUTION_TYPE = pa.list_(pa.struct([("name", pa.string()), ("url", pa.string())]))

# (name, Arrow type, description), in column order.
RAW_COLUMNS: list[tuple[str, pa.DataType, str]] = [
    ("source_key", pa.string(), "key of the S3 object the line was read from"),
    ("source_etag", pa.string(), "ETag of that object (content MD5 for a local mirror)"),
    ("published_at", pa.timestamp("s", tz="UTC"), "publish time from the object name (UTC)"),
    ("line_number", pa.int32(), "line of the record in the object, from 1"),
    ("date_utc", pa.string(), "date.utc: end of the averaging period"),
    ("date_local", pa.string(), "date.local"),
    ("parameter", pa.string(), "OpenAQ parameter (pm25, o3, ...)"),
    ("value", pa.float64(), "measured value in `unit`"),
    ("unit", pa.string(), "µg/m³, ppm or ppb"),
    ("averaging_period_value", pa.float64(), "averagingPeriod.value"),
    ("averaging_period_unit", pa.string(), "averagingPeriod.unit"),
    ("location", pa.string(), "station name as published (not unique)"),
    ("city", pa.string(), "city"),
    ("country", pa.string(), "ISO country code"),
    ("latitude", pa.float64(), "coordinates.latitude"),
    ("longitude", pa.float64(), "coordinates.longitude"),
    ("attribution", ATTRIBUTION_TYPE, "data providers"),
    ("source_name", pa.string(), "sourceName: the provider"),
    ("source_type", pa.string(), "sourceType"),
    ("mobile", pa.bool_(), "mobile platform"),
    ("parse_error", pa.string(), "why the line is not a valid record (null if it is)"),
    (
        "raw_line",
        pa.string(),
        'the text of a line that needed salvaging: its first 4 KiB, as "base64:..." when not UTF-8 text without NUL',
    ),
    ("raw_line_bytes", pa.int64(), "the line's whole length in bytes (raw_line may be cut); null where raw_line is"),
    ("location_id", pa.int64(), "OpenAQ location id (v3 archive; null in v1 objects)"),
    ("sensor_id", pa.int64(), "OpenAQ sensor id (v3 archive; null in v1 objects)"),
]

RAW_SCHEMA = pa.schema([(name, kind) for name, kind, _ in RAW_COLUMNS])

# Where a row came from, rather than what the record says.
ORIGIN_COLUMNS = ("source_key", "source_etag", "published_at", "line_number")
# What a line that is not a record keeps instead of fields.
ERROR_COLUMNS = ("parse_error", "raw_line", "raw_line_bytes")
# OpenAQ's ids of a v3 record's location and sensor (v1 records have none).
SOURCE_IDS = ("location_id", "sensor_id")
# Kept for provenance in the raw layer only; harmonization does not read them.
PROVENANCE_ONLY_COLUMNS = ("date_local", "attribution")


def type_label(kind: pa.DataType) -> str:
    """A column type as people read it in the UI (``timestamp``, ``list<struct<name, url>>``)."""
    if pa.types.is_timestamp(kind):
        return "timestamp"
    if pa.types.is_list(kind) and pa.types.is_struct(kind.value_type):
        return f"list<struct<{', '.join(f.name for f in kind.value_type)}>>"
    return str(kind).replace("double", "float64")
