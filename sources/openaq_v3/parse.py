"""Parse one OpenAQ v3 archive object (a gzipped CSV of one location and local day) into raw rows.

Header ``location_id,sensors_id,location,datetime,lat,lon,parameter,units,value``. Files written
since late 2023 quote the header and string fields (lat, lon and value too) and may end lines
with CRLF; older files are unquoted with LF; both are read by pyarrow's CSV reader, which also
skips a UTF-8 byte-order mark. Every data line becomes exactly one row of the raw schema:

- ``datetime`` is local time with the location's UTC offset and marks the end of the averaging
  period. It goes to ``date_local`` as published and to ``date_utc`` as well: with its offset
  it names one instant, which harmonization converts to UTC.
- The files carry no averaging period. A sensor's period is taken as the most common spacing of
  its times within the file (``averaging_period_value`` in minutes); a sensor with a single time
  in the file has none, and its series' sampling frequency is ``unknown``.
- ``provider`` (from the locations catalog) becomes ``source_name``; ``location_id`` and
  ``sensors_id`` are kept (``location_id``, ``sensor_id``).
- A line with the wrong number of fields, whose ids, coordinates or value are not numbers, or
  that is not UTF-8 text without NUL becomes a bad row (blank lines make none): why in ``parse_error``, the line as it came in ``raw_line`` (the rule of
  ``sources.raw_lines``: its first 4 KiB, base64 when not text), nothing else.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from domain.raw_schema import RAW_SCHEMA
from domain.times import parse_utc_times
from sources.raw_lines import raw_line

HEADER = ["location_id", "sensors_id", "location", "datetime", "lat", "lon", "parameter", "units", "value"]
_NUMBERS = {
    "location_id": pa.int64(),
    "sensors_id": pa.int64(),
    "lat": pa.float64(),
    "lon": pa.float64(),
    "value": pa.float64(),
}
# Every field is read as text first, so one odd value costs its line, not the file.
_CONVERT = pa_csv.ConvertOptions(
    column_types=dict.fromkeys(HEADER, pa.string()), strings_can_be_null=False, quoted_strings_can_be_null=False
)


def parse_archive_csv(text: bytes, *, key: str, etag: str, published_at, provider: str | None) -> pa.Table:
    """Rows of RAW_SCHEMA for the decompressed CSV ``text`` of the object ``key``."""
    csv, numbers_in_file, bad = _storable_lines(text)

    def wrong_width(row) -> str:
        why = f"CSV line has {row.actual_columns} fields, the header {row.expected_columns}"
        bad.append((int(numbers_in_file[row.number - 1]), why))
        return "skip"

    parse = pa_csv.ParseOptions(invalid_row_handler=wrong_width)
    try:
        table = pa_csv.read_csv(
            io.BytesIO(csv),
            read_options=pa_csv.ReadOptions(use_threads=False),
            parse_options=parse,
            convert_options=_CONVERT,
        )
    except pa.ArrowInvalid as exc:
        return _rows(text, key, etag, published_at, provider, None, [(1, f"not an archive CSV: {exc}")])
    if table.schema.names != HEADER:
        return _rows(
            text, key, etag, published_at, provider, None, [(1, f"header {table.schema.names} is not {HEADER}")]
        )
    # Each row's line in the file: the lines handed to pyarrow after the header, but those it skipped.
    skipped = np.array([number for number, _ in bad], dtype=np.int64)
    table = table.append_column("line_number", pa.array(np.setdiff1d(numbers_in_file[1:], skipped)))
    numbers, not_a_number = {}, np.zeros(table.num_rows, bool)
    for name, kind in _NUMBERS.items():
        numbers[name], wrong = _to_number(table.column(name), kind)
        not_a_number |= wrong
    if not_a_number.any():
        for number in table.column("line_number").filter(pa.array(not_a_number)).to_pylist():
            bad.append((number, "an id, the coordinates or the value is not a number"))
        keep = pa.array(~not_a_number)
        table = table.filter(keep)
        numbers = {name: column.filter(keep) for name, column in numbers.items()}
    return _rows(text, key, etag, published_at, provider, (table, numbers), bad)


def _storable_lines(text: bytes) -> tuple[bytes, np.ndarray, list[tuple[int, str]]]:
    """The CSV for pyarrow, the file's line number of each of its lines, and the lines left out:
    blank lines (no row), and lines that are not UTF-8 text without NUL (a bad row each: pyarrow
    would refuse the whole file for one of them). CSV fields here never hold a newline, so a
    line is a row."""
    lines = text.splitlines()
    if b"\x00" not in text and _is_utf8(text) and all(lines):  # the common case: every line is a row
        return text, np.arange(1, len(lines) + 1), []
    kept, numbers, bad = [], [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if b"\x00" in line or not _is_utf8(line):
            bad.append((number, "the line is not UTF-8 text without NUL"))
            continue
        kept.append(line)
        numbers.append(number)
    return b"\n".join(kept), np.array(numbers, dtype=np.int64), bad


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _to_number(text: pa.ChunkedArray, kind: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """Text to numbers of ``kind`` (empty text: null), and which rows hold text that is not one."""
    stripped = pd.Series(text.to_numpy(zero_copy_only=False), dtype=object).str.strip()
    parsed = pd.to_numeric(stripped, errors="coerce")
    if pa.types.is_integer(kind):
        parsed = parsed.where(parsed == parsed.round())  # 12.5 is no id
    wrong = (parsed.isna() & (stripped != "")).to_numpy()
    return pa.array(parsed, type=pa.float64(), from_pandas=True).cast(kind, safe=False), wrong


def _averaging_minutes(sensor: np.ndarray, when: np.ndarray) -> np.ndarray:
    """Per row, the most common spacing (minutes) between its sensor's times in the file; NaN
    for a sensor with fewer than two distinct times."""
    minutes = np.full(len(sensor), np.nan)
    for sensor_id in np.unique(sensor):
        rows = np.flatnonzero(sensor == sensor_id)
        times = np.unique(when[rows][~np.isnat(when[rows])])
        if len(times) < 2:
            continue
        steps, counts = np.unique(np.diff(times) / np.timedelta64(1, "m"), return_counts=True)
        minutes[rows] = steps[np.argmax(counts)]  # ties: the shorter spacing
    return minutes


def _rows(
    text: bytes, key: str, etag: str, published_at, provider: str | None, parsed, bad: list[tuple[int, str]]
) -> pa.Table:
    """The raw table: parsed rows first, then bad lines (kept as they came in the file, by
    ``sources.raw_lines``' rule), each with origin columns."""
    n_good = 0 if parsed is None else parsed[0].num_rows
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    if parsed is not None:
        table, numbers = parsed
        datetime_text = table.column("datetime")
        when = parse_utc_times(datetime_text)
        sensor = numbers["sensors_id"].to_numpy(zero_copy_only=False)
        columns = {
            "line_number": table.column("line_number").cast(pa.int32()),
            "date_utc": datetime_text,
            "date_local": datetime_text,
            "parameter": table.column("parameter"),
            "value": numbers["value"],
            "unit": table.column("units"),
            "averaging_period_value": pa.array(_averaging_minutes(sensor, when), from_pandas=True),
            "averaging_period_unit": pa.array(["minutes"] * n_good, pa.string()),
            "location": table.column("location"),
            "latitude": numbers["lat"],
            "longitude": numbers["lon"],
            "source_name": pa.array([provider] * n_good, pa.string()),
            "mobile": pa.array([False] * n_good),
            "location_id": numbers["location_id"],
            "sensor_id": numbers["sensors_id"],
        }
    good = _table(columns, n_good)
    if bad:
        bad.sort()
        lines = text.splitlines()  # CSV fields here never hold a newline: line n is lines[n - 1]
        kept = [raw_line(lines[number - 1] if number <= len(lines) else b"") for number, _ in bad]
        bad_table = _table(
            {
                "line_number": pa.array([number for number, _ in bad], pa.int32()),
                "parse_error": pa.array([reason for _, reason in bad], pa.string()),
                "raw_line": pa.array([line for line, _ in kept], pa.string()),
                "raw_line_bytes": pa.array([size for _, size in kept], pa.int64()),
            },
            len(bad),
        )
        good = pa.concat_tables([good, bad_table])
    n = good.num_rows
    good = good.set_column(RAW_SCHEMA.get_field_index("source_key"), "source_key", pa.array([key] * n, pa.string()))
    good = good.set_column(RAW_SCHEMA.get_field_index("source_etag"), "source_etag", pa.array([etag] * n, pa.string()))
    kind = RAW_SCHEMA.field("published_at").type
    return good.set_column(
        RAW_SCHEMA.get_field_index("published_at"), "published_at", pa.array([published_at] * n, kind)
    )


def _table(columns: dict, rows: int) -> pa.Table:
    """A table of RAW_SCHEMA from the given columns, every other column null."""
    return pa.table(
        {
            field.name: columns[field.name] if field.name in columns else pa.nulls(rows, field.type)
            for field in RAW_SCHEMA
        },
        schema=RAW_SCHEMA,
    )
