"""Parse OpenAQ v3 archive objects (gzipped CSVs of one location and local day) into raw rows.

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
- ``location_id`` and ``sensors_id`` are kept (``location_id``, ``sensor_id``). The files name
  no provider, locality, country or mobility: those come from the locations catalog, joined by
  location id (``sources.openaq_v3.catalog.with_catalog_fields``); here they are null.
- A line with the wrong number of fields, whose ids, coordinates or value are not numbers, or
  that is not UTF-8 text without NUL becomes a bad row (blank lines make none): why in ``parse_error``, the line as it came in ``raw_line`` (the rule of
  ``sources.raw_lines``: its first 4 KiB, base64 when not text), nothing else.

An object is small (a day of one location: about 150 lines), so per-object work is kept to what
needs the object's own text: ``archive_lines`` reads its fields, converts the numbers and keeps
its bad lines. ``archive_rows`` does the rest (times, averaging periods, the columns every row of
an object shares) once over all the objects of a day.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from domain.raw_schema import RAW_SCHEMA
from domain.times import parse_utc_times
from sources.raw_lines import raw_line

HEADER = ["location_id", "sensors_id", "location", "datetime", "lat", "lon", "parameter", "units", "value"]
# Each field's column in the raw schema.
_RAW_NAMES = dict(
    zip(
        HEADER,
        ["location_id", "sensor_id", "location", "date_local", "latitude", "longitude", "parameter", "unit", "value"],
        strict=True,
    )
)
_NUMBERS = {
    "location_id": pa.int64(),
    "sensors_id": pa.int64(),
    "lat": pa.float64(),
    "lon": pa.float64(),
    "value": pa.float64(),
}
# One object's lines as ``archive_lines`` gives them: the fields of a data line, or why a line
# is bad and its text.
LINES_SCHEMA = pa.schema(
    [
        RAW_SCHEMA.field(name)
        for name in ["line_number", *_RAW_NAMES.values(), "parse_error", "raw_line", "raw_line_bytes"]
    ]
)
# Every field is read as text first, so one odd value costs its line, not the file.
_CONVERT = pa_csv.ConvertOptions(
    column_types=dict.fromkeys(HEADER, pa.string()), strings_can_be_null=False, quoted_strings_can_be_null=False
)


@dataclass(frozen=True)
class Origin:
    """Where an object's rows come from: the same on each of its rows."""

    key: str
    etag: str
    published_at: datetime | None


def parse_archive_csv(text: bytes, *, key: str, etag: str, published_at) -> pa.Table:
    """Rows of RAW_SCHEMA for the decompressed CSV ``text`` of the object ``key``."""
    return archive_rows([(Origin(key, etag, published_at), archive_lines(text))])


def archive_lines(text: bytes) -> pa.Table:
    """The lines of one decompressed archive CSV (LINES_SCHEMA): its data lines in file order,
    numbers converted, then its bad lines by line number."""
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
        return _lines(text, None, [(1, f"not an archive CSV: {exc}")])
    if table.schema.names != HEADER:
        return _lines(text, None, [(1, f"header {table.schema.names} is not {HEADER}")])
    # Each row's line in the file: the lines handed to pyarrow after the header, but those it skipped.
    skipped = np.array([number for number, _ in bad], dtype=np.int64)
    line_numbers = pa.array(np.setdiff1d(numbers_in_file[1:], skipped).astype(np.int32))
    columns = {"line_number": line_numbers} | {_RAW_NAMES[name]: table.column(name) for name in HEADER}
    not_a_number = np.zeros(table.num_rows, bool)
    for name, kind in _NUMBERS.items():
        columns[_RAW_NAMES[name]], wrong = _to_number(table.column(name), kind)
        not_a_number |= wrong
    good = pa.table(columns)
    if not_a_number.any():
        for number in line_numbers.filter(pa.array(not_a_number)).to_pylist():
            bad.append((number, "an id, the coordinates or the value is not a number"))
        good = good.filter(pa.array(~not_a_number))
    return _lines(text, good, bad)


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
    """Text to numbers of ``kind`` (empty text: null), and which rows hold text that is not one.

    pandas decides what is a number; Arrow's cast is taken when it agrees, as for every field
    that is a plain finite decimal (nearly all of them), at a fraction of pandas' cost. Arrow
    reads some text pandas refuses ("nan", "1e400" as infinity, "0x10" as an id) and refuses
    some pandas reads (blank, spaces around): a column with any of those goes to pandas."""
    try:
        parsed = pc.cast(text, pa.float64()).combine_chunks()
    except pa.ArrowInvalid:
        parsed = None
    if parsed is not None:
        values = parsed.to_numpy()
        if np.isfinite(values).all() and (not pa.types.is_integer(kind) or (values == np.round(values)).all()):
            return parsed.cast(kind, safe=False), np.zeros(len(values), bool)
    stripped = pd.Series(text.to_numpy(zero_copy_only=False), dtype=object).str.strip()
    numbers = pd.to_numeric(stripped, errors="coerce")
    if pa.types.is_integer(kind):
        numbers = numbers.where(numbers == numbers.round())  # 12.5 is no id
    wrong = (numbers.isna() & (stripped != "")).to_numpy()
    return pa.array(numbers, type=pa.float64(), from_pandas=True).cast(kind, safe=False), wrong


def _lines(text: bytes, good: pa.Table | None, bad: list[tuple[int, str]]) -> pa.Table:
    """LINES_SCHEMA: the data lines, then the bad ones kept as they came in the file (by
    ``sources.raw_lines``' rule)."""
    tables = [] if good is None else [_table(LINES_SCHEMA, _columns(good), good.num_rows)]
    if bad:
        bad.sort()
        lines = text.splitlines()  # CSV fields here never hold a newline: line n is lines[n - 1]
        kept = [raw_line(lines[number - 1] if number <= len(lines) else b"") for number, _ in bad]
        bad_columns = {
            "line_number": pa.array([number for number, _ in bad], pa.int32()),
            "parse_error": pa.array([reason for _, reason in bad], pa.string()),
            "raw_line": pa.array([line for line, _ in kept], pa.string()),
            "raw_line_bytes": pa.array([size for _, size in kept], pa.int64()),
        }
        tables.append(_table(LINES_SCHEMA, bad_columns, len(bad)))
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def archive_rows(objects: list[tuple[Origin, pa.Table]]) -> pa.Table:
    """Rows of RAW_SCHEMA for objects' lines (LINES_SCHEMA, as ``archive_lines`` or a reader
    gives them), in the objects' order and each object's lines' order: data lines get their
    averaging period (by sensor within their object) and the columns a v3 record implies; every line gets its object's origin."""
    if not objects:
        return RAW_SCHEMA.empty_table()
    lines = pa.concat_tables([table for _, table in objects]).combine_chunks()
    which = np.repeat(np.arange(len(objects)), [table.num_rows for _, table in objects])  # each row's object
    good = lines.column("parse_error").is_null()
    good_numpy = good.to_numpy(zero_copy_only=False)

    def per_object(values: list, kind: pa.DataType, *, only_good: bool = False) -> pa.Array:
        column = pa.array(values, kind).take(which)
        return pc.if_else(good, column, None) if only_good else column

    origins = [origin for origin, _ in objects]
    sensor = lines.column("sensor_id").to_numpy(zero_copy_only=False)
    when = parse_utc_times(lines.column("date_local"))
    n = lines.num_rows
    columns = _columns(lines) | {
        "source_key": per_object([o.key for o in origins], pa.string()),
        "source_etag": per_object([o.etag for o in origins], pa.string()),
        "published_at": per_object([o.published_at for o in origins], RAW_SCHEMA.field("published_at").type),
        "date_utc": lines.column("date_local"),
        "averaging_period_value": pa.array(_averaging_minutes(which, sensor, when, good_numpy), from_pandas=True),
        "averaging_period_unit": pc.if_else(good, pa.scalar("minutes"), None),
        "mobile": pc.if_else(good, pa.scalar(False), None),
    }
    return _table(RAW_SCHEMA, columns, n)


def _averaging_minutes(which: np.ndarray, sensor: np.ndarray, when: np.ndarray, good: np.ndarray) -> np.ndarray:
    """Per row, the most common spacing (minutes) between the distinct times of its sensor in its
    object (ties: the shorter spacing); NaN for a sensor with fewer than two distinct times, a
    row without a sensor id, or a bad line."""
    minutes = np.full(len(which), np.nan)
    rows = np.flatnonzero(good & ~np.isnan(sensor.astype(np.float64)))  # a null id arrives as NaN
    if not len(rows):
        return minutes
    objects, sensors, ticks = which[rows], sensor[rows].astype(np.int64), when[rows].view(np.int64)
    order = np.lexsort((ticks, sensors, objects))  # by object, sensor, time (NaT first)
    rows, ticks = rows[order], ticks[order]
    group = np.cumsum(_starts(objects[order], sensors[order])) - 1  # each (object, sensor) a group
    minutes[rows] = _group_spacing(group, ticks, timed=~np.isnat(when[rows]))[group]
    return minutes


def _group_spacing(group: np.ndarray, ticks: np.ndarray, timed: np.ndarray) -> np.ndarray:
    """Per group, the most common spacing (minutes) between its distinct times (ties: the shorter
    spacing), NaN for a group with fewer than two; rows sorted by group and time, ``timed`` those
    whose time is not NaT."""
    spacing = np.full(group[-1] + 1, np.nan)
    group, ticks = group[timed], ticks[timed]
    distinct = _starts(group, ticks)
    group, ticks = group[distinct], ticks[distinct]
    within = ~_starts(group)[1:]  # a step between two times of one group
    step_group, step = group[1:][within], np.diff(ticks)[within]
    order = np.lexsort((step, step_group))
    step_group, step = step_group[order], step[order]
    first = _starts(step_group, step)  # runs of one (group, step)
    run_group, run_step = step_group[first], step[first]
    run_count = np.diff(np.append(np.flatnonzero(first), len(step)))
    order = np.lexsort((run_step, -run_count, run_group))  # per group: the most common, then the shortest
    chosen = order[_starts(run_group[order])]
    spacing[run_group[chosen]] = run_step[chosen].astype("timedelta64[ns]") / np.timedelta64(1, "m")
    return spacing


def _starts(*columns: np.ndarray) -> np.ndarray:
    """Where a run of equal values (in all ``columns`` at once) starts."""
    changed = np.zeros(max(len(columns[0]) - 1, 0), bool)
    for column in columns:
        changed |= column[1:] != column[:-1]
    return np.concatenate([[True], changed])[: len(columns[0])]


def _columns(table: pa.Table) -> dict[str, pa.ChunkedArray]:
    return {name: table.column(name) for name in table.column_names}


def _table(schema: pa.Schema, columns: dict, rows: int) -> pa.Table:
    """A table of ``schema`` from the given columns, every other column null."""
    return pa.table(
        {field.name: columns[field.name] if field.name in columns else pa.nulls(rows, field.type) for field in schema},
        schema=schema,
    )
