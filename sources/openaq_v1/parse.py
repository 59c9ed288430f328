"""Parse one OpenAQ v1 real-time object (NDJSON, gzipped or not) into raw rows.

No bad line or object can cost more than itself. The rules:

Lines
    Every non-empty line of an object becomes exactly one row, numbered from 1 as the line is
    in the object. A line that is empty or holds only JSON whitespace (space, tab, CR) is not a
    record and has no row, though it is counted. A line that is not a valid record keeps why in
    ``parse_error`` and its text in ``raw_line``; harmonization quarantines it. Every other line
    of the object is kept, whatever the bad line holds.

    ``parse_error`` starts with the reason's class, then ``": "`` and which field, byte or
    column (``reason_class`` gives the class). The classes: ``invalid JSON``,
    ``invalid UTF-8``, ``not an object`` (a JSON array, string, number...), ``wrong types``,
    ``NUL character``, ``lone surrogate``, ``number out of range``, ``nested too deeply``,
    ``duplicate field``, ``field too long``, ``line too long``; and for the row that stands for
    the unreadable rest of a damaged stream, ``truncated gzip stream``, ``corrupt gzip stream``
    or ``object too large``.

Text
    Strings leave this layer as valid UTF-8 without NUL (PostgreSQL refuses NUL in text). A
    line that is not valid UTF-8, or holds a NUL byte, or a string with ``\\u0000`` or a lone
    UTF-16 surrogate escape (``"\\ud83d"`` without its pair) is a bad line; nothing is replaced.
    Pairs of surrogate escapes are characters like any other.

Numbers
    A number literal beyond float64's range (``1e400``, a 400-digit integer) is a bad line
    (``number out of range``); the literals ``NaN``, ``Infinity`` and ``-Infinity`` are numbers,
    for harmonization to judge. Numbers below float64's precision round, as in any JSON reader.

Caps (bytes of UTF-8)
    ``MAX_FIELD_BYTES`` (4 KiB): a string field of the record (``location``, an attribution's
    ``url``...) longer than this makes the line a bad line (``field too long``).
    ``MAX_LINE_BYTES`` (64 KiB): a longer line is a bad line (``line too long``) and is not
    parsed at all, so a huge line costs a scan, not copies. ``MAX_OBJECT_BYTES`` (256 MiB) and
    ``MAX_OBJECT_LINES`` (a million): an object is read up to these; the rest is not read
    (``object too large``, as for a damaged stream). Real lines are about 500 bytes, real
    objects a few MB and ten thousand lines.
    Nesting: pyarrow reads most lines and ignores fields it does not know, however deep; the
    few lines it does not read (not ``{...}``, longer than ``MAX_FIELD_BYTES``, a string value,
    a ``\u0000`` or surrogate escape, not UTF-8, rejected by pyarrow, an infinite number) are
    read by Python's JSON reader, and such a line nested deeper than it goes (about 1,000
    levels) is a bad line (``nested too deeply``). A field given twice is a bad line
    (``duplicate field``).

raw_line
    A bad line is kept by ``sources.raw_lines``' rule, shared with every format: its first
    4 KiB, as text, or as ``"base64:"`` and base64 when it is not UTF-8 text without NUL, with
    its whole length in ``raw_line_bytes``. Lines read by Python's JSON reader that are valid
    records (a ``NaN`` value, a long line) keep ``raw_line`` too, for traceability.

Damaged streams
    Gzip is recognised by its magic bytes, not by the name, and inflated by
    ``sources.compression`` (shared with v3): every line completed before the damage is kept.
    (Deflate has no checksum before the trailer: zlib may inflate a stretch of garbage before it
    notices, and those lines are judged like any other, as bad lines mostly.) The bytes after
    the last complete line (possibly none; for an object over its caps, the unread rest) become
    one row numbered after it, carrying the stream's error: it stands for what could not be
    read. The object is listed as broken with the same text. Further gzip members are read as
    the same object; NUL padding between or after members is ignored. Other bytes after the
    last complete member are ignored, no record is lost, and the object is listed as broken
    (``trailing data``) when it is read.

Broken objects
    An object is not NDJSON at all, and gives no rows but one entry in the day's
    ``broken_objects``, when it has non-blank lines and none of them looks like a record: none,
    stripped of JSON whitespace, starts with ``{`` within ``MAX_LINE_BYTES`` as valid UTF-8
    without NUL. So nothing that could be a record, or part of one, is dropped. The reason names
    what it is: ``compressed data`` when the text starts with a compressed or archive format's
    magic number (a gzip inside the gzip, bzip2, xz, zstd, zip, 7z), else ``binary data`` when it
    holds NUL bytes or is not UTF-8, else ``not NDJSON`` (an HTML page, a CSV file).
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from domain.raw_schema import ATTRIBUTION_TYPE, RAW_SCHEMA
from sources.compression import (  # the names v1's importers know (shared with v3 since the move)
    CORRUPT_STREAM,  # noqa: F401
    MAX_OBJECT_BYTES,  # noqa: F401
    OBJECT_TOO_LARGE,
    STREAM_REASONS,
    TRAILING_DATA,
    TRUNCATED_STREAM,  # noqa: F401
    decompress,  # noqa: F401
    inflate,
    reason_class,  # noqa: F401
)
from sources.objects import ParsedObject
from sources.openaq_v1.names import object_name_error, published_at
from sources.raw_lines import (  # the names v1's importers know (shared with v3)
    MAX_RAW_LINE_BYTES,  # noqa: F401
    RAW_LINE_BASE64,  # noqa: F401
    raw_line,
    raw_line_bytes_of,  # noqa: F401
)

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

# The caps of the module docstring, in bytes.
MAX_FIELD_BYTES = 4 << 10
MAX_LINE_BYTES = 64 << 10
MAX_OBJECT_LINES = 1_000_000

# Reason classes: parse_error (and a broken object's error) starts with one, then ": ".
INVALID_JSON = "invalid JSON"
INVALID_UTF8 = "invalid UTF-8"
NOT_AN_OBJECT = "not an object"
WRONG_TYPES = "wrong types"
NUL_CHARACTER = "NUL character"
LONE_SURROGATE = "lone surrogate"
NUMBER_OUT_OF_RANGE = "number out of range"
NESTED_TOO_DEEPLY = "nested too deeply"
DUPLICATE_FIELD = "duplicate field"
FIELD_TOO_LONG = "field too long"
LINE_TOO_LONG = "line too long"
LINE_REASONS = (
    INVALID_JSON,
    INVALID_UTF8,
    NOT_AN_OBJECT,
    WRONG_TYPES,
    NUL_CHARACTER,
    LONE_SURROGATE,
    NUMBER_OUT_OF_RANGE,
    NESTED_TOO_DEEPLY,
    DUPLICATE_FIELD,
    FIELD_TOO_LONG,
    LINE_TOO_LONG,
)
# Objects listed as broken without a row of their own (and TRAILING_DATA, from sources.compression).
COMPRESSED_DATA = "compressed data"
BINARY_DATA = "binary data"
NOT_NDJSON = "not NDJSON"
OBJECT_REASONS = (*STREAM_REASONS, TRAILING_DATA, COMPRESSED_DATA, BINARY_DATA, NOT_NDJSON)


# One object is parsed on one thread: read_objects parses READ_THREADS objects at once, and
# splitting each object over Arrow's threads as well costs a third more CPU for no gain. A block
# holds a whole object (they are a few MB), so its parsed lines come back as one chunk.
_READ_OPTIONS = pa_json.ReadOptions(use_threads=False, block_size=64 << 20)
_PARSE_OPTIONS = pa_json.ParseOptions(explicit_schema=SOURCE_SCHEMA, unexpected_field_behavior="ignore")

_SPLIT_STEP = 4 << 20
_SALVAGED_BATCH = 10_000
# Magic numbers of compressed or archive formats: such text is not NDJSON.
_COMPRESSED_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"PK\x03\x04": "zip",
    b"7z\xbc\xaf\x27\x1c": "7z",
}
_JSON_SPACE = b" \t\r"


def parse_object(data: bytes, *, key: str, etag: str) -> pa.Table:
    """The object's rows (see read_object); a broken object that is not NDJSON has none."""
    return read_object(data, key=key, etag=etag).table


def read_object(data: bytes, *, key: str, etag: str) -> ParsedObject:
    """Parse one object into rows of RAW_SCHEMA, one per non-empty line: first the lines
    pyarrow parsed (in line order within each block it parsed: one, unless a rejected line
    hid from the screen), then the few it could not (salvaged one by one, the cut line of a
    broken stream last). Each row carries its line number; putting the salvaged rows
    in line order would copy every column of the object (an eighth of the read's CPU)."""
    text, damage, trailing = inflate(data)
    lines, capped = _split_lines(text)
    if capped:
        damage = f"{OBJECT_TOO_LARGE}: more than {MAX_OBJECT_LINES} lines; the rest is not read"
    cut = None
    if damage is not None:
        # The bytes after the last newline are a cut line (possibly empty): it carries the error.
        cut = memoryview(text)[int(_offsets(lines)[-2]) :]
        lines = lines.slice(0, len(lines) - 1)
    screen = _Screen(text, lines)
    not_ndjson = screen.not_ndjson()
    if not_ndjson is not None:
        broken = not_ndjson if damage is None else f"{not_ndjson}; {damage}"
        return ParsedObject(_with_origin(RAW_SCHEMA.empty_table(), key, etag), broken)
    tables, salvaged = _parse_lines(screen)
    problem = trailing
    if damage is not None and cut is not None:
        # The object's entry is its cut row's text, so reused rows give the same entry again.
        problem = damage if capped or _is_blank(cut) else f"{damage}; last line cut off"
        salvaged.append(_bad_row(len(lines) + 1, cut, problem))
    if salvaged:
        tables.append(salvaged.table())
    if len(tables) > 2:
        # Everything after the first parsed block (blocks split around a rejected line, and the
        # salvaged rows) as one chunk: many small chunks would slow every later pass over the day.
        tables = [tables[0], pa.concat_tables(tables[1:]).combine_chunks()]
    table = pa.concat_tables(tables) if tables else RAW_SCHEMA.empty_table()
    return ParsedObject(_with_origin(table, key, etag), problem)


def _with_origin(table: pa.Table, key: str, etag: str) -> pa.Table:
    when = published_at(key) if object_name_error(key) is None else None
    n = table.num_rows
    table = table.set_column(0, "source_key", pa.repeat(pa.scalar(key, pa.string()), n))
    table = table.set_column(1, "source_etag", pa.repeat(pa.scalar(etag, pa.string()), n))
    return table.set_column(2, "published_at", pa.repeat(pa.scalar(when, RAW_SCHEMA.field("published_at").type), n))


def _split_lines(text: bytes | bytearray) -> tuple[pa.LargeBinaryArray, bool]:
    """The text's lines as an Arrow array without copying: line i is ``text.split(b"\\n")[i]``
    with its newline kept, so the array's data buffer of any run of lines is valid NDJSON. Past
    MAX_OBJECT_LINES lines, the last element is the rest of the text (and the flag is set)."""
    buffer = np.frombuffer(text, np.uint8)
    # A few MiB at a time: a mask of the whole text would hold a huge object twice.
    ends, found = [], 0
    for i in range(0, len(buffer), _SPLIT_STEP):
        ends.append(np.flatnonzero(buffer[i : i + _SPLIT_STEP] == ord("\n")) + (i + 1))
        found += len(ends[-1])
        if found > MAX_OBJECT_LINES:
            break
    offsets = np.concatenate(([0], *ends)).astype(np.int64)[: MAX_OBJECT_LINES + 1]
    offsets = np.append(offsets, len(text))
    lines = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(text)]
    )
    return lines, found > MAX_OBJECT_LINES


def _offsets(lines: pa.LargeBinaryArray) -> np.ndarray:
    """Where each line starts in the array's data buffer, and where the last one ends."""
    return np.frombuffer(lines.buffers()[1], np.int64)[lines.offset : lines.offset + len(lines) + 1]


# A value given as a string ("n/a", "12.3"): the usual type error, which pyarrow rejects.
_STRING_VALUE = r'"value"\s*:\s*"'
# Escapes pyarrow would turn into text this layer refuses: NUL, and UTF-16 surrogates (pairs are
# fine, but telling a pair from a lone half is the salvage's job; they are rare).
_SUSPECT_ESCAPE = r"\\u(?:0000|[dD][89a-fA-F])"


class _Screen:
    """What a vectorized look at an object's lines finds, before any is parsed.

    ``plain`` lines go to pyarrow in one call: they look like a ``{...}`` object, fit in
    MAX_FIELD_BYTES (so no field can exceed it), are valid UTF-8, and have neither a string value
    nor a suspect escape. Every other non-blank line is salvaged by Python's JSON
    reader, which judges it exactly.
    """

    def __init__(self, text: bytes | bytearray, lines: pa.LargeBinaryArray):
        self.text, self.lines = text, lines
        self.offsets = offsets = _offsets(lines)
        self.view = memoryview(lines.buffers()[2]) if len(lines) else memoryview(b"")
        buffer = np.frombuffer(lines.buffers()[2], np.uint8) if len(lines) else np.zeros(0, np.uint8)
        lengths = np.diff(offsets)
        if len(buffer):
            lengths -= (lengths > 0) & (buffer[np.maximum(offsets[1:] - 1, 0)] == ord("\n"))  # without the newline
        self.lengths = lengths
        self.has_text = has_text = lengths > 0
        first = np.where(has_text, buffer[np.minimum(offsets[:-1], len(buffer) - 1)], 0) if len(buffer) else lengths * 0
        last = np.where(has_text, buffer[np.maximum(offsets[:-1] + lengths - 1, 0)], 0) if len(buffer) else lengths * 0
        plain = (first == ord("{")) & (last == ord("}")) & (lengths <= MAX_FIELD_BYTES)
        if plain.any():
            plain &= ~_matches(pc.match_substring_regex(lines, _STRING_VALUE))
        # Text checks: a scan of the whole object each, and per line only where it finds something.
        # (No scan for NUL bytes: pyarrow rejects a line holding one, wherever it is.)
        if plain.any() and text.find(b"\\") >= 0:
            plain &= ~_matches(pc.match_substring_regex(lines, _SUSPECT_ESCAPE))
        self.is_utf8 = _is_utf8_buffer(lines.buffers()[2][offsets[0] : offsets[-1]]) if len(lines) else True
        if not self.is_utf8:
            for index in np.flatnonzero(plain):
                plain[index] = _is_utf8(self.line(int(index)))
        self.plain = plain

    def line(self, index: int) -> memoryview:
        """Line ``index`` (from 0) without its newline, as a view of the text."""
        start = int(self.offsets[index])
        return self.view[start : start + int(self.lengths[index])]

    def not_ndjson(self) -> str | None:
        """Why the object is not NDJSON at all, or None (see the module docstring)."""
        if self.plain.any():
            return None
        lines = 0  # non-blank ones
        for index in np.flatnonzero(self.has_text):
            line = self.line(int(index))
            if len(line) > MAX_LINE_BYTES:
                lines += not _is_blank(line)
                continue
            stripped = bytes(line).strip(_JSON_SPACE)
            if stripped[:1] == b"{" and b"\x00" not in stripped and _is_utf8(stripped):
                return None
            lines += bool(stripped)
        if lines == 0:
            return None  # an empty object, or only blank lines: nothing to read, nothing lost
        for magic, name in _COMPRESSED_MAGIC.items():
            if self.text.startswith(magic):
                return f"{COMPRESSED_DATA}: the text is {name} data, not NDJSON"
        has_nul = self.text.find(b"\x00") >= 0
        if has_nul or not self.is_utf8:
            what = "NUL bytes" if has_nul else "bytes that are not UTF-8"
            return f"{BINARY_DATA}: it holds {what}, and none of its {lines} lines is a JSON object"
        return f"{NOT_NDJSON}: none of its {lines} lines is a JSON object"


def _matches(mask: pa.Array) -> np.ndarray:
    return mask.to_numpy(zero_copy_only=False)


def _is_utf8_buffer(text: pa.Buffer) -> bool:
    """Whether the text is UTF-8, checked by Arrow as one string (a newline is never inside a
    character, so this is every line at once) without copying it."""
    try:
        pa.LargeStringArray.from_buffers(1, pa.py_buffer(np.array([0, text.size], np.int64)), text).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _is_utf8(line) -> bool:
    try:
        bytes(line).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_blank(line: memoryview) -> bool:
    """Whether the line holds only JSON whitespace (read a MiB at a time: it may be huge)."""
    return not any(bytes(line[i : i + (1 << 20)]).strip(_JSON_SPACE) for i in range(0, len(line), 1 << 20))


class _Salvaged:
    """Rows made one by one (of RAW_SCHEMA's fields), gathered into Arrow tables every
    _SALVAGED_BATCH rows: as dicts, an object of a million bad lines would take gigabytes."""

    def __init__(self) -> None:
        self.tables: list[pa.Table] = []
        self.rows: list[dict] = []

    def append(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) >= _SALVAGED_BATCH:
            self.tables.append(pa.Table.from_pylist(self.rows, schema=RAW_SCHEMA))
            self.rows = []

    def __len__(self) -> int:
        return len(self.rows) + sum(t.num_rows for t in self.tables)

    def table(self) -> pa.Table:
        """All of them as one table (a table per row would cost a tenth of the read's CPU)."""
        return pa.concat_tables([*self.tables, pa.Table.from_pylist(self.rows, schema=RAW_SCHEMA)])


def _parse_lines(screen: _Screen) -> tuple[list[pa.Table], _Salvaged]:
    """Parse the non-empty lines with one pyarrow call, isolating the lines it would reject:
    the parsed blocks as tables, and the other lines as rows (see _salvage_line).

    The screen (_Screen) sets aside what pyarrow would reject or read wrongly; those few lines
    are salvaged one by one. The rest parses in one call; should pyarrow still reject a line,
    the block is split around it. Rows whose numbers pyarrow read as infinite are salvaged too:
    an overflowing literal is a bad line, ``Infinity`` a number. Python never loops over the
    good lines.
    """
    lines, offsets = screen.lines, screen.offsets
    if len(lines) == 0 or offsets[-1] == offsets[0]:
        return [], _Salvaged()  # no bytes at all
    keep = np.flatnonzero(screen.plain)
    odd = np.flatnonzero(screen.has_text & ~screen.plain)  # suspect lines, or blank ones made of spaces
    salvaged = _Salvaged()
    for index in odd:
        line = screen.line(int(index))
        if not _is_blank(line):
            salvaged.append(_salvage_line(int(index) + 1, line))
    if len(keep) == 0:
        return [], salvaged
    if len(odd) == 0:
        block = lines.buffers()[2][offsets[0] : offsets[-1]]
    else:
        # The runs of lines between odd ones, joined: odd lines (which may be huge) are not copied.
        starts = np.concatenate(([offsets[0]], offsets[odd + 1]))
        stops = np.concatenate((offsets[odd], [offsets[-1]]))
        block = pa.py_buffer(
            b"".join(screen.view[a:b] for a, b in zip(starts.tolist(), stops.tolist(), strict=True) if b > a)
        )
    parsed = _parse_block(block, keep + 1)
    tables = [parsed] if isinstance(parsed, pa.Table) else _bisect(lines.take(pa.array(keep)), keep + 1, salvaged)
    return [_without_overflow(table, screen, salvaged) for table in tables], salvaged


def _bisect(lines: pa.LargeBinaryArray, numbers: np.ndarray, salvaged: _Salvaged) -> list[pa.Table]:
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
    for start, stop in zip([0, *cuts], [*cuts, len(lines)], strict=True):
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


_NUMBER_COLUMNS = ("value", "averaging_period_value", "latitude", "longitude")


def _without_overflow(table: pa.Table, screen: _Screen, salvaged: _Salvaged) -> pa.Table:
    """The table without its rows holding an infinite number, which are salvaged instead."""
    infinite = None
    for name in _NUMBER_COLUMNS:
        column = table.column(name)
        if _may_hold_infinity(column):
            mask = pc.fill_null(pc.is_inf(column), False)
            infinite = mask if infinite is None else pc.or_(infinite, mask)
    if infinite is None or not pc.any(infinite).as_py():
        return table
    for number in table.filter(infinite).column("line_number").to_pylist():
        salvaged.append(_salvage_line(number, screen.line(number - 1)))
    return table.filter(pc.invert(infinite))


def _may_hold_infinity(column: pa.ChunkedArray) -> bool:
    """Whether a float64 column's value buffers hold an infinity (null slots too: then the exact
    test runs for nothing). Reading the buffers is a tenth of the cost of a compute call."""
    for chunk in column.chunks:
        values = chunk.buffers()[1]
        if (
            values is not None
            and np.isinf(np.frombuffer(values, np.float64)[chunk.offset : chunk.offset + len(chunk)]).any()
        ):
            return True
    return False


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
        "raw_line_bytes": pa.nulls(n, pa.int64()),
        "location_id": pa.nulls(n, pa.int64()),  # v1 records carry no OpenAQ ids
        "sensor_id": pa.nulls(n, pa.int64()),
    }
    return pa.table(columns, schema=RAW_SCHEMA)


class _OutOfRange:
    """A number literal beyond float64's range, as read by the salvage."""

    def __init__(self, literal: str):
        self.literal = literal

    def __str__(self) -> str:
        shown = self.literal if len(self.literal) <= 24 else f"{self.literal[:20]}... ({len(self.literal)} characters)"
        return f"the literal {shown}"


def _integer(literal: str):
    # float() first: it reads any length (int() refuses over 4,300 digits) and says if it overflows.
    return _OutOfRange(literal) if math.isinf(float(literal)) else int(literal)


def _float(literal: str):
    value = float(literal)
    return _OutOfRange(literal) if math.isinf(value) else value


class _Object(dict):
    """A JSON object as the salvage reads it: which keys it was given more than once."""

    twice: frozenset = frozenset()


def _object(pairs: list[tuple[str, object]]) -> _Object:
    result = _Object(pairs)
    if len(result) < len(pairs):
        seen: set[str] = set()
        result.twice = frozenset(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
    return result


# Expected Python types of each source field after json.loads (bool is not a number here).
_NUMBER = (int, float)


def _salvage_line(number: int, line: memoryview | bytes) -> dict:
    """Turn a line the screen or pyarrow set aside into a row (of RAW_SCHEMA's fields): keep what
    is readable, say what is wrong (the module docstring's rules)."""
    if len(line) > MAX_LINE_BYTES:
        return _bad_row(number, line, f"{LINE_TOO_LONG}: {len(line)} bytes, more than {MAX_LINE_BYTES}")
    data = bytes(line)
    nul = data.find(b"\x00")
    if nul >= 0:
        return _bad_row(number, data, f"{NUL_CHARACTER}: a NUL byte at byte {nul + 1}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _bad_row(number, data, f"{INVALID_UTF8}: byte {exc.start + 1} (0x{data[exc.start]:02x}): {exc.reason}")
    try:
        record = json.loads(text, parse_int=_integer, parse_float=_float, object_pairs_hook=_object)
    except RecursionError:
        return _bad_row(number, data, f"{NESTED_TOO_DEEPLY}: deeper than Python's JSON reader goes")
    except json.JSONDecodeError as exc:
        return _bad_row(number, data, f"{INVALID_JSON}: {exc.msg} at column {exc.colno}")
    if not isinstance(record, dict):
        return _bad_row(number, data, f"{NOT_AN_OBJECT}: a JSON {_json_kind(record)}")

    problems: list[tuple[str, str]] = []  # (reason class, what)

    def pick(path: tuple[str, ...], types: tuple[type, ...], value=record, label: str = ""):
        for depth, part in enumerate(path):
            if not isinstance(value, dict):
                problems.append((WRONG_TYPES, f"{label}{'.'.join(path[:depth])} is not an object"))
                return None
            if part in getattr(value, "twice", ()):
                problems.append((DUPLICATE_FIELD, f"{label}{'.'.join(path[: depth + 1])} is given twice"))
                return None
            value = value.get(part)
            if value is None:
                return None
        name = label + ".".join(path)
        if isinstance(value, _OutOfRange):
            problems.append((NUMBER_OUT_OF_RANGE, f"{name} is {value}, beyond float64"))
            return None
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            expected = " or ".join(t.__name__ for t in types)
            problems.append((WRONG_TYPES, f"{name} is {type(value).__name__} {_describe(value)}, expected {expected}"))
            return None
        if isinstance(value, str):
            return _checked_text(name, value, problems)
        return float(value) if types is _NUMBER else value  # type: ignore[arg-type]  # an int or float here

    def attribution():
        items = pick(("attribution",), (list,))
        if items is None:
            return None
        if not all(item is None or isinstance(item, dict) for item in items):
            problems.append((WRONG_TYPES, "attribution holds an item that is not an object"))
            return None
        return [
            None if item is None else {k: pick((k,), (str,), item, f"attribution[{i}].") for k in ("name", "url")}
            for i, item in enumerate(items)
        ]

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
        "attribution": attribution(),
        "source_name": pick(("sourceName",), (str,)),
        "source_type": pick(("sourceType",), (str,)),
        "mobile": pick(("mobile",), (bool,)),
    }
    # A readable record with NaN or Infinity is not a parse error: harmonization quarantines
    # it with the precise reason. The line text is kept either way for traceability.
    row["parse_error"] = f"{problems[0][0]}: {'; '.join(what for _, what in problems)}" if problems else None
    row["raw_line"], row["raw_line_bytes"] = raw_line(data)
    return row


def _checked_text(name: str, value: str, problems: list[tuple[str, str]]) -> str | None:
    """The string if it may leave this layer (UTF-8, no NUL, within MAX_FIELD_BYTES), else None
    with the problem noted."""
    if "\x00" in value:
        problems.append((NUL_CHARACTER, f"{name} holds U+0000"))
        return None
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        problems.append((LONE_SURROGATE, f"{name} holds \\u{ord(value[exc.start]):04x} without its pair"))
        return None
    if size > MAX_FIELD_BYTES:
        problems.append((FIELD_TOO_LONG, f"{name} is {size} bytes, more than {MAX_FIELD_BYTES}"))
        return None
    return value


def _json_kind(value) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def _describe(value) -> str:
    """A short, storable picture of a wrong value (a repr escapes NUL and surrogates)."""
    if isinstance(value, (list, dict)):
        return f"of {len(value)} items"
    return f"{value!r:.40}"


def _bad_row(number: int, line: memoryview | bytes, reason: str) -> dict:
    text, size = raw_line(line)
    return {"line_number": number, "parse_error": reason, "raw_line": text, "raw_line_bytes": size}
