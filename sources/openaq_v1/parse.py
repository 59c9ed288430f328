"""Parse one OpenAQ v1 real-time object (NDJSON, gzipped or not) into raw rows.

Every non-empty line of an object becomes exactly one row. Lines that are not a valid
OpenAQ record keep their text in ``raw_line`` and say why in ``parse_error``; harmonization
quarantines them. That way the raw layer conserves every record it read.
"""

from __future__ import annotations

import json
import re
import zlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from domain.raw_schema import ATTRIBUTION_TYPE, RAW_SCHEMA
from sources.openaq_v1.names import object_name_error, published_at

# How OpenAQ spells the fields of one record (nested, as published).
SOURCE_SCHEMA = pa.schema(
    [
        ("date", pa.struct([("utc", pa.string()), ("local", pa.string())])),
        ("parameter", pa.string()),
        ("value", pa.float64()),
        ("unit", pa.string()),
        ("averagingPeriod", pa.struct([("value", pa.float64()), ("unit", pa.string())])),
        ("location", pa.string()),
        ("city", pa.string()),
        ("country", pa.string()),
        ("coordinates", pa.struct([("latitude", pa.float64()), ("longitude", pa.float64())])),
        ("attribution", ATTRIBUTION_TYPE),
        ("sourceName", pa.string()),
        ("sourceType", pa.string()),
        ("mobile", pa.bool_()),
    ]
)

# Longest raw line kept for a bad record; longer ones are cut (and say so).
MAX_RAW_LINE_CHARS = 4000

# One object is parsed on one thread: read_objects parses READ_THREADS objects at once, and
# splitting each object over Arrow's threads as well costs a third more CPU for no gain. A block
# holds a whole object (they are a few MB), so its parsed lines come back as one chunk.
_READ_OPTIONS = pa_json.ReadOptions(use_threads=False, block_size=64 << 20)
_PARSE_OPTIONS = pa_json.ParseOptions(explicit_schema=SOURCE_SCHEMA, unexpected_field_behavior="ignore")


def decompress(data: bytes) -> tuple[bytes, str | None]:
    """Return the object's text and an error if the stream is broken.

    Gzip is recognised by its magic bytes, not by the name. A truncated or corrupt stream
    yields everything decoded before the damage, so good records beside it survive.
    """
    if not data.startswith(b"\x1f\x8b"):
        return data, None
    out: list[bytes] = []
    rest = data
    while rest:
        inflater = zlib.decompressobj(wbits=31)
        try:
            # Small chunks so a corrupt block loses only what follows it.
            for start in range(0, len(rest), 1 << 16):
                out.append(inflater.decompress(rest[start : start + (1 << 16)]))
        except zlib.error as exc:
            return b"".join(out), f"corrupt gzip stream: {exc}"
        if not inflater.eof:
            out.append(inflater.flush())
            return b"".join(out), "truncated gzip stream: the object ends before the gzip trailer"
        rest = inflater.unused_data.lstrip(b"\x00")  # concatenated gzip members
    return b"".join(out), None


def parse_object(data: bytes, *, key: str, etag: str) -> pa.Table:
    """Parse one object into rows of RAW_SCHEMA, one per non-empty line: first the lines
    pyarrow parsed (in line order within each block it parsed: one, unless a rejected line
    hid from the screen), then the few it could not (salvaged one by one, the cut line of a
    broken stream last). Each row carries its line number; putting the salvaged rows
    in line order would copy every column of the object (an eighth of the read's CPU)."""
    text, stream_error = decompress(data)
    lines = _split_lines(text)
    if stream_error is not None:
        # The bytes after the last newline are a cut line (possibly empty): it carries the error.
        tail = lines[len(lines) - 1].as_py()
        lines = lines.slice(0, len(lines) - 1)
    tables, salvaged = _parse_lines(lines)
    if stream_error is not None:
        message = stream_error if not tail.strip() else f"{stream_error}; last line cut off"
        salvaged.append(_bad_row(len(lines) + 1, tail, message))
    if salvaged:  # one table for all of them: a table per row would cost a tenth of the read's CPU
        tables.append(pa.Table.from_pylist(salvaged, schema=RAW_SCHEMA))
    if len(tables) > 2:
        # Everything after the first parsed block (blocks split around a rejected line, and the
        # salvaged rows) as one chunk: many small chunks would slow every later pass over the day.
        tables = [tables[0], pa.concat_tables(tables[1:]).combine_chunks()]
    table = pa.concat_tables(tables) if tables else RAW_SCHEMA.empty_table()
    when = published_at(key) if object_name_error(key) is None else None
    n = table.num_rows
    table = table.set_column(0, "source_key", pa.repeat(pa.scalar(key, pa.string()), n))
    table = table.set_column(1, "source_etag", pa.repeat(pa.scalar(etag, pa.string()), n))
    return table.set_column(2, "published_at", pa.repeat(pa.scalar(when, RAW_SCHEMA.field("published_at").type), n))


def _split_lines(text: bytes) -> pa.LargeBinaryArray:
    """The text's lines as an Arrow array without copying: line i is ``text.split(b"\\n")[i]``
    with its newline kept, so the array's data buffer of any run of lines is valid NDJSON."""
    ends = np.flatnonzero(np.frombuffer(text, np.uint8) == ord("\n")) + 1
    offsets = np.concatenate(([0], ends, [len(text)])).astype(np.int64)
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(text)])


# A value given as a string ("n/a", "12.3"): the usual type error, which pyarrow rejects.
_STRING_VALUE = r'"value"\s*:\s*"'


def _parse_lines(lines: pa.LargeBinaryArray) -> tuple[list[pa.Table], list[dict]]:
    """Parse the non-empty lines with one pyarrow call, isolating the lines it would reject:
    the parsed blocks as tables, and the rejected lines as rows (see _salvage_line).

    A vectorized screen sets the usual breakage aside first (a line that is not a ``{...}``
    object, a value given as a string); those few lines are salvaged one by one. The rest
    parses in one call; should pyarrow still reject a line, the block is split around it.
    Python never loops over the good lines.
    """
    offsets = _offsets(lines)
    if offsets[-1] == offsets[0]:
        return [], []  # no bytes at all
    buffer = np.frombuffer(lines.buffers()[2], np.uint8)
    lengths = np.diff(offsets)
    lengths -= (lengths > 0) & (buffer[np.maximum(offsets[1:] - 1, 0)] == ord("\n"))  # without the newline
    has_text = lengths > 0
    first = np.where(has_text, buffer[np.minimum(offsets[:-1], len(buffer) - 1)], 0)
    last = np.where(has_text, buffer[np.maximum(offsets[:-1] + lengths - 1, 0)], 0)
    plain = (first == ord("{")) & (last == ord("}"))
    plain &= ~pc.match_substring_regex(lines, _STRING_VALUE).to_numpy(zero_copy_only=False)
    keep = np.flatnonzero(plain)
    salvaged, text = [], lines.buffers()[2]
    odd = np.flatnonzero(has_text & ~plain)  # suspect lines, or blank ones made of spaces
    if len(odd):
        text = bytearray(text)  # a copy with the odd lines blanked out: pyarrow skips blank lines
        for index in odd:
            start, length = offsets[index], lengths[index]
            line = bytes(text[start : start + length])
            if line.strip():
                salvaged.append(_salvage_line(int(index) + 1, line))
            text[start : start + length] = b" " * length
    parsed = _parse_block(pa.py_buffer(text)[offsets[0] : offsets[-1]], keep + 1)
    if isinstance(parsed, pa.Table):
        return [parsed], salvaged
    return _bisect(lines.take(pa.array(keep)), keep + 1, salvaged), salvaged


def _offsets(lines: pa.LargeBinaryArray) -> np.ndarray:
    """Where each line starts in the array's data buffer, and where the last one ends."""
    return np.frombuffer(lines.buffers()[1], np.int64)[lines.offset : lines.offset + len(lines) + 1]


def _bisect(lines: pa.LargeBinaryArray, numbers: np.ndarray, salvaged: list[dict]) -> list[pa.Table]:
    """Parse lines (numbered ``numbers``) in one call; if pyarrow rejects the block, split it at
    the row pyarrow names (or in halves) until each part parses; single rejected lines are
    salvaged (added to ``salvaged``). Every part is parsed again, so a misleading row hint
    costs time, not rows."""
    if len(lines) == 0:
        return []
    start, stop = _offsets(lines)[[0, -1]]
    parsed = _parse_block(lines.buffers()[2][start:stop], numbers)
    if isinstance(parsed, pa.Table):
        return [parsed]
    if len(lines) == 1:
        salvaged.append(_salvage_line(int(numbers[0]), lines[0].as_py().rstrip(b"\n")))
        return []
    row = _rejected_row(parsed)
    cuts = [row, row + 1] if row is not None and 0 <= row < len(lines) else [len(lines) // 2]
    tables = []
    for start, stop in zip([0, *cuts], [*cuts, len(lines)]):
        tables += _bisect(lines.slice(start, stop - start), numbers[start:stop], salvaged)
    return tables


def _rejected_row(error: Exception) -> int | None:
    # pyarrow names the first rejected row within its block ("... in row 17").
    match = re.search(r"in row (\d+)", str(error))
    return int(match[1]) if match else None


def _parse_block(text: pa.Buffer, numbers: np.ndarray) -> pa.Table | Exception:
    """NDJSON text holding exactly the lines numbered ``numbers`` (and blank lines) as one
    table, or pyarrow's error if it rejects any of them."""
    try:
        parsed = pa_json.read_json(
            pa.BufferReader(text),
            read_options=_READ_OPTIONS,
            parse_options=_PARSE_OPTIONS,
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        return exc
    if parsed.num_rows != len(numbers):
        return pa.ArrowInvalid(f"{parsed.num_rows} rows parsed from {len(numbers)} lines")
    return _flatten(parsed, numbers)


def _flatten(parsed: pa.Table, line_numbers: np.ndarray) -> pa.Table:
    date = parsed.column("date")
    period = parsed.column("averagingPeriod")
    coords = parsed.column("coordinates")
    n = parsed.num_rows

    def child(column: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
        return pa.chunked_array([chunk.field(name) for chunk in column.chunks], column.type.field(name).type)

    columns = {
        "source_key": pa.nulls(n, pa.string()),
        "source_etag": pa.nulls(n, pa.string()),
        "published_at": pa.nulls(n, RAW_SCHEMA.field("published_at").type),
        "line_number": pa.array(line_numbers.astype(np.int32)),
        "date_utc": child(date, "utc"),
        "date_local": child(date, "local"),
        "parameter": parsed.column("parameter"),
        "value": parsed.column("value"),
        "unit": parsed.column("unit"),
        "averaging_period_value": child(period, "value"),
        "averaging_period_unit": child(period, "unit"),
        "location": parsed.column("location"),
        "city": parsed.column("city"),
        "country": parsed.column("country"),
        "latitude": child(coords, "latitude"),
        "longitude": child(coords, "longitude"),
        "attribution": parsed.column("attribution"),
        "source_name": parsed.column("sourceName"),
        "source_type": parsed.column("sourceType"),
        "mobile": parsed.column("mobile"),
        "parse_error": pa.nulls(n, pa.string()),
        "raw_line": pa.nulls(n, pa.string()),
    }
    return pa.table(columns, schema=RAW_SCHEMA)


# Expected Python types of each source field after json.loads (bool is not a number here).
_NUMBER = (int, float)


def _salvage_line(number: int, line: bytes) -> dict:
    """Turn a line pyarrow rejected into a row (of RAW_SCHEMA's fields): keep what is readable,
    say what is wrong."""
    try:
        record = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = "invalid UTF-8" if isinstance(exc, UnicodeDecodeError) else f"invalid JSON: {exc.msg} at column {exc.colno}"
        return _bad_row(number, line, reason)
    if not isinstance(record, dict):
        return _bad_row(number, line, f"a JSON {type(record).__name__}, not an object")

    problems: list[str] = []

    def pick(path: tuple[str, ...], types: tuple[type, ...]):
        value = record
        for part in path:
            if not isinstance(value, dict):
                problems.append(f"{'.'.join(path[:-1])} is not an object")
                return None
            value = value.get(part)
            if value is None:
                return None
        if isinstance(value, bool) and bool not in types:
            value_ok = False
        else:
            value_ok = isinstance(value, types)
        if not value_ok:
            problems.append(f"{'.'.join(path)} is {type(value).__name__} {value!r:.40}, expected {' or '.join(t.__name__ for t in types)}")
            return None
        return float(value) if types is _NUMBER else value

    row = {
        "line_number": number,
        "date_utc": pick(("date", "utc"), (str,)),
        "date_local": pick(("date", "local"), (str,)),
        "parameter": pick(("parameter",), (str,)),
        "value": pick(("value",), _NUMBER),
        "unit": pick(("unit",), (str,)),
        "averaging_period_value": pick(("averagingPeriod", "value"), _NUMBER),
        "averaging_period_unit": pick(("averagingPeriod", "unit"), (str,)),
        "location": pick(("location",), (str,)),
        "city": pick(("city",), (str,)),
        "country": pick(("country",), (str,)),
        "latitude": pick(("coordinates", "latitude"), _NUMBER),
        "longitude": pick(("coordinates", "longitude"), _NUMBER),
        "source_name": pick(("sourceName",), (str,)),
        "source_type": pick(("sourceType",), (str,)),
        "mobile": pick(("mobile",), (bool,)),
    }
    # A readable record with NaN or Infinity is not a parse error: harmonization quarantines
    # it with the precise reason. The line text is kept either way for traceability.
    row["parse_error"] = f"wrong types: {'; '.join(problems)}" if problems else None
    row["raw_line"] = _line_text(line)
    return row


def _bad_row(number: int, line: bytes, reason: str) -> dict:
    return {"line_number": number, "parse_error": reason, "raw_line": _line_text(line)}


def _line_text(line: bytes) -> str:
    text = line.decode("utf-8", errors="replace")
    if len(text) > MAX_RAW_LINE_CHARS:
        text = text[:MAX_RAW_LINE_CHARS] + f"... [cut, {len(text)} chars]"
    return text
